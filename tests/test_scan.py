"""The scan: files parsed in worker processes give exactly the index one process gives."""

import os
import sqlite3
from pathlib import Path

from codequarry import scan
from codequarry.indexer import index_repository
from codequarry.search.searcher import Searcher
from tests.conftest import write_tree


def _tree(root: Path, n: int) -> Path:
    files = {}
    for i in range(n):
        files[f"pkg/mod{i}.py"] = (
            f"from pkg.mod{(i + 1) % n} import helper{(i + 1) % n}\n\n\n"
            f"def helper{i}(items):\n    \"\"\"Normalise batch {i} of uploaded items.\"\"\"\n"
            f"    return [helper{(i + 1) % n}(x) for x in items]\n\n\n"
            f"class Store{i}:\n    def retry_upload(self, item):\n        return helper{i}([item])\n"
        )
    files["README.md"] = "# Uploads\n\nRetries failed uploads.\n"
    return write_tree(root, files)


def _dump(folder: Path) -> dict:
    conn = sqlite3.connect(folder / "index.db")
    try:
        return {
            "files": conn.execute("SELECT path, language, hash FROM files ORDER BY path").fetchall(),
            "chunks": conn.execute(
                "SELECT f.path, c.kind, c.qualname, c.line_start, c.line_end, c.text_hash FROM chunks c "
                "JOIN files f ON f.id = c.file_id ORDER BY 1, 4, 3").fetchall(),
            "lexical": sorted(conn.execute("SELECT name, qualname, path, signature, doc, body FROM lexical")),
            "edges": conn.execute(
                "SELECT f.path, c.qualname, t.callee, t.status, tc.qualname FROM call_targets t "
                "JOIN chunks c ON c.id = t.chunk_id JOIN files f ON f.id = c.file_id "
                "LEFT JOIN chunks tc ON tc.id = t.target_id ORDER BY 1, 2, 3, 5").fetchall(),
            "imports": sorted(conn.execute("SELECT module, name, alias FROM imports")),
        }
    finally:
        conn.close()


def test_worker_processes_build_the_same_index_as_one_process(tmp_path, monkeypatch):
    repo = _tree(tmp_path / "repo", 60)
    pids = tmp_path / "pids"
    pids.mkdir()
    real = scan._prepare

    def recording(c, text_format):
        (pids / str(os.getpid())).touch()
        return real(c, text_format)

    monkeypatch.setattr(scan, "_prepare", recording)
    monkeypatch.setattr(scan, "_workers", lambda n: 0)
    index_repository(repo, model="hash", index_dir=tmp_path / "one")
    assert {p.name for p in pids.iterdir()} == {str(os.getpid())}

    for p in pids.iterdir():
        p.unlink()
    monkeypatch.setattr(scan, "_workers", lambda n: 2)
    index_repository(repo, model="hash", index_dir=tmp_path / "two")
    used = {p.name for p in pids.iterdir()}
    assert str(os.getpid()) not in used and 1 <= len(used) <= 2  # the files were parsed in the workers

    one, two = _dump(tmp_path / "one"), _dump(tmp_path / "two")
    assert one == two
    assert one["edges"] and any(status == "resolved" for *_, status, _t in one["edges"])
    s = Searcher.open(repo, index_dir=tmp_path / "two")
    try:
        assert s.search("helper7", k=1, mode="lexical")[0].chunk.qualname == "helper7"
    finally:
        s.close()


def test_a_failure_in_a_worker_fails_the_run_and_leaves_no_index(tmp_path, monkeypatch):
    repo = _tree(tmp_path / "repo", 60)

    def broken(c, text_format):
        raise RuntimeError("chunker bug")

    monkeypatch.setattr(scan, "_prepare", broken)
    monkeypatch.setattr(scan, "_workers", lambda n: 2)
    try:
        index_repository(repo, model="hash", index_dir=tmp_path / "idx")
    except RuntimeError as exc:
        assert "chunker bug" in str(exc)
    else:
        raise AssertionError("the run should have failed")
    conn = sqlite3.connect(tmp_path / "idx" / "index.db")
    try:
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0
    finally:
        conn.close()


def test_few_files_or_a_threaded_process_parse_here():
    assert scan._workers(scan.POOL_MIN_FILES - 1) == 0
    import threading

    t = threading.Thread(target=lambda: threading.Event().wait(1))
    t.start()
    try:
        assert scan._workers(10_000) == 0  # forking beside another thread is unsafe
    finally:
        t.join()
