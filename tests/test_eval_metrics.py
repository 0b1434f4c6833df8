"""Metrics against hand-computed cases and against pytrec_eval."""

import math
import random

import pytest

from codequarry.eval import metrics as M


def test_rank_breaks_ties_by_smaller_id_and_is_stable():
    scores = {"b": 1.0, "a": 1.0, "c": 2.0, "d": 0.5}
    assert M.rank(scores) == ["c", "a", "b", "d"]
    assert M.rank({3: 0.5, 1: 0.5, 2: 0.5}) == [1, 2, 3]
    assert M.rank(scores, k=2) == ["c", "a"]


def test_single_relevant_hand_computed():
    ranked = ["x", "y", "gold", "z"]
    q = {"gold": 1}
    assert M.recall_at(ranked, q, 1) == 0.0
    assert M.recall_at(ranked, q, 3) == 1.0
    assert M.reciprocal_rank(ranked, q, 10) == pytest.approx(1 / 3)
    assert M.reciprocal_rank(ranked, q, 2) == 0.0  # outside the cut
    assert M.ndcg_at(ranked, q, 10) == pytest.approx(1 / math.log2(4))
    assert M.average_precision(ranked, q, 100) == pytest.approx(1 / 3)
    assert M.first_hit(ranked, q) == 3


def test_several_relevant_documents():
    ranked = ["a", "x", "b", "y", "z"]
    q = {"a": 1, "b": 1, "c": 1}  # c is never retrieved
    assert M.recall_at(ranked, q, 1) == pytest.approx(1 / 3)
    assert M.recall_at(ranked, q, 5) == pytest.approx(2 / 3)
    assert M.reciprocal_rank(ranked, q) == 1.0
    # AP divides by all 3 relevant: (1/1 + 2/3) / 3
    assert M.average_precision(ranked, q) == pytest.approx((1 + 2 / 3) / 3)
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert M.ndcg_at(ranked, q, 10) == pytest.approx(dcg / idcg)


def test_graded_relevance_ndcg_uses_linear_gain():
    ranked = ["b", "a"]
    q = {"a": 2, "b": 1}
    assert M.ndcg_at(ranked, q, 10) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_none_found_is_zero_everywhere():
    m = M.query_metrics(["x", "y"], {"gold": 1})
    assert set(m) == set(M.METRIC_NAMES)
    assert all(v == 0.0 for v in m.values())
    assert M.first_hit(["x"], {"gold": 1}) is None


def test_k_larger_than_run_or_corpus():
    ranked = ["a", "b"]
    q = {"b": 1}
    assert M.recall_at(ranked, q, 100) == 1.0
    assert M.ndcg_at(ranked, q, 1000) == pytest.approx(1 / math.log2(3))
    assert M.precision_at(ranked, q, 10) == pytest.approx(0.1)


def test_non_positive_grades_are_not_relevant():
    assert M.recall_at(["a"], {"a": 0, "b": 1}, 1) == 0.0
    assert M.ndcg_at(["a"], {"a": 0}, 10) == 0.0


def test_evaluate_run_skips_queries_without_relevant_and_counts_missing_runs():
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 0}}
    run = {"q1": ["d1", "d9"]}  # q2 absent: retrieved nothing
    means, per_query, skipped = M.evaluate_run(run, qrels)
    assert skipped == 1 and set(per_query) == {"q1", "q2"}
    assert means["recall@1"] == 0.5 and means["mrr@10"] == 0.5


def test_percentiles_and_latency():
    assert M.percentile([1, 2, 3, 4], 50) == 2.5
    assert M.percentile([5], 95) == 5
    assert M.percentile([], 50) == 0.0
    s = M.latency_summary([0.01, 0.02, 0.03, 0.04])
    assert s["latency_p50_ms"] == pytest.approx(25.0)
    assert s["queries_per_s"] == pytest.approx(4 / 0.1)


def pytrec_scores(run_scores, qrels):
    """Our metrics computed by pytrec_eval; MRR@10 on the run cut at 10 (recip_rank has no cutoff)."""
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec_eval (eval extra) is needed for the cross-check")
    measures = {"ndcg_cut.10", "recall.1,5,10,20,100", "map_cut.100", "recip_rank"}
    full = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run_scores)
    cut = {q: dict(sorted(d.items(), key=lambda kv: -kv[1])[:10]) for q, d in run_scores.items()}
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    out = {}
    for q, m in full.items():
        out[q] = {f"recall@{k}": m[f"recall_{k}"] for k in M.RECALL_KS}
        out[q]["ndcg@10"] = m["ndcg_cut_10"]
        out[q]["map@100"] = m["map_cut_100"]
        out[q]["mrr@10"] = rr[q]["recip_rank"] if q in rr else 0.0
    return out


def test_cross_check_random_runs_against_pytrec_eval():
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(300)]
    qrels, run_scores = {}, {}
    for q in range(40):
        qid = f"q{q}"
        rel = rng.sample(docs, rng.randint(1, 6))
        qrels[qid] = {d: rng.choice([1, 1, 2, 3]) for d in rel}
        # Distinct scores (no ties): trec_eval breaks ties differently from rank().
        picked = rng.sample(docs, 150)
        run_scores[qid] = {d: 1.0 - i / 1000 + rng.random() * 1e-4 for i, d in enumerate(picked)}
        # Make sure some relevant docs are near the top.
        for d in rel[: rng.randint(0, len(rel))]:
            run_scores[qid][d] = rng.random() + 0.9
    ours = {q: M.query_metrics(M.rank(run_scores[q]), qrels[q]) for q in qrels}
    theirs = pytrec_scores(run_scores, qrels)
    nonzero = 0
    for q in qrels:
        for name in M.METRIC_NAMES:
            assert ours[q][name] == pytest.approx(theirs[q][name], abs=1e-6), (q, name)
            nonzero += ours[q][name] > 0
    assert nonzero > 100  # the check compared real numbers, not a wall of zeros
