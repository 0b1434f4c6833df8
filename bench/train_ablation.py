"""Run training recipes and tabulate them: CoSQA dev-holdout / dev / test nDCG@10, time, batching.

    python bench/train_ablation.py configs/train/default.toml configs/train/no-filter.toml ...
    python bench/train_ablation.py --collect build/train-runs   # only tabulate finished runs

Recipes run one after another (2 cores: running them side by side only
slows each down). Each run writes its own training_info.json; the table
(markdown + JSON) goes to bench/out/train_ablation.{md,json}. Choose a recipe
by dev-holdout, never by test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]


def _row(info: dict) -> dict:
    cfg = info.get("config", {})
    ev, before = info.get("eval", {}), info.get("eval_before", {})

    def m(d, split, key="ndcg@10"):
        return d.get(split, {}).get(key)

    return {
        "recipe": info.get("name"),
        "loss": cfg.get("loss", {}).get("name") + ("+matryoshka" if cfg.get("loss", {}).get("matryoshka") else ""),
        "filter": cfg.get("train", {}).get("filter_related"),
        "pairs": info.get("data", {}).get("train_pairs"),
        "steps": info.get("steps"),
        "train_min": round(info.get("train_seconds", 0) / 60, 1),
        "wall_min": round(info.get("wall_seconds", 0) / 60, 1),
        "related_in_batch": info.get("batching", {}).get("related_pairs_in_batch"),
        "holdout_before": m(before, "dev-holdout"), "holdout_after": m(ev, "dev-holdout"),
        "dev_before": m(before, "dev"), "dev_after": m(ev, "dev"),
        "test_before": m(before, "test"), "test_after": m(ev, "test"),
        "test_mrr_after": m(ev, "test", "mrr@10"),
        "stopped": info.get("stopped"),
        "run_dir": info.get("run_dir"),
    }


def _table(rows: list[dict]) -> str:
    cols = ["recipe", "loss", "filter", "pairs", "steps", "train_min", "wall_min", "related_in_batch",
            "holdout_before", "holdout_after", "dev_after", "test_before", "test_after", "test_mrr_after"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join("" if r.get(c) is None else (f"{r[c]:.4f}" if isinstance(r[c], float) and c not in ("train_min", "wall_min") else str(r[c])) for c in cols) + " |")
    return "\n".join(out)


@click.command()
@click.argument("recipes", nargs=-1, type=click.Path(path_type=Path))
@click.option("--collect", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Tabulate every training_info.json under this folder instead of training.")
@click.option("--set", "overrides", multiple=True, help="Override for every recipe, e.g. train.max_steps=10.")
@click.option("--out", type=click.Path(path_type=Path), default=ROOT / "bench" / "out" / "train_ablation")
def main(recipes, collect, overrides, out):
    infos = []
    if collect:
        for path in sorted(collect.glob("*/training_info.json")):
            infos.append(json.loads(path.read_text()))
    else:
        from codequarry.train.config import load_config, parse_override
        from codequarry.train.run import train

        values = dict(parse_override(o) for o in overrides)
        for recipe in recipes:
            cfg = load_config(recipe, values)
            infos.append(train(cfg, log=lambda msg: click.echo(msg, err=True)))
    rows = [_row(i) for i in infos]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    table = _table(rows)
    out.with_suffix(".md").write_text(table + "\n")
    click.echo(table)


if __name__ == "__main__":
    sys.exit(main())
