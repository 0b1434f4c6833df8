"""`quarry gather QUERY --tokens N`: the code an agent should read for a task, within a budget.

    seeds      the definitions search ranks for QUERY (hybrid search, top `seeds`)
    expansion  their callees and callers from the call graph (graph.query), each
               scored from the seed that reached it: seed score x edge confidence x
               CALLEE_WEIGHT or CALLER_WEIGHT, summed over the seeds that reach it
               (a helper two seeds call matters more than one)
    budget     most valuable first, greedily, while the estimate fits; the best seed
               is cut to fit when even it alone does not
    order      what was kept is printed in reading order: by file, then line

Tokens are estimated as ceil(characters / 4) (TOKEN_CHARS), the usual rule of
thumb for code in BPE tokenizers; it needs no model, so `gather` runs with
none loaded beyond the search's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from codequarry.errors import UserInputError

TOKEN_CHARS = 4
# Chosen on the repository fixture's dev half (bench/gather_recall.py, hash encoder): 0.12/0.08 kept more
# gold definitions than 0.6/0.4 at every budget (all 12 dev repositories: 0.532 against 0.487 at 4k).
CALLEE_WEIGHT = 0.12  # what a seed calls is usually needed to understand it
CALLER_WEIGHT = 0.08  # who calls it shows how it is used; often many, each less telling
DEFAULT_SEEDS = 8
FILL_RESULTS = 50  # search results past the seeds fill what budget the seeds and their neighbours leave
MAX_NEIGHBOURS = 12  # per seed and direction: a function called from 200 places does not flood the budget
HEADER_TOKENS = 12  # the Markdown heading and code fence around each item


def estimate_tokens(text: str) -> int:
    """The documented estimate: one token per TOKEN_CHARS characters, rounded up."""
    return math.ceil(len(text) / TOKEN_CHARS)


@dataclass(frozen=True, slots=True)
class GatherItem:
    """One definition in the gathered context; `why` says how it was reached."""

    file: str
    line: int
    line_end: int
    qualname: str
    kind: str
    language: str
    signature: str
    code: str
    score: float
    why: tuple[str, ...]  # "search #1", "calls X", "called by Y"
    tokens: int
    truncated: bool = False

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "line_end": self.line_end, "qualname": self.qualname,
                "kind": self.kind, "language": self.language, "signature": self.signature,
                "score": round(self.score, 4), "why": list(self.why), "tokens": self.tokens,
                "truncated": self.truncated, "code": self.code}


@dataclass(frozen=True, slots=True)
class Gathered:
    query: str
    budget: int
    tokens: int  # estimated tokens of the items kept
    items: tuple[GatherItem, ...]  # reading order
    left_out: int  # candidates that did not fit the budget

    def to_json(self) -> dict:
        return {"query": self.query, "budget": self.budget, "tokens": self.tokens, "left_out": self.left_out,
                "items": [i.to_json() for i in self.items]}

    def to_markdown(self) -> str:
        out = [f"# Context for: {self.query}",
               f"{len(self.items)} definitions, ~{self.tokens} of {self.budget} tokens"
               + (f"; {self.left_out} more did not fit" if self.left_out else "")]
        for i in self.items:
            cut = " (cut to fit)" if i.truncated else ""
            out.append(f"\n## {i.file}:{i.line}-{i.line_end} `{i.qualname}` ({i.kind}; {', '.join(i.why)}){cut}")
            out.append(f"```{i.language}\n{i.code.rstrip()}\n```")
        return "\n".join(out) + "\n"


@dataclass(slots=True)
class _Candidate:
    key: tuple[str, int]
    symbol: object  # graph.model.Symbol
    score: float
    why: list[str]


def gather(query: str, tokens: int = 4000, *, seeds: int = DEFAULT_SEEDS, repo: Path | None = None,
           index_dir: Path | None = None, slot: str | None = None, searcher=None) -> Gathered:
    """Seed definitions from search, expanded along the call graph, cut to `tokens` (estimated)."""
    if tokens < 1:
        raise UserInputError("--tokens must be at least 1")
    if seeds < 1:
        raise UserInputError("--seeds must be at least 1")
    if not query.strip():
        raise UserInputError("empty query")
    own = searcher is None
    if own:
        from codequarry.search.searcher import Searcher

        searcher = Searcher.open(repo, slot=slot, index_dir=index_dir)
    try:
        return _gather(searcher, query, tokens, seeds)
    finally:
        if own:
            searcher.close()


def _gather(searcher, query: str, budget: int, seeds: int) -> Gathered:
    from codequarry.graph.query import callees, callers

    db = searcher.db
    results = searcher.search(query, max(seeds, FILL_RESULTS))
    found: dict[tuple[str, int], _Candidate] = {}

    def add(symbol, score: float, why: str) -> None:
        key = (symbol.file, symbol.line)
        c = found.get(key)
        if c is None:
            found[key] = _Candidate(key, symbol, score, [why])
        else:
            c.score += score
            if why not in c.why:
                c.why.append(why)

    for rank, r in enumerate(results, 1):
        seed_score = 1.0 / rank  # rank, not the fused score: scores of different modes are not comparable
        ch = r.chunk
        if rank > seeds:  # past the seeds: search results alone, to fill a budget the graph leaves room in
            add(_as_symbol(ch), seed_score, f"search #{rank}")
            continue
        try:
            out_groups = callees(f"{ch.file}:{ch.line_start}", db=db)
            in_groups = callers(f"{ch.file}:{ch.line_start}", db=db)
        except UserInputError:  # nothing the graph knows there (a file deleted since the search)
            continue
        for group in out_groups[:1]:
            add(group.symbol, seed_score, f"search #{rank}")
            for e in _strongest(group.edges, lambda e: e.target):
                add(e.target, seed_score * e.confidence * CALLEE_WEIGHT, f"called by {group.symbol.qualname}")
        for group in in_groups[:1]:
            for e in _strongest(group.edges, lambda e: e.caller):
                add(e.caller, seed_score * e.confidence * CALLER_WEIGHT, f"calls {group.symbol.qualname}")

    ranked = sorted(found.values(), key=lambda c: (-c.score, c.key))
    kept: list[GatherItem] = []
    used = left_out = 0
    for c in ranked:
        s = c.symbol
        container = next((k for k in kept if k.file == s.file and k.line <= s.line and s.line_end <= k.line_end), None)
        if container is not None:  # already shown inside its class (or a larger window): it says why too
            more = tuple(w for w in c.why if w not in container.why)
            if more:
                kept[kept.index(container)] = replace(container, why=container.why + more)
            continue
        inside = [k for k in kept if k.file == s.file and s.line <= k.line and k.line_end <= s.line_end]
        code = _code(db, s)
        cost = estimate_tokens(code) + HEADER_TOKENS
        if used - sum(k.tokens for k in inside) + cost <= budget:
            # A class after some of its methods: it replaces them (no line shown twice).
            kept = [k for k in kept if k not in inside]
            used -= sum(k.tokens for k in inside)
            c.why.extend(w for k in inside for w in k.why if w not in c.why)  # why its methods were wanted
            kept.append(_item(c, code, cost, False))
            used += cost
        elif not kept and budget > HEADER_TOKENS:  # the best seed alone is over budget: its head
            room = (budget - HEADER_TOKENS) * TOKEN_CHARS
            head = code[:room].rsplit("\n", 1)[0] if "\n" in code[:room] else code[:room]
            cost = estimate_tokens(head) + HEADER_TOKENS
            kept.append(_item(c, head, cost, True))
            used += cost
        else:
            left_out += 1
    kept.sort(key=lambda i: (i.file, i.line))
    return Gathered(query, budget, used, tuple(kept), left_out)


def _as_symbol(chunk):
    from codequarry.graph.model import Symbol

    return Symbol(chunk.file, chunk.line_start, chunk.line_end, chunk.name, chunk.qualname, chunk.kind,
                  chunk.language, chunk.signature)


def _strongest(edges, end):
    """The MAX_NEIGHBOURS edges with the highest confidence that lead to a definition."""
    useful = [e for e in edges if end(e) is not None]
    useful.sort(key=lambda e: (-e.confidence, e.line))
    return useful[:MAX_NEIGHBOURS]


def _item(c: _Candidate, code: str, cost: int, truncated: bool) -> GatherItem:
    s = c.symbol
    line_end = s.line + code.count("\n") if truncated else s.line_end
    return GatherItem(s.file, s.line, line_end, s.qualname, s.kind, s.language, s.signature, code, c.score,
                      tuple(c.why), cost, truncated)


def _code(db, symbol) -> str:
    """The definition's code as indexed: its chunks (several for a long one) merged by line."""
    rows = db.conn.execute(
        "SELECT c.line_start, c.code FROM chunks c JOIN files f ON f.id = c.file_id "
        "WHERE f.path = ? AND c.line_start >= ? AND c.line_end <= ? AND (c.qualname = ? OR c.parent = ?) "
        "ORDER BY c.line_start, c.id", (symbol.file, symbol.line, symbol.line_end, symbol.qualname,
                                        symbol.qualname)).fetchall()
    lines: dict[int, str] = {}
    for start, code in rows:
        for n, text in enumerate(code.split("\n"), start):
            lines.setdefault(n, text)
    return "\n".join(lines[n] for n in sorted(lines) if symbol.line <= n <= symbol.line_end)
