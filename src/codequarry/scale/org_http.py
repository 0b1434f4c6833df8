"""`quarry org serve`: organisation search as JSON over loopback HTTP, the store held open between requests.

Routes (every request carries the token from the server file, readable only by
its owner, as `quarry serve`'s do):

    GET  /health       → {"pid", "host", "port", "store", "model", "version", "uptime_s", "searches"}
    POST /org/search   {query, k, mode, repos, langs, kinds, path} → {"results", "model", "ms"}; each
                       result has the fields `quarry org search --json` prints (repo, file, line_start, …)
    POST /shutdown     → {"ok": true}

The hardening is `quarry serve`'s own, reused rather than copied: the pooled
server (a fixed pool of handler threads, one deadline for a whole request,
503 when full), its handler (token, Content-Length rules, 400 one-liners for
a bad field, 500 without details for a bug) and its field checks. It listens
on loopback only. The server file is `<store>.server.json` beside a Milvus
Lite file, `~/.quarry/org-servers/<hash>.server.json` for a cluster URI.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import time
from pathlib import Path
from typing import Callable

from codequarry import __version__
from codequarry.errors import UserInputError
from codequarry.scale.warm import WarmOrgStore
from codequarry.serve.client import request
from codequarry.serve.search_request import parse_org_search_request
from codequarry.serve.server import SearchHandler, WarmServer, open_server, serve_until_stopped
from codequarry.serve.verify import pid_alive

SEARCH_ROUTE = "/org/search"


def server_file_for(store_uri: str) -> Path:
    """Where the server of this store writes its port and token (see the module docstring)."""
    from codequarry.scale.command import _uri
    from codequarry.store.milvus import is_remote

    uri = _uri(store_uri)
    if is_remote(uri):
        name = hashlib.sha256(uri.encode()).hexdigest()[:16]
        return Path("~/.quarry/org-servers").expanduser() / f"{name}.server.json"
    path = Path(uri).resolve()
    return path.with_name(path.name + ".server.json")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _OrgHandler(SearchHandler):
    search_route = SEARCH_ROUTE

    def answer(self, payload) -> dict:
        started = time.perf_counter()
        req = parse_org_search_request(payload)
        warm: WarmOrgStore = self.server.warm
        results = warm.search(req.query, req.k, req.mode, repos=req.repos, langs=req.langs, kinds=req.kinds,
                              path=req.path)
        return {"results": [r.to_json() for r in results], "model": warm.model,
                "ms": round((time.perf_counter() - started) * 1000, 3)}


class OrgServer(WarmServer):
    handler_class = _OrgHandler
    warm: WarmOrgStore

    def describe(self) -> dict:
        return {
            "pid": os.getpid(), "host": self.server_address[0], "port": self.port, "store": self.warm.real_uri,
            "model": self.warm.model, "version": __version__, "uptime_s": round(time.time() - self.started, 1),
            "searches": self.warm.searches,
        }

    def server_file(self) -> Path:
        return server_file_for(self.warm.uri)


def _refuse_if_served(store_uri: str) -> None:
    """UserInputError when the server file names a live server that says it serves this store."""
    import json

    path = server_file_for(store_uri)
    try:
        info = json.loads(path.read_text())
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if not pid_alive(pid):
        return
    reply = request(info, "GET", "/health", timeout=5.0)
    if reply and reply[0] == 200:
        raise UserInputError(f"a server already serves {reply[1].get('store', store_uri)} "
                             f"(pid {pid}, port {info.get('port')}); stop it first")


def start_org_server(store_uri: str, *, host: str = "127.0.0.1", port: int = 0, encoder=None,
                     workers: int | None = None, request_timeout: float | None = None) -> OrgServer:
    """Open the store, load the model, bind, write the server file. The caller runs serve_forever()."""
    if not is_loopback(host):
        raise UserInputError(f"'quarry org serve' listens on loopback only (127.0.0.1, ::1), not '{host}'")
    _refuse_if_served(store_uri)
    warm = WarmOrgStore(store_uri, encoder)
    try:
        warm.warm_up()
    except BaseException:
        warm.close()
        raise
    return open_server(OrgServer, warm, host, port, workers=workers, request_timeout=request_timeout)


def run_org_server(store_uri: str, *, host: str = "127.0.0.1", port: int = 0, idle_minutes: float = 0.0,
                   announce: Callable[[str], None] | None = None) -> None:
    """Serve until Ctrl-C, SIGTERM, POST /shutdown or `idle_minutes` without a request."""
    server = start_org_server(store_uri, host=host, port=port)
    serve_until_stopped(server, idle_minutes, announce,
                        f"serving {server.warm.uri} ({server.warm.model or 'empty'}) on http://{host}:{server.port}"
                        f"{SEARCH_ROUTE}; token in {server.server_file()}; Ctrl-C to stop")
