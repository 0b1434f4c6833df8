"""Chunks the dense leg leaves to the lexical one: no vector, still found, the slot still complete."""

import json

from codequarry.domain import Chunk
from codequarry.embed.select import lexical_only
from codequarry.indexer import index_repository
from codequarry.search.searcher import Searcher
from tests.conftest import write_tree


def _c(file, qualname, start, end, parent="", language="python", kind="function"):
    return Chunk(file=file, language=language, kind=kind, name=qualname.split(".")[-1], qualname=qualname,
                 signature="", doc="", parent=parent, line_start=start, line_end=end, code="x")


def test_prose_vendored_and_container_pieces_get_no_vector_but_definition_windows_do():
    chunks = [
        (1, _c("README.md", "Install", 1, 5, language="markdown", kind="section")),
        (2, _c("vendor/lib/x.py", "helper", 1, 3)),
        (3, _c("app.py", "Big", 1, 40, kind="class")),  # a long container's skeleton
        (4, _c("app.py", "Big", 41, 80, parent="Big", kind="window")),  # one of its pieces
        (5, _c("app.py", "Big.run", 10, 20, kind="method")),  # a member: its own definition
        (6, _c("app.py", "long_fn", 100, 140, parent="long_fn", kind="window")),  # a long function's first window
        (7, _c("app.py", "long_fn", 141, 180, parent="long_fn", kind="window")),  # and its second
        (8, _c("docs/guide.rst", "Guide", 1, 9, language="rst", kind="section")),
    ]
    assert lexical_only(chunks) == {1, 2, 4, 8}


def test_a_chunk_left_to_the_lexical_leg_is_found_by_hybrid_search_and_the_slot_is_complete(tmp_path):
    repo = write_tree(tmp_path / "repo", {
        "uploads.py": "def retry_upload(item):\n    \"\"\"Retry a failed upload.\"\"\"\n    return item\n",
        "README.md": "# Quarantine\n\nFiles that fail the virus scan go to the quarantine bucket.\n",
    })
    stats = index_repository(repo, model="hash")
    assert stats.lexical_only == 1 and stats.embedded == stats.chunks - 1
    s = Searcher.open(repo)
    try:
        assert s.coverage() == (stats.chunks, stats.chunks)  # complete: nothing is waiting for a vector
        assert s.index.ntotal == stats.chunks - 1
        hits = s.search("quarantine bucket virus scan", k=3, mode="hybrid")
        readme = [h for h in hits if h.chunk.file == "README.md"]
        assert readme and set(readme[0].sources) == {"lexical"}  # found by the lexical leg alone
    finally:
        s.close()


def test_index_says_how_many_chunks_are_searched_lexically_only(tmp_path):
    from tests.conftest import run_cli

    repo = write_tree(tmp_path / "repo", {"a.py": "def f():\n    return 1\n", "README.md": "# A\n\nabout f\n"})
    out = run_cli("index", "--model", "hash", str(repo))
    assert out.returncode == 0, out.stderr
    assert "1 searched lexically only" in out.stdout
    stats = json.loads(run_cli("index", "--model", "hash", "--force", "--json", str(repo)).stdout)
    assert stats["lexical_only"] == 1
