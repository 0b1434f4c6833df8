"""Click options that several command modules share (cli.py, graph/, agents/): one definition each."""

from __future__ import annotations

from pathlib import Path

import click

repo_option = click.option(
    "--repo", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="Repository root (default: the indexed repository containing the current directory).",
)
index_dir_option = click.option(
    "--index-dir", type=click.Path(path_type=Path, file_okay=False), default=None, envvar="QUARRY_INDEX_DIR",
    help="Where the index lives (default: <repo>/.quarry).",
)
