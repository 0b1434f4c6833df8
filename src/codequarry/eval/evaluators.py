"""The evaluators: BEIR sets and repository fixtures, one contract.

Like sentence-transformers' evaluators, each returns a flat dict of prefixed
metrics — `<dataset>-<split>_<system>_<metric>`, e.g. `cosqa-test_hybrid_ndcg@10`
— and names one of them as `primary_metric` (nDCG@10 of the first system).
`Evaluation.details` holds everything a report needs: per-system metrics,
per-category and per-language breakdowns, latency, configs, provenance.
"""

from __future__ import annotations

import datetime as _dt
import time
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable, Mapping, Sequence

from codequarry.eval.metrics import (
    FILE_METRIC_NAMES, FILE_PREFIX, PRIMARY_METRIC, evaluate_run, first_hit, latency_summary, mean_available,
)
from codequarry.eval.systems import System


@dataclass
class Evaluation:
    metrics: dict[str, float]
    primary_metric: str
    details: dict

    def as_dict(self) -> dict:
        """The evaluator contract: prefixed metrics plus the primary metric's name."""
        return {**self.metrics, "primary_metric": self.primary_metric}


def checkout_provenance() -> dict:
    """codequarry version and the git commit of its checkout (when it is one)."""
    import codequarry

    info: dict = {"version": codequarry.__version__, "git_commit": None, "git_dirty": None}
    root = Path(codequarry.__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=10,
            )
            info["git_dirty"] = bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def summarise_system(
    system: System,
    run: Mapping[Hashable, Sequence[Hashable]],
    qrels: Mapping[Hashable, Mapping[Hashable, int]],
    latencies: Sequence[float],
    *,
    categories: Mapping[Hashable, str] | None = None,
    languages: Mapping[Hashable, str] | None = None,
    texts: Mapping[Hashable, str] | None = None,
    shown: Mapping[Hashable, list] | None = None,
    file_run: Mapping[Hashable, Sequence[Hashable]] | None = None,
    file_qrels: Mapping[Hashable, Mapping[Hashable, int]] | None = None,
) -> dict:
    """Metrics of one system. With `file_run`/`file_qrels` (repository fixtures) the file-level
    metrics (`file_ndcg@10`, …) sit next to the definition-level ones; a query whose gold has no
    definition counts for the file level only."""
    _means, per_query, skipped = evaluate_run(run, qrels)
    combined: dict[Hashable, dict[str, float]] = {qid: dict(m) for qid, m in per_query.items()}
    file_first: dict[Hashable, int | None] = {}
    if file_qrels:
        _f, file_pq, _fs = evaluate_run(file_run or {}, file_qrels)
        for qid, m in file_pq.items():
            row = combined.setdefault(qid, {})
            row.update({name: m[name.removeprefix(FILE_PREFIX)] for name in FILE_METRIC_NAMES})
            file_first[qid] = first_hit(list((file_run or {}).get(qid, ())), file_qrels[qid])
    out: dict = {
        "label": system.label, "config": system.config(), "queries": len(combined),
        "queries_without_relevant": skipped, "metrics": mean_available(combined.values()),
        "latency": latency_summary(latencies),
    }
    if file_qrels:
        out["definition_queries"] = len(per_query)
        out["file_queries"] = len(file_first)
        out["queries_without_relevant"] = len(qrels) - len(combined)
    for key, groups in (("by_category", categories), ("by_language", languages)):
        if not groups:
            continue
        buckets: dict[str, list] = defaultdict(list)
        for qid, m in combined.items():
            if groups.get(qid):
                buckets[groups[qid]].append(m)
        out[key] = {g: {"queries": len(rows), **mean_available(rows)} for g, rows in sorted(buckets.items())}
        if file_qrels:
            for g, rows in buckets.items():
                out[key][g]["definition_queries"] = sum(1 for r in rows if "ndcg@10" in r)
                out[key][g]["file_queries"] = sum(1 for r in rows if "file_ndcg@10" in r)
    rows = []
    # Latencies come in the order the run was asked; per-query ms lets a multi-fixture run pool them.
    ms = dict(zip(run, latencies)) if len(latencies) == len(run) else {}
    for qid in qrels:
        if qid not in combined:
            continue
        m = combined[qid]
        row = {"id": qid, "first_hit": first_hit(list(run.get(qid, ())), qrels[qid]) if qid in per_query else None}
        if qid in per_query:
            row["ndcg@10"] = round(m["ndcg@10"], 4)
        if qid in file_first:
            row["file_first_hit"] = file_first[qid]
            row["file_ndcg@10"] = round(m["file_ndcg@10"], 4)
        if texts:
            row["query"] = texts.get(qid, "")
        if categories and categories.get(qid):
            row["category"] = categories[qid]
        if shown and qid in shown:
            row["top"] = shown[qid]
        if qid in ms:
            row["ms"] = round(ms[qid] * 1000.0, 3)
        rows.append(row)
    out["per_query"] = rows
    return out


def flatten(prefix: str, systems: list[dict]) -> tuple[dict[str, float], str]:
    metrics: dict[str, float] = {}
    for s in systems:
        for name, value in s["metrics"].items():
            metrics[f"{prefix}_{s['label']}_{name}"] = value
        for name in ("latency_p50_ms", "latency_p95_ms", "queries_per_s"):
            metrics[f"{prefix}_{s['label']}_{name}"] = s["latency"][name]
    primary = f"{prefix}_{systems[0]['label']}_{PRIMARY_METRIC}" if systems else ""
    return metrics, primary


def finish(prefix: str, dataset: dict, systems: list[dict], extra: dict | None = None) -> Evaluation:
    metrics, primary = flatten(prefix, systems)
    details = {
        "prefix": prefix,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "codequarry": checkout_provenance(),
        "dataset": dataset,
        "primary_metric": primary,
        "systems": systems,
        **(extra or {}),
    }
    return Evaluation(metrics, primary, details)


# -- BEIR ---------------------------------------------------------------------------------------


def evaluate_beir(
    ds,
    systems: list[System],
    *,
    candidates: int | None = None,
    encoder_factory: Callable | None = None,
    log: Callable[[str], None] | None = None,
    progress_factory: Callable[[str, int], Callable[[int], None]] | None = None,
) -> Evaluation:
    """Score every query of a loaded BeirDataset with every system."""
    from codequarry.eval.beir import (
        CANDIDATES, DenseCorpus, LexicalCorpus, QueryCandidates, collect_candidates, rank_mode,
    )

    n = candidates or CANDIDATES
    log = log or (lambda msg: None)
    if encoder_factory is None:
        from codequarry.embed import load_encoder as encoder_factory
    lexical = None
    if any(s.mode in ("lexical", "hybrid") for s in systems):
        lexical = LexicalCorpus(ds.corpus_texts)
        log(f"lexical index: {len(ds.corpus_texts)} documents in {lexical.build_seconds:.1f}s")
        lex_cands = collect_candidates(ds, lexical, None, n=n)
    dense_cands: dict[str, dict[str, QueryCandidates]] = {}
    embedding: dict[str, dict] = {}
    for s in systems:
        if not s.needs_model or s.model_name() in dense_cands:
            continue
        encoder = encoder_factory(s.model)
        log(f"embedding {len(ds.corpus_texts)} documents with {encoder.name} (cached after the first run)")
        prog = progress_factory(f"embed {encoder.name}", len(ds.corpus_texts)) if progress_factory else None
        dense = DenseCorpus(encoder, ds.corpus_ids, ds.corpus_texts, progress=prog)
        embedding[s.model_name()] = {k: v for k, v in dense.cache_info.items() if k != "path"}
        dense_cands[s.model_name()] = collect_candidates(ds, None, dense, n=n)
    texts = ds.queries
    cats = {q: m["category"] for q, m in ds.query_meta.items() if m.get("category")}
    langs = {q: m["language"] for q, m in ds.query_meta.items() if m.get("language")}
    results = []
    for s in systems:
        run, lat, shown = {}, [], {}
        for qid, text in ds.queries.items():
            d = dense_cands[s.model_name()][qid] if s.needs_model else None
            lx = lex_cands[qid] if lexical is not None else None
            c = QueryCandidates(
                d.dense if d else {}, lx.lexical if lx else {},
                encode_s=d.encode_s if d else 0.0, dense_s=d.dense_s if d else 0.0,
                lexical_s=lx.lexical_s if lx else 0.0,
            )
            rows, seconds = rank_mode(text, c, s.mode, s.effective_weights, depth=n)
            run[qid] = [ds.corpus_ids[r] for r in rows]
            shown[qid] = run[qid][:3]
            lat.append(seconds)
        summary = summarise_system(
            s, run, ds.qrels, lat, categories=cats, languages=langs, texts=texts, shown=shown
        )
        if s.needs_model:
            summary["embedding"] = embedding.get(s.model_name())
        results.append(summary)
    return finish(ds.prefix, ds.describe(), results, {"candidates_per_leg": n})


# -- repository fixtures ------------------------------------------------------------------------


def _index_group(s: System) -> tuple[str | None, str]:
    """(model to index with, slot) for a system. Lexical-only systems need no model: they index
    with the hash encoder unless a slot was named; without --slot each model gets a slot of its own."""
    from codequarry.eval.cache import slug
    from codequarry.eval.systems import short_model

    if not s.needs_model and s.slot is None:
        return "hash", "hash"
    return s.model, s.slot or slug(short_model(s.model_name())).replace(".", "-")


def evaluate_fixture(
    fx,
    systems: list[System],
    *,
    split: str | None = None,
    limit: int | None = None,
    strict: bool = False,
    reindex: bool = False,
    index_dir: Path | None = None,
    encoder_factory: Callable | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    depth: int = 100,
    missing_gold: str = "error",
) -> Evaluation:
    """Index the fixture's repository with the real indexer and ask the real Searcher.

    `missing_gold="warn"` turns gold definitions that are no chunk of the repository into a
    warning (they stay unfindable) instead of an error: a folder of fixtures written by others
    is still scored when one qualname does not match this chunker."""
    from codequarry.errors import UserInputError
    from codequarry.eval.fixture import check_gold_files, default_index_dir, missing_golds, resolve_repository
    from codequarry.indexer import index_repository
    from codequarry.search.searcher import Searcher
    from codequarry.store.db import IndexDB

    log = log or (lambda msg: None)
    repo, repo_info = resolve_repository(fx)
    check_gold_files(fx, repo)
    queries = fx.select(split, limit)
    if not queries:
        raise UserInputError(f"{fx.path}: no queries in split '{split}'")
    own_index = index_dir is None
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir(fx, repo)
    if reindex and own_index:
        # The harness's own cache: start cold (the index keeps embeddings across --force, so that
        # would not measure a first index).
        import shutil

        shutil.rmtree(index_dir, ignore_errors=True)
    # A lexical system rides on any index: reuse the first dense/hybrid one when there is one.
    first_dense = next((s for s in systems if s.needs_model), None)
    searchers: dict[tuple, object] = {}
    index_stats: dict[tuple, dict] = {}
    for s in systems:
        key = _index_group(first_dense if (s.mode == "lexical" and first_dense) else s)
        if key in searchers:
            continue
        model, slot = key
        # One encoder for indexing and searching; with a named slot and no --model the slot's own model is used.
        encoder = None
        if model is not None or slot is None:
            encoder = (encoder_factory or _load_encoder)(model)
        log(f"indexing {repo} (model {model or 'default'}, slot {slot}) into {index_dir}")
        stats = index_repository(repo, model=model, slot=slot, index_dir=index_dir, encoder=encoder,
                                 force=reindex and not own_index, progress=progress)
        index_stats[key] = stats.to_json()
        searchers[key] = Searcher.open(repo, slot=slot, index_dir=index_dir, encoder=encoder)
        db = IndexDB(index_dir)
        try:
            # What the chunks and their embedded texts were made with, for the results JSON.
            for meta in ("chunker_version", "text_format"):
                index_stats[key][meta] = db.get_meta(meta)
            missing = missing_golds(fx, (c for _i, c in db.iter_chunks())) if len(searchers) == 1 else []
        finally:
            db.close()
        if missing:
            shown = "; ".join(f"{qid}: {g.file}:{g.name}" for qid, g in missing[:5])
            msg = f"{len(missing)} gold definitions are not chunks of the repository ({shown})"
            if missing_gold != "warn":
                raise UserInputError(f"{fx.path}: {msg}")
            fx.warnings.append(msg)
    qrels = {q.id: q.qrels for q in queries}
    file_qrels = {q.id: q.file_qrels for q in queries}
    cats = {q.id: q.category for q in queries if q.category}
    langs = {q.id: fx.language for q in queries} if fx.language else _gold_languages(queries)
    results = []
    for s in systems:
        key = _index_group(first_dense if (s.mode == "lexical" and first_dense) else s)
        searcher = searchers[key]
        run, file_run, lat, shown = {}, {}, [], {}
        for q in queries:
            t0 = time.perf_counter()
            if s.mode == "hybrid" and s.fusion == "rrf":
                hits = _rrf_search(searcher, q.text, depth)
            else:
                hits = searcher.search(q.text, k=depth, mode=s.mode, weights=s.weights)
            lat.append(time.perf_counter() - t0)
            run[q.id] = q.judge([h.chunk for h in hits], strict)
            file_run[q.id] = q.judge_files([h.chunk for h in hits])
            shown[q.id] = [f"{h.chunk.file}:{h.chunk.qualname}" for h in hits[:5]]
        summary = summarise_system(s, run, qrels, lat, categories=cats, languages=langs,
                                   texts={q.id: q.text for q in queries}, shown=shown,
                                   file_run=file_run, file_qrels=file_qrels)
        summary["index"] = index_stats[key]
        summary["searcher_config"] = _jsonable(getattr(searcher, "config", None))
        results.append(summary)
    prefix = f"{fx.name}-{split}" if split else fx.name
    dataset = fx.describe(split, len(queries))
    dataset["repository_resolved"] = repo_info
    dataset["strict"] = strict
    if fx.language:
        dataset["language"] = fx.language
    return finish(prefix, dataset, results, {"warnings": list(fx.warnings)})


def _gold_languages(queries) -> dict[str, str]:
    from codequarry.chunk.languages import language_for

    out = {}
    for q in queries:
        langs = {language_for(g.file) for g in q.gold} - {None}
        if len(langs) == 1:
            out[q.id] = langs.pop()
    return out


def _rrf_search(searcher, query: str, depth: int) -> list:
    """Reciprocal rank fusion of the Searcher's two legs: the baseline the convex fusion is tuned against."""
    from codequarry.eval.metrics import rank
    from codequarry.search.fusion import rrf

    legs = [searcher.search(query, k=depth, mode=m) for m in ("dense", "lexical")]
    by_key: dict = {}
    scores = []
    for hits in legs:
        ranking = {}
        for pos, h in enumerate(hits):
            key = (h.chunk.file, h.chunk.line_start, h.chunk.line_end, h.chunk.qualname)
            by_key.setdefault(key, h)
            ranking[key] = -pos  # rrf ranks by score: keep each leg's order
        scores.append(ranking)
    fused = rrf(*scores)
    return [by_key[k] for k in rank(fused, depth)]


def _jsonable(value):
    """Dataclasses (weights, rules) inside a config → plain dicts for the results JSON."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _load_encoder(model):
    from codequarry.embed import load_encoder

    return load_encoder(model)
