"""Warm server and client, on 127.0.0.1 only, every server stopped by the test that starts it."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import run_cli

from codequarry.errors import IndexMissingError, UserInputError
from codequarry.indexer import index_repository
from codequarry.search.searcher import Searcher
from codequarry.locate import locate_index_dir
from codequarry.serve import SERVER_FILE
from codequarry.serve.client import request, results_from_json, server_info, try_search
from codequarry.serve.server import start_server


@pytest.fixture
def indexed(sample_repo) -> Path:
    index_repository(sample_repo, model="hash")
    return sample_repo


@pytest.fixture
def server(indexed):
    srv = start_server(indexed / ".quarry", host="127.0.0.1", port=0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    thread.join(timeout=5)
    srv.remove_server_file()
    srv.server_close()
    srv.warm.close()


def _payload(query, **kw):
    return {"query": query, "k": kw.pop("k", 5), "mode": kw.pop("mode", "hybrid"), **kw}


def test_round_trip_matches_in_process_search(server, indexed):
    info = json.loads((indexed / ".quarry" / SERVER_FILE).read_text())
    assert info["pid"] == os.getpid() and info["port"] == server.port and info["host"] == "127.0.0.1"
    assert (indexed / ".quarry" / SERVER_FILE).stat().st_mode & 0o077 == 0
    for mode in ("hybrid", "dense", "lexical"):
        got = try_search(indexed / ".quarry", _payload("retry failed uploads", mode=mode))
        want = Searcher.open(indexed).search("retry failed uploads", 5, mode)
        assert got == [r.to_json() for r in want]
    filtered = try_search(indexed / ".quarry", _payload("upload form header", k=20, langs=["go"]))
    assert filtered and {r["language"] for r in filtered} == {"go"}
    rebuilt = results_from_json(got)
    assert rebuilt[0].chunk.qualname == got[0]["qualname"] and rebuilt[0].score == got[0]["score"]


def test_user_errors_come_back_as_the_same_exception(server, indexed):
    with pytest.raises(UserInputError, match="empty query"):
        try_search(indexed / ".quarry", _payload("   "))
    with pytest.raises(UserInputError, match="no slot named 'nope'"):
        try_search(indexed / ".quarry", _payload("upload", slot="nope"))


def test_requests_need_the_token(server, indexed):
    info = server_info(indexed / ".quarry")
    assert request({**info, "token": "wrong"}, "POST", "/search", _payload("upload"))[0] == 403
    status, health = request(info, "GET", "/health")
    assert status == 200 and health["model"] == "hash" and health["slot"] == "default"


def test_server_follows_a_reindex(server, indexed):
    assert not try_search(indexed / ".quarry", _payload("checksum_archive", mode="lexical"))
    (indexed / "archive.py").write_text("def checksum_archive(path):\n    return hash(path)\n")
    index_repository(indexed, model="hash")
    warnings = []
    got = try_search(indexed / ".quarry", _payload("checksum archive", mode="dense"), on_warning=warnings.append)
    assert got[0]["name"] == "checksum_archive" and warnings == []


def test_no_server_means_none_quickly(indexed, tmp_path):
    folder = indexed / ".quarry"
    assert try_search(folder, _payload("upload")) is None
    assert try_search(tmp_path / "nowhere", _payload("upload")) is None
    # A dead pid: the stale file is removed.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / SERVER_FILE).write_text(json.dumps({"pid": dead.pid, "port": 1, "host": "127.0.0.1", "token": "x"}))
    assert try_search(folder, _payload("upload")) is None
    assert not (folder / SERVER_FILE).exists()
    # A live pid that is no server (ours), on a port nobody listens on: refused at once.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    from codequarry import __version__

    (folder / SERVER_FILE).write_text(json.dumps(
        {"pid": os.getpid(), "port": free_port, "host": "127.0.0.1", "token": "x", "version": __version__}))
    started = time.perf_counter()
    assert try_search(folder, _payload("upload")) is None
    assert time.perf_counter() - started < 1.0
    (folder / SERVER_FILE).write_text("{not json")
    assert try_search(folder, _payload("upload")) is None


def test_locate_index_dir(indexed, monkeypatch):
    sub = indexed / "net"
    assert locate_index_dir(sub) == indexed / ".quarry"
    with pytest.raises(IndexMissingError):
        locate_index_dir(Path("/"))
    monkeypatch.setenv("QUARRY_INDEX_DIR", "/elsewhere")
    assert locate_index_dir(sub) == Path("/elsewhere")
    assert locate_index_dir(sub, Path("/given")) == Path("/given")


def test_serve_command_in_a_process(indexed):
    """The click command end to end: starts, answers, refuses a second copy, cleans up on SIGTERM."""
    folder = indexed / ".quarry"
    code = "import sys; from codequarry.serve.command import serve_command; serve_command(sys.argv[1:])"
    cmd = [sys.executable, "-c", code, "--repo", str(indexed), "--idle-timeout", "2"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while server_info(folder) is None:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        got = try_search(folder, _payload("parse http header", mode="lexical"))
        assert got[0]["name"] == "ParseHTTPHeader"
        # `quarry search` finds the running server by itself and gets the same answer from it.
        cli = run_cli("search", "parse", "http", "header", "--mode", "lexical", "--json", cwd=indexed / "net")
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)[0]["name"] == "ParseHTTPHeader"
        assert request(server_info(folder), "GET", "/health")[1]["searches"] == 2
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "already serves" in second.stderr
        assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "serving" in proc.stderr.read()
        assert not (folder / SERVER_FILE).exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_without_index_is_one_line(tmp_path):
    code = "import sys; from codequarry.serve.command import serve_command; serve_command(sys.argv[1:])"
    proc = subprocess.run([sys.executable, "-c", code, "--repo", str(tmp_path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 3 and "no codequarry index" in proc.stderr and "Traceback" not in proc.stderr
