"""`quarry watch`: keep the index fresh while files change.

watchfiles (Rust notify) reports batches of changes; a batch ends after
`debounce_ms` of quiet (or MAX_BATCH_MS of continuous change), so a `git
checkout` touching hundreds of files is one run, not hundreds. Each batch
runs the ordinary incremental `index_repository`: it re-walks the tree and
re-reads only files whose size or mtime moved, removes the ones that are
gone and re-resolves the call edges they touched, in one transaction. So
correctness under deletes, renames (a delete plus a create, or a folder
moved with no event for its files) and checkouts is the indexer's own; the
events only decide *when* to run. Changes that arrive during a run are
buffered by the watcher and make the next batch.

Events that cannot change the index are dropped before they wake anything:
the index folder itself, folders the walker skips (.git, node_modules,
build, ...), editor temp and backup files (`x.py~`, `.x.py.swp`, `#x#`,
`.#x`, vim's `4913`), and files of no language the chunker reads. A name
with no extension is kept (it may be a folder that was moved or deleted).
Files a .gitignore hides do wake a run, which then finds nothing to do.

A running search process (`quarry serve`, `quarry mcp`) sees each new
generation on its next query; nothing needs to be told.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from codequarry.errors import QuarryError, UserInputError, require

MAX_BATCH_MS = 5000  # continuous change (a long checkout) still gets indexed this often
LOCK_RETRIES = 40  # another `quarry index` holds the lock: wait for it, 0.25 s at a time
_TEMP = re.compile(r"(~|\.sw[a-p]|\.swx|\.tmp|\.temp|\.bak|\.orig|\.part|\.crdownload)$|^\.?#|^4913$|^\.___jb_")


@dataclass(frozen=True, slots=True)
class WatchRun:
    """One re-index: the paths whose events caused it, what the indexer did, or why it failed."""

    changed: tuple[str, ...]
    stats: object | None  # indexer.IndexStats
    seconds: float
    error: str | None = None

    def to_json(self) -> dict:
        return {"changed": list(self.changed), "seconds": round(self.seconds, 3), "error": self.error,
                "stats": self.stats.to_json() if self.stats is not None else None}


class ChangeFilter:
    """watchfiles' filter: True for a change that may alter the index of `root`."""

    def __init__(self, root: Path, index_folder: Path) -> None:
        from codequarry.walk import SKIP_DIRS

        self.root = Path(os.path.realpath(root))
        self.index_folder = Path(os.path.realpath(index_folder))
        self.skip_dirs = SKIP_DIRS

    def __call__(self, change, path: str) -> bool:
        from codequarry.chunk import language_for

        p = Path(path)
        if p == self.index_folder or p.is_relative_to(self.index_folder):
            return False
        try:
            rel = p.relative_to(self.root)
        except ValueError:
            return False
        if any(part in self.skip_dirs for part in rel.parts[:-1]):
            return False
        name = rel.name
        if _TEMP.search(name):
            return False
        if p.name in self.skip_dirs:  # the folder itself (created, removed)
            return False
        return language_for(rel.as_posix()) is not None or "." not in name


def watch(path: Path | str = ".", *, index_dir: Path | None = None, model: str | None = None,
          debounce_ms: int = 300, on_run=None, stop_event=None, encoder=None, initial: bool = True) -> None:
    """Index `path`, then re-index after each batch of relevant changes until `stop_event` is set
    (or Ctrl-C). `on_run(WatchRun)` hears about each run, the first one included."""
    watchfiles = require("watchfiles", "agents")
    from codequarry.locate import index_dir_for

    root = Path(path).expanduser()
    if not root.is_dir():
        raise UserInputError(f"not a directory: {root}")
    root = root.resolve()
    folder = index_dir_for(root, index_dir)
    report = on_run or (lambda run: None)
    first = _reindex(root, index_dir, model, encoder, ())
    if first.error:  # a first run that cannot work (bad model, foreign index) will not work later either
        raise UserInputError(first.error)
    if initial:
        report(first)
    filt = ChangeFilter(root, folder)
    for changes in watchfiles.watch(root, watch_filter=filt, debounce=max(MAX_BATCH_MS, debounce_ms),
                                    step=debounce_ms, stop_event=stop_event, raise_interrupt=True):
        rels = tuple(sorted({Path(p).relative_to(root).as_posix() if Path(p).is_relative_to(root) else p
                             for _, p in changes}))
        report(_reindex(root, index_dir, None, encoder, rels))


def _reindex(root: Path, index_dir, model, encoder, changed: tuple[str, ...]) -> WatchRun:
    from codequarry.indexer import index_repository

    started = time.perf_counter()
    for attempt in range(LOCK_RETRIES):
        try:
            stats = index_repository(root, model=model, index_dir=index_dir, encoder=encoder, progress=False)
            return WatchRun(changed, stats, time.perf_counter() - started)
        except UserInputError as exc:
            if "another 'quarry index' is running" in exc.format_message() and attempt + 1 < LOCK_RETRIES:
                time.sleep(0.25)
                continue
            return WatchRun(changed, None, time.perf_counter() - started, exc.format_message())
        except QuarryError as exc:  # reported, and the next change tries again
            return WatchRun(changed, None, time.perf_counter() - started, exc.format_message())
    raise AssertionError("unreachable")
