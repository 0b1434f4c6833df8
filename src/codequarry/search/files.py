"""The file-level view: ranked files, each with its best definitions.

A pure function over ranked results. A file ranks where its best chunk ranks
(the file-level metrics of `quarry eval` judge exactly this order), and keeps
the best few definitions found in it, best first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from codequarry.domain import SearchResult

# Chunk results asked for to fill a page of files: files repeat, so more than k.
CHUNK_DEPTH = 100
PER_FILE = 3


@dataclass(frozen=True, slots=True)
class FileHit:
    file: str
    language: str
    score: float  # the file's best chunk's score
    hits: tuple[SearchResult, ...]  # its best definitions, best first

    @property
    def line(self) -> int:
        """Where to open the file: its best definition's first line."""
        return self.hits[0].chunk.line_start

    def to_json(self) -> dict:
        return {
            "file": self.file, "language": self.language, "line": self.line, "score": round(float(self.score), 6),
            "definitions": [
                {"name": h.chunk.name, "qualname": h.chunk.qualname, "kind": h.chunk.kind,
                 "line_start": h.chunk.line_start, "line_end": h.chunk.line_end,
                 "score": round(float(h.score), 6), "signature": h.chunk.signature}
                for h in self.hits
            ],
        }


def rank_files(results: Sequence[SearchResult], k: int, per_file: int = PER_FILE) -> list[FileHit]:
    """The first k files of ranked results, each at its best chunk's rank with up to `per_file` hits."""
    order: list[str] = []
    grouped: dict[str, list[SearchResult]] = {}
    for r in results:
        f = r.chunk.file
        if f not in grouped:
            if len(order) == k:
                continue  # a full page: later files only matter as extra hits of listed ones
            order.append(f)
            grouped[f] = []
        if len(grouped[f]) < per_file:
            grouped[f].append(r)
    return [FileHit(f, grouped[f][0].chunk.language, grouped[f][0].score, tuple(grouped[f])) for f in order]
