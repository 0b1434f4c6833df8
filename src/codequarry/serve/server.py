"""The warm server: one index folder, its model and vectors loaded once, JSON over loopback HTTP.

Routes (every request must carry the token from server.json, which only the
index owner can read, so other local users cannot read code through it):

    GET  /health    → {"pid", "host", "port", "slot", "model", "index_dir", "index_id", "version",
                       "uptime_s", "searches"}; index_dir (a real path) and index_id are what a
                       client compares with its own index before it sends a query (verify.py)
    POST /search    {query, k, mode, langs, kinds, path, slot} → {"results", "warnings", "complete", "vectors", "chunks", "slot", "model", "ms"}
    POST /shutdown  → {"ok": true}; the server exits and removes server.json

Searches run in parallel on a fixed pool of threads (pool.py bounds threads,
time per connection and queued connections). It keeps up with `quarry index`
runs while it is up: each request reads the slot in the same read transaction
it searches in, and loads the new vectors (and the model, if the slot was
rebuilt with another) when they moved.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Callable

from codequarry import __version__
from codequarry.errors import CorruptIndexError, QuarryError, UserInputError
from codequarry.search.searcher import Searcher
from codequarry.locate import DB_NAME
from codequarry.serve import SERVER_FILE
from codequarry.serve.client import TOKEN_HEADER, verified_server
from codequarry.serve.pool import DeadlineReader, PooledHTTPServer
from codequarry.serve.search_request import SearchRequest, parse_search_request
from codequarry.serve.verify import UntrustedServer
from codequarry.store.db import guarded

MAX_BODY = 1 << 20
WARMUP_QUERY = "open a file and read it"
_BYTE_COUNT = re.compile(r"[0-9]{1,10}")


@contextmanager
def _snapshot(db):
    # One read transaction per request: slot row, chunks and vectors all from one commit.
    db.conn.execute("BEGIN")
    try:
        yield
    finally:
        db.conn.execute("COMMIT")


class _SharedSearcher(Searcher):
    """A Searcher whose vectors come from the WarmIndex's cache, shared by every thread."""

    def __init__(self, db, slot: str, encoder, vectors_of: Callable[[dict], object]) -> None:
        super().__init__(db, slot, encoder)
        self._vectors_of = vectors_of

    @property
    def index(self):
        return self._vectors_of(self.slot)


class _OneAtATime:
    """An encoder whose queries are encoded on one thread at a time.

    model2vec and the transformers tokenizer reconfigure the Rust tokenizer's
    truncation during each call, and the tokenizer raises "Already borrowed" when
    another thread is inside it meanwhile. Only query encoding is serialised;
    the rest of a search still runs in parallel.
    """

    def __init__(self, encoder) -> None:
        self._encoder = encoder
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._encoder, name)

    def encode_queries(self, texts):
        with self._lock:
            return self._encoder.encode_queries(texts)


def _shareable(encoder):
    """The encoder itself where its queries may be encoded on several threads at once, else wrapped."""
    from codequarry.embed.encoder import HashingEncoder

    onnx = sys.modules.get("codequarry.embed.onnx_backend")
    # Pure numpy, or the ONNX export's runner (an ONNX Runtime session, or OpenVINO with one infer request
    # per thread: both thread-safe) with a tokenizer configured once at load.
    if isinstance(encoder, HashingEncoder) or (onnx is not None and isinstance(encoder, onnx.OnnxEncoder)):
        return encoder
    return _OneAtATime(encoder)


class WarmIndex:
    """Encoders and FAISS indexes loaded once and shared; one SQLite connection per thread.

    FAISS indexes are only read once loaded (CPU searches are safe from several
    threads), and so are the hash and ONNX encoders; other encoders encode one
    query at a time (`_shareable`). Each thread reads through its own
    connection in its own read transaction. Loading (a new model, a new vector generation) happens once,
    under `_load_lock`, and a loaded generation replaces the slot's older one.
    """

    def __init__(self, folder: Path, slot: str | None = None, encoder=None) -> None:
        from codequarry.store.db import IndexDB

        self.folder = Path(folder)
        self.db = IndexDB(self.folder)  # read-write: runs a pending migration, makes the index id once
        self.index_id = self.db.index_id()
        self.real_dir = os.path.realpath(self.folder)
        self._local = threading.local()
        self._local.db = self.db
        self._local.inode = _inode(self.folder / DB_NAME)
        self._dbs = [self.db]
        self._lock = threading.Lock()  # the dicts and the counter below
        self._load_lock = threading.Lock()  # one load of a model or vector file at a time
        self.searches = 0
        self._encoders: dict[str, object] = {}
        self._vectors: dict[tuple[str, int], object] = {}
        if encoder is not None:  # tests hand one in; keyed by the name it embeds under
            self._encoders[encoder.name] = _shareable(encoder)
        self.slot = slot or self.db.default_slot()
        with _snapshot(self.db):
            searcher = self._searcher(self.db, self.slot)
            # The first query pays for lazy work (ONNX session warm-up, page cache); pay it now.
            searcher.search(WARMUP_QUERY, 1, "hybrid")
        self.model = searcher.slot["model"]

    def _conn(self):
        db = getattr(self._local, "db", None)
        # `quarry index --force` repairs a damaged index by replacing index.db: a connection to the
        # old file would go on answering from it, so a thread reopens when the file is another.
        inode = _inode(self.folder / DB_NAME)
        if db is not None and inode is not None and getattr(self._local, "inode", inode) != inode:
            with self._lock:
                if db in self._dbs:
                    self._dbs.remove(db)
            db.close()
            db = None
        if db is None:
            from codequarry.store.db import IndexDB

            # The pool's threads are fixed, so these connections are too: at most one per worker.
            db = self._local.db = IndexDB(self.folder, readonly=True)
            with self._lock:
                self._dbs.append(db)
        self._local.inode = inode
        return db

    def _loaded(self, cache: dict, key, load: Callable[[], object]):
        with self._lock:
            found = cache.get(key)
        if found is not None:
            return found
        with self._load_lock:
            with self._lock:
                found = cache.get(key)
            if found is None:
                found = load()
                with self._lock:
                    cache[key] = found
            return found

    def _encoder(self, model: str):
        from codequarry.embed.encoder import load_encoder

        return self._loaded(self._encoders, model, lambda: _shareable(load_encoder(model)))

    def _vectors_of(self, slot: dict):
        from codequarry.store import vectors

        # The checksum is part of the key: a repaired index can reuse a generation number.
        name, generation = slot["name"], (slot["generation"], slot["checksum"] or "")
        index = self._loaded(self._vectors, (name, generation),
                             lambda: vectors.read(vectors.vector_path(self.folder, name, slot["generation"]),
                                                     slot["checksum"], slot=name))
        with self._lock:
            # Keep one generation per slot, the one just asked for: requests still on an older one hold
            # their own reference (and a late one reloads it once).
            for key in [key for key in self._vectors if key[0] == name and key[1] != generation]:
                del self._vectors[key]
        return index

    def _searcher(self, db, slot: str) -> Searcher:
        info = db.slot(slot)
        if info is None:
            names = ", ".join(s["name"] for s in db.slots()) or "none"
            raise UserInputError(f"no slot named '{slot}' (slots: {names})")
        return _SharedSearcher(db, slot, self._encoder(info["model"]), self._vectors_of)

    @guarded
    def search(self, request: SearchRequest) -> dict:
        started = time.perf_counter()
        with self._lock:
            self.searches += 1
        db = self._conn()
        try:
            return self._search(db, request, started)
        except CorruptIndexError:
            # An index run can commit a new generation and delete the file our snapshot
            # still names between two statements; a fresh snapshot sees the new one.
            return self._search(db, request, started)

    def _search(self, db, request: SearchRequest, started: float) -> dict:
        with _snapshot(db):
            slot = request.slot or db.default_slot()
            searcher = self._searcher(db, slot)
            results = searcher.search(request.query, request.k, request.mode, langs=request.langs,
                                      kinds=request.kinds, path=request.path)
            embedded, chunks = searcher.coverage()  # a progressive `quarry index` may still be embedding
            return {
                "results": [r.to_json() for r in results], "warnings": list(searcher.warnings),
                "complete": embedded >= chunks, "vectors": embedded, "chunks": chunks,
                "slot": slot, "model": searcher.slot["model"],
                "ms": round((time.perf_counter() - started) * 1000, 3),
            }

    def close(self) -> None:
        with self._lock:
            dbs, self._dbs = self._dbs, []
        for db in dbs:
            db.close()


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _user_error(message: str) -> dict:
    return {"error": message, "type": "UserInputError", "exit_code": UserInputError.exit_code}


class SearchHandler(BaseHTTPRequestHandler):
    server: "WarmServer"
    protocol_version = "HTTP/1.1"
    search_route = "/search"  # a subclass serving another kind of search names its route and `answer`s it

    def answer(self, payload) -> dict:
        """The JSON reply to a search body (a QuarryError is answered as a 400)."""
        return self.server.warm.search(parse_search_request(payload))

    def setup(self) -> None:
        super().setup()
        # The whole request must arrive before one deadline: a client trickling bytes cannot hold a thread.
        self.rfile.close()
        deadline = time.monotonic() + self.server.request_timeout
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, deadline))

    def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # a request log on stderr would drown the one line the user needs

    def _reply(self, status: int, body: dict) -> None:
        self.close_connection = True  # one request per connection: an idle keep-alive would hold a worker
        self.connection.settimeout(self.server.request_timeout)  # a client that never reads is dropped
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if secrets.compare_digest(self.headers.get(TOKEN_HEADER, "").encode(), self.server.token.encode()):
            return True
        self._reply(403, {"error": "bad or missing token"})
        return False

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if not self._authorised():
            return
        self.server.touch()
        if self.path == "/health":
            self._reply(200, self.server.describe())
        else:
            self._reply(404, {"error": "no such route"})

    def _body(self) -> bytes | None:
        """The request body, or None once an error has been answered (or the client left)."""
        lengths = self.headers.get_all("Content-Length") or []
        if "Transfer-Encoding" in self.headers or not lengths:
            self._reply(411, _user_error("a POST needs a Content-Length (and no Transfer-Encoding)"))
            return None
        if len(set(lengths)) > 1 or not _BYTE_COUNT.fullmatch(lengths[0].strip()):
            self._reply(400, _user_error("Content-Length must be one byte count"))
            return None
        length = int(lengths[0])
        if length > MAX_BODY:
            self._reply(413, _user_error(f"request body over {MAX_BODY} bytes"))
            return None
        try:
            data = self.rfile.read(length)
        except TimeoutError:
            self._reply(408, _user_error(f"request body not received within {self.server.request_timeout:g} s"))
            return None
        if len(data) < length:  # the client closed early: nobody to answer
            self.close_connection = True
            return None
        return data

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        if not self._authorised():
            return
        self.server.touch()
        if self.path not in (self.search_route, "/shutdown"):
            self._reply(404, {"error": "no such route"})
            return
        body = self._body()
        if body is None:
            return
        if self.path == "/shutdown":
            self._reply(200, {"ok": True})
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return
        try:
            payload = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            self._reply(400, _user_error("the request body is not JSON"))
            return
        try:
            self._reply(200, self.answer(payload))
        except QuarryError as exc:
            self._reply(400, {"error": exc.format_message(), "type": type(exc).__name__, "exit_code": exc.exit_code})
        except Exception:  # a bug: its traceback goes to the server's stderr, not to the client
            traceback.print_exc(file=sys.stderr)
            self._reply(500, {"error": "internal server error; the server's output has the details"})


class WarmServer(PooledHTTPServer):
    handler_class = SearchHandler

    def __init__(self, warm: WarmIndex, host: str = "127.0.0.1", port: int = 0, *,
                 workers: int | None = None, request_timeout: float | None = None) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), self.handler_class, workers=workers, request_timeout=request_timeout)
        self.warm = warm
        self.token = secrets.token_hex(16)
        self.started = time.time()
        self.last_request = time.monotonic()

    def touch(self) -> None:
        self.last_request = time.monotonic()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def describe(self) -> dict:
        return {
            "pid": os.getpid(), "host": self.server_address[0], "port": self.port, "slot": self.warm.slot,
            "model": self.warm.model, "index_dir": self.warm.real_dir, "index_id": self.warm.index_id,
            "version": __version__, "uptime_s": round(time.time() - self.started, 1),
            "searches": self.warm.searches,
        }

    def server_file(self) -> Path:
        return self.warm.folder / SERVER_FILE

    def write_server_file(self) -> None:
        info = {
            **self.describe(), "token": self.token,
            "started": _dt.datetime.fromtimestamp(self.started, _dt.timezone.utc).isoformat(timespec="seconds"),
        }
        info.pop("uptime_s")
        path = self.server_file()
        tmp = path.with_name(f".{SERVER_FILE}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        # A fresh file (O_EXCL, no link followed) at 0600 whatever the umask: the token in it is what
        # stands between other local users and the code. os.replace makes it appear whole.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh, indent=1)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def remove_server_file(self) -> None:
        path = self.server_file()
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():  # never remove a successor's file
                path.unlink()
        except (OSError, ValueError):
            pass

    def watch_idle(self, minutes: float) -> None:
        def watch() -> None:
            while True:
                time.sleep(min(5.0, minutes * 60))
                if time.monotonic() - self.last_request > minutes * 60:
                    self.shutdown()
                    return

        threading.Thread(target=watch, daemon=True, name="quarry-idle").start()


def refuse_if_served(folder: Path) -> None:
    """UserInputError if server.json names a live server verified to serve this index.

    A file that fails verification (stale, planted, copied from another repository)
    is no reason to refuse: the new server replaces it.
    """
    try:
        running = verified_server(folder)
    except UntrustedServer:
        return
    if running is not None:
        raise UserInputError(
            f"a server already serves {folder} (pid {running['pid']}, port {running['port']}); stop it first"
        )


def start_server(folder: Path, *, slot: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 encoder=None, workers: int | None = None, request_timeout: float | None = None) -> WarmServer:
    """Load the index and model, bind, write server.json. The caller runs serve_forever()."""
    refuse_if_served(folder)
    return open_server(WarmServer, WarmIndex(folder, slot, encoder), host, port, workers=workers,
                       request_timeout=request_timeout)


def open_server(server_class: type[WarmServer], warm, host: str, port: int, **options) -> WarmServer:
    """Bind a `server_class` over `warm` and write its server file; on failure close what is open and
    raise one UserInputError line. `quarry serve` and `quarry org serve` both start this way."""
    try:
        server = server_class(warm, host, port, **options)
    except OSError as exc:
        warm.close()
        raise UserInputError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    try:
        server.server_file().parent.mkdir(parents=True, exist_ok=True)
        server.write_server_file()
    except OSError as exc:
        server.server_close()
        warm.close()
        raise UserInputError(f"cannot write {server.server_file()} ({exc.strerror or exc})") from None
    return server


def run_server(folder: Path, *, slot: str | None = None, host: str = "127.0.0.1", port: int = 0,
               idle_minutes: float = 0.0, announce: Callable[[str], None] | None = None) -> None:
    """Serve until Ctrl-C, SIGTERM, POST /shutdown or `idle_minutes` without a request."""
    server = start_server(folder, slot=slot, host=host, port=port)
    serve_until_stopped(server, idle_minutes, announce,
                        f"serving {server.warm.folder} (slot '{server.warm.slot}', {server.warm.model}) "
                        f"on http://{host}:{server.port}; Ctrl-C to stop")


def serve_until_stopped(server: WarmServer, idle_minutes: float = 0.0,
                        announce: Callable[[str], None] | None = None, line: str = "") -> None:
    """Serve until Ctrl-C, SIGTERM, POST /shutdown or `idle_minutes` without a request (announcing `line`
    first); then remove the server file and close the socket and what `server.warm` holds."""
    if threading.current_thread() is threading.main_thread():
        # SIGTERM unwinds serve_forever like Ctrl-C, so the finally below still cleans up.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if idle_minutes > 0:
        server.watch_idle(idle_minutes)
    if announce:
        announce(line)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.remove_server_file()
        server.server_close()
        server.warm.close()
