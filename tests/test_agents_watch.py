"""`quarry watch`: edits, deletes, renames and a burst of files become searchable; temp files and .quarry/ do not wake it."""

import threading
import time
from pathlib import Path

import pytest

from codequarry.agents.watch import ChangeFilter, watch
from codequarry.search.searcher import Searcher

pytest.importorskip("watchfiles")
from watchfiles import Change  # noqa: E402

TIMEOUT = 30.0


@pytest.fixture
def watching(sample_repo):
    stop, runs = threading.Event(), []
    ready = threading.Event()

    def on_run(run):
        runs.append(run)
        ready.set()

    t = threading.Thread(target=watch, args=(sample_repo,),
                         kwargs=dict(model="hash", debounce_ms=100, on_run=on_run, stop_event=stop), daemon=True)
    t.start()
    assert ready.wait(TIMEOUT), "the first index run did not finish"
    time.sleep(0.3)  # the watcher is up once the first run reported
    yield sample_repo, runs
    stop.set()
    t.join(10)
    assert not t.is_alive()


def _files_matching(repo: Path, word: str) -> set[str]:
    """Files holding a definition named `word`, as search finds them."""
    s = Searcher.open(repo)
    try:
        return {r.chunk.file for r in s.search(word, 20, "lexical") if r.chunk.name == word}
    finally:
        s.close()


def _eventually(check, what: str):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {TIMEOUT}s: {what}")


def test_edit_delete_rename_and_burst_become_searchable(watching):
    repo, runs = watching
    assert runs[0].error is None and runs[0].stats.files_parsed == 5

    (repo / "store.py").write_text((repo / "store.py").read_text() + "\n\ndef frobnicate_widgets():\n    return 1\n")
    _eventually(lambda: _files_matching(repo, "frobnicate_widgets") == {"store.py"}, "edit searchable")

    (repo / "web" / "app.js").rename(repo / "web" / "login.js")  # a rename: old path gone, new one found
    _eventually(lambda: _files_matching(repo, "renderLoginForm") == {"web/login.js"}, "rename followed")

    (repo / "net" / "http_client.go").unlink()
    _eventually(lambda: not _files_matching(repo, "ParseHTTPHeader"), "delete followed")

    (repo / "pkg").mkdir()  # a checkout-sized burst: many files at once, one or few runs
    for i in range(150):
        (repo / "pkg" / f"mod{i}.py").write_text(f"def burst_function_{i}():\n    return {i}\n")
    _eventually(lambda: _files_matching(repo, "burst_function_149") == {"pkg/mod149.py"}, "burst indexed")
    assert _files_matching(repo, "burst_function_0") == {"pkg/mod0.py"}
    before = len(runs)
    assert before <= 12, f"{before} runs: the burst was not debounced"
    assert all(r.error is None for r in runs)


def test_moved_folder_is_reindexed(watching):
    repo, runs = watching
    (repo / "net").rename(repo / "network")  # one event for the folder, none for the file inside
    _eventually(lambda: _files_matching(repo, "ParseHTTPHeader") == {"network/http_client.go"}, "folder move")


def test_filter_drops_what_cannot_change_the_index(tmp_path):
    f = ChangeFilter(tmp_path, tmp_path / ".quarry")
    yes = ["a.py", "src/b.go", "Makefile", "docs", ".gitignore"]
    no = [".quarry/index.db", ".quarry/vectors-default-3.faiss", "a.py~", "src/.b.go.swp", "src/#b.go#",
          ".#a.py", "4913", ".git/HEAD", "node_modules/x/index.js", "build/out.py", "image.png"]
    for rel in yes:
        assert f(Change.modified, str(tmp_path / rel)), rel
    for rel in no:
        assert not f(Change.modified, str(tmp_path / rel)), rel


def test_temp_files_do_not_trigger_runs(watching):
    repo, runs = watching
    before = len(runs)
    (repo / "store.py~").write_text("backup")
    (repo / ".store.py.swp").write_text("swap")
    (repo / ".quarry" / "scratch").write_text("x")
    time.sleep(1.0)
    assert len(runs) == before


def test_cli_watch_json_lines(sample_repo):
    import json
    import os
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[1] / "src")
    proc = subprocess.Popen([sys.executable, "-m", "codequarry.cli", "watch", str(sample_repo), "--model", "hash",
                             "--debounce", "100", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": src})
    try:
        first = json.loads(proc.stdout.readline())
        assert first["changed"] == [] and first["error"] is None and first["stats"]["files_parsed"] == 5
        time.sleep(0.5)
        (sample_repo / "store.py").write_text("def only_this():\n    return 1\n")
        second = json.loads(proc.stdout.readline())
        assert second["changed"] == ["store.py"] and second["stats"]["files_parsed"] == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_watch_bad_path_is_one_line(tmp_path):
    from conftest import run_cli

    out = run_cli("watch", str(tmp_path / "nope"))
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_git_checkout_of_another_branch(watching):
    import shutil
    import subprocess

    from codequarry.graph.status import status

    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo, runs = watching
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)  # noqa: E731
    git("init", "-q", "-b", "main")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", "-A", ":!.quarry")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base")
    git("checkout", "-qb", "other")
    (repo / "store.py").unlink()
    (repo / "lib").mkdir()
    for i in range(200):
        (repo / "lib" / f"m{i}.py").write_text(f"def branch_only_{i}():\n    return {i}\n")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", "-A", ":!.quarry")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "other")
    _eventually(lambda: _files_matching(repo, "branch_only_199") == {"lib/m199.py"}, "branch indexed")

    git("checkout", "-q", "main")  # 200 files gone, store.py back, in one go
    _eventually(lambda: _files_matching(repo, "retry_failed_uploads") == {"store.py"}
                and not _files_matching(repo, "branch_only_7"), "checkout back followed")
    time.sleep(0.5)
    st = status(repo=repo)
    assert not st.behind, (st.new_files, st.changed_files, st.deleted_files)
    assert all(r.error is None for r in runs)


def test_mcp_and_watch_name_the_extra_when_missing(monkeypatch, tmp_path):
    import sys

    from codequarry.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "watchfiles", None)  # an import of it now fails
    with pytest.raises(MissingExtraError, match=r"codequarry\[agents\]"):
        watch(tmp_path)
    monkeypatch.setitem(sys.modules, "mcp", None)
    from codequarry.agents.mcp_server import build_server

    with pytest.raises(MissingExtraError, match=r"codequarry\[agents\]"):
        build_server(tmp_path)
