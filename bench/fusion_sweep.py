"""Sweep the hybrid fusion weights on dev data only: CoSQA dev, the stdlib fixture's dev half
and the dev repositories of the repository fixtures.

    .venv/bin/python bench/fusion_sweep.py
    .venv/bin/python bench/fusion_sweep.py --grid 0 0.1 0.2 --limit 50 --repos build/devfx

Varies FusionWeights.lexical_words and .lexical_words_flat together (the lexical share for queries in
words, over repositories and over BEIR corpora), with
reciprocal rank fusion and the two single legs as baselines, then
lexical_identifier and exact_name_boost (identifier-like queries), all with the
shipped lexical leg and ranking rules. Candidates are collected once and replayed
(bench/ranking_lab.py). Prints the tables and writes bench/out/fusion_sweep.json.
This is what chooses the hybrid defaults in search/fusion.py; test data is never
looked at.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ranking_lab as lab  # noqa: E402

GRID = (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
IDENTIFIER_GRID = (0.3, 0.5, 0.7, 0.85, 1.0)
BOOST_GRID = (0.0, 0.25, 0.5, 1.0)


def rrf_fixture(data, v) -> dict:
    """Reciprocal rank fusion of the two legs, no rules: the baseline convex fusion is measured against."""
    from codequarry.eval.metrics import query_metrics, rank
    from codequarry.search.fusion import rrf

    lex = data.lex.candidates(v, data.texts)
    files, defs = [], []
    for q in data.queries:
        scores = rrf(data.dense[q.id], lex.get(q.id, {}))
        hits = [data.chunks[i] for i in rank(scores, lab.DEPTH) if i in data.chunks]
        files.append(query_metrics(q.judge_files(hits), q.file_qrels)["ndcg@10"])
        if q.qrels:
            defs.append(query_metrics(q.judge(hits), q.qrels)["ndcg@10"])
    return {"file_ndcg@10": sum(files) / len(files), "ndcg@10": sum(defs) / len(defs) if defs else float("nan")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--dataset", default="cosqa")
    ap.add_argument("--fixture", type=Path, default=HERE / "fixtures" / "stdlib-3.11.json")
    ap.add_argument("--repos", type=Path, default=HERE / "fixtures" / "repos")
    ap.add_argument("--grid", type=float, nargs="+", default=list(GRID))
    ap.add_argument("--identifier-grid", type=float, nargs="*", default=list(IDENTIFIER_GRID))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args(argv)

    from codequarry.embed import load_encoder
    from codequarry.eval.fixture import load_fixture, load_fixtures
    from codequarry.search import lexical
    from codequarry.search.fusion import DEFAULT_WEIGHTS
    from codequarry.search.rules import DEFAULT_RULES

    encoder = load_encoder(args.model)
    beir = lab.load_beir(args.dataset, encoder, "dev", args.limit)
    fixtures = [lab.load_fixture(load_fixture(args.fixture), encoder, args.model, "dev", args.limit)]
    if args.repos.is_dir() and any(args.repos.glob("*.json")):
        fixtures += [d for fx in load_fixtures(args.repos)
                     if (d := lab.load_fixture(fx, encoder, args.model, "dev", args.limit)) is not None]
    stdlib, repos = fixtures[0], fixtures[1:]
    v = lab.LexVariant("shipped", lexical.STEM, lexical.DEFAULT_FIELDS.as_tuple())

    def measure(mode, weights) -> list[float]:
        row = [lab.score_beir(beir, mode, v, weights)["ndcg@10"],
               lab.score_fixture(stdlib, mode, v, weights, DEFAULT_RULES)["ndcg@10"]]
        if repos:
            row.append(sum(lab.score_fixture(d, mode, v, weights, DEFAULT_RULES)["file_ndcg@10"] for d in repos)
                       / len(repos))
        return row

    cols = [f"{beir.name} nDCG@10", "stdlib-dev nDCG@10"] + (["repos-dev file nDCG@10"] if repos else [])
    rows: list[tuple[str, list[float]]] = [("lexical (rules)", measure("lexical", DEFAULT_WEIGHTS)),
                                           ("dense", measure("dense", DEFAULT_WEIGHTS))]
    rrf_row = [_beir_rrf(beir, v), rrf_fixture(stdlib, v)["ndcg@10"]]
    if repos:
        rrf_row.append(sum(rrf_fixture(d, v)["file_ndcg@10"] for d in repos) / len(repos))
    rows.append(("rrf (no rules)", rrf_row))
    for w in args.grid:
        lab.log(f"lexical_words={w}")
        rows.append((f"words={w:g}", measure("hybrid", replace(DEFAULT_WEIGHTS, lexical_words=w, lexical_words_flat=w))))
    for w in args.identifier_grid:
        rows.append((f"ident={w:g}", measure("hybrid", replace(DEFAULT_WEIGHTS, lexical_identifier=w))))
    for b in BOOST_GRID:
        rows.append((f"exact_name_boost={b:g}", measure("hybrid", replace(DEFAULT_WEIGHTS, exact_name_boost=b))))
    lines = [
        f"Fusion sweep on dev data ({beir.name}: {len(beir.queries)} queries; stdlib-dev: {len(stdlib.queries)}; "
        f"{len(repos)} dev repositories: {sum(len(d.queries) for d in repos)} queries); model {args.model}; "
        f"shipped {asdict(DEFAULT_WEIGHTS)}; {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        "| system | " + " | ".join(cols) + " |",
        "|---" + "|---:" * len(cols) + "|",
    ]
    lines += [f"| {label} | " + " | ".join(f"{x:.4f}" for x in vals) + " |" for label, vals in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"default_weights": asdict(DEFAULT_WEIGHTS), "columns": cols, "repos": [d.name for d in repos],
               "rows": {label: dict(zip(cols, vals)) for label, vals in rows}}
    (args.out / "fusion_sweep.json").write_text(json.dumps(payload, indent=1) + "\n")
    (args.out / "fusion_sweep.md").write_text(text)
    print(f"wrote {args.out}/fusion_sweep.json and .md", file=sys.stderr)
    return 0


def _beir_rrf(data, v) -> float:
    from codequarry.eval.metrics import evaluate_run, rank
    from codequarry.search.fusion import rrf

    lex = data.lex.candidates(v, data.queries)
    run = {qid: [data.corpus_ids[r] for r in rank(rrf(data.dense[qid], lex[qid]), lab.DEPTH)] for qid in data.queries}
    return evaluate_run(run, data.qrels)[0]["ndcg@10"]


if __name__ == "__main__":
    sys.exit(main())
