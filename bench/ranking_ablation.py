"""Measure the choices that shape a repository ranking, on the fixture's dev half only.

1. What text stands for a chunk when it is embedded (embed/text.py formats),
   scored dense-only and hybrid.
2. Each ranking rule of search/rules.py on its own, against none.

    .venv/bin/python bench/ranking_ablation.py [--model minilm] [--fixture bench/fixtures/stdlib-3.11.json]

Prints tables and writes bench/out/ranking_ablation.json. Test halves are never read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent

RULE_GRID = {
    "definition_boost": (0.05, 0.1, 0.2),
    "file_coherence": (0.05, 0.1, 0.2),
    "test_penalty": (0.1,),
}


def score(searcher, queries, mode: str, **kw) -> dict[str, float]:
    from codequarry.eval.metrics import mean_metrics, query_metrics

    per_query = []
    for q in queries:
        results = searcher.search(q.text, k=100, mode=mode, **kw)
        per_query.append(query_metrics(q.judge([r.chunk for r in results]), q.qrels))
    m = mean_metrics(per_query)
    return {k: round(m[k], 4) for k in ("ndcg@10", "mrr@10", "recall@1", "recall@10")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--fixture", type=Path, default=HERE / "fixtures" / "stdlib-3.11.json")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args(argv)

    from codequarry.embed import load_encoder
    from codequarry.embed.text import DEFAULT_TEXT_FORMAT, TEXT_FORMATS
    from codequarry.eval.fixture import load_fixture, resolve_repository
    from codequarry.indexer import index_repository
    from codequarry.search.rules import DEFAULT_RULES, RuleWeights
    from codequarry.search.searcher import Searcher

    fx = load_fixture(args.fixture)
    repo, _ = resolve_repository(fx)
    queries = fx.select("dev")
    encoder = load_encoder(args.model)
    none = RuleWeights(**{f: 0.0 for f in RuleWeights.__dataclass_fields__})
    out: dict = {"fixture": fx.name, "queries": len(queries), "model": args.model,
                 "date": time.strftime("%Y-%m-%d"), "text_formats": {}, "rules": {}}

    lines = [f"Chunk text formats, {fx.name} dev ({len(queries)} queries), {args.model}, no ranking rules", "",
             "| format | dense nDCG@10 | dense MRR@10 | hybrid nDCG@10 | hybrid MRR@10 |", "|---|---:|---:|---:|---:|"]
    searchers = {}
    for fmt in TEXT_FORMATS:
        index_dir = args.out / f"ablation-index-{fmt}"
        index_repository(repo, encoder=encoder, index_dir=index_dir, text_format=fmt)
        s = Searcher.open(repo, index_dir=index_dir, encoder=encoder)
        searchers[fmt] = s
        dense = score(s, queries, "dense")
        hybrid = score(s, queries, "hybrid", rule_weights=none)
        out["text_formats"][fmt] = {"dense": dense, "hybrid": hybrid}
        lines.append(f"| {fmt}{' (default)' if fmt == DEFAULT_TEXT_FORMAT else ''} | {dense['ndcg@10']:.4f} | "
                     f"{dense['mrr@10']:.4f} | {hybrid['ndcg@10']:.4f} | {hybrid['mrr@10']:.4f} |")

    s = searchers[DEFAULT_TEXT_FORMAT]
    lines += ["", f"Ranking rules, hybrid, text format {DEFAULT_TEXT_FORMAT}; shipped: {asdict(DEFAULT_RULES)}", "",
              "| rule | nDCG@10 | MRR@10 | R@1 | R@10 |", "|---|---:|---:|---:|---:|"]
    base = score(s, queries, "hybrid", rule_weights=none)
    out["rules"]["none"] = base
    lines.append(f"| none | {base['ndcg@10']:.4f} | {base['mrr@10']:.4f} | {base['recall@1']:.4f} | {base['recall@10']:.4f} |")
    for rule, values in RULE_GRID.items():
        for v in values:
            m = score(s, queries, "hybrid", rule_weights=replace(none, **{rule: v}))
            out["rules"][f"{rule}={v}"] = m
            lines.append(f"| {rule}={v} | {m['ndcg@10']:.4f} | {m['mrr@10']:.4f} | {m['recall@1']:.4f} | "
                         f"{m['recall@10']:.4f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ranking_ablation.json").write_text(json.dumps(out, indent=1) + "\n")
    (args.out / "ranking_ablation.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
