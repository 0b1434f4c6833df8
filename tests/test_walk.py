import os

from codequarry.walk import WalkReport, read_source, walk
from conftest import write_tree


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
