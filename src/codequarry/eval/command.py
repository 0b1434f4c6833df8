"""`quarry eval`: score search systems on a BEIR set or a repository fixture.

Registered by the main CLI with `main.add_command(eval_command)`. Only click
is imported at module level; the evaluation (numpy, sqlite, models,
matplotlib) loads when the command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _stderr(msg: str) -> None:
    click.echo(f"quarry: {msg}", err=True)


def _progress_factory(quiet: bool):
    def make(label: str, total: int):
        if quiet or total <= 0:
            return None
        state = {"done": 0, "shown": -1}

        def advance(n: int) -> None:
            state["done"] += n
            tenth = state["done"] * 10 // total
            if tenth != state["shown"]:
                state["shown"] = tenth
                _stderr(f"{label}: {state['done']}/{total}")

        return advance

    return make


def is_fixture(target: str) -> bool:
    return target.endswith(".json") or Path(target).is_file()


def is_fixture_folder(target: str) -> bool:
    """A folder of fixture files (not a BEIR folder, which has corpus.jsonl)."""
    p = Path(target).expanduser()
    return p.is_dir() and not (p / "corpus.jsonl").is_file() and any(p.glob("*.json"))


@click.command("eval")
@click.argument("target")
@click.option("--split", type=click.Choice(["dev", "test"]), default=None,
              help="Query split (BEIR default: test; fixtures default: all queries).")
@click.option("--mode", "modes", multiple=True, type=click.Choice(["dense", "lexical", "hybrid"]),
              help="Search mode to evaluate (repeatable; default: lexical, dense, hybrid).")
@click.option("--model", "models", multiple=True,
              help="Model preset, hub id or local folder (repeatable; default: QUARRY_MODEL or minilm).")
@click.option("--slot", "slots", multiple=True, help="Index slot to evaluate (fixtures; repeatable).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N queries (smoke runs).")
@click.option("--strict", is_flag=True, help="Fixtures: a hit must also overlap the gold's line range.")
@click.option("--reindex", is_flag=True, help="Fixtures: rebuild the cached index from scratch (cold index time).")
@click.option("--candidates", type=click.IntRange(min=1), default=100, show_default=True,
              help="BEIR: candidates taken from each leg before fusion.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("eval-results"),
              show_default=True, help="Folder for the JSON, Markdown and PNG results.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON to stdout (no table).")
def eval_command(target, split, modes, models, slots, limit, strict, reindex, candidates, out_dir, no_plots,
                 as_json) -> None:
    """Evaluate search quality on TARGET: a BEIR data set (a name such as
    'cosqa', looked up in QUARRY_DATASETS or ../shared/datasets, or a folder),
    a repository fixture (a .json file) or a folder of fixtures (every *.json
    in it, one repository each, macro-averaged over repositories).

    Reports Recall@1/5/10/20/100, MRR@10, nDCG@10, MAP@100 and latency for each
    system (every --mode for every --model/--slot), with deltas against the
    first; fixtures add file-level nDCG@10/MRR@10/R@k (files ranked by their
    best chunk) and per-category / per-language tables. Writes JSON, Markdown
    and PNG plots under --out.
    """
    from codequarry.errors import UserInputError
    from codequarry.eval.report import print_table, result_json, write_outputs
    from codequarry.eval.systems import expand_systems

    systems = expand_systems(modes, models, slots)
    log = (lambda m: None) if as_json else _stderr
    if is_fixture_folder(target):
        from codequarry.eval.fixture import load_fixtures
        from codequarry.eval.multi import evaluate_fixtures

        evaluation = evaluate_fixtures(load_fixtures(target), systems, path=Path(target), split=split, limit=limit,
                                       strict=strict, reindex=reindex, log=log, progress=not as_json)
    elif is_fixture(target):
        from codequarry.eval.evaluators import evaluate_fixture
        from codequarry.eval.fixture import load_fixture

        fx = load_fixture(target)
        evaluation = evaluate_fixture(fx, systems, split=split, limit=limit, strict=strict, reindex=reindex,
                                      log=log, progress=not as_json)
    else:
        if slots:
            raise UserInputError("--slot applies to repository fixtures; a BEIR corpus is embedded per --model")
        if strict or reindex:
            raise UserInputError("--strict and --reindex apply to repository fixtures")
        from codequarry.eval.beir import load_beir
        from codequarry.eval.evaluators import evaluate_beir

        ds = load_beir(target, split or "test", limit=limit)
        evaluation = evaluate_beir(ds, systems, candidates=candidates, log=log,
                                   progress_factory=_progress_factory(as_json))
    details = evaluation.details
    paths = write_outputs(details, evaluation.metrics, evaluation.primary_metric, out_dir, plots=not no_plots)
    if as_json:
        json.dump(result_json(details, evaluation.metrics, evaluation.primary_metric), sys.stdout, indent=1,
                  default=str)
        sys.stdout.write("\n")
        return
    print_table(details)
    click.echo(f"primary metric {evaluation.primary_metric} = {evaluation.metrics[evaluation.primary_metric]:.4f}")
    click.echo("wrote " + ", ".join(str(p) for p in paths.values()))
