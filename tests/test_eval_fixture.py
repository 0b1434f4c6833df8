"""Repository fixtures: format checks, gold matching, the real indexer + Searcher, the stdlib fixture."""

import json
from collections import Counter
from pathlib import Path

import pytest

from codequarry.domain import Chunk
from codequarry.errors import UserInputError
from codequarry.eval.evaluators import evaluate_fixture
from codequarry.eval.fixture import (
    STDLIB_CATEGORIES as CATEGORIES, Gold, FixtureQuery, load_fixture, missing_golds, resolve_repository,
)
from codequarry.eval.systems import expand_systems

STDLIB_FIXTURE = Path(__file__).resolve().parents[1] / "bench" / "fixtures" / "stdlib-3.11.json"

REPO = {
    "store.py": '''"""Persistence for uploads."""


class UploadStore:
    """Keeps uploaded blobs on disk."""

    def open(self, path):
        """Open the store at path."""
        return open(path, "rb")

    def retry_failed_uploads(self, queue):
        """Retry every upload that failed, up to three times."""
        for item in queue:
            self.upload(item)


def compress_blob(data):
    """Compress a blob with zlib before it is written."""
    import zlib
    return zlib.compress(data)
''',
    "util/text.py": '''def slugify(title):
    """Turn a title into a lowercase url slug with dashes."""
    return "-".join(title.lower().split())


def parse_duration(text):
    """Parse '5m' or '2h' into seconds."""
    unit = text[-1]
    return int(text[:-1]) * {"s": 1, "m": 60, "h": 3600}[unit]
''',
}

QUERIES = [
    {"id": "i1", "query": "UploadStore.open", "category": "identifier", "split": "dev",
     "gold": [{"file": "store.py", "name": "UploadStore.open", "lines": [7, 9]}]},
    {"id": "b1", "query": "turn a title into a url slug", "category": "behaviour", "split": "dev",
     "gold": [{"file": "util/text.py", "name": "slugify"}]},
    {"id": "b2", "query": "compress a blob before writing", "category": "behaviour", "split": "test",
     "gold": [{"file": "store.py", "name": "compress_blob"}]},
    {"id": "c1", "query": "how are durations parsed into seconds", "category": "conceptual", "split": "test",
     "gold": [{"file": "util/text.py", "name": "parse_duration"}]},
]


def write_fixture(tmp_path, queries=QUERIES, repo_path="repo", **repo_extra) -> Path:
    root = tmp_path / "repo"
    for rel, text in REPO.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    fx = tmp_path / "fx.json"
    fx.write_text(json.dumps({"name": "tiny", "repository": {"path": repo_path, **repo_extra}, "queries": queries}))
    return fx


def chunk(file, qualname, start=1, end=5, parent="", name=None):
    return Chunk(file=file, language="python", kind="function", name=name or qualname.rsplit(".", 1)[-1],
                 qualname=qualname, line_start=start, line_end=end, code="", parent=parent)


def test_gold_matching_rules():
    g = Gold("a.py", "Store.open", (10, 20))
    assert g.matches(chunk("a.py", "Store.open"))
    assert g.matches(chunk("a.py", "Store.open", 30, 40, parent="Store.open"))  # a window of it
    assert not g.matches(chunk("a.py", "Store.open.helper", parent="Store.open"))  # something inside it
    assert not g.matches(chunk("b.py", "Store.open"))
    assert not g.matches(chunk("a.py", "Other.open"))
    assert g.matches(chunk("a.py", "Store.open", 15, 25), strict=True)
    assert not g.matches(chunk("a.py", "Store.open", 21, 25), strict=True)
    assert Gold("a.py", "helper").matches(chunk("a.py", "helper"))
    assert not Gold("a.py", "open").matches(chunk("a.py", "Store.open"))  # a bare name is a top-level one


def test_judge_counts_each_gold_once():
    q = FixtureQuery("q", "x", (Gold("a.py", "f"), Gold("b.py", "g")))
    hits = [chunk("a.py", "other"), chunk("a.py", "f"), chunk("a.py", "f", 6, 9, parent="f"), chunk("b.py", "g")]
    assert q.judge(hits) == ["r0", "g0", "r2", "g1"]
    assert q.qrels == {"g0": 1, "g1": 1}


@pytest.mark.parametrize("payload, message", [
    ("{nope", "not valid JSON"),
    ({"queries": []}, "repository"),
    ({"repository": {"path": "x"}, "queries": []}, "non-empty"),
    ({"repository": {"path": "x"}, "queries": [{"query": "q", "gold": []}]}, "gold"),
    ({"repository": {"path": "x"}, "queries": [{"query": "q", "split": "train",
                                                "gold": [{"file": "a", "name": "b"}]}]}, "split"),
    ({"repository": {"path": "x"}, "queries": [{"query": "q", "gold": [{"name": "a"}]}]}, "'file' string"),
    ({"repository": {"path": "x"}, "queries": [{"query": "q", "gold": [{"file": "a", "name": ""}]}]}, "'name'"),
    ({"repository": {"path": "x"}, "queries": [{"query": "q", "gold": [{"file": "a", "grade": 0}]}]}, "grade"),
    ({"repository": {"path": "x"}, "split": "train", "queries": [{"query": "q", "gold": [{"file": "a"}]}]}, "split"),
    ({"repository": {"path": "x"}, "queries": [{"query": "q", "gold": [{"file": "a", "name": "b",
                                                                      "lines": [5, 2]}]}]}, "lines"),
])
def test_bad_fixtures_are_user_errors(tmp_path, payload, message):
    p = tmp_path / "f.json"
    p.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    with pytest.raises(UserInputError, match=message):
        load_fixture(p)


def test_repository_errors(tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        resolve_repository(load_fixture(write_fixture(tmp_path, repo_path="nowhere")))
    with pytest.raises(UserInputError, match="needs the Python 2.7"):
        resolve_repository(load_fixture(write_fixture(tmp_path, repo_path="stdlib:2.7")))
    fx = load_fixture(write_fixture(tmp_path, repo_path="stdlib:3.11", version="3.11.0", files=["heapq.py"]))
    import sys
    if sys.version_info[:2] == (3, 11):
        repo, info = resolve_repository(fx)
        assert (repo / "heapq.py").is_file() and info["tree_hash"]
        assert any("3.11.0" in w for w in fx.warnings) or sys.version_info[:3] == (3, 11, 0)


def test_unknown_gold_file_and_name_are_user_errors(tmp_path):
    bad_file = [{**QUERIES[0], "gold": [{"file": "nope.py", "name": "x"}]}]
    with pytest.raises(UserInputError, match="gold files not in the repository: nope.py"):
        evaluate_fixture(load_fixture(write_fixture(tmp_path, bad_file)), expand_systems(("lexical",), (), ()))
    bad_name = [{**QUERIES[0], "gold": [{"file": "store.py", "name": "UploadStore.close"}]}]
    with pytest.raises(UserInputError, match="not chunks of the repository"):
        evaluate_fixture(load_fixture(write_fixture(tmp_path, bad_name)), expand_systems(("lexical",), (), ()))


def test_fixture_through_real_indexer_and_searcher(tmp_path):
    fx = load_fixture(write_fixture(tmp_path))
    ev = evaluate_fixture(fx, expand_systems((), ("hash",), ()), index_dir=tmp_path / "idx")
    d = ev.as_dict()
    assert d["primary_metric"] == "tiny_lexical_ndcg@10"
    assert d["tiny_lexical_recall@1"] == 1.0  # BM25 finds each of these first
    assert d["tiny_hybrid_recall@10"] == 1.0
    s = ev.details["systems"]
    assert s[0]["index"]["chunks"] > 0 and "seconds" in s[0]["index"] and s[0]["index"]["text_format"]
    assert s[0]["per_query"][0]["top"][0] == "store.py:UploadStore.open"
    assert set(s[0]["by_category"]) == {"identifier", "behaviour", "conceptual"}
    assert s[0]["by_language"]["python"]["queries"] == 4
    # The repository is not polluted: the index lives where we said.
    assert not (tmp_path / "repo" / ".quarry").exists() and (tmp_path / "idx").is_dir()
    dev = evaluate_fixture(fx, expand_systems(("lexical",), (), ()), split="dev", strict=True,
                           index_dir=tmp_path / "idx")
    assert dev.details["dataset"]["queries"] == 2 and dev.primary_metric == "tiny-dev_lexical_ndcg@10"
    with pytest.raises(UserInputError, match="no queries"):
        evaluate_fixture(load_fixture(write_fixture(tmp_path, QUERIES[:1])), expand_systems(("lexical",), (), ()),
                         split="test", index_dir=tmp_path / "idx")


def test_stdlib_fixture_is_large_balanced_and_well_formed():
    fx = load_fixture(STDLIB_FIXTURE)
    assert len(fx.queries) >= 100
    cats = Counter((q.category, q.split) for q in fx.queries)
    for cat in CATEGORIES:
        assert cats[(cat, "dev")] >= 10 and cats[(cat, "dev")] == cats[(cat, "test")], cat
    assert {q.category for q in fx.queries} == set(CATEGORIES)
    assert all(g.lines for q in fx.queries for g in q.gold)
    assert fx.repository["path"] == "stdlib:3.11" and len(fx.repository["files"]) >= 15


def test_every_stdlib_gold_is_a_real_chunk(tmp_path):
    """Copy the pinned modules, index them with the hash encoder, and find every gold among the chunks."""
    import sys

    if sys.version_info[:2] != (3, 11):
        pytest.fail("the stdlib fixture is pinned to Python 3.11; run the tests with 3.11")
    from codequarry.indexer import index_repository
    from codequarry.store.db import IndexDB

    fx = load_fixture(STDLIB_FIXTURE)
    repo, info = resolve_repository(fx)
    assert not fx.warnings, fx.warnings  # same release and same files as the gold was written against
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*.py")) == sorted(fx.repository["files"])
    index_repository(repo, model="hash", slot="hash", index_dir=tmp_path / "idx")
    db = IndexDB(tmp_path / "idx")
    try:
        chunks = [c for _i, c in db.iter_chunks()]
    finally:
        db.close()
    assert missing_golds(fx, chunks) == []
    # --strict would find them too: each gold's lines overlap a chunk that matches it by name.
    for q in fx.queries:
        for g in q.gold:
            assert any(g.matches(c, strict=True) for c in chunks if c.file == g.file), (q.id, g)


def test_two_slots_are_two_systems_in_one_index(tmp_path):
    from codequarry.store.db import IndexDB

    fx = load_fixture(write_fixture(tmp_path))
    ev = evaluate_fixture(fx, expand_systems(("dense",), ("hash",), ("a", "b")), index_dir=tmp_path / "idx")
    assert [s["label"] for s in ev.details["systems"]] == ["dense-slot=a", "dense-slot=b"]
    assert [s["index"]["slot"] for s in ev.details["systems"]] == ["a", "b"]
    assert ev.metrics["tiny_dense-slot=a_ndcg@10"] == ev.metrics["tiny_dense-slot=b_ndcg@10"]  # same model
    db = IndexDB(tmp_path / "idx")
    try:
        assert {s["name"] for s in db.slots()} == {"a", "b"}
    finally:
        db.close()
