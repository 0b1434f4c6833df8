"""The per-file half of indexing: find what changed, then read, chunk and analyse it on every core.

    scan(repo, ...) -> iterator of Parsed, filling a ScanReport

Everything a file contributes to the lexical phase is computed here, from
one read of the file: its chunks, their text hashes, their lexical rows and
the file's call-graph facts. That work is pure Python over tree-sitter trees
and holds the GIL, so a large run spreads it over worker processes (forked
before the run starts any thread of its own: a fork copies only the forking
thread, and a lock another thread held would stay locked in the child).
The indexer's main thread stores what comes back meanwhile.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from codequarry.chunk import chunk_file, language_for
from codequarry.chunk.skips import skip_by_content, skip_by_name
from codequarry.domain import Chunk, content_hash
from codequarry.embed.text import chunk_text
from codequarry.graph.facts import FileFacts
from codequarry.graph.update import file_facts
from codequarry.search.lexical import lexical_row
from codequarry.walk import WalkReport, read_source, walk

# Below this many files to parse, forking workers costs more than it saves.
POOL_MIN_FILES = 48
MAX_WORKERS = 8


@dataclass(slots=True)
class Parsed:
    rel: str
    language: str | None
    size: int
    mtime_ns: int
    hash: str
    chunks: list[Chunk]
    text_hashes: list[str]
    lexical_rows: list[tuple[str, ...]]
    facts: FileFacts | None


@dataclass(slots=True)
class ScanReport:
    """What the scan found besides parsed files."""

    walk: WalkReport = field(default_factory=WalkReport)
    seen: set[str] = field(default_factory=set)
    touched: list[tuple[int, int, int]] = field(default_factory=list)  # (file id, size, mtime): same content
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class _Candidate:
    rel: str
    path: str
    size: int
    mtime_ns: int
    prev_id: int | None
    prev_hash: str | None  # None: parse whatever the content


def _prepare(c: _Candidate, text_format: str) -> Parsed | tuple[str, str | None]:
    """One file: ("skip", reason), ("same", None) when the content is what the index holds, or Parsed."""
    text, reason = read_source(Path(c.path))
    if text is None or (reason := skip_by_content(text)) is not None:
        return "skip", reason
    fhash = content_hash(text)
    if c.prev_hash == fhash:
        return "same", None
    chunks = chunk_file(c.rel, text)
    language = language_for(c.rel, text) or "text"
    return Parsed(c.rel, language, c.size, c.mtime_ns, fhash, chunks,
                  [content_hash(chunk_text(ch, text_format)) for ch in chunks],
                  [lexical_row(ch) for ch in chunks], file_facts(language, text))


_worker_format: str | None = None


def _start_worker(text_format: str) -> None:
    global _worker_format
    _worker_format = text_format
    # Ctrl-C reaches the whole process group: the parent stops the pool; a worker's traceback
    # would only clutter the terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _work(c: _Candidate) -> Parsed | tuple[str, str | None]:
    """In a worker: `_prepare` under the run's text format (a module-level name, so the task is
    sent by reference and a forked worker runs whatever `_prepare` the parent had)."""
    return _prepare(c, _worker_format)


def _candidates(repo: Path, known: dict, rechunk_all: bool, report: ScanReport, max_bytes: int,
                exclude: tuple[str, ...]) -> list[_Candidate]:
    out = []
    for sf in walk(repo, max_bytes=max_bytes, report=report.walk, exclude=exclude):
        if (skipped := skip_by_name(sf.rel)) is not None:  # every text file is indexed, but not these
            report.walk.skipped[skipped] += 1
            continue
        report.seen.add(sf.rel)
        prev = known.get(sf.rel)
        if prev and not rechunk_all and prev[1] == sf.size and prev[2] == sf.mtime_ns:
            report.unchanged += 1
            continue
        out.append(_Candidate(sf.rel, str(sf.path), sf.size, sf.mtime_ns, prev[0] if prev else None,
                              None if rechunk_all or not prev else prev[3]))
    return out


def _workers(n_files: int) -> int:
    """Worker processes for `n_files`: none when few, or when this process already runs threads
    (a server or `quarry watch`), where forking is unsafe."""
    if n_files < POOL_MIN_FILES or threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cpus, MAX_WORKERS) if cpus > 1 else 0


def scan(repo: Path, known: dict, rechunk_all: bool, report: ScanReport, *, text_format: str, max_bytes: int,
         exclude: tuple[str, ...] = (), on_fork=None) -> Iterator[Parsed]:
    """Walk `repo` and yield each new or changed file, parsed. `known` maps path → (id, size, mtime, hash)
    as the index holds them. `on_fork(files to parse)` runs once the workers exist (or at once
    without them): the caller starts its own threads there."""
    todo = _candidates(repo, known, rechunk_all, report, max_bytes, exclude)
    workers = _workers(len(todo))
    pool = multiprocessing.get_context("fork").Pool(workers, _start_worker, (text_format,)) if workers else None
    try:
        if on_fork is not None:
            on_fork(len(todo))
        # Larger files first, so no worker is left with one big file at the end.
        todo.sort(key=lambda c: -c.size)
        if pool is not None:
            results = pool.imap(_work, todo, chunksize=4)
        else:
            results = (_prepare(c, text_format) for c in todo)
        for cand, out in zip(todo, results):
            if isinstance(out, Parsed):
                yield out
            elif out[0] == "same":
                report.touched.append((cand.prev_id, cand.size, cand.mtime_ns))
                report.unchanged += 1
            else:
                report.walk.skipped[out[1]] += 1
                report.seen.discard(cand.rel)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
