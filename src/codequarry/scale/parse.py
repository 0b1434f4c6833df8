"""Walk and chunk one repository: the unit of work a Ray task runs (no Ray here, so it tests alone)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from codequarry.chunk import chunk_file
from codequarry.chunk.skips import skip_by_content, skip_by_name
from codequarry.domain import Chunk, content_hash
from codequarry.embed.text import DEFAULT_TEXT_FORMAT, chunk_text
from codequarry.walk import DEFAULT_MAX_BYTES, WalkReport, read_source, walk


@dataclass(slots=True)
class ParsedRepo:
    name: str
    path: str
    files_seen: int = 0
    files_parsed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    # (chunk, hash of the text that gets embedded): equal hashes need only one embedding.
    chunks: list[tuple[Chunk, str]] = field(default_factory=list)
    seconds: float = 0.0


def parse_repository(name: str, path: str, *, max_bytes: int = DEFAULT_MAX_BYTES, exclude: tuple[str, ...] = (),
                     text_format: str = DEFAULT_TEXT_FORMAT) -> ParsedRepo:
    """Every chunk of the repository at `path`, with the same skips as `quarry index`."""
    started = time.perf_counter()
    out = ParsedRepo(name, path)
    report = WalkReport()
    for sf in walk(Path(path), max_bytes=max_bytes, report=report, exclude=exclude):
        if (skipped := skip_by_name(sf.rel)) is not None:
            report.skipped[skipped] += 1
            continue
        text, reason = read_source(sf.path)
        if text is None or (reason := skip_by_content(text)) is not None:
            report.skipped[reason] += 1
            continue
        out.files_parsed += 1
        for c in chunk_file(sf.rel, text):
            out.chunks.append((c, content_hash(chunk_text(c, text_format))))
    out.files_seen = report.seen
    out.skipped = dict(sorted(report.skipped.items()))
    out.seconds = round(time.perf_counter() - started, 3)
    return out
