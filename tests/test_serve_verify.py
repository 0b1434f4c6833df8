"""`quarry search` sends a query only to a server shown to serve this very index (issue 10, item 3).

Every listener here is on 127.0.0.1 and stopped by the test that starts it.
"""

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import run_cli
from test_serve import _payload, indexed, server  # noqa: F401 - fixtures

from codequarry import __version__
from codequarry.errors import UserInputError
from codequarry.serve import SERVER_FILE
from codequarry.serve.client import request, server_info, try_search
from codequarry.serve.server import start_server
from codequarry.serve.verify import UntrustedServer, check_claim, index_identity
from codequarry.store.db import IndexDB

FAKE_HIT = {"file": "EVIL.py", "language": "python", "kind": "function", "name": "planted", "qualname": "planted",
            "line_start": 1, "line_end": 1, "code": "pwned()", "signature": "", "score": 99.0}

# A listener that plays a perfect server: it reads the real index id and path, so only
# the kernel's word (which pid holds the port) can tell it apart. It logs every request.
FAKE_SERVER = textwrap.dedent("""
    import json, os, sqlite3, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    folder, log = sys.argv[1], sys.argv[2]
    index_id = sqlite3.connect(os.path.join(folder, "index.db")).execute(
        "SELECT value FROM meta WHERE key = 'index_id'").fetchone()[0]
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def answer(self):
            with open(log, "a") as fh:
                fh.write(self.command + " " + self.path + "\\n")
            if self.path == "/health":
                body = {"pid": int(sys.argv[3]), "index_dir": os.path.realpath(folder), "index_id": index_id,
                        "version": sys.argv[4]}
            else:
                body = {"results": [json.loads(sys.argv[5])], "warnings": []}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        do_GET = do_POST = answer
    srv = HTTPServer(("127.0.0.1", 0), H)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()
""")


@pytest.fixture
def with_id(indexed):
    IndexDB(indexed / ".quarry").index_id()  # what any server started on the index does first
    return indexed


@pytest.fixture
def fake(with_id, tmp_path):
    """Start a fake listener claiming `pid`; returns (start(pid) -> port, requests-seen())."""
    procs, log = [], tmp_path / "fake.log"
    log.touch()

    def start(pid: int | None = None) -> tuple[int, int]:
        proc = subprocess.Popen(
            [sys.executable, "-c", FAKE_SERVER, str(with_id / ".quarry"), str(log), str(pid or 0), __version__,
             json.dumps(FAKE_HIT)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        return int(proc.stdout.readline()), proc.pid

    yield start, lambda: log.read_text().splitlines()
    for p in procs:
        p.kill()
        p.wait()


def _plant(folder: Path, *, pid: int, port: int, host: str = "127.0.0.1", mode: int = 0o600) -> Path:
    path = folder / SERVER_FILE
    path.write_text(json.dumps({"pid": pid, "port": port, "host": host, "token": "t", "version": __version__}))
    path.chmod(mode)
    return path


def _foreign_pid():
    """A live process of another user: pid 1 for a normal user; a child running as nobody for root."""
    if os.getuid() != 0:
        return 1, None
    try:
        child = subprocess.Popen(["sleep", "30"], user=65534)
    except (PermissionError, OSError):
        pytest.skip("cannot start a process as another user here")
    return child.pid, child


def _reason(folder: Path) -> str:
    with pytest.raises(UntrustedServer) as caught:
        check_claim(folder)
    return str(caught.value)


def test_planted_file_gets_no_query_and_the_search_runs_in_process(fake, with_id):
    """The issue's attack: server.json naming a live pid (here: ours, or pid 1) and someone else's listener."""
    start, seen = fake
    port, _ = start(os.getpid())
    folder = with_id / ".quarry"
    for pid in (os.getpid(), 1):
        _plant(folder, pid=pid, port=port)
        warnings = []
        assert try_search(folder, _payload("upload"), on_warning=warnings.append) is None
        assert len(warnings) == 1 and warnings[0].startswith(f"ignoring .quarry/{SERVER_FILE}: ")
    _plant(folder, pid=os.getpid(), port=port)
    assert "is held by a process other than pid" in _reason(folder)
    cli = run_cli("search", "retry", "failed", "uploads", "--json", cwd=with_id)
    assert cli.returncode == 0, cli.stderr
    rows = json.loads(cli.stdout)
    assert rows and all(r["file"] != "EVIL.py" for r in rows)
    assert rows[0]["name"] == "retry_failed_uploads"  # answered in-process, from the real index
    assert cli.stderr.count("\n") == 1 and "quarry: warning: ignoring .quarry/server.json: " in cli.stderr
    assert seen() == []  # not one byte of a query, not even a /health, reached the fake


def test_a_listener_in_its_own_name_is_still_checked_for_the_index(fake, with_id, tmp_path):
    """The fake holds its port and names its own pid: only its /health answer is left to judge."""
    start, seen = fake
    port, pid = start(0)  # claims pid 0 in /health: not the pid the file names
    _plant(with_id / ".quarry", pid=pid, port=port)
    warnings = []
    assert try_search(with_id / ".quarry", _payload("upload"), on_warning=warnings.append) is None
    assert "is not pid" in warnings[0]
    assert seen() == ["GET /health"]  # identity asked, no query sent


def test_copied_repository_does_not_use_the_originals_server(server, indexed, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(indexed, copy)  # .quarry with it: the same index id and a server.json naming the original's
    assert index_identity(copy / ".quarry")[0] == server.warm.index_id
    warnings = []
    assert try_search(copy / ".quarry", _payload("upload"), on_warning=warnings.append) is None
    assert warnings == [f"ignoring .quarry/{SERVER_FILE}: the server on port {server.port} serves "
                        f"{os.path.realpath(indexed / '.quarry')}, not {os.path.realpath(copy / '.quarry')}"]
    before = server.warm.searches
    cli = run_cli("search", "parse", "http", "header", "--mode", "lexical", "--json", cwd=copy)
    assert cli.returncode == 0 and json.loads(cli.stdout)[0]["name"] == "ParseHTTPHeader"
    assert "serves" in cli.stderr and server.warm.searches == before
    # The original still uses it.
    assert try_search(indexed / ".quarry", _payload("upload")) and server.warm.searches == before + 1


def test_another_index_in_the_same_folder_does_not_match_its_old_server(server, indexed):
    """index.db replaced under a running server (restored, rebuilt): same path, another id."""
    import sqlite3

    folder = indexed / ".quarry"
    assert server_info(folder) is not None
    with sqlite3.connect(folder / "index.db") as conn:
        conn.execute("UPDATE meta SET value = 'another' WHERE key = 'index_id'")
    warnings = []
    assert try_search(folder, _payload("upload"), on_warning=warnings.append) is None
    assert warnings[0].endswith(f"the server on port {server.port} serves another index (its id differs)")


def test_file_and_host_checks(with_id):
    folder = with_id / ".quarry"
    me = os.getpid()
    _plant(folder, pid=me, port=8, mode=0o620)
    assert _reason(folder) == "it is writable by group or others"
    _plant(folder, pid=me, port=8, mode=0o602)
    assert _reason(folder) == "it is writable by group or others"
    _plant(folder, pid=me, port=8, host="10.1.2.3")
    assert _reason(folder) == "its host '10.1.2.3' is not loopback"
    _plant(folder, pid=me, port=8, host="example.com")
    assert _reason(folder) == "its host 'example.com' is not loopback"
    real = folder.parent / "elsewhere.json"
    _plant(folder, pid=me, port=8).rename(real)
    (folder / SERVER_FILE).symlink_to(real)
    assert _reason(folder) == "it is a symbolic link"
    (folder / SERVER_FILE).unlink()
    (folder / SERVER_FILE).write_text(json.dumps({"pid": me, "port": 8, "version": "0.0.0-other"}))
    (folder / SERVER_FILE).chmod(0o600)
    assert _reason(folder) == f"the server runs codequarry 0.0.0-other, this is {__version__}"
    (folder / SERVER_FILE).write_text("{not json")
    assert _reason(folder) == "it does not name a pid and a port"
    if os.getuid() == 0:  # only root can give a file away
        _plant(folder, pid=me, port=8)
        os.chown(folder / SERVER_FILE, 65534, 65534)
        assert _reason(folder) == "it belongs to uid 65534, not to you"


def test_a_live_pid_of_another_user_is_not_trusted(with_id):
    pid, child = _foreign_pid()
    try:
        _plant(with_id / ".quarry", pid=pid, port=8)
        assert _reason(with_id / ".quarry") == f"pid {pid} is not one of your processes"
        assert (with_id / ".quarry" / SERVER_FILE).exists()  # not ours to remove
    finally:
        if child is not None:
            child.kill()
            child.wait()


def test_nothing_listening_is_named(with_id):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _plant(with_id / ".quarry", pid=os.getpid(), port=port)
    assert _reason(with_id / ".quarry") == f"nothing listens on 127.0.0.1:{port}"


def test_server_replaces_an_untrusted_file_and_refuses_a_verified_one(with_id):
    folder = with_id / ".quarry"
    _plant(folder, pid=1, port=8, mode=0o644)
    srv = start_server(folder, port=0)
    loop = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    loop.start()
    try:
        info = json.loads((folder / SERVER_FILE).read_text())
        assert info["pid"] == os.getpid() and info["port"] == srv.port
        assert (folder / SERVER_FILE).stat().st_mode & 0o777 == 0o600
        assert not list(folder.glob(f".{SERVER_FILE}.*"))  # no temporary file left
        assert server_info(folder)["port"] == srv.port
        with pytest.raises(UserInputError, match="already serves"):
            start_server(folder, port=0)
    finally:
        srv.shutdown()
        loop.join(timeout=5)
        srv.remove_server_file()
        srv.server_close()
        srv.warm.close()


def test_index_id_is_made_with_the_index_and_kept(indexed):
    folder = indexed / ".quarry"
    made, real = index_identity(folder)
    assert len(made) == 32 and real == os.path.realpath(folder)  # there before any server starts
    first = IndexDB(folder)
    assert first.index_id() == made
    first.close()
    again = IndexDB(folder)
    assert again.index_id() == made and index_identity(folder) == (made, real)
    again.close()


def test_an_index_older_than_its_id_gets_one_on_first_use_and_keeps_it(indexed):
    folder = indexed / ".quarry"
    conn = sqlite3.connect(folder / "index.db")
    with conn:
        conn.execute("DELETE FROM meta WHERE key = 'index_id'")
    conn.close()
    assert index_identity(folder)[0] is None
    first = IndexDB(folder)
    made = first.index_id()
    assert len(made) == 32 and first.index_id() == made
    first.close()
    assert index_identity(folder)[0] == made


def test_both_kernel_views_agree_and_give_the_same_verdicts(server, indexed, fake, monkeypatch):
    from codequarry.serve import verify

    folder = indexed / ".quarry"
    via_netlink = verify._listeners_netlink(server.port)
    if via_netlink is not None:  # None where sock_diag is missing: /proc is then all there is
        assert via_netlink == verify._listeners_proc(server.port) and len(via_netlink) == 1
    monkeypatch.setattr(verify, "_listeners_netlink", lambda port: None)
    assert server_info(folder)["port"] == server.port
    start, seen = fake
    port, _ = start(os.getpid())
    _plant(folder, pid=os.getpid(), port=port)
    assert "is held by a process other than pid" in _reason(folder)
    # No /proc at all (macOS): the port check is skipped, the /health identity still stands. (A
    # listener of this user that mimics it perfectly, as the fake above does, then passes: documented.)
    monkeypatch.setattr(verify, "_listeners_proc", lambda port: None)
    port, _ = start(0)
    _plant(folder, pid=os.getpid(), port=port)
    warnings = []
    assert try_search(folder, _payload("upload"), on_warning=warnings.append) is None
    assert "is not pid" in warnings[0] and seen() == ["GET /health"]


def test_an_ipv6_loopback_server_is_found(indexed):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        srv = start_server(indexed / ".quarry", host="::1", port=0)
    except UserInputError:
        pytest.skip("no IPv6 loopback here")
    loop = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    loop.start()
    try:
        assert json.loads((indexed / ".quarry" / SERVER_FILE).read_text())["host"] == "::1"
        got = try_search(indexed / ".quarry", _payload("retry failed uploads"))
        assert got and got[0]["name"] == "retry_failed_uploads" and srv.warm.searches == 1
    finally:
        srv.shutdown()
        loop.join(timeout=5)
        srv.remove_server_file()
        srv.server_close()
        srv.warm.close()


def test_what_a_listener_says_is_printed_without_escape_sequences(with_id):
    from codequarry.serve.verify import check_health

    folder = with_id / ".quarry"
    index_id, _ = index_identity(folder)
    health = {"pid": 7, "index_dir": "\x1b]0;owned\x07\x1b[2J/elsewhere", "index_id": index_id}
    with pytest.raises(UntrustedServer) as caught:
        check_health(folder, {"pid": 7, "port": 9}, health)
    assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value) and "/elsewhere" in str(caught.value)
