"""Matryoshka in use: CoSQA nDCG@10 and vector bytes when a model's vectors are cut to d dims (renormalised).

    python bench/train_matryoshka.py build/train-runs/default          # a run folder: merged model inside
    python bench/train_matryoshka.py src/codequarry/data/quarry-code-minilm   # an adapter folder
    python bench/train_matryoshka.py minilm                              # the base preset

Writes bench/out/train_matryoshka-<name>.{json,md}. The corpus embedding is
cached (eval cache), so a model already evaluated by `quarry train` costs
only its queries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]


def _load(target: str):
    from codequarry.train.lora import load_model

    path = Path(target)
    if (path / "model").is_dir():  # a training run's folder: its merged model
        path = path / "model"
    if not path.is_dir():
        return load_model(target), target
    return load_model(str(path)), path.parent.name if path.name == "model" else path.name


@click.command()
@click.argument("target")
@click.option("--dataset", default="cosqa", show_default=True)
@click.option("--split", "splits", multiple=True, default=("test",), show_default=True)
@click.option("--dims", default="384,192,128,64", show_default=True)
@click.option("--max-tokens", type=int, default=256, show_default=True)
def main(target, dataset, splits, dims, max_tokens):
    import torch

    from codequarry.train.evaluate import ModelEncoder, evaluate_model, weights_fingerprint

    torch.set_num_threads(2)
    model, name = _load(target)
    enc = ModelEncoder(model, f"train:{name}:{weights_fingerprint(model)}", max_tokens)
    res = evaluate_model(enc, dataset=dataset, splits=list(splits), dims=[int(d) for d in dims.split(",")],
                         log=lambda m: click.echo(m, err=True))
    lines = ["| split | dims | nDCG@10 | bytes/vector | corpus MiB |", "|---|---|---|---|---|"]
    for split, table in res["matryoshka"].items():
        for d, row in sorted(table.items(), key=lambda kv: -int(kv[0])):
            lines.append(f"| {split} | {d} | {row['ndcg@10']:.4f} | {row['bytes_per_vector']} | "
                         f"{row['corpus_bytes'] / 2**20:.2f} |")
    out = ROOT / "bench" / "out" / f"train_matryoshka-{name}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    click.echo("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
