"""`quarry train-data` and `quarry train`: click command objects the CLI registers.

    from codequarry.train.command import train_command, train_data_command
    main.add_command(train_data_command)
    main.add_command(train_command)
"""

from __future__ import annotations

import json
from pathlib import Path

import click


def _default_cosqa() -> str | None:
    try:
        from codequarry.eval.beir import resolve_dataset

        return str(resolve_dataset("cosqa"))
    except Exception:  # no dataset on this machine: mined pairs only
        return None


@click.command("train-data")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("build/train-data"),
              show_default=True, help="Folder for pairs.jsonl and manifest.json.")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False), default=Path("build/mining-src"),
              show_default=True, envvar="QUARRY_MINING_DIR",
              help="Where fetched packages, unpacked sources and their indexes go (never in the repository).")
@click.option("--cosqa", "cosqa", default=None,
              help="CoSQA BEIR folder or name (default: 'cosqa' from QUARRY_DATASETS / ../shared/datasets); 'none' to skip.")
@click.option("--lang", "languages", multiple=True, help="Only sources of this language (repeatable).")
@click.option("--source", "sources", multiple=True, help="Only this source package (repeatable).")
@click.option("--per-language", type=int, default=4000, show_default=True,
              help="Cap on mined train pairs per language (-1: no cap, 0: no mined pairs).")
@click.option("--eval-per-language", type=int, default=500, show_default=True,
              help="Cap on mined pairs per language from the held-out repositories.")
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--no-fetch", is_flag=True, help="Use only archives already downloaded into WORKDIR/downloads.")
def train_data_command(out_dir, workdir, cosqa, languages, sources, per_language, eval_per_language, seed, no_fetch):
    """Build the training pair set (JSONL with provenance per pair, and a manifest with hashes)."""
    from codequarry.train.dataset import build_pair_set

    if cosqa is None:
        cosqa = _default_cosqa()
    elif cosqa.lower() == "none":
        cosqa = None
    else:
        from codequarry.eval.beir import resolve_dataset

        cosqa = str(resolve_dataset(cosqa))
    manifest = build_pair_set(
        out_dir, workdir=workdir, cosqa=Path(cosqa) if cosqa else None, languages=list(languages) or None,
        sources=list(sources) or None, per_language=per_language, eval_per_language=eval_per_language,
        seed=seed, fetch=not no_fetch, log=lambda m: click.echo(m, err=True),
    )
    click.echo(json.dumps({"pairs": manifest["summary"]["pairs"], "sha256": manifest["pairs_sha256"],
                           "by_language": manifest["summary"]["by_language"], "out": str(out_dir)}, indent=1))


@click.command("train")
@click.argument("config", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a recipe value, e.g. --set train.lr=5e-5 (repeatable).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Parent folder of the run (default: the recipe's out_dir).")
@click.option("--no-eval", is_flag=True, help="Skip the before/after CoSQA evaluation.")
def train_command(config, overrides, out_dir, no_eval):
    """Fine-tune the embedding model with the recipe CONFIG (a TOML file)."""
    from codequarry.train.config import load_config, parse_override
    from codequarry.train.run import train

    values = dict(parse_override(o) for o in overrides)
    if out_dir is not None:
        values["out_dir"] = str(out_dir)
    if no_eval:
        values["eval.before"] = False
        values["eval.after"] = False
    cfg = load_config(config, values)
    info = train(cfg, log=lambda m: click.echo(m, err=True))
    click.echo(json.dumps({k: info[k] for k in ("run_dir", "merged_model", "adapter", "eval", "steps", "train_seconds")
                           if k in info}, indent=1))
