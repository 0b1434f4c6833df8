"""The scale-out seam's pure parts (filters, ids) and its missing-extra error: no Ray, no Milvus needed."""

import sys

import pytest

from codequarry.domain import Chunk
from codequarry.errors import MissingExtraError
from codequarry.store.base import StoreFilter, chunk_id
from codequarry.store.milvus import _like_superset, filter_expression, path_matches


def _chunk(**kw):
    base = dict(file="a.py", language="python", kind="function", name="f", qualname="f", line_start=1, line_end=2,
                code="def f(): pass")
    return Chunk(**{**base, **kw})


def test_chunk_id_is_stable_and_names_place_and_text():
    c = _chunk()
    assert chunk_id("r", c, "h1") == chunk_id("r", _chunk(), "h1")
    assert len({chunk_id("r", c, "h1"), chunk_id("s", c, "h1"), chunk_id("r", c, "h2"),
                chunk_id("r", _chunk(line_start=5, line_end=6), "h1")}) == 4


def test_filter_expression_quotes_values():
    expr = filter_expression(StoreFilter(repos=('we"ird', "b"), langs=("python",), kinds=("function", "method")))
    assert expr == ('repo in ["we\\"ird", "b"] and language in ["python"] and kind in ["function", "method"]')
    assert filter_expression(StoreFilter()) == ""


@pytest.mark.parametrize("glob, path, hit", [
    ("*.py", "src/a.py", True), ("src/*.py", "src/a.py", True), ("a.py", "src/a.py", True),
    ("a.py", "src/ba.py", False), ("src/[ab].py", "src/b.py", True), ("src/[ab].py", "src/c.py", False),
    ("*.js", "src/a.py", False),
])
def test_path_glob_matches_like_the_sqlite_filter(glob, path, hit):
    assert path_matches(path, glob) is hit
    if hit:  # the LIKE pre-filter may let more through, never less
        import re

        like = "^" + re.escape(_like_superset(glob)).replace("%", ".*").replace("_", ".") + "$"
        assert re.match(like, path)


def test_store_without_the_extra_names_the_install(monkeypatch):
    from codequarry.store.milvus import MilvusStore

    monkeypatch.setitem(sys.modules, "pymilvus", None)  # import pymilvus now raises ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'codequarry\[scale\]'"):
        MilvusStore("x.db")


def test_org_index_without_ray_names_the_install(monkeypatch, tmp_path):
    from codequarry.scale.runtime import ray_runtime

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"codequarry\[scale\]"):
        with ray_runtime(None, 1):
            pass


def test_repository_list_file_and_names(tmp_path):
    from codequarry.errors import UserInputError
    from codequarry.scale.index import name_repositories, read_repo_list

    for d in ("one/api", "two/api", "web"):
        (tmp_path / d).mkdir(parents=True)
    listing = tmp_path / "repos.txt"
    listing.write_text("# the org\none/api\n\nweb\n")
    paths = read_repo_list(listing)
    assert [name for name, _ in name_repositories(paths)] == ["api", "web"]
    with pytest.raises(UserInputError, match="two repositories are named 'api'"):
        name_repositories(paths + [tmp_path / "two/api"])
    with pytest.raises(UserInputError, match="not a directory"):
        name_repositories([tmp_path / "gone"])


def test_parse_reads_only_files_whose_state_changed(tmp_path):
    """A Ray parse task's incremental rule, without Ray: size+mtime, then content hash, decide."""
    import os

    from codequarry.scale.parse import parse_repository
    from conftest import write_tree

    repo = write_tree(tmp_path / "r", {"a.py": "def a():\n    return 1\n", "b.py": "def b():\n    return 2\n",
                                       "c.py": "def c():\n    return 3\n"})
    first = parse_repository("r", str(repo))
    assert first.files_parsed == 3 and first.unchanged == set() and first.gone == []
    known = {s.path: s for s in first.states}
    same = parse_repository("r", str(repo), known=known)
    assert (same.files_parsed, same.chunks, same.states, same.unchanged) == (0, [], [], {"a.py", "b.py", "c.py"})
    st = (repo / "a.py").stat()
    os.utime(repo / "a.py", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched, same text
    (repo / "b.py").write_text("def b():\n    return 22\n")
    (repo / "c.py").unlink()
    again = parse_repository("r", str(repo), known=known)
    assert again.files_parsed == 1 and {c.file for c, _ in again.chunks} == {"b.py"}
    assert again.unchanged == {"a.py"} and again.gone == ["c.py"]
    assert {s.path for s in again.states} == {"a.py", "b.py"}  # a.py's new mtime is recorded, not re-chunked
    forced = parse_repository("r", str(repo), known=known, rechunk=True)
    assert forced.files_parsed == 2 and forced.unchanged == set() and forced.gone == ["c.py"]


def test_org_index_refuses_an_unknown_store_before_starting_ray(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from codequarry.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # were Ray started, this would be a missing-extra error instead
    (tmp_path / "r").mkdir()
    result = CliRunner().invoke(main, ["org", "index", str(tmp_path / "r"), "--store", str(tmp_path / "org.json")])
    assert result.exit_code == 2 and "is not a Milvus URI" in result.output and "*.sqlite" in result.output
    assert not (tmp_path / "org.json").exists()
