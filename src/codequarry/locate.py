"""Where an index lives. Stdlib only: the warm-server client runs this before
anything heavy is imported."""

from __future__ import annotations

import os
from pathlib import Path

from codequarry.errors import IndexMissingError, UserInputError

DB_NAME = "index.db"
INDEX_FOLDER = ".quarry"


def index_dir_for(repo: Path, override: Path | None = None) -> Path:
    if override is not None:
        return Path(override)
    env = os.environ.get("QUARRY_INDEX_DIR")
    return Path(env) if env else Path(repo) / INDEX_FOLDER


def find_repo_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding an index."""
    start = Path(start).resolve()
    if not start.exists():
        raise UserInputError(f"no such directory: {start}")
    for d in (start, *start.parents):
        if (d / INDEX_FOLDER / DB_NAME).exists():
            return d
    raise IndexMissingError(f"no codequarry index in {start} or its parents; run 'quarry index' there first")


def locate_index_dir(repo: Path | None = None, index_dir: Path | None = None) -> Path:
    """The index folder a search from `repo` (default: the current directory) would use."""
    if index_dir is not None or os.environ.get("QUARRY_INDEX_DIR"):
        return index_dir_for(Path.cwd(), index_dir)
    return find_repo_root(Path(repo) if repo else Path.cwd()) / INDEX_FOLDER
