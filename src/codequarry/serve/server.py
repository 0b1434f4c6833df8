"""The warm server: one index folder, its model and vectors loaded once, JSON over loopback HTTP.

Routes (every request must carry the token from server.json, which only the
index owner can read, so other local users cannot read code through it):

    GET  /health    → {"pid", "slot", "model", "index_dir", "version", "uptime_s", "searches"}
    POST /search    {query, k, mode, langs, kinds, path, slot} → {"results", "warnings", "slot", "model", "ms"}
    POST /shutdown  → {"ok": true}; the server exits and removes server.json

It keeps up with `quarry index` runs while it is up: each request checks the
slot's generations in the same read transaction it searches in, and reloads
the vectors (and the model, if the slot was rebuilt with another) when they moved.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from codequarry import __version__
from codequarry.errors import CorruptIndexError, QuarryError, UserInputError
from codequarry.serve import SERVER_FILE
from codequarry.serve.client import TOKEN_HEADER
from codequarry.store.db import guarded

MAX_BODY = 1 << 20
WARMUP_QUERY = "open a file and read it"


class WarmIndex:
    """Searchers per slot over one IndexDB connection, rebuilt when an index run moves the slot."""

    def __init__(self, folder: Path, slot: str | None = None, encoder=None) -> None:
        from codequarry.store.db import IndexDB

        self.folder = Path(folder)
        self.db = IndexDB(self.folder)
        self.lock = threading.Lock()
        self.searches = 0
        self._searchers: dict[str, tuple[tuple, object]] = {}
        self._encoders: dict[str, object] = {}
        if encoder is not None:  # tests hand one in; keyed by the name it embeds under
            self._encoders[encoder.name] = encoder
        self.slot = slot or self.db.default_slot()
        with self.lock, self._snapshot():
            searcher = self._searcher(self.slot)
            # The first query pays for lazy work (ONNX session warm-up, page cache); pay it now.
            searcher.search(WARMUP_QUERY, 1, "hybrid")
        self.model = searcher.slot["model"]

    def _snapshot(self):
        # One read transaction per request: slot row, chunks and vectors all from one commit.
        db = self.db

        class _Snap:
            def __enter__(self):
                db.conn.execute("BEGIN")

            def __exit__(self, *exc):
                db.conn.execute("COMMIT")

        return _Snap()

    def _searcher(self, slot: str):
        from codequarry.embed.encoder import load_encoder
        from codequarry.search.searcher import Searcher

        info = self.db.slot(slot)
        if info is None:
            names = ", ".join(s["name"] for s in self.db.slots()) or "none"
            raise UserInputError(f"no slot named '{slot}' (slots: {names})")
        key = (info["model"], info["generation"], info["chunks_generation"], self.db.chunks_generation)
        cached = self._searchers.get(slot)
        if cached is not None and cached[0] == key:
            return cached[1]
        model = info["model"]
        if model not in self._encoders:
            self._encoders[model] = load_encoder(model)
        searcher = Searcher(self.db, slot, self._encoders[model])
        _ = searcher.index  # load the vectors now, not inside the first timed query
        self._searchers[slot] = (key, searcher)
        return searcher

    @guarded
    def search(self, payload: dict) -> dict:
        started = time.perf_counter()
        query = payload.get("query")
        if not isinstance(query, str):
            raise UserInputError("the request needs a 'query' string")
        try:
            k = int(payload.get("k", 10))
        except (TypeError, ValueError):
            raise UserInputError("-k must be a number") from None
        with self.lock:
            self.searches += 1
            try:
                return self._search(payload, query, k, started)
            except CorruptIndexError:
                # An index run can commit a new generation and delete the file our snapshot
                # still names between two statements; a fresh snapshot sees the new one.
                self._searchers.clear()
                return self._search(payload, query, k, started)

    def _search(self, payload: dict, query: str, k: int, started: float) -> dict:
        with self._snapshot():
            slot = payload.get("slot") or self.db.default_slot()
            searcher = self._searcher(slot)
            results = searcher.search(
                query, k, payload.get("mode") or "hybrid", langs=tuple(payload.get("langs") or ()),
                kinds=tuple(payload.get("kinds") or ()), path=payload.get("path") or None,
            )
            return {
                "results": [r.to_json() for r in results], "warnings": list(searcher.warnings),
                "slot": slot, "model": searcher.slot["model"],
                "ms": round((time.perf_counter() - started) * 1000, 3),
            }

    def close(self) -> None:
        self.db.close()


class _Handler(BaseHTTPRequestHandler):
    server: "WarmServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # a request log on stderr would drown the one line the user needs

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if secrets.compare_digest(self.headers.get(TOKEN_HEADER, ""), self.server.token):
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
            self._reply(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        if not self._authorised():
            return
        self.server.touch()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(413, {"error": "request too large"})
            return
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._reply(400, {"error": "request body is not JSON", "type": "UserInputError", "exit_code": 2})
            return
        if self.path == "/shutdown":
            self._reply(200, {"ok": True})
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return
        if self.path != "/search" or not isinstance(payload, dict):
            self._reply(404, {"error": f"no route {self.path}"})
            return
        try:
            self._reply(200, self.server.warm.search(payload))
        except QuarryError as exc:
            self._reply(400, {"error": exc.format_message(), "type": type(exc).__name__, "exit_code": exc.exit_code})
        except Exception as exc:  # a bug: report it, keep serving; the client falls back in-process
            self._reply(500, {"error": f"{type(exc).__name__}: {exc}"})


class WarmServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, warm: WarmIndex, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
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
            "model": self.warm.model, "index_dir": str(self.warm.folder), "version": __version__,
            "uptime_s": round(time.time() - self.started, 1), "searches": self.warm.searches,
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
        tmp = path.with_name(f"{SERVER_FILE}.{os.getpid()}.tmp")
        # 0600: the token in it is what stands between other local users and the code.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh, indent=1)
        os.replace(tmp, path)

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


def start_server(folder: Path, *, slot: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 encoder=None) -> WarmServer:
    """Load the index and model, bind, write server.json. The caller runs serve_forever()."""
    warm = WarmIndex(folder, slot, encoder)
    try:
        server = WarmServer(warm, host, port)
    except OSError as exc:
        warm.close()
        raise UserInputError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    server.write_server_file()
    return server


def run_server(folder: Path, *, slot: str | None = None, host: str = "127.0.0.1", port: int = 0,
               idle_minutes: float = 0.0, announce: Callable[[str], None] | None = None) -> None:
    """Serve until Ctrl-C, SIGTERM, POST /shutdown or `idle_minutes` without a request."""
    server = start_server(folder, slot=slot, host=host, port=port)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM unwinds serve_forever like Ctrl-C, so the finally below still cleans up.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if idle_minutes > 0:
        server.watch_idle(idle_minutes)
    if announce:
        announce(
            f"serving {server.warm.folder} (slot '{server.warm.slot}', {server.warm.model}) "
            f"on http://{host}:{server.port}; Ctrl-C to stop"
        )
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.remove_server_file()
        server.server_close()
        server.warm.close()
