"""The server's limits (issue 10, item 9), with real sockets on 127.0.0.1, bounded in count and time."""

import json
import socket
import threading
import time

import pytest
from test_serve import _payload, indexed  # noqa: F401 - fixture

from codequarry.embed.encoder import HashingEncoder
from codequarry.errors import UserInputError
from codequarry.indexer import index_repository
from codequarry.serve.client import TOKEN_HEADER, request, server_info, try_search
from codequarry.serve.server import MAX_BODY, start_server

TIMEOUT = 1.0  # the servers here give a connection this long to send its request
WORKERS = 4


def _serve(folder, **kw):
    srv = start_server(folder, host="127.0.0.1", port=0, **kw)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return srv, thread


def _stop(srv, thread):
    srv.shutdown()
    thread.join(timeout=5)
    srv.remove_server_file()
    srv.server_close()
    srv.warm.close()


@pytest.fixture
def limited(indexed):
    srv, thread = _serve(indexed / ".quarry", workers=WORKERS, request_timeout=TIMEOUT)
    yield srv
    _stop(srv, thread)


def _raw(port: int, data: bytes, *, wait: float = 5.0) -> tuple[int | None, dict, float]:
    """(status or None if closed unanswered, JSON body, seconds) for bytes sent as they are."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    elapsed = time.monotonic() - started
    if not got:
        return None, {}, elapsed
    head, _, body = got.partition(b"\r\n\r\n")
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {}
    return int(head.split()[1]), parsed, elapsed


def _post(srv, body: bytes, headers: dict[str, str] | None = None, *, length: str | None = None) -> bytes:
    lines = [b"POST /search HTTP/1.1", b"Host: x", f"{TOKEN_HEADER}: {srv.token}".encode()]
    if length is not None:
        lines.append(f"Content-Length: {length}".encode())
    lines += [f"{k}: {v}".encode() for k, v in (headers or {}).items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def test_idle_and_half_open_connections_hold_no_thread(limited, indexed):
    folder = indexed / ".quarry"
    threads_before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", limited.port), timeout=5) for _ in range(120)]
    trickling = [socket.create_connection(("127.0.0.1", limited.port), timeout=5) for _ in range(WORKERS)]
    try:
        for s in trickling:  # a request head that never ends: each holds a worker until its deadline
            s.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.1)
        assert threading.active_count() <= threads_before  # the stdlib server had one thread per connection
        started = time.monotonic()
        assert try_search(folder, _payload("retry failed uploads"))  # waits at most for a worker to be freed
        assert time.monotonic() - started < TIMEOUT + 2
        # Every one of them is closed by the server once its deadline passes.
        for s in idle + trickling:
            s.settimeout(TIMEOUT + 3)
            assert s.recv(100) == b""
        assert threading.active_count() <= threads_before
    finally:
        for s in idle + trickling:
            s.close()


def test_a_trickled_request_is_cut_at_the_deadline(limited):
    s = socket.create_connection(("127.0.0.1", limited.port), timeout=TIMEOUT + 3)
    started = time.monotonic()
    try:
        for part in (b"GET /hea", b"lth HTTP/1.1\r\n", b"Host: x\r\n"):  # each part in time, the whole not
            s.sendall(part)
            time.sleep(TIMEOUT / 2)
        s.sendall(f"{TOKEN_HEADER}: {limited.token}\r\n\r\n".encode())
        reply = s.recv(100)
    except (ConnectionResetError, BrokenPipeError):
        reply = b""
    finally:
        s.close()
    assert reply == b"" and time.monotonic() - started < TIMEOUT + 2


@pytest.mark.parametrize("length, body, status", [
    ("-1", b"{}", 400), ("abc", b"{}", 400), ("1e3", b"{}", 400), (None, b"", 411),
    (str(MAX_BODY + 1), b"", 413), ("99999999999999999999", b"", 400),
])
def test_bad_content_length_is_answered_at_once(limited, length, body, status):
    code, reply, elapsed = _raw(limited.port, _post(limited, body, length=length))
    assert code == status and elapsed < TIMEOUT / 2
    assert "\n" not in reply["error"] and "Traceback" not in reply["error"]


def test_odd_bodies_are_answered(limited):
    both = _post(limited, b"{}", {"Content-Length": "3"}, length="2")
    assert _raw(limited.port, both)[0] == 400
    chunked = _post(limited, b"2\r\n{}\r\n0\r\n\r\n", {"Transfer-Encoding": "chunked"})
    assert _raw(limited.port, chunked)[0] == 411
    code, reply, elapsed = _raw(limited.port, _post(limited, b'{"query"', length="100"))  # body never completes
    assert code == 408 and TIMEOUT * 0.8 < elapsed < TIMEOUT + 2
    assert _raw(limited.port, b"GET /health HTTP/1.1\r\n\r\n")[0] == 403  # no token


def test_backlog_takes_a_burst_the_accept_loop_has_not_reached(indexed):
    """Connects complete in the kernel's queue: 64 of them at once, with the serve loop not even running."""
    srv = start_server(indexed / ".quarry", port=0)
    socks = []
    try:
        for _ in range(64):
            socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=0.5))  # the client's timeout
    finally:
        for s in socks:
            s.close()
        srv.remove_server_file()
        srv.server_close()
        srv.warm.close()


def test_burst_of_concurrent_clients_all_succeed(limited, indexed):
    folder, n = indexed / ".quarry", 40
    gate, results, warnings = threading.Barrier(n), [None] * n, []

    def client(i):
        gate.wait()
        results[i] = try_search(folder, _payload("retry failed uploads"), on_warning=warnings.append)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert warnings == [] and all(r and r[0]["name"] == "retry_failed_uploads" for r in results)
    assert limited.warm.searches == n


BAD_PAYLOADS = [
    ({"query": "x", "k": "5"}, "'k' must be a whole number, not a string"),
    ({"query": "x", "k": True}, "'k' must be a whole number, not a boolean"),
    ({"query": "x", "k": 2.5}, "'k' must be a whole number, not a number"),
    ({"query": "x", "k": 0}, "'k' must be between 1"),
    ({"query": "x", "k": 10**12}, "'k' must be between 1"),
    ({"query": "x", "langs": 3}, "'langs' must be a list of strings, not a number"),
    ({"query": "x", "langs": ["python", 1]}, "'langs' must be a list of strings"),
    ({"query": "x", "kinds": "function"}, "'kinds' must be a list of strings, not a string"),
    ({"query": ["x"]}, "'query' must be a string, not a list"),
    ({"k": 3}, "'query' must be a string, not null"),
    ({"query": "x", "mode": 5}, "'mode' must be a string, not a number"),
    ({"query": "x", "mode": "fuzzy"}, "unknown mode 'fuzzy'"),
    ({"query": "x", "path": {"a": 1}}, "'path' must be a string, not an object"),
    ({"query": "x", "slot": []}, "'slot' must be a string, not a list"),
    ({"query": "x", "evil": 1}, "unknown field 'evil'"),
    ({"query": "x", "langs": ["py"] * 101}, "'langs' holds more than 100 values"),
    ({"query": "   "}, "empty query"),
]


@pytest.mark.parametrize("payload, message", BAD_PAYLOADS)
def test_wrong_fields_are_one_line_400s(limited, payload, message):
    status, body = request(server_info(limited.warm.folder), "POST", "/search", payload)
    assert status == 400 and body["type"] == "UserInputError" and body["exit_code"] == 2
    assert body["error"].startswith(message) and "\n" not in body["error"]


def test_bodies_that_are_not_objects_are_400s(limited):
    for raw in (b"[1, 2]", b"null", b"not json", b"[" * 100_000, b"\xff\xfe"):
        code, reply, _ = _raw(limited.port, _post(limited, raw, length=str(len(raw))))
        assert code == 400 and "\n" not in reply["error"], raw[:10]
    with pytest.raises(UserInputError, match="'k' must be a whole number"):  # the client raises what it is told
        try_search(limited.warm.folder, _payload("upload", k="3"))


def test_a_bug_is_a_500_without_internals_and_the_server_goes_on(limited, monkeypatch, capsys):
    def broken(request):
        raise RuntimeError("internal detail /secret/path")

    monkeypatch.setattr(limited.warm, "search", broken)
    status, body = request(server_info(limited.warm.folder), "POST", "/search", _payload("upload"))
    assert status == 500 and "secret" not in json.dumps(body)
    assert "internal detail /secret/path" in capsys.readouterr().err  # the operator sees it
    monkeypatch.undo()
    assert try_search(limited.warm.folder, _payload("upload"))


class SlowEncoder(HashingEncoder):
    """The hash encoder taking 0.2 s per query, off the GIL like a real model's inference."""

    def encode_queries(self, texts):
        time.sleep(0.2)
        return super().encode_queries(texts)


def test_searches_run_in_parallel(indexed):
    srv, thread = _serve(indexed / ".quarry", encoder=SlowEncoder(), workers=8)
    try:
        folder, n = indexed / ".quarry", 8
        info = server_info(folder)
        gate, codes = threading.Barrier(n + 1), []

        def client():
            gate.wait()
            codes.append(request(info, "POST", "/search", _payload("upload", mode="dense"))[0])

        threads = [threading.Thread(target=client) for _ in range(n)]
        for t in threads:
            t.start()
        gate.wait()
        started = time.monotonic()
        for t in threads:
            t.join(timeout=30)
        elapsed = time.monotonic() - started
        assert codes == [200] * n
        assert elapsed < 0.2 * n / 2  # one lock around every search took n × 0.2 s
    finally:
        _stop(srv, thread)


def test_concurrent_searches_follow_reindexes(limited, indexed):
    folder, stop, failures, done = indexed / ".quarry", threading.Event(), [], [0]

    def hammer():
        info = server_info(folder)
        while not stop.is_set():
            status, body = request(info, "POST", "/search", _payload("checksum archive", mode="hybrid"))
            if status != 200:
                failures.append((status, body))
            done[0] += 1

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(3):
            (indexed / f"archive{i}.py").write_text(f"def checksum_archive_{i}(path):\n    return hash(path)\n")
            index_repository(indexed, model="hash")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert failures == [] and done[0] > 0
    got = try_search(folder, _payload("checksum_archive_2", mode="lexical"))
    assert got[0]["name"] == "checksum_archive_2"
    assert len(limited.warm._vectors) == 1  # older generations are dropped once a newer one is loaded


class OneThreadEncoder:
    """An encoder that breaks when two threads are inside it, as tokenizers that reconfigure per call do."""

    def __init__(self) -> None:
        self._inner, self._inside = HashingEncoder(), 0
        self.name, self.dim, self.max_tokens = self._inner.name, self._inner.dim, self._inner.max_tokens

    def encode_queries(self, texts):
        self._inside += 1
        try:
            if self._inside > 1:
                raise RuntimeError("Already borrowed")
            time.sleep(0.02)
            return self._inner.encode_queries(texts)
        finally:
            self._inside -= 1


def test_an_encoder_not_known_to_be_thread_safe_is_used_one_query_at_a_time(indexed):
    srv, thread = _serve(indexed / ".quarry", encoder=OneThreadEncoder(), workers=8)
    try:
        info, n = server_info(indexed / ".quarry"), 8
        gate, codes = threading.Barrier(n), []

        def client():
            gate.wait()
            codes.append(request(info, "POST", "/search", _payload("upload", mode="dense"))[0])

        threads = [threading.Thread(target=client) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert codes == [200] * n
    finally:
        _stop(srv, thread)
