"""Regenerate the README results table: BM25, dense and hybrid on CoSQA dev/test and on the
repository fixture's dev/test halves.

    .venv/bin/python bench/eval_results.py            # the real run (first run embeds CoSQA: minutes)
    .venv/bin/python bench/eval_results.py --limit 20 # smoke run

Prints the table; writes per-evaluation JSON/Markdown/PNG plus the combined
results.json, results.md and plots under bench/out/ (gitignored), and copies
the combined table and the Recall@k plot to docs/results/ for the README.
Everything goes through the same evaluators as `quarry eval`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="minilm", help="model for the dense and hybrid rows (default: minilm)")
    ap.add_argument("--dataset", default="cosqa", help="BEIR set name or folder (default: cosqa)")
    ap.add_argument("--fixture", type=Path, default=HERE / "fixtures" / "stdlib-3.11.json")
    ap.add_argument("--limit", type=int, default=None, help="only the first N queries of each split (smoke)")
    ap.add_argument("--reindex", action="store_true", help="rebuild the fixture index cold (to measure index time)")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--docs", default=str(ROOT / "docs" / "results"),
                    help="where the README's copy of the table and plot go ('' to skip)")
    args = ap.parse_args(argv)

    from codequarry.embed import load_encoder
    from codequarry.eval.beir import load_beir
    from codequarry.eval.evaluators import evaluate_beir, evaluate_fixture
    from codequarry.eval.fixture import load_fixture
    from codequarry.eval.plots import plot_metric_bars, plot_recall_curves
    from codequarry.eval.report import category_markdown, index_summary, markdown, summary_markdown, write_outputs
    from codequarry.eval.systems import expand_systems

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    systems = expand_systems(("lexical", "dense", "hybrid"), (args.model,), ())
    encoders: dict = {}

    def encoder_factory(model):
        if model not in encoders:
            encoders[model] = load_encoder(model)
        return encoders[model]

    evaluations = []
    for split in ("dev", "test"):
        ds = load_beir(args.dataset, split, limit=args.limit)
        log(f"{ds.prefix}: {len(ds.queries)} queries over {len(ds.corpus_ids)} documents")
        evaluations.append(evaluate_beir(ds, systems, encoder_factory=encoder_factory, log=log))
    fx = load_fixture(args.fixture)
    for split in ("dev", "test"):
        log(f"{fx.name}-{split}: indexing and searching")
        evaluations.append(evaluate_fixture(fx, systems, split=split, limit=args.limit, reindex=args.reindex,
                                            encoder_factory=encoder_factory, log=log))
        args.reindex = False  # once is enough

    args.out.mkdir(parents=True, exist_ok=True)
    for ev in evaluations:
        write_outputs(ev.details, ev.metrics, ev.primary_metric, args.out, plots=False)
    details = [ev.details for ev in evaluations]
    table = summary_markdown(details)
    first = details[0]
    commit = (first["codequarry"].get("git_commit") or "")[:10] or "uncommitted"
    if first["codequarry"].get("git_dirty"):
        commit += " (with uncommitted changes)"
    header = (
        f"Search quality, {first['date'][:10]}, codequarry {first['codequarry']['version']} @ {commit}; "
        f"model `{args.model}`. Regenerate with `python bench/eval_results.py`.\n"
        + ("(SMOKE RUN: --limit " + str(args.limit) + ")\n" if args.limit else "")
        + "\nCoSQA here is the authors' de-duplicated 6,267-function corpus, so scores run higher than CoIR "
          "leaderboard numbers for the same model. The fixture is the CPython 3.11 standard-library fixture "
          f"(`{args.fixture.relative_to(ROOT) if args.fixture.is_relative_to(ROOT) else args.fixture}`).\n"
    )
    md = (header + "\n" + table
          + "\nLatency is per query, one at a time, on a shared 2-core CPU machine (indicative only).\n"
          + "".join(f"\n{line}" for line in index_summary(details)) + "\n"
          + "\nFixture by query category:\n\n" + category_markdown(details))
    (args.out / "results.md").write_text(md + "\n" + "\n".join(markdown(d) for d in details))
    (args.out / "results.json").write_text(json.dumps(
        {"evaluations": [{**ev.details, "metrics": ev.metrics, "primary_metric": ev.primary_metric}
                         for ev in evaluations]}, indent=1, default=str) + "\n")
    recall_png = plot_recall_curves(details, args.out / "results-recall.png")
    bars_png = plot_metric_bars(details, args.out / "results-metrics.png")
    print(md)
    if args.docs:
        args.docs = Path(args.docs)
        args.docs.mkdir(parents=True, exist_ok=True)
        (args.docs / "results.md").write_text(md)
        shutil.copyfile(bars_png, args.docs / "results-metrics.png")
        print(f"copied table and plot to {args.docs}", file=sys.stderr)
    print(f"wrote {args.out}/results.{{json,md}}, {recall_png.name}, {bars_png.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
