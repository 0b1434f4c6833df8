"""Domain objects shared by every stage of the pipeline.

Frozen, slotted dataclasses: cheap to create in bulk, hashable, and impossible
to mutate by accident once a stage has handed them on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


def content_hash(text: str) -> str:
    """Stable key for a piece of text; embeddings are cached under it."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    """One searchable unit of a file: a definition, a section, or a window of lines.

    `file` is repo-relative and POSIX. `name` is the bare identifier
    (`open`), `qualname` the dotted/scoped one (`Store.open`,
    `HnswIndex::build`). Windows split from a long definition keep the
    definition's name and set `parent` to its qualname.
    """

    file: str
    language: str
    kind: str
    name: str
    qualname: str
    line_start: int
    line_end: int
    code: str
    signature: str = ""
    doc: str = ""
    parent: str = ""
    calls: tuple[str, ...] = ()

    @property
    def hash(self) -> str:
        return content_hash(self.code)


@dataclass(frozen=True, slots=True)
class SearchResult:
    chunk: Chunk
    score: float
    # Which legs found it and their own scores: handy for debugging fusion.
    sources: dict[str, float] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict:
        c = self.chunk
        return {
            "file": c.file,
            "name": c.name,
            "qualname": c.qualname,
            "kind": c.kind,
            "language": c.language,
            "line_start": c.line_start,
            "line_end": c.line_end,
            "score": round(float(self.score), 6),
            "signature": c.signature,
            "code": c.code,
        }
