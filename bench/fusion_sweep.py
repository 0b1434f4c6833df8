"""Sweep the hybrid fusion weights on dev data only: CoSQA dev and the fixture's dev half.

    .venv/bin/python bench/fusion_sweep.py
    .venv/bin/python bench/fusion_sweep.py --grid 0 0.1 0.2 --limit 50

Varies FusionWeights.lexical_words (the lexical share for word queries), with
reciprocal rank fusion and the two single legs as baselines; on the fixture
also lexical_identifier (the share for identifier-like queries), reported on
its identifier queries. Prints the tables and writes bench/out/fusion_sweep.json.
This is what chooses the hybrid defaults in search/fusion.py; test data is
never looked at.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
IDENTIFIER_GRID = (0.3, 0.5, 0.7, 0.85, 1.0)


def sweep_systems(model: str, grid, identifier_grid=()):
    from codequarry.eval.systems import System
    from codequarry.search.fusion import DEFAULT_WEIGHTS

    systems = [
        System("lexical", model, label="bm25"),
        System("dense", model, label="dense"),
        System("hybrid", model, fusion="rrf", label="rrf"),
    ]
    for w in grid:
        systems.append(System("hybrid", model, weights=replace(DEFAULT_WEIGHTS, lexical_words=w), label=f"words={w:g}"))
    for w in identifier_grid:
        systems.append(System("hybrid", model, weights=replace(DEFAULT_WEIGHTS, lexical_identifier=w),
                              label=f"ident={w:g}"))
    return systems


class MemoEncoder:
    """Encodes each query once: the fixture sweep asks the Searcher the same query per weight.
    (Latency numbers of a sweep are therefore not meaningful; quality numbers are unchanged.)"""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.max_tokens = getattr(inner, "max_tokens", 512)
        self.preset = getattr(inner, "preset", None)
        self._memo: dict[str, object] = {}

    def encode_queries(self, texts):
        import numpy as np

        missing = [t for t in texts if t not in self._memo]
        if missing:
            for t, v in zip(missing, self.inner.encode_queries(missing)):
                self._memo[t] = v
        return np.stack([self._memo[t] for t in texts]) if texts else self.inner.encode_queries(texts)

    def encode_passages(self, texts, progress=None):
        return self.inner.encode_passages(texts, progress=progress)


def row(s: dict, *keys) -> list[float]:
    return [s["metrics"][k] for k in keys]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--dataset", default="cosqa")
    ap.add_argument("--fixture", type=Path, default=HERE / "fixtures" / "stdlib-3.11.json")
    ap.add_argument("--grid", type=float, nargs="+", default=list(GRID))
    ap.add_argument("--identifier-grid", type=float, nargs="*", default=list(IDENTIFIER_GRID))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args(argv)

    from codequarry.embed import load_encoder
    from codequarry.eval.beir import load_beir
    from codequarry.eval.evaluators import evaluate_beir, evaluate_fixture
    from codequarry.eval.fixture import load_fixture
    from codequarry.search.fusion import DEFAULT_WEIGHTS

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    encoder = MemoEncoder(load_encoder(args.model))
    factory = lambda model: encoder  # noqa: E731 - one model for the whole sweep
    ds = load_beir(args.dataset, "dev", limit=args.limit)
    beir = evaluate_beir(ds, sweep_systems(args.model, args.grid), encoder_factory=factory, log=log)
    fx = load_fixture(args.fixture)
    fixture = evaluate_fixture(fx, sweep_systems(args.model, args.grid, args.identifier_grid), split="dev",
                               limit=args.limit, encoder_factory=factory, log=log)

    by_label = {s["label"]: s for s in fixture.details["systems"]}
    keys = ("ndcg@10", "mrr@10", "recall@10")
    lines = [
        f"Fusion sweep on dev data ({ds.prefix}: {len(ds.queries)} queries; {fx.name}-dev: "
        f"{fixture.details['dataset']['queries']} queries); model {args.model}; "
        f"shipped default lexical_words={DEFAULT_WEIGHTS.lexical_words}, "
        f"lexical_identifier={DEFAULT_WEIGHTS.lexical_identifier}",
        "",
        f"| system | {ds.prefix} nDCG@10 | MRR@10 | R@10 | {fx.name}-dev nDCG@10 | MRR@10 | R@10 | fixture words-only nDCG@10 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in beir.details["systems"]:
        f = by_label[s["label"]]
        cats = f.get("by_category", {})
        words = [c for name, c in cats.items() if name != "identifier"]
        n = sum(c["queries"] for c in words)
        words_ndcg = sum(c["ndcg@10"] * c["queries"] for c in words) / n if n else 0.0
        cells = [*row(s, *keys), *row(f, *keys), words_ndcg]
        lines.append(f"| {s['label']} | " + " | ".join(f"{x:.4f}" for x in cells) + " |")
    ident = [s for s in fixture.details["systems"] if s["label"].startswith("ident=") or s["label"] in ("bm25", "dense", "rrf")]
    if args.identifier_grid:
        lines += ["", f"Identifier queries of {fx.name}-dev (lexical_identifier sweep)", "",
                  "| system | queries | nDCG@10 | MRR@10 | R@1 | R@10 |", "|---|---:|---:|---:|---:|---:|"]
        for s in ident:
            c = s.get("by_category", {}).get("identifier")
            if c:
                lines.append(f"| {s['label']} | {c['queries']} | {c['ndcg@10']:.4f} | {c['mrr@10']:.4f} | "
                             f"{c['recall@1']:.4f} | {c['recall@10']:.4f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {
        "default_weights": asdict(DEFAULT_WEIGHTS), "grid": args.grid, "identifier_grid": args.identifier_grid,
        "beir": {**beir.details, "metrics": beir.metrics},
        "fixture": {**fixture.details, "metrics": fixture.metrics},
    }
    for part in ("beir", "fixture"):
        for s in payload[part]["systems"]:
            s.pop("per_query", None)
    (args.out / "fusion_sweep.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    (args.out / "fusion_sweep.md").write_text(text)
    print(f"wrote {args.out}/fusion_sweep.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
