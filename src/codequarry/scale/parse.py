"""Walk and chunk one repository: the unit of work a Ray task runs (no Ray here, so it tests alone).

Incremental as `quarry index` is: a file whose size and mtime equal its
recorded state is not read; one whose content hash equals it is read but not
chunked. Only the rest is chunked, and only their chunks come back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from codequarry.chunk import CHUNKER_VERSION, chunk_file
from codequarry.chunk.skips import skip_by_content, skip_by_name
from codequarry.domain import Chunk, content_hash
from codequarry.embed.text import DEFAULT_TEXT_FORMAT, chunk_text
from codequarry.store.base import FileState
from codequarry.walk import DEFAULT_MAX_BYTES, WalkReport, read_source, walk


def parser_version(text_format: str = DEFAULT_TEXT_FORMAT) -> str:
    """What chunk texts (so ids and hashes) depend on besides the files: a change re-chunks everything."""
    return f"{CHUNKER_VERSION}/{text_format}"


@dataclass(slots=True)
class ParsedRepo:
    name: str
    path: str
    files_seen: int = 0
    files_parsed: int = 0  # read and chunked this run
    files_unchanged: int = 0  # matched their recorded state: their stored chunks stand
    skipped: dict[str, int] = field(default_factory=dict)
    # (chunk, hash of the text that gets embedded) of the parsed files: equal hashes need one embedding.
    chunks: list[tuple[Chunk, str]] = field(default_factory=list)
    unchanged: set[str] = field(default_factory=set)  # paths whose stored chunks are kept as they are
    states: list[FileState] = field(default_factory=list)  # new or updated states to record
    gone: list[str] = field(default_factory=list)  # recorded paths not indexed any more
    seconds: float = 0.0


def parse_repository(name: str, path: str, *, max_bytes: int = DEFAULT_MAX_BYTES, exclude: tuple[str, ...] = (),
                     text_format: str = DEFAULT_TEXT_FORMAT, known: dict[str, FileState] | None = None,
                     rechunk: bool = False) -> ParsedRepo:
    """The chunks of the repository at `path` that `known` (path → recorded state) does not vouch for,
    with the same skips as `quarry index`. `rechunk` (--force, a new chunker) chunks every file, and
    still reports the recorded paths that are gone."""
    started = time.perf_counter()
    known = known or {}
    out = ParsedRepo(name, path)
    report = WalkReport()
    seen: set[str] = set()
    for sf in walk(Path(path), max_bytes=max_bytes, report=report, exclude=exclude):
        if (skipped := skip_by_name(sf.rel)) is not None:
            report.skipped[skipped] += 1
            continue
        prev = None if rechunk else known.get(sf.rel)
        if prev and (prev.size, prev.mtime_ns) == (sf.size, sf.mtime_ns):
            seen.add(sf.rel)
            out.unchanged.add(sf.rel)
            continue
        text, reason = read_source(sf.path)
        if text is None or (reason := skip_by_content(text)) is not None:
            report.skipped[reason] += 1  # not seen: a file that turned binary loses its chunks
            continue
        seen.add(sf.rel)
        fhash = content_hash(text)
        out.states.append(FileState(sf.rel, sf.size, sf.mtime_ns, fhash))
        if prev and prev.hash == fhash:  # touched, not changed: record the new mtime, keep the chunks
            out.unchanged.add(sf.rel)
            continue
        out.files_parsed += 1
        for c in chunk_file(sf.rel, text):
            out.chunks.append((c, content_hash(chunk_text(c, text_format))))
    out.files_unchanged = len(out.unchanged)
    out.gone = sorted(set(known) - seen)
    out.files_seen = report.seen
    out.skipped = dict(sorted(report.skipped.items()))
    out.seconds = round(time.perf_counter() - started, 3)
    return out
