import json
import os
import threading

import pytest

from codequarry.errors import UserInputError
from codequarry.walk import WalkReport, read_source, walk
from conftest import run_cli, write_tree


def rels(root, **kw):
    return [f.rel for f in walk(root, **kw)]


def test_gitignore_vendored_and_nested_ignores(tmp_path):
    write_tree(tmp_path, {
        ".gitignore": "*.log\nbuild_out/\n",
        "a.py": "x = 1\n",
        "debug.log": "noise\n",
        "build_out/gen.py": "x = 1\n",
        "node_modules/lib/index.js": "x\n",
        "target/debug/main.rs": "fn main(){}\n",
        "pkg/.gitignore": "secret.py\n",
        "pkg/secret.py": "x = 1\n",
        "pkg/ok.py": "x = 1\n",
        ".git/config": "x\n",
        "venvlike/pyvenv.cfg": "home = /usr\n",
        "venvlike/lib/site.py": "x\n",
    })
    assert rels(tmp_path) == [".gitignore", "a.py", "pkg/.gitignore", "pkg/ok.py"]
    got = rels(tmp_path, accept=lambda r: r.endswith(".py"))
    assert got == ["a.py", "pkg/ok.py"]


def test_symlinks_outside_and_loops_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    write_tree(outside, {"leak.py": "x = 1\n"})
    repo = write_tree(tmp_path / "repo", {"src/a.py": "x = 1\n"})
    os.symlink(outside, repo / "src" / "out")
    os.symlink(repo / "src", repo / "src" / "loop")
    report = WalkReport()
    got = rels(repo, report=report)
    assert got == ["src/a.py"]
    assert report.skipped["symlink outside repository"] == 1


def test_size_limit_and_content_checks(tmp_path):
    write_tree(tmp_path, {
        "big.py": "x = 1\n" * 1000,
        "bin.py": b"\x00\x01\x02binary",
        "latin.py": "caf\xe9 = 1\n".encode("latin-1"),
        "min.js": "var a=1;" * 400,
    })
    report = WalkReport()
    got = rels(tmp_path, max_bytes=5000, report=report)
    assert "big.py" not in got and report.skipped["too large"] == 1
    assert read_source(tmp_path / "bin.py") == (None, "binary")
    text, reason = read_source(tmp_path / "latin.py")
    assert reason is None and "café" in text
    assert read_source(tmp_path / "min.js") == (None, "minified")


# --- symlinks: loops, links inside the repository -------------------------------------------

def test_symlink_loops_anywhere_do_not_abort_the_walk(tmp_path):
    repo = write_tree(tmp_path / "repo", {"a.py": "def f():\n    return 1\n", "pkg/b.py": "x = 1\n",
                                          "skipme/c.py": "x = 1\n", ".gitignore": "ignored_loop\n"})
    os.symlink("loop", repo / "loop")  # points at itself
    os.symlink("two", repo / "pkg" / "one")  # a cycle of two links
    os.symlink("one", repo / "pkg" / "two")
    os.symlink("ignored_loop", repo / "ignored_loop")
    os.symlink("excluded_loop", repo / "skipme" / "excluded_loop")
    report = WalkReport()
    got = rels(repo, report=report, exclude=("skipme/",))
    assert got == [".gitignore", "a.py", "pkg/b.py"]
    assert report.skipped["broken symlink"] == 3 and report.skipped["ignored"] == 1


def test_index_survives_a_symlink_loop_from_the_command_line(tmp_path):
    repo = write_tree(tmp_path / "r", {"a.py": "def f():\n    return 1\n"})
    os.symlink("loop", repo / "loop")
    out = run_cli("index", str(repo), "--model", "hash", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["skipped"] == {"broken symlink": 1}


def test_a_root_given_through_a_symlink_is_walked_at_its_real_path(tmp_path):
    repo = write_tree(tmp_path / "real", {"a.py": "x = 1\n"})
    os.symlink(repo, tmp_path / "alias")
    assert [(f.rel, f.path) for f in walk(tmp_path / "alias")] == [("a.py", repo / "a.py")]


def test_folder_and_file_links_inside_the_repository_index_each_file_once_at_its_real_path(tmp_path):
    repo = write_tree(tmp_path / "repo", {
        "lib_core/src/core.py": "def core():\n    return 1\n",
        "lib/src/main.py": "from core import core\n",
        "docs/guide.md": "# Guide\n",
    })
    os.symlink("../../lib_core/src", repo / "lib" / "src" / "core")  # lib/src/core -> lib_core/src
    os.symlink("../lib_core/src/core.py", repo / "docs" / "core.py")  # a file link, seen before its target
    report = WalkReport()
    got = rels(repo, report=report)
    assert got == ["docs/guide.md", "lib/src/main.py", "lib_core/src/core.py"]
    assert report.skipped["symlink inside repository"] == 2


def test_a_folder_link_into_the_repository_adds_no_chunks_under_its_name(tmp_path):
    from codequarry.indexer import index_repository
    from codequarry.store.db import IndexDB

    repo = write_tree(tmp_path / "repo", {"lib_core/src/core.py": "def core():\n    return 1\n",
                                          "lib/src/main.py": "def main():\n    return 2\n"})
    os.symlink("../../lib_core/src", repo / "lib" / "src" / "core")
    stats = index_repository(repo, model="hash")
    assert stats.files_parsed == 2
    db = IndexDB(repo / ".quarry")
    try:
        assert set(db.files()) == {"lib_core/src/core.py", "lib/src/main.py"}
    finally:
        db.close()


def test_links_outside_stay_skipped_and_ignored_targets_stay_ignored(tmp_path):
    outside = write_tree(tmp_path / "outside", {"leak.py": "x = 1\n"})
    repo = write_tree(tmp_path / "repo", {"a.py": "x = 1\n", "gen/g.py": "x = 1\n", ".gitignore": "gen/\n"})
    os.symlink(outside, repo / "out_dir")
    os.symlink(outside / "leak.py", repo / "leak.py")
    os.symlink("gen", repo / "gen_link")  # target ignored: the link does not bring it back
    report = WalkReport()
    assert rels(repo, report=report) == [".gitignore", "a.py"]
    assert report.skipped["symlink outside repository"] == 2
    assert report.skipped["symlink inside repository"] == 1


# --- entries that change while the walk runs ------------------------------------------------

def test_files_and_folders_deleted_or_replaced_during_the_walk_are_skipped_as_vanished(tmp_path):
    files = {f"d/f{i:02}.py": "x = 1\n" for i in range(6)}
    files.update({"d/sub/s.py": "x = 1\n", "e/e.py": "x = 1\n", "z/z.py": "x = 1\n"})
    repo = write_tree(tmp_path, files)
    report = WalkReport()
    got = []
    for sf in walk(repo, report=report):
        got.append(sf.rel)
        if sf.rel == "d/f00.py":  # the folder is listed: change it behind the walker's back
            (repo / "d" / "f01.py").unlink()
            (repo / "d" / "f02.py").unlink()
            (repo / "d" / "f02.py").mkdir()  # a file replaced by a folder
            (repo / "d" / "sub" / "s.py").unlink()
            (repo / "d" / "sub").rmdir()  # a listed folder removed
            (repo / "e" / "e.py").unlink()
            (repo / "e").rmdir()
            (repo / "e").write_text("now a file\n")  # a listed folder replaced by a file
    assert got == ["d/f00.py", "d/f03.py", "d/f04.py", "d/f05.py", "z/z.py"]
    assert report.skipped["vanished"] == 4


def test_read_source_says_vanished_for_a_file_gone_or_swapped(tmp_path):
    assert read_source(tmp_path / "gone.py") == (None, "vanished")
    (tmp_path / "dir.py").mkdir()
    assert read_source(tmp_path / "dir.py") == (None, "vanished")
    (tmp_path / "target.py").write_text("x = 1\n")
    os.symlink(tmp_path / "target.py", tmp_path / "link.py")  # swapped for a link: not followed
    assert read_source(tmp_path / "link.py") == (None, "vanished")
    os.mkfifo(tmp_path / "fifo.py")  # swapped for a fifo: not waited on
    assert read_source(tmp_path / "fifo.py") == (None, "vanished")


def test_a_file_vanishing_between_walk_and_read_is_skipped_and_the_run_commits(sample_repo, monkeypatch):
    from codequarry import scan
    from codequarry.indexer import index_repository

    real = scan.read_source

    def vanishing(path):
        if path.name == "app.js":
            path.unlink()
        return real(path)

    monkeypatch.setattr(scan, "read_source", vanishing)
    stats = index_repository(sample_repo, model="hash")
    assert stats.skipped == {"vanished": 1} and stats.files_parsed == 4
    again = index_repository(sample_repo, model="hash")
    assert (again.files_parsed, again.files_unchanged, again.files_removed) == (0, 4, 0)


def test_a_gitignore_that_is_a_fifo_does_not_block_the_walk(tmp_path):
    write_tree(tmp_path, {"a.py": "x = 1\n"})
    os.mkfifo(tmp_path / ".gitignore")
    got = []
    t = threading.Thread(target=lambda: got.extend(rels(tmp_path)), daemon=True)
    t.start()
    t.join(timeout=10)
    assert not t.is_alive() and got == ["a.py"]


# --- bad patterns and options ---------------------------------------------------------------

def test_invalid_gitignore_lines_are_dropped_not_fatal(tmp_path):
    write_tree(tmp_path, {".gitignore": "!\n\\\n[z-a]\n*.log\n", "a.py": "x\n", "b.log": "x\n"})
    assert rels(tmp_path) == [".gitignore", "a.py"]


@pytest.mark.parametrize("max_bytes", [-1, 0])
def test_max_bytes_below_one_is_refused_before_any_index_is_written(sample_repo, max_bytes):
    from codequarry.indexer import index_repository

    with pytest.raises(UserInputError, match="--max-bytes"):
        index_repository(sample_repo, model="hash", max_bytes=max_bytes)
    assert not (sample_repo / ".quarry").exists()
    out = run_cli("index", str(sample_repo), "--model", "hash", "--max-bytes", str(max_bytes))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith("quarry: error: --max-bytes") and not (sample_repo / ".quarry").exists()


def test_an_invalid_exclude_pattern_is_a_one_line_error(sample_repo):
    out = run_cli("index", str(sample_repo), "--model", "hash", "--exclude", "!")
    assert out.returncode == 2 and out.stderr.startswith("quarry: error: invalid --exclude pattern '!'")
    assert len(out.stderr.splitlines()) == 1
