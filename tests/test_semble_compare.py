"""bench/semble_compare.py: the metric and matching functions on a tiny synthetic case."""

from __future__ import annotations

import json
import math

import pytest

from conftest import load_bench

pytest.importorskip("semble")

sc = load_bench("semble_compare")

SOURCE = '''\
import os


class Parser:
    """Parses things."""

    def parse(self, text):
        return text.split()

    def reset(self):
        self.state = None


def helper():
    return 1
'''


def _query(*gold):
    from codequarry.eval.fixture import FixtureQuery, Gold

    return FixtureQuery("q1", "parse text", tuple(Gold(f, name, grade=grade) for f, name, grade in gold), "semantic")


def test_file_relevance_is_the_highest_grade_naming_the_file():
    q = _query(("a.py", "f", 1), ("a.py", "g", 2), ("b.py", None, 1))
    assert q.file_qrels == {"a.py": 2, "b.py": 1}


def test_files_are_ranked_by_first_appearance_and_scored_by_ndcg():
    q = _query(("a.py", "f", 2), ("b.py", None, 1))
    assert sc.ranked_files(["c.py", "a.py", "c.py", "a.py", "b.py"]) == ["c.py", "a.py", "b.py"]
    got = sc.score_query(["c.py", "a.py", "c.py", "b.py"], [[], [], [], []], q)["ndcg@10"]
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert got == pytest.approx((2 / math.log2(3) + 1 / math.log2(4)) / ideal)


def test_quarry_chunk_matches_by_qualname_window_parent_or_namespace_suffix():
    from codequarry.domain import Chunk

    def chunk(qualname, parent="", file="a.cc"):
        return Chunk(file=file, language="cpp", kind="function", name=qualname.split("::")[-1], qualname=qualname,
                     line_start=1, line_end=2, code="x", parent=parent)

    assert sc.names_definition(chunk("Parser.parse"), "Parser.parse", "python")
    assert sc.names_definition(chunk("Parser.parse", parent="Parser.parse"), "Parser.parse", "python")
    assert not sc.names_definition(chunk("Parser.reset"), "Parser.parse", "python")
    # The chunker keeps C++/Rust namespaces; the fixture's name does not.
    assert sc.names_definition(chunk("leveldb::DBImpl::Write"), "DBImpl::Write", "cpp")
    assert not sc.names_definition(chunk("leveldb::DBImpl::Write"), "DBImpl::Write", "python")
    assert not sc.names_definition(chunk("leveldb::XDBImpl::Write"), "DBImpl::Write", "cpp")
    q = _query(("a.cc", "DBImpl::Write", 2))
    hits = [chunk("leveldb::DBImpl::Write", file="b.cc"), chunk("leveldb::DBImpl::Write")]
    assert sc.quarry_matches(hits, q, "cpp") == [[], [0]]


def test_semble_chunk_matches_when_its_lines_overlap_the_definition_in_the_gold_file():
    span = sc.definition_spans(SOURCE, "p.py", "Parser.parse", "python")
    assert span == (7, 8)
    assert sc.definition_spans(SOURCE, "p.py", "Parser.missing", "python") is None
    q = _query(("p.py", "Parser.parse", 2), ("p.py", None, 1))
    spans = {0: span}
    results = [("p.py", 1, 6), ("other.py", 7, 8), ("p.py", 8, 12), ("p.py", 4, 16)]
    assert sc.span_matches(results, q, spans) == [[], [], [0], [0]]


def test_definition_recall_counts_each_gold_once_and_skips_queries_without_names():
    q = _query(("p.py", "Parser.parse", 2), ("p.py", "helper", 1))
    # chunk 0 misses, chunks 1 and 2 both hit gold 0, chunk 3 hits gold 1
    assert sc.definition_ids([[], [0], [0], [1]]) == ["r0", "g0", "r2", "g1"]
    s = sc.score_query(["p.py"] * 4, [[], [0], [0], [1]], q)
    assert s["def_r@1"] == 0.0 and s["def_r@5"] == 1.0
    s = sc.score_query(["p.py"], [[0]], _query(("p.py", "Parser.parse", 2), ("p.py", "helper", 1)))
    assert s["def_r@1"] == 0.5
    assert sc.score_query(["p.py"], [[]], _query(("p.py", None, 1)))["def_r@1"] is None


def test_aggregate_is_a_macro_mean_over_queries_per_group():
    rows = [
        {"category": "symbol", "scores": {"semble-bm25": {"ndcg@10": 1.0, "def_r@1": 1.0, "def_r@5": 1.0}}},
        {"category": "symbol", "scores": {"semble-bm25": {"ndcg@10": 0.0, "def_r@1": None, "def_r@5": None}}},
        {"category": "semantic", "scores": {"semble-bm25": {"ndcg@10": 0.5, "def_r@1": 0.0, "def_r@5": 0.0}}},
    ]
    by = sc.aggregate(rows, "category")
    assert by["symbol"]["queries"] == 2 and by["symbol"]["semble-bm25"]["ndcg@10"] == 0.5
    assert by["symbol"]["semble-bm25"]["def_r@1"] == 1.0  # the query without a named gold is left out
    assert sc.aggregate(rows, None)["all"]["semble-bm25"]["ndcg@10"] == pytest.approx(0.5)


def test_loader_keeps_one_split_and_the_repository_filter(tmp_path, monkeypatch):
    monkeypatch.setenv("QUARRY_REPOS_DIR", str(tmp_path / "repos"))
    for name, split in (("one", "dev"), ("two", "test")):
        (tmp_path / f"{name}.json").write_text(json.dumps({
            "name": name, "language": "python", "split": split, "repository": {"path": f"repos:{name}"},
            "queries": [{"id": f"{name}-{i}", "query": "q", "category": "symbol", "split": split,
                         "gold": [{"file": "a.py", "name": "f", "grade": 2}]} for i in range(3)]}))
    repos = sc.load_repos(tmp_path, "dev", limit=2)
    assert [r.name for r in repos] == ["one"] and len(repos[0].queries) == 2
    assert repos[0].path == tmp_path / "repos" / "one"
    assert [r.name for r in sc.load_repos(tmp_path, "all", ("two",))] == ["two"]
