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


def test_container_pieces_get_no_vector_but_prose_vendored_code_and_definition_windows_do():
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
    assert lexical_only(chunks) == {4}


_STEPS = "".join(f"    def step_{i}(self, value):\n        \"\"\"Step {i} of the pipeline.\"\"\"\n"
                 f"        total = value + {i}\n        total = total * 2\n        return total - {i}\n\n" for i in range(30))
# A class long enough to shrink to its skeleton; the constants between its methods become a piece of it.
PIPELINE = ("class Pipeline:\n    \"\"\"Runs the steps.\"\"\"\n\n    def start(self):\n        return 0\n\n"
            "    QUARANTINE_BUCKET = 'virus-scan-failures'\n    QUARANTINE_RETRIES = 3\n"
            "    QUARANTINE_NOTIFY = 'security-team'\n\n" + _STEPS)


def test_a_chunk_left_to_the_lexical_leg_is_found_by_hybrid_search_and_the_slot_is_complete(tmp_path):
    repo = write_tree(tmp_path / "repo", {"pipeline.py": PIPELINE, "README.md": "# Pipeline\n\nRuns steps.\n"})
    stats = index_repository(repo, model="hash")
    assert stats.lexical_only == 1 and stats.embedded == stats.chunks - 1  # the README has its vector
    s = Searcher.open(repo)
    try:
        assert s.coverage() == (stats.chunks, stats.chunks)  # complete: nothing is waiting for a vector
        assert s.index.ntotal == stats.chunks - 1
        hits = s.search("quarantine bucket retries notify", k=3, mode="hybrid")
        piece = [h for h in hits if h.chunk.parent == "Pipeline"]
        assert piece and set(piece[0].sources) == {"lexical"}  # found by the lexical leg alone
    finally:
        s.close()


def test_an_index_built_under_another_selection_rule_publishes_the_vectors_it_now_wants(tmp_path):
    import sqlite3

    repo = write_tree(tmp_path / "repo", {"pipeline.py": PIPELINE, "README.md": "# Pipeline\n\nRuns steps.\n"})
    stats = index_repository(repo, model="hash")
    conn = sqlite3.connect(repo / ".quarry" / "index.db")
    with conn:  # as an index from before the rule changed: its README had no vector
        conn.execute("DELETE FROM meta WHERE key = 'select_version'")
    conn.close()
    again = index_repository(repo)
    assert again.files_parsed == 0 and again.lexical_only == 1
    s = Searcher.open(repo)
    try:
        assert s.slot["generation"] == 2 and s.index.ntotal == stats.chunks - 1
    finally:
        s.close()


def test_index_says_how_many_chunks_are_searched_lexically_only(tmp_path):
    from tests.conftest import run_cli

    repo = write_tree(tmp_path / "repo", {"pipeline.py": PIPELINE})
    out = run_cli("index", "--model", "hash", str(repo))
    assert out.returncode == 0, out.stderr
    assert "1 searched lexically only" in out.stdout
    stats = json.loads(run_cli("index", "--model", "hash", "--force", "--json", str(repo)).stdout)
    assert stats["lexical_only"] == 1
