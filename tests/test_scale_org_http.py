"""`quarry org serve`: org search as JSON over loopback HTTP, a real `quarry org serve` process on a Milvus Lite
store built once by `quarry org index` (local Ray runtime, hash encoder), asked with real requests."""

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import run_cli

from codequarry.errors import UserInputError
from codequarry.serve.client import TOKEN_HEADER, request

pytest.importorskip("pymilvus", reason="the 'scale' extra is not installed: pip install 'codequarry[scale]'")
pytest.importorskip("milvus_lite", reason="the 'scale' extra is not installed: pip install 'codequarry[scale]'")
from codequarry.scale.org_http import server_file_for, start_org_server  # noqa: E402

pytestmark = pytest.mark.scale

SRC = str(Path(__file__).resolve().parents[1] / "src")
QUERIES = [
    {"query": "retry failed uploads", "k": 20},
    {"query": "login form header", "k": 5, "repos": ["beta", "gamma"], "mode": "lexical"},
    {"query": "upload", "kinds": ["method"], "langs": ["python"], "path": "*.py"},
]


def _env(store_root: Path) -> dict:
    return {"PYTHONPATH": SRC, "QUARRY_CACHE_DIR": str(store_root / "cache")}


def _cli_search(org, q: dict) -> list:
    args = ["org", "search", q["query"], "--store", org["store"], "--json", "-k", str(q.get("k", 10))]
    args += ["--mode", q.get("mode", "hybrid")]
    for flag, key in (("--repo", "repos"), ("--lang", "langs"), ("--kind", "kinds")):
        for value in q.get(key, ()):
            args += [flag, value]
    if "path" in q:
        args += ["--path", q["path"]]
    result = run_cli(*args, env=_env(org["root"]))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def expected(org_store):
    """What `quarry org search --json` prints for QUERIES, asked before the server takes the store's lock."""
    return [_cli_search(org_store, q) for q in QUERIES]


@pytest.fixture(scope="module")
def served(org_store, expected):
    """A `quarry org serve` process over the store: (its server file's contents, the process)."""
    info_path = server_file_for(org_store["store"])
    log = open(org_store["root"] / "serve.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "codequarry.cli", "org", "serve", "--store", org_store["store"]],
                            env={**os.environ, **_env(org_store["root"])}, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while not info_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            pytest.fail(f"quarry org serve did not start: {log.read()}")
        time.sleep(0.1)
    info = json.loads(info_path.read_text())
    yield info, proc
    if proc.poll() is None:
        request(info, "POST", "/shutdown", {})
        proc.wait(timeout=30)
    log.close()


def _search(info, payload):
    reply = request(info, "POST", "/org/search", payload)
    assert reply is not None, "no answer"
    return reply


def test_answers_what_org_search_json_prints(served, expected):
    info, _ = served
    for q, want in zip(QUERIES, expected):
        status, body = _search(info, q)
        assert status == 200, body
        assert body["results"] == want and want, q  # same rows, same fields, same order
        assert body["model"] == "hash" and body["ms"] >= 0
    repos = {r["repo"] for r in expected[0]}
    assert repos == {"alpha", "beta", "gamma"}  # one query across every repository, each result named


def test_health_and_token(served, org_store):
    info, proc = served
    status, health = request(info, "GET", "/health")
    assert status == 200
    assert health["pid"] == proc.pid and health["model"] == "hash" and health["port"] == info["port"]
    assert health["store"] == os.path.realpath(org_store["store"])
    # The token file is the owner's alone, and requests without its token are refused.
    mode = stat.S_IMODE(server_file_for(org_store["store"]).stat().st_mode)
    assert mode == 0o600
    assert request({**info, "token": "wrong"}, "GET", "/health")[0] == 403
    assert request({**info, "token": "wrong"}, "POST", "/org/search", {"query": "x"})[0] == 403
    assert request(info, "POST", "/search", {"query": "x"})[0] == 404  # the single-repository route is not here


@pytest.mark.parametrize("payload, message", [
    ({"query": "x", "repos": ["nope"]}, "no repository named 'nope' in the store (repositories: alpha, beta, gamma)"),
    ({"query": "x", "k": 0}, "'k' must be between 1 and"),
    ({"query": "x", "k": "ten"}, "'k' must be a whole number, not a string"),
    ({"query": "x", "k": True}, "'k' must be a whole number"),
    ({"query": "x", "mode": "psychic"}, "unknown mode 'psychic'"),
    ({"query": "x", "repos": "alpha"}, "'repos' must be a list of strings"),
    ({"query": "x", "langs": ["klingon"]}, "klingon"),
    ({"query": "x", "slot": "main"}, "unknown field 'slot'"),
    ({"k": 3}, "'query' must be a string, not null"),
    ({"query": "   "}, "empty query"),
    (["query"], "must be a JSON object, not a list"),
])
def test_bad_fields_are_400_one_liners(served, payload, message):
    info, _ = served
    status, body = _search(info, payload)
    assert status == 400, body
    assert message in body["error"] and "\n" not in body["error"], body
    assert body["exit_code"] == UserInputError.exit_code


def _raw(info: dict, rest: bytes, timeout: float) -> bytes:
    """A POST /org/search whose headers after the token, and body, are `rest`, written by hand; the
    whole reply, read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", info["port"]), timeout=timeout) as s:
        s.sendall(b"POST /org/search HTTP/1.1\r\nHost: x\r\n" + f"{TOKEN_HEADER}: {info['token']}\r\n".encode() + rest)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return reply


def test_not_json_is_400(served):
    info, _ = served
    reply = _raw(info, b"Content-Length: 5\r\n\r\n{nope", timeout=10)
    assert reply.startswith(b"HTTP/1.1 400") and b"not JSON" in reply


def test_a_request_not_sent_in_time_is_408(served):
    """serve/'s deadline holds here too: a body that stops arriving frees its thread after 5 s (the default)."""
    info, _ = served
    started = time.monotonic()
    reply = _raw(info, b"Content-Length: 100\r\n\r\n{\"query\": ", timeout=30)
    assert reply.startswith(b"HTTP/1.1 408") and b"not received within 5 s" in reply, reply
    assert time.monotonic() - started < 15


def test_parallel_requests_share_the_one_store(served, expected):
    """Sixteen requests at once on the pool's threads: every one answered, every answer whole."""
    info, _ = served
    replies: list = [None] * 16

    def ask(i):
        replies[i] = request(info, "POST", "/org/search", QUERIES[i % len(QUERIES)])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(replies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for i, reply in enumerate(replies):
        assert reply is not None and reply[0] == 200, (i, reply)
        assert reply[1]["results"] == expected[i % len(QUERIES)]


def test_a_second_server_on_the_store_is_refused(served, org_store):
    info, proc = served
    result = run_cli("org", "serve", "--store", org_store["store"], env=_env(org_store["root"]))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"a server already serves {os.path.realpath(org_store['store'])} (pid {proc.pid}" in result.stderr
    assert request(info, "GET", "/health")[0] == 200  # the first one is untouched


def test_shutdown_removes_the_server_file(served, org_store):
    info, proc = served
    assert request(info, "POST", "/shutdown", {})[0] == 200
    assert proc.wait(timeout=30) == 0
    assert not server_file_for(org_store["store"]).exists()


def test_missing_store_is_one_line_and_creates_nothing(tmp_path):
    missing = tmp_path / "nowhere" / "org.db"
    result = run_cli("org", "serve", "--store", str(missing), env=_env(tmp_path))
    assert result.returncode == 3 and result.stderr.count("\n") == 1, result.stderr
    assert "no store at" in result.stderr and "Traceback" not in result.stderr
    assert not missing.parent.exists()


def test_loopback_only(tmp_path):
    for host in ("0.0.0.0", "192.0.2.1", "example.com"):
        with pytest.raises(UserInputError, match="loopback only"):
            start_org_server(str(tmp_path / "org.db"), host=host)
    result = run_cli("org", "serve", "--store", str(tmp_path / "org.db"), "--host", "0.0.0.0", env=_env(tmp_path))
    assert result.returncode == 2 and "listens on loopback only" in result.stderr
