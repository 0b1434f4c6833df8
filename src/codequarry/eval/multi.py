"""A folder of repository fixtures scored as one benchmark: per fixture, then macro-averaged.

`quarry eval bench/fixtures/repos/ --split dev` runs `evaluate_fixture` on every
fixture that has queries in the split (a repository's queries all share its
split) and aggregates:

* overall: the mean over repositories of each repository's mean (macro), so a
  repository with 30 queries weighs as much as one with 10;
* per language: the same macro-average over the repositories of that language
  (the fixture's `language`, its main one);
* per category: for each category, the macro-average over the repositories
  that have queries of it, of their mean on those queries;
* latency: pooled over every query asked.

The headline is file-level nDCG@10 (`file_ndcg@10`); definition-level metrics
(R@1, R@5, nDCG@10, …) average over the repositories whose queries name
definitions.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Callable

from codequarry.eval.evaluators import Evaluation, finish
from codequarry.eval.metrics import FILE_METRIC_NAMES, METRIC_NAMES, latency_summary

PRIMARY = "file_ndcg@10"


def _macro(groups: list[tuple[dict, int, int]]) -> dict[str, float]:
    """Mean over repositories of their metrics; (metrics, definition queries, file queries) per repository.
    A definition-level metric skips repositories without definition queries."""
    out: dict[str, float] = {}
    for m in (*METRIC_NAMES, *FILE_METRIC_NAMES):
        file_level = m in FILE_METRIC_NAMES
        vals = [g[m] for g, n_def, n_file in groups if m in g and (n_file if file_level else n_def)]
        if vals or not file_level:
            out[m] = sum(vals) / len(vals) if vals else 0.0
    return out


def _group(rows: list[tuple[dict, int, int]], queries: int) -> dict:
    return {"repositories": len(rows), "queries": queries, "definition_queries": sum(r[1] for r in rows),
            **_macro(rows)}


def aggregate(name: str, split: str | None, path: Path, evaluations: list[Evaluation],
              skipped: list[str]) -> Evaluation:
    """One Evaluation over several fixture Evaluations (same systems, same order)."""
    first = evaluations[0].details
    systems = []
    for j, base in enumerate(first["systems"]):
        per_fx, lat, by_lang, by_cat = [], [], defaultdict(list), defaultdict(list)
        queries = 0
        by_fixture = {}
        for ev in evaluations:
            d = ev.details
            s = d["systems"][j]
            lang = d["dataset"].get("language") or "unknown"
            n_def = s.get("definition_queries", s["queries"])
            n_file = s.get("file_queries", 0)
            per_fx.append((s["metrics"], n_def, n_file))
            by_lang[lang].append((s["metrics"], n_def, n_file))
            queries += s["queries"]
            lat.extend(r["ms"] / 1000.0 for r in s.get("per_query", ()) if "ms" in r)
            by_fixture[d["dataset"]["name"]] = {
                "language": lang, "queries": s["queries"], "definition_queries": n_def,
                "metrics": s["metrics"], "latency": s["latency"], "index": s.get("index"),
            }
            for cat, m in (s.get("by_category") or {}).items():
                by_cat[cat].append((m, m.get("definition_queries", m["queries"]), m.get("file_queries", 0)))
        systems.append({
            "label": base["label"], "config": base["config"], "queries": queries,
            "repositories": len(per_fx), "metrics": _macro(per_fx), "latency": latency_summary(lat),
            "by_language": {g: _group(rows, sum(by_fixture[f]["queries"] for f in by_fixture
                                                if by_fixture[f]["language"] == g))
                            for g, rows in sorted(by_lang.items())},
            "by_category": {c: _group(rows, sum(int(r[0]["queries"]) for r in rows))
                            for c, rows in sorted(by_cat.items())},
            "by_fixture": by_fixture,
        })
    h = hashlib.sha256("".join(ev.details["dataset"]["hash"] for ev in evaluations).encode()).hexdigest()[:16]
    dataset = {
        "kind": "fixtures", "name": name, "split": split or "all", "path": str(path), "hash": h,
        "queries": systems[0]["queries"] if systems else 0,
        "fixtures": [ev.details["dataset"]["name"] for ev in evaluations], "skipped_fixtures": skipped,
    }
    warnings = [f"{ev.details['dataset']['name']}: {w}" for ev in evaluations for w in ev.details.get("warnings", ())]
    prefix = f"{name}-{split}" if split else name
    out = finish(prefix, dataset, systems, {
        "warnings": warnings, "aggregation": "macro over repositories",
        "fixtures": [ev.details for ev in evaluations],
    })
    # The benchmark's headline is file-level: rank files by their best chunk.
    out.primary_metric = f"{prefix}_{systems[0]['label']}_{PRIMARY}" if systems else ""
    out.details["primary_metric"] = out.primary_metric
    return out


def evaluate_fixtures(
    fixtures: list,
    systems: list,
    *,
    path: Path,
    split: str | None = None,
    limit: int | None = None,
    strict: bool = False,
    reindex: bool = False,
    encoder_factory: Callable | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
) -> Evaluation:
    """Score every fixture of a folder that has queries in `split`; see the module doc."""
    from codequarry.errors import UserInputError
    from codequarry.eval.evaluators import _load_encoder, evaluate_fixture

    log = log or (lambda msg: None)
    encoders: dict = {}
    make = encoder_factory or _load_encoder

    def shared(model):  # one loaded model for every repository
        if model not in encoders:
            encoders[model] = make(model)
        return encoders[model]

    evaluations, skipped = [], []
    for fx in fixtures:
        if not fx.select(split):
            skipped.append(fx.name)
            continue
        log(f"fixture {fx.name} ({len(fx.select(split, limit))} queries)")
        evaluations.append(evaluate_fixture(fx, systems, split=split, limit=limit, strict=strict, reindex=reindex,
                                            encoder_factory=shared, log=log, progress=progress,
                                            missing_gold="warn"))
    if not evaluations:
        raise UserInputError(f"{path}: no fixture has queries in split '{split}'")
    name = Path(path).name or "fixtures"
    return aggregate(name, split, Path(path), evaluations, skipped)
