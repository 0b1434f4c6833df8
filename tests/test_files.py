"""The file-level view: rank_files (pure) and `quarry search --files`."""

import json

import pytest

from codequarry.domain import Chunk, SearchResult
from codequarry.indexer import index_repository
from codequarry.search.files import FileHit, rank_files
from conftest import run_cli


def hit(file, qualname, score, line=1):
    c = Chunk(file=file, language="python", kind="function", name=qualname.rsplit(".", 1)[-1], qualname=qualname,
              line_start=line, line_end=line + 2, code="")
    return SearchResult(c, score)


def test_files_rank_by_their_best_chunk_with_their_best_definitions():
    results = [hit("a.py", "f", 0.9, 10), hit("b.py", "g", 0.8), hit("a.py", "h", 0.7, 30), hit("c.py", "i", 0.6),
               hit("a.py", "j", 0.5), hit("a.py", "k", 0.4), hit("d.py", "l", 0.3), hit("c.py", "m", 0.2)]
    files = rank_files(results, k=3, per_file=3)
    assert [f.file for f in files] == ["a.py", "b.py", "c.py"]
    assert [h.chunk.qualname for h in files[0].hits] == ["f", "h", "j"]
    assert files[0].score == 0.9 and files[0].line == 10
    assert [h.chunk.qualname for h in files[2].hits] == ["i", "m"]  # later hits of a listed file still count
    assert isinstance(files[0], FileHit)
    with pytest.raises(AttributeError):
        files[0].score = 1.0  # frozen
    js = files[0].to_json()
    assert js["file"] == "a.py" and js["line"] == 10 and [d["qualname"] for d in js["definitions"]] == ["f", "h", "j"]
    assert rank_files([], 5) == []


def test_search_files_cli(sample_repo):
    index_repository(sample_repo, model="hash")
    env = {"QUARRY_NO_SERVER": "1"}
    r = run_cli("search", "upload", "store", "--files", "-k", "2", "--json", cwd=sample_repo, env=env)
    assert r.returncode == 0, r.stderr
    files = json.loads(r.stdout)
    assert len(files) == 2 and files[0]["file"] == "store.py"
    assert len({f["file"] for f in files}) == 2
    assert "UploadStore.retry_failed_uploads" in [d["qualname"] for d in files[0]["definitions"]]
    r = run_cli("search", "upload", "store", "--files", "-k", "2", cwd=sample_repo, env=env)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.split()[1].startswith("store.py:")  # `file:line`


def test_search_files_through_the_warm_server(sample_repo):
    """--files asks a running server for ranked chunks and groups them itself: same answer, no server change."""
    import threading

    from codequarry.serve.client import request, server_info
    from codequarry.serve.server import start_server

    index_repository(sample_repo, model="hash")
    local = run_cli("search", "upload", "store", "--files", "--json", cwd=sample_repo, env={"QUARRY_NO_SERVER": "1"})
    srv = start_server(sample_repo / ".quarry", host="127.0.0.1", port=0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        warm = run_cli("search", "upload", "store", "--files", "--json", cwd=sample_repo)
        assert warm.returncode == 0, warm.stderr
        assert request(server_info(sample_repo / ".quarry"), "GET", "/health")[1]["searches"] == 1
        strip = lambda rows: [(f["file"], [d["qualname"] for d in f["definitions"]]) for f in rows]  # noqa: E731
        assert strip(json.loads(warm.stdout)) == strip(json.loads(local.stdout))
    finally:
        srv.shutdown()
        thread.join(timeout=5)
        srv.remove_server_file()
        srv.server_close()
        srv.warm.close()
