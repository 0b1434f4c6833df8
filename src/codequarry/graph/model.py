"""What the call-graph functions return: frozen, slotted, JSON-ready.

The CLI, the MCP server and `gather` all render these; none of them talk
to the tables directly.
"""

from __future__ import annotations

from dataclasses import dataclass

RESOLVED, AMBIGUOUS, UNRESOLVED = "resolved", "ambiguous", "unresolved"
MAX_LISTED = 20  # paths listed in JSON per kind of difference (the counts are complete)


@dataclass(frozen=True, slots=True)
class Symbol:
    """A definition (or a window of top-level code) in the index."""

    file: str
    line: int
    line_end: int
    name: str
    qualname: str
    kind: str
    language: str
    signature: str = ""

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "line_end": self.line_end, "name": self.name,
                "qualname": self.qualname, "kind": self.kind, "language": self.language,
                "signature": self.signature}


@dataclass(frozen=True, slots=True)
class Edge:
    """One call from `caller` to what `callee` names, as resolved at index time.

    `status` is resolved (one target), ambiguous (one Edge per candidate,
    each with its share of the confidence) or unresolved (no target: outside
    the repository, a builtin, a local variable, or not found; `how` says
    which). `line` is the first call site in the caller.
    """

    caller: Symbol
    callee: str
    receiver: str
    line: int
    status: str
    confidence: float
    how: str
    target: Symbol | None = None

    def to_json(self) -> dict:
        return {"caller": self.caller.to_json(), "callee": self.callee, "receiver": self.receiver,
                "line": self.line, "status": self.status, "confidence": round(self.confidence, 3),
                "how": self.how, "target": self.target.to_json() if self.target else None}


@dataclass(frozen=True, slots=True)
class EdgeGroup:
    """The edges into (callers) or out of (callees) one definition NAME matched."""

    symbol: Symbol
    edges: tuple[Edge, ...]

    def to_json(self) -> dict:
        return {"symbol": self.symbol.to_json(), "edges": [e.to_json() for e in self.edges]}


@dataclass(frozen=True, slots=True)
class ImpactNode:
    """A transitive caller `depth` calls away; `via` is the definition it calls on the way."""

    symbol: Symbol
    depth: int
    via: Symbol
    line: int
    confidence: float  # product of the edge confidences along the path
    test: bool

    def to_json(self) -> dict:
        return {"symbol": self.symbol.to_json(), "depth": self.depth, "via": self.via.qualname,
                "via_file": self.via.file, "line": self.line, "confidence": round(self.confidence, 3),
                "test": self.test}


@dataclass(frozen=True, slots=True)
class Impact:
    symbol: Symbol
    depth: int
    nodes: tuple[ImpactNode, ...]  # by depth, then file and line

    @property
    def tests(self) -> tuple[ImpactNode, ...]:
        return tuple(n for n in self.nodes if n.test)

    def to_json(self) -> dict:
        return {"symbol": self.symbol.to_json(), "depth": self.depth,
                "callers": [n.to_json() for n in self.nodes],
                "tests": [n.symbol.to_json() for n in self.tests]}


@dataclass(frozen=True, slots=True)
class CallPath:
    """`steps[0]` calls `steps[1]` at `lines[0]`, and so on to the last step."""

    steps: tuple[Symbol, ...]
    lines: tuple[int, ...]
    confidence: float
    certain: bool  # every edge resolved (not merely one candidate of an ambiguous call)

    def to_json(self) -> dict:
        return {"steps": [s.to_json() for s in self.steps], "lines": list(self.lines),
                "confidence": round(self.confidence, 3), "certain": self.certain}


@dataclass(frozen=True, slots=True)
class SlotStatus:
    name: str
    model: str
    dim: int | None
    default: bool
    stale: bool
    vectors: int  # chunks its vectors cover: fewer than the index's while `quarry index` embeds

    def to_json(self) -> dict:
        return {"name": self.name, "model": self.model, "dim": self.dim, "default": self.default,
                "stale": self.stale, "vectors": self.vectors}


@dataclass(frozen=True, slots=True)
class IndexStatus:
    repo: str
    index_dir: str
    files: int
    chunks: int
    chunks_by_language: tuple[tuple[str, int], ...]
    slots: tuple[SlotStatus, ...]
    index_bytes: int
    last_run: str | None
    edges: tuple[tuple[str, int], ...]  # call sites by status
    new_files: tuple[str, ...]
    changed_files: tuple[str, ...]
    deleted_files: tuple[str, ...]

    @property
    def behind(self) -> bool:
        return bool(self.new_files or self.changed_files or self.deleted_files)

    def to_json(self) -> dict:
        return {"repo": self.repo, "index_dir": self.index_dir, "files": self.files, "chunks": self.chunks,
                "chunks_by_language": dict(self.chunks_by_language),
                "slots": [s.to_json() for s in self.slots], "index_bytes": self.index_bytes,
                "last_run": self.last_run, "edges": dict(self.edges), "behind": self.behind,
                "new": len(self.new_files), "changed": len(self.changed_files), "deleted": len(self.deleted_files),
                "new_files": list(self.new_files[:MAX_LISTED]),
                "changed_files": list(self.changed_files[:MAX_LISTED]),
                "deleted_files": list(self.deleted_files[:MAX_LISTED])}
