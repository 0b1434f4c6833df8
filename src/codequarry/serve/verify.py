"""Whether a server.json names a server this client may send its queries to.

A server.json is a claim, nothing more. A planted file, a stale one whose pid
was reused, or one copied along with the repository would otherwise receive
every query and have its answers printed as real results. Before a query leaves
this process the claim is checked against what the kernel and the index say:

1. the file is this user's: owned by them, not writable by group or others, not a link;
2. its host is loopback (a wildcard listener is reached through loopback);
3. its pid is alive, runs as this user, and holds the socket listening on that port
   (asked of the kernel over netlink sock_diag, else read from /proc/net/tcp{,6},
   matched against the socket inodes in /proc/<pid>/fd);
4. (`check_health`, after GET /health) the server names this index: the random
   id stored in index.db and the real path of the index folder. A copied
   repository shares the id but not the path.

Stdlib only: `quarry search` runs this before anything heavy is imported.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sqlite3
import stat
import struct
import sys
from pathlib import Path

from codequarry.serve import SERVER_FILE

DB_NAME = "index.db"  # codequarry.locate.DB_NAME; repeated so this module imports nothing else of ours
_LISTEN = b"0A"  # TCP_LISTEN in /proc/net/tcp's `st` column


class UntrustedServer(Exception):
    """server.json names a server that cannot be shown to serve this index; str() says why."""


def _shown(value) -> str:
    """Text from a file or a listener, made safe to print: no control characters (escape sequences), short."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text if len(text) <= 200 else text[:200] + "…"


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


def _read_own_file(path: Path) -> str | None:
    """The file's text if this user owns it and only they can write it; None if it does not exist."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)  # a link could point anywhere: refuse it
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise UntrustedServer("it is a symbolic link") from None
        raise UntrustedServer(f"cannot read it ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())  # the stat of what was opened, not of whatever the name points to now
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedServer("it is not a regular file")
        if hasattr(os, "getuid") and st.st_uid != os.getuid():  # no uids on Windows: nothing to compare
            raise UntrustedServer(f"it belongs to uid {st.st_uid}, not to you")
        if st.st_mode & 0o022:
            raise UntrustedServer("it is writable by group or others")
        return fh.read(1 << 16).decode("utf-8", "replace")


def connect_host(host: str) -> str | None:
    """The loopback address to reach a server listening on `host`, or None if it is not loopback."""
    if host in ("", "0.0.0.0", "localhost"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    try:
        return host if ipaddress.ip_address(host).is_loopback else None
    except ValueError:  # a host name: resolving it could lead anywhere
        return None


def _pid_is_ours(pid: int) -> bool:
    proc = Path(f"/proc/{pid}")
    if proc.is_dir() and hasattr(os, "getuid"):
        try:
            return proc.stat().st_uid == os.getuid()
        except OSError:
            return False
    # Without /proc: signalling it is allowed only for our own processes (or as root).
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _listeners(port: int) -> list[tuple[bytes, int, int]] | None:
    """(local address, uid, inode) of every TCP socket listening on `port`; None where Linux's views are missing."""
    found = _listeners_netlink(port)
    return found if found is not None else _listeners_proc(port)


def _listeners_netlink(port: int) -> list[tuple[bytes, int, int]] | None:
    """`_listeners` asked of the kernel over NETLINK_SOCK_DIAG for listening sockets only.

    /proc/net/tcp lists every socket, TIME_WAIT included, and each warm search
    leaves two: with a few thousand, reading it costs milliseconds per search.
    None when netlink is unavailable (not Linux, or a sandbox without sock_diag).
    """
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
    except (AttributeError, OSError):
        return None
    rows = []
    with sock:
        sock.settimeout(1.0)
        try:
            for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), 1):
                # inet_diag_req_v2: family, protocol, ext, pad, states (LISTEN only), a zero inet_diag_sockid.
                req = struct.pack("=BBBxI", family, socket.IPPROTO_TCP, 0, 1 << _TCP_LISTEN) + bytes(48)
                sock.send(struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, _DUMP_REQUEST, seq, 0) + req)
                if not _read_dump(sock, port, rows):
                    return None
        except OSError:
            return None
    return rows


_NETLINK_SOCK_DIAG, _SOCK_DIAG_BY_FAMILY, _DUMP_REQUEST, _TCP_LISTEN = 4, 20, 0x301, 10
_NLMSG_ERROR, _NLMSG_DONE = 2, 3


def _read_dump(sock: socket.socket, port: int, rows: list) -> bool:
    """Append the dump's sockets on `port` to rows; False on a netlink error."""
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if kind == _NLMSG_DONE:
                return True
            if kind == _NLMSG_ERROR or length < 16:
                return False
            # inet_diag_msg: family, state, timer, retrans; sockid (sport, dport, src[16], dst[16], if, cookie);
            # expires, rqueue, wqueue, uid, inode.
            msg = offset + 16
            family = data[msg]
            sport = struct.unpack_from("!H", data, msg + 4)[0]
            if sport == port:
                src = data[msg + 8 : msg + 24]
                uid, inode = struct.unpack_from("=II", data, msg + 64)
                rows.append((src[:4] if family == socket.AF_INET else src, uid, inode))
            offset += (length + 3) & ~3


def _listeners_proc(port: int) -> list[tuple[bytes, int, int]] | None:
    """`_listeners` from /proc/net/tcp{,6}: every TCP socket of the machine, so slower with many."""
    rows, seen_table = [], False
    needle = f":{port:04X} ".encode()  # the port as printed after an address: filters before any split
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            with open(table, "rb") as fh:
                text = fh.read()
        except OSError:
            continue
        seen_table = True
        for line in text.splitlines()[1:]:
            if needle not in line:
                continue
            f = line.split()
            if len(f) < 10 or f[3] != _LISTEN:
                continue
            addr_hex, _, port_hex = f[1].partition(b":")
            if int(port_hex, 16) != port:
                continue
            # The address is printed as 32-bit words in host byte order: repack each word natively.
            raw = b"".join(int(addr_hex[i : i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(addr_hex), 8))
            rows.append((raw, int(f[7]), int(f[9])))
    return rows if seen_table else None


def _may_accept(local: bytes, target: bytes) -> bool:
    """Whether a socket listening on `local` could take a connection to `target` (both packed)."""
    if len(local) == len(target):  # same family: the address itself, or the wildcard
        return local == target or not any(local)
    if len(local) == 16 and len(target) == 4:  # an IPv6 wildcard may be dual-stack; or ::ffff:a.b.c.d
        return not any(local) or local == b"\0" * 10 + b"\xff\xff" + target
    return False


def _socket_inodes(pid: int) -> set[int]:
    fd_dir = Path(f"/proc/{pid}/fd")
    found = set()
    for name in os.listdir(fd_dir):
        try:
            link = os.readlink(fd_dir / name)
        except OSError:  # closed while we looked
            continue
        if link.startswith("socket:["):
            found.add(int(link[8:-1]))
    return found


def _check_port_owner(pid: int, host: str, port: int) -> None:
    listeners = _listeners(port)
    if listeners is None:
        # No /proc (macOS, BSD): which process holds a port cannot be read without privileges,
        # so this check is skipped; the pid owner and the /health identity below still apply.
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    target = socket.inet_pton(family, host)
    candidates = [(uid, inode) for addr, uid, inode in listeners if _may_accept(addr, target)]
    if not candidates:
        raise UntrustedServer(f"nothing listens on {host}:{port}")
    try:
        owned = _socket_inodes(pid)
    except OSError as exc:
        raise UntrustedServer(f"cannot see the sockets of pid {pid} ({exc.strerror or exc})") from None
    me = os.getuid() if hasattr(os, "getuid") else None
    for uid, inode in candidates:
        # Every listener that could take our connection must be the server's, or the kernel may pick another.
        if inode not in owned or (me is not None and uid != me):
            raise UntrustedServer(f"port {port} is held by a process other than pid {pid}")


def check_claim(folder: Path) -> dict | None:
    """server.json's content if everything but the server's own answer checks out.

    None when there is no server: no file, or one left by a dead process (removed).
    Raises UntrustedServer (its text says why) when the file names a server that
    is not this user's, not on loopback, or not the process holding the port.
    """
    path = Path(folder) / SERVER_FILE
    text = _read_own_file(path)
    if text is None:
        return None
    try:
        info = json.loads(text)
        pid, port, host = int(info["pid"]), int(info["port"]), str(info.get("host") or "127.0.0.1")
    except (ValueError, KeyError, TypeError):
        raise UntrustedServer("it does not name a pid and a port") from None
    if pid <= 0 or not 0 < port < 65536:
        raise UntrustedServer("it does not name a pid and a port")
    if not pid_alive(pid):
        try:
            path.unlink()  # ours (checked above) and stale: tidy it so the next search skips all this
        except OSError:
            pass  # another process cleaned it up, or the folder is read-only: either way, no server
        return None
    if not _pid_is_ours(pid):
        raise UntrustedServer(f"pid {pid} is not one of your processes")
    from codequarry import __version__

    # A server started by another version may answer in another shape.
    if info.get("version") != __version__:
        raise UntrustedServer(f"the server runs codequarry {_shown(info.get('version'))}, this is {__version__}")
    target = connect_host(host)
    if target is None:
        raise UntrustedServer(f"its host {host!r} is not loopback")
    _check_port_owner(pid, target, port)
    return {**info, "pid": pid, "port": port, "host": target}


def index_identity(folder: Path) -> tuple[str | None, str]:
    """(the index id stored in index.db or None, the real path of the index folder)."""
    folder = Path(os.path.realpath(folder))
    try:
        # Read-only and through a URI, so looking never creates or changes anything.
        conn = sqlite3.connect(f"{(folder / DB_NAME).as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None, str(folder)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'index_id'").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        conn.close()
    return (str(row[0]) if row else None), str(folder)


def check_health(folder: Path, info: dict, health: dict) -> None:
    """Raise UntrustedServer unless GET /health says this process serves this very index."""
    index_id, real = index_identity(folder)
    if index_id is None:
        raise UntrustedServer("this index has no id to match a server against")
    if health.get("pid") != info["pid"]:
        raise UntrustedServer(f"the server on port {info['port']} is not pid {info['pid']}")
    if health.get("index_dir") != real:
        raise UntrustedServer(f"the server on port {info['port']} serves {_shown(health.get('index_dir'))}, not {_shown(real)}")
    if health.get("index_id") != index_id:
        raise UntrustedServer(f"the server on port {info['port']} serves another index (its id differs)")
