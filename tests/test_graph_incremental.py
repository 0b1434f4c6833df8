"""The call graph follows edits: renames, new definitions, deletions, and indexes made before it existed."""

import sqlite3

import pytest
from conftest import write_tree

from codequarry.errors import UserInputError
from codequarry.graph.query import callees, callers
from codequarry.indexer import index_repository
from codequarry.store.db import IndexDB


def target_of(repo, caller, callee):
    (group,) = callees(caller, repo=repo)
    got = [(e.status, e.target.qualname if e.target else None, e.target.file if e.target else None)
           for e in group.edges if e.callee == callee]
    assert len(got) == 1, got
    return got[0]


@pytest.fixture
def repo(tmp_path):
    root = write_tree(tmp_path / "repo", {
        "a.py": "def foo():\n    return 1\n",
        "b.py": "from a import foo\n\n\ndef user():\n    return foo()\n",
        "c.py": "def later():\n    return baz()\n",
    })
    index_repository(root, model="hash")
    return root


def test_a_rename_reaches_callers_in_unchanged_files(repo):
    assert target_of(repo, "user", "foo") == ("resolved", "foo", "a.py")
    (repo / "a.py").write_text("def bar():\n    return 1\n")
    stats = index_repository(repo, model="hash")
    assert stats.files_parsed == 1  # b.py was not re-read, yet its edge changed
    assert target_of(repo, "user", "foo") == ("unresolved", None, None)
    with pytest.raises(UserInputError, match="no definition named 'foo'"):
        callers("foo", repo=repo)
    (repo / "b.py").write_text("from a import bar\n\n\ndef user():\n    return bar()\n")
    index_repository(repo, model="hash")
    assert target_of(repo, "user", "bar") == ("resolved", "bar", "a.py")
    ((group,)) = callers("bar", repo=repo)
    assert [(e.caller.qualname, e.caller.file) for e in group.edges] == [("user", "b.py")]


def test_a_new_definition_resolves_callers_that_could_not(repo):
    assert target_of(repo, "later", "baz") == ("unresolved", None, None)
    (repo / "a.py").write_text("def foo():\n    return 1\n\n\ndef baz():\n    return 2\n")
    index_repository(repo, model="hash")
    assert target_of(repo, "later", "baz") == ("resolved", "baz", "a.py")
    # A second definition of the name makes the unique edge ambiguous.
    (repo / "d.py").write_text("def baz():\n    return 3\n")
    index_repository(repo, model="hash")
    (group,) = callees("later", repo=repo)
    assert sorted((e.status, e.target.file) for e in group.edges) == [("ambiguous", "a.py"), ("ambiguous", "d.py")]


def test_deleting_the_callee_file_unresolves_and_moving_it_resolves_again(repo):
    (repo / "a.py").unlink()
    index_repository(repo, model="hash")
    assert target_of(repo, "user", "foo") == ("unresolved", None, None)
    (repo / "a.py").write_text("def foo():\n    return 1\n")
    index_repository(repo, model="hash")
    assert target_of(repo, "user", "foo") == ("resolved", "foo", "a.py")


def test_an_index_made_before_the_graph_gets_its_edges_on_the_next_run(repo):
    # Roll the index back to before migration 007: no graph tables, chunker version recorded.
    folder = repo / ".quarry"
    conn = sqlite3.connect(folder / "index.db")
    for table in ("call_targets", "imports", "class_bases", "graph_files"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DELETE FROM _migrations WHERE name = '007_call_targets'")
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('chunker_version', '1')")
    conn.commit()
    conn.close()
    stats = index_repository(repo, model="hash")
    assert stats.files_parsed == 3 and stats.embedded == 0  # re-read, but every vector is reused
    assert target_of(repo, "user", "foo") == ("resolved", "foo", "a.py")


def test_readers_of_an_index_without_the_graph_are_told_to_reindex(repo):
    conn = sqlite3.connect(repo / ".quarry" / "index.db")
    conn.execute("DROP TABLE call_targets")
    conn.execute("DELETE FROM _migrations WHERE name = '007_call_targets'")
    conn.commit()
    conn.close()
    from codequarry.errors import IndexMismatchError

    with pytest.raises(IndexMismatchError, match="quarry index"):
        callers("foo", repo=repo)


def test_graph_rows_go_with_their_files(repo):
    (repo / "b.py").unlink()
    index_repository(repo, model="hash")
    db = IndexDB(repo / ".quarry", readonly=True)
    try:
        files = {r[0] for r in db.conn.execute("SELECT file_id FROM graph_files")}
        assert files == {r[0] for r in db.conn.execute("SELECT id FROM files")}
        assert db.conn.execute("SELECT count(*) FROM imports").fetchone()[0] == 0  # b.py held the only import
        orphans = db.conn.execute(
            "SELECT count(*) FROM call_targets t LEFT JOIN chunks c ON c.id = t.chunk_id WHERE c.id IS NULL"
        ).fetchone()[0]
        assert orphans == 0
    finally:
        db.close()
