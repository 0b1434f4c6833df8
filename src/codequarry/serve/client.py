"""Talking to a warm server, from a process that has imported nothing heavy.

Everything here is stdlib (plus codequarry.errors, for a user error the server
reports). No query is sent before `verify` has shown that server.json names a
live server of this user that serves this very index; a server that cannot be
shown to makes `try_search` warn once and return None, and so does having none
at all (without the warning): the caller then searches in-process.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Callable

from codequarry.serve import SERVER_FILE
from codequarry.serve.verify import UntrustedServer, check_claim, check_health, pid_alive  # noqa: F401

# A live server on loopback accepts in microseconds; anything slower is not worth waiting for.
CONNECT_TIMEOUT = 0.5
# A query normally takes milliseconds; the first one after a re-index reloads vectors.
READ_TIMEOUT = 30.0
# /health does no index work: a server that cannot answer it in this long is not worth waiting for.
HEALTH_TIMEOUT = 5.0
TOKEN_HEADER = "X-Quarry-Token"


def verified_server(index_dir: Path) -> dict | None:
    """server.json of a server shown to serve `index_dir`, or None when none runs.

    Raises UntrustedServer, whose text says why, when server.json names a server
    that cannot be shown to serve this index (see verify.py for the checks).
    """
    info = check_claim(Path(index_dir))
    if info is None:
        return None
    reply = request(info, "GET", "/health", timeout=HEALTH_TIMEOUT)
    if reply is None:
        raise UntrustedServer(f"the server on port {info['port']} does not answer")
    status, health = reply
    if status != 200:
        raise UntrustedServer(f"the server on port {info['port']} answered /health with HTTP {status}")
    check_health(Path(index_dir), info, health)
    return info


def server_info(index_dir: Path) -> dict | None:
    """The verified server's server.json, or None (no server, or one that cannot be trusted)."""
    try:
        return verified_server(index_dir)
    except UntrustedServer:
        return None


def request(info: dict, method: str, route: str, payload: dict | None = None,
            timeout: float = READ_TIMEOUT) -> tuple[int, dict] | None:
    """(status, JSON body) from the server described by `info`, or None if it cannot be reached."""
    host = info.get("host") or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    conn = http.client.HTTPConnection(host, int(info["port"]), timeout=CONNECT_TIMEOUT)
    try:
        conn.connect()
        conn.sock.settimeout(timeout)
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {TOKEN_HEADER: str(info.get("token", "")), "Content-Type": "application/json"}
        conn.request(method, route, body=body, headers=headers)
        resp = conn.getresponse()
        data = json.loads(resp.read() or b"{}")
        return resp.status, data if isinstance(data, dict) else {}
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _user_error(data: dict):
    from codequarry import errors

    cls = getattr(errors, str(data.get("type", "")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.QuarryError)):
        cls = errors.QuarryError
    return cls(str(data.get("error", "search failed")))


def try_search(index_dir: Path, payload: dict, *, on_warning: Callable[[str], None] | None = None,
               timeout: float = READ_TIMEOUT) -> list[dict] | None:
    """Search through a running server: results as SearchResult.to_json() dicts, best first.

    `payload`: {"query": str, "k": int, "mode": str, "langs": [...], "kinds": [...],
    "path": glob | None, "slot": name | None}. Returns None when no server answers for
    `index_dir`. A user error the server reports (empty query, unknown slot) is raised
    as the same QuarryError subclass an in-process search would raise.
    """
    if index_dir is None:
        return None
    try:
        info = verified_server(Path(index_dir))
    except UntrustedServer as exc:
        if on_warning:
            on_warning(f"ignoring {Path(index_dir).name}/{SERVER_FILE}: {exc}")
        return None
    if info is None:
        return None
    reply = request(info, "POST", "/search", payload, timeout)
    if reply is None:
        return None
    status, data = reply
    if status == 200 and isinstance(data.get("results"), list):
        if on_warning:
            for w in data.get("warnings") or ():
                on_warning(str(w))
        return data["results"]
    if status == 400 and "error" in data:
        raise _user_error(data)
    if on_warning:  # busy (503) or a server bug (500): the in-process search still answers
        on_warning(f"the server answered HTTP {status}; searching in-process")
    return None


def results_from_json(rows: list[dict]) -> list:
    """SearchResult objects rebuilt from to_json() rows, for the terminal renderer."""
    from codequarry.domain import Chunk, SearchResult

    out = []
    for r in rows:
        chunk = Chunk(
            file=r["file"], language=r["language"], kind=r["kind"], name=r["name"], qualname=r["qualname"],
            line_start=int(r["line_start"]), line_end=int(r["line_end"]), code=r["code"],
            signature=r.get("signature", ""),
        )
        out.append(SearchResult(chunk, float(r["score"])))
    return out
