"""Retrieval metrics as plain functions over ranked id lists.

Conventions (the same as trec_eval / pytrec_eval, which a test checks):

* A run for one query is a *ranked list* of ids, best first, without
  duplicates. Ties in score are broken before a list reaches these
  functions, by `rank()`: higher score first, then the smaller id (ids
  compare as given, so ints by value and strings lexicographically). This
  is deterministic, unlike trec_eval, which breaks ties by doc name in
  reverse order; the cross-check with pytrec_eval therefore uses runs
  without tied scores.
* Qrels map id → graded relevance; an id counts as relevant when its grade
  is ≥ 1. Queries without any relevant id are left out of the means (they
  would make every recall undefined); `evaluate_run` reports how many.
* nDCG uses linear gain (the grade itself) and log2(rank + 1) discount; the
  ideal ranking is every judged id sorted by grade, cut at k.
* MRR@k is the reciprocal rank of the first relevant id within the first k
  (0 if none): trec_eval's `recip_rank` over a run cut at k.
* MAP@k (`map_cut_k`) divides by the number of relevant ids, not by k.
* k larger than the run (or the corpus) simply looks at the whole run.
"""

from __future__ import annotations

import math
from typing import Hashable, Iterable, Mapping, Sequence

Id = Hashable
Qrels = Mapping[Id, int]

RECALL_KS = (1, 5, 10, 20, 100)
# The order metrics appear in tables and JSON.
METRIC_NAMES = (*(f"recall@{k}" for k in RECALL_KS), "mrr@10", "ndcg@10", "map@100")
PRIMARY_METRIC = "ndcg@10"
# The deepest cut any metric looks at: runs are truncated here.
DEPTH = 100


def rank(scores: Mapping[Id, float], k: int | None = None) -> list[Id]:
    """Ids by score, best first; ties go to the smaller id. Deterministic."""
    order = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [i for i, _ in (order if k is None else order[:k])]


def _relevant(qrels: Qrels) -> set:
    return {i for i, g in qrels.items() if g >= 1}


def recall_at(ranked: Sequence[Id], qrels: Qrels, k: int) -> float:
    rel = _relevant(qrels)
    if not rel:
        return 0.0
    return len(rel.intersection(ranked[:k])) / len(rel)


def precision_at(ranked: Sequence[Id], qrels: Qrels, k: int) -> float:
    rel = _relevant(qrels)
    return sum(1 for i in ranked[:k] if i in rel) / k if k else 0.0


def reciprocal_rank(ranked: Sequence[Id], qrels: Qrels, k: int = 10) -> float:
    rel = _relevant(qrels)
    for pos, i in enumerate(ranked[:k], start=1):
        if i in rel:
            return 1.0 / pos
    return 0.0


def first_hit(ranked: Sequence[Id], qrels: Qrels) -> int | None:
    """1-based rank of the first relevant id, or None."""
    rel = _relevant(qrels)
    return next((pos for pos, i in enumerate(ranked, start=1) if i in rel), None)


def dcg(gains: Iterable[float]) -> float:
    return sum(g / math.log2(pos + 1) for pos, g in enumerate(gains, start=1))


def ndcg_at(ranked: Sequence[Id], qrels: Qrels, k: int = 10) -> float:
    ideal = dcg(sorted((g for g in qrels.values() if g > 0), reverse=True)[:k])
    if ideal <= 0:
        return 0.0
    return dcg(max(qrels.get(i, 0), 0) for i in ranked[:k]) / ideal


def average_precision(ranked: Sequence[Id], qrels: Qrels, k: int = 100) -> float:
    rel = _relevant(qrels)
    if not rel:
        return 0.0
    hits, total = 0, 0.0
    for pos, i in enumerate(ranked[:k], start=1):
        if i in rel:
            hits += 1
            total += hits / pos
    return total / len(rel)


def query_metrics(ranked: Sequence[Id], qrels: Qrels) -> dict[str, float]:
    """Every reported metric for one query, in METRIC_NAMES order."""
    out = {f"recall@{k}": recall_at(ranked, qrels, k) for k in RECALL_KS}
    out["mrr@10"] = reciprocal_rank(ranked, qrels, 10)
    out["ndcg@10"] = ndcg_at(ranked, qrels, 10)
    out["map@100"] = average_precision(ranked, qrels, 100)
    return out


# File-level metrics (repository fixtures): the result chunks' files in order of their best
# chunk, judged against the gold files; reported with this prefix next to the definition-level ones.
FILE_PREFIX = "file_"
FILE_METRIC_NAMES = tuple(f"{FILE_PREFIX}{m}" for m in ("ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10"))


def mean_available(per_query: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each metric over the queries that have it (a file-only query has no definition metrics).

    The definition-level METRIC_NAMES are always present (0.0 without any query, as mean_metrics),
    file-level ones only when some query has them."""
    rows = list(per_query)
    out: dict[str, float] = {}
    for m in (*METRIC_NAMES, *FILE_METRIC_NAMES):
        vals = [r[m] for r in rows if m in r]
        if vals or m in METRIC_NAMES:
            out[m] = sum(vals) / len(vals) if vals else 0.0
    return out


def mean_metrics(per_query: Iterable[Mapping[str, float]]) -> dict[str, float]:
    rows = list(per_query)
    if not rows:
        return {m: 0.0 for m in METRIC_NAMES}
    return {m: sum(r[m] for r in rows) / len(rows) for m in METRIC_NAMES}


def evaluate_run(
    run: Mapping[Id, Sequence[Id]], qrels: Mapping[Id, Qrels]
) -> tuple[dict[str, float], dict[Id, dict[str, float]], int]:
    """(mean metrics, per-query metrics, number of queries skipped for having no relevant id).

    Queries in `qrels` that are missing from `run` count as retrieving nothing.
    """
    per_query: dict[Id, dict[str, float]] = {}
    skipped = 0
    for qid, judged in qrels.items():
        if not _relevant(judged):
            skipped += 1
            continue
        per_query[qid] = query_metrics(list(run.get(qid, ())), judged)
    return mean_metrics(per_query.values()), per_query, skipped


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), without numpy."""
    xs = sorted(values)
    if not xs:
        return 0.0
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95 in milliseconds and queries per second (sequential, one at a time)."""
    total = sum(seconds)
    return {
        "latency_p50_ms": percentile(seconds, 50) * 1000.0,
        "latency_p95_ms": percentile(seconds, 95) * 1000.0,
        "queries_per_s": (len(seconds) / total) if total > 0 else 0.0,
    }
