"""Talking to a warm server, from a process that has imported nothing heavy.

Everything here is stdlib (plus codequarry.errors, for a user error the server
reports). Any failure to reach a server — none running, a stale server.json,
a pid that died, a refused or slow connection, a server of another version —
makes `try_search` return None, and the caller searches in-process.
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from typing import Callable

from codequarry.serve import SERVER_FILE

# A live server on loopback accepts in microseconds; anything slower is not worth waiting for.
CONNECT_TIMEOUT = 0.5
# A query normally takes milliseconds; the first one after a re-index reloads vectors.
READ_TIMEOUT = 30.0
TOKEN_HEADER = "X-Quarry-Token"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but someone else's
        return True
    except (OverflowError, ValueError):
        return False
    return True


def server_info(index_dir: Path) -> dict | None:
    """The running server's server.json, or None. A file left by a dead server is removed."""
    path = Path(index_dir) / SERVER_FILE
    try:
        info = json.loads(path.read_text())
        pid, port = int(info["pid"]), int(info["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid <= 0 or not 0 < port < 65536:
        return None
    if not pid_alive(pid):
        try:
            path.unlink()
        except OSError:
            pass  # another process cleaned it up, or the folder is read-only: either way, no server
        return None
    from codequarry import __version__

    # A server started by another version may answer in another shape: search in-process instead.
    if info.get("version") != __version__:
        return None
    return info


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
    info = server_info(Path(index_dir))
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
