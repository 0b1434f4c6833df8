"""How many related pairs (call-graph / same file / same class / same positive) share a batch, with and
without the call-graph sampler, on a recipe's real selection. Pure Python, seconds.

    python bench/train_sampler.py configs/train/default.toml [--epochs 3]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click


@click.command()
@click.argument("recipe", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--epochs", type=int, default=3, show_default=True)
def main(recipe, epochs):
    from codequarry.train.config import load_config
    from codequarry.train.pairs import read_pairs
    from codequarry.train.run import select_pairs
    from codequarry.train.sampler import PlainBatchSampler, RelatedBatchSampler, batch_conflicts, pair_tokens

    cfg = load_config(recipe)
    chosen, counts = select_pairs(read_pairs(cfg.data.pairs), cfg.data)
    tokens = [pair_tokens(p) for p in chosen]
    bs = cfg.train.batch_size
    out = {"recipe": cfg.name, "pairs": len(chosen), "batch_size": bs, "selected": counts}
    kinds = Counter()
    for name, sampler in (("plain", PlainBatchSampler(len(chosen), bs, seed=1)),
                          ("call-graph", RelatedBatchSampler(tokens, bs, seed=1))):
        total = Counter()
        for e in range(epochs):
            sampler.set_epoch(e)
            batches = list(sampler)
            total.update(batch_conflicts(batches, tokens))
            if name == "plain":
                for b in batches:  # what kind of relation collided
                    for x in range(len(b)):
                        for y in range(x + 1, len(b)):
                            a, c = chosen[b[x]], chosen[b[y]]
                            if tokens[b[x]].isdisjoint(tokens[b[y]]):
                                continue
                            if a.key == c.key:
                                kinds["same item (repeated pair)"] += 1
                            elif a.group and a.group == c.group:
                                kinds["same file"] += 1
                            elif a.key in c.related or c.key in a.related:
                                kinds["caller/callee"] += 1
                            elif set(a.related) & set(c.related):
                                kinds["shared callee/caller or class"] += 1
                            else:
                                kinds["same query or positive text"] += 1
        out[name] = {k: v / epochs for k, v in total.items()} | (
            {"stats": getattr(sampler, "stats", {})} if name != "plain" else {})
    out["plain_collisions_by_kind_per_epoch"] = {k: v / epochs for k, v in kinds.items()}
    click.echo(json.dumps(out, indent=1))
    dest = Path(__file__).resolve().parent / "out" / f"train_sampler-{cfg.name}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.exit(main())
