"""Questions over the resolved call graph: callers, callees, impact, trace.

Each function takes NAME as a qualname (`UploadStore.open`, `Store::open`,
either separator), a bare name (every definition of it, one group each) or
`file:line` (the innermost definition around that line), and answers with
frozen objects from model.py. An unknown NAME is a UserInputError (exit 2)
naming the closest names the index knows.

A definition too long for one chunk is several chunks sharing its
qualname; here it is one Symbol, its pieces' edges merged.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from codequarry.errors import UserInputError
from codequarry.store.db import IndexDB

from .model import AMBIGUOUS, RESOLVED, CallPath, Edge, EdgeGroup, Impact, ImpactNode, Symbol
from .update import DEF_KINDS

MAX_PATHS = 5
MAX_TRACE_DEPTH = 12
_TEST_FILE = re.compile(
    r"(^|/)(tests?|__tests__|spec|specs|testing)/|(^|/)test_[^/]*\.py$|_test\.(py|go)$"
    r"|\.(test|spec)\.[cm]?[jt]sx?$|(Test|Tests|IT)\.java$|_spec\.rb$"
)
_TEST_NAME = re.compile(r"^(test|Test)[A-Z_0-9]|^test$|^(tests?|test_\w+)::")


def is_test(symbol: Symbol) -> bool:
    """A test: a definition in a test file, or one named like a test (`test_x`, Go `TestX`)."""
    return bool(_TEST_FILE.search(symbol.file) or _TEST_NAME.search(symbol.name)
                or _TEST_NAME.search(symbol.qualname))


@contextmanager
def opened(repo: Path | None = None, index_dir: Path | None = None, db: IndexDB | None = None):
    """The index to read: `db` when given (left open), else the one for `repo` (closed after)."""
    if db is not None:
        yield db
        return
    from codequarry.locate import locate_index_dir

    own = IndexDB(locate_index_dir(repo, index_dir), readonly=True)
    try:
        yield own
    finally:
        own.close()


class _Graph:
    """Chunk rows as Symbols, with the pieces of long definitions folded into one."""

    def __init__(self, db: IndexDB) -> None:
        self.conn = db.conn
        self._rows: dict[int, tuple] = {}
        self._canon: dict[int, int] = {}
        self._pieces: dict[int, list[int]] = {}

    def _load(self, ids) -> None:
        want = [i for i in ids if i not in self._rows]
        for start in range(0, len(want), 500):
            part = want[start:start + 500]
            for row in self.conn.execute(
                "SELECT c.id, f.path, c.line_start, c.line_end, c.name, c.qualname, c.kind, c.language, "
                f"c.signature, c.parent, c.file_id FROM chunks c JOIN files f ON f.id = c.file_id "
                f"WHERE c.id IN ({','.join('?' * len(part))})", part,
            ):
                self._rows[row[0]] = row

    def canonical(self, cid: int) -> int:
        """The first chunk of the definition `cid` is a piece of (itself when it is whole)."""
        if cid not in self._canon:
            self._load([cid])
            row = self._rows[cid]
            first = cid
            if row[9] == row[5]:  # a piece: parent is its own qualname
                got = self.conn.execute(
                    "SELECT id FROM chunks WHERE file_id = ? AND qualname = ? AND kind = ? "
                    "ORDER BY line_start, id LIMIT 1", (row[10], row[5], row[6])).fetchone()
                first = got[0] if got else cid
            self._canon[cid] = first
        return self._canon[cid]

    def pieces(self, canon: int) -> list[int]:
        if canon not in self._pieces:
            self._load([canon])
            row = self._rows[canon]
            ids = [canon] + [r[0] for r in self.conn.execute(
                "SELECT id FROM chunks WHERE file_id = ? AND qualname = ? AND kind = ? AND parent = qualname "
                "AND id != ?", (row[10], row[5], row[6], canon))]
            self._pieces[canon] = ids
        return self._pieces[canon]

    def symbol(self, cid: int) -> Symbol:
        canon = self.canonical(cid)
        ids = self.pieces(canon)
        self._load(ids)
        rows = [self._rows[i] for i in ids]
        r = self._rows[canon]
        return Symbol(file=r[1], line=min(x[2] for x in rows), line_end=max(x[3] for x in rows), name=r[4],
                      qualname=r[5], kind=r[6], language=r[7], signature=r[8])

    # -- NAME ------------------------------------------------------------------------------------
    def find(self, name: str) -> list[int]:
        """Canonical chunk ids of the definitions NAME means; UserInputError when none."""
        name = name.strip()
        if not name:
            raise UserInputError("NAME is empty: give a qualname, a bare name or file:line")
        m = re.match(r"^(.+):(\d+)$", name)
        if m and not m.group(1).endswith(":"):
            got = self._at_line(m.group(1), int(m.group(2)))
            if got is not None:
                return [got]
        kinds = sorted(DEF_KINDS)
        marks = ",".join("?" * len(kinds))
        if re.search(r"[.:]", name):  # a qualname, in either separator
            variants = list(dict.fromkeys([name, name.replace("::", "."), name.replace(".", "::")]))
            ids = [r[0] for r in self.conn.execute(
                f"SELECT id FROM chunks WHERE qualname IN ({','.join('?' * len(variants))}) "
                f"AND kind IN ({marks}) ORDER BY id", [*variants, *kinds])]
        else:  # a bare name: every definition of it
            ids = [r[0] for r in self.conn.execute(
                f"SELECT id FROM chunks WHERE name = ? AND kind IN ({marks}) ORDER BY id", [name, *kinds])]
        if not ids:
            raise UserInputError(self._unknown(name))
        self._load(ids)
        if any(self._rows[i][6] != "impl" for i in ids):  # a Rust type's impl blocks are not the type
            ids = [i for i in ids if self._rows[i][6] != "impl"]
        canon = list(dict.fromkeys(self.canonical(i) for i in ids))
        return sorted(canon, key=lambda c: (self.symbol(c).file, self.symbol(c).line))

    def _at_line(self, file: str, line: int) -> int | None:
        row = self.conn.execute("SELECT id FROM files WHERE path = ?", (file,)).fetchone()
        if row is None:
            rows = self.conn.execute("SELECT id FROM files WHERE path LIKE ?", (f"%/{file}",)).fetchall()
            if len(rows) != 1:
                if not rows and re.search(r"\.\w+$", file):
                    raise UserInputError(f"no indexed file '{file}'")
                return None
            row = rows[0]
        found = self.conn.execute(
            "SELECT id, kind FROM chunks WHERE file_id = ? AND line_start <= ? AND line_end >= ? "
            "ORDER BY (kind = 'window'), line_end - line_start, id LIMIT 1", (row[0], line, line)).fetchone()
        if found is None:
            raise UserInputError(f"nothing indexed at {file}:{line}")
        return self.canonical(found[0])

    def _unknown(self, name: str) -> str:
        words = {r[0] for r in self.conn.execute(
            f"SELECT DISTINCT name FROM chunks WHERE kind IN ({','.join('?' * len(DEF_KINDS))})", sorted(DEF_KINDS))}
        words |= {r[0] for r in self.conn.execute(
            f"SELECT DISTINCT qualname FROM chunks WHERE kind IN ({','.join('?' * len(DEF_KINDS))})",
            sorted(DEF_KINDS))}
        close = difflib.get_close_matches(name, sorted(words), n=5, cutoff=0.6)
        if not close:
            low = name.lower()
            close = sorted(w for w in words if low in w.lower())[:5]
        hint = f" (close matches: {', '.join(close)})" if close else ""
        return f"no definition named '{name}' in the index{hint}"

    # -- edges -----------------------------------------------------------------------------------
    def edges(self, where: str, ids: list[int], statuses: tuple[str, ...] | None = None) -> list[tuple]:
        out = []
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            sql = (f"SELECT chunk_id, callee, receiver, line, status, confidence, how, target_id FROM call_targets "
                   f"WHERE {where} IN ({','.join('?' * len(part))})")
            args = list(part)
            if statuses:
                sql += f" AND status IN ({','.join('?' * len(statuses))})"
                args += list(statuses)
            out.extend(self.conn.execute(sql, args).fetchall())
        return out

    def edge(self, row: tuple) -> Edge:
        cid, callee, receiver, line, status, conf, how, target = row
        return Edge(self.symbol(cid), callee, receiver, line, status, conf, how,
                    self.symbol(target) if target is not None else None)


def _dedupe(edges: list[Edge]) -> tuple[Edge, ...]:
    """One edge per (caller, callee name, receiver, target): the first call site."""
    best: dict[tuple, Edge] = {}
    for e in edges:
        key = (e.caller.file, e.caller.qualname, e.caller.line, e.callee, e.receiver,
               e.target.location if e.target else None)
        if key not in best or e.line < best[key].line:
            best[key] = e
    return tuple(sorted(best.values(), key=lambda e: (e.caller.file, e.line, e.callee,
                                                      e.target.location if e.target else "")))


def callers(name: str, *, repo: Path | None = None, index_dir: Path | None = None,
            db: IndexDB | None = None) -> tuple[EdgeGroup, ...]:
    """Who calls NAME: resolved edges, and ambiguous ones where NAME is a candidate."""
    with opened(repo, index_dir, db) as idx:
        g = _Graph(idx)
        out = []
        for canon in g.find(name):
            rows = g.edges("target_id", g.pieces(canon), (RESOLVED, AMBIGUOUS))
            out.append(EdgeGroup(g.symbol(canon), _dedupe([g.edge(r) for r in rows])))
        return tuple(out)


def callees(name: str, *, repo: Path | None = None, index_dir: Path | None = None,
            db: IndexDB | None = None) -> tuple[EdgeGroup, ...]:
    """What NAME calls, in order: resolved, ambiguous (one edge per candidate) and unresolved edges."""
    with opened(repo, index_dir, db) as idx:
        g = _Graph(idx)
        out = []
        for canon in g.find(name):
            rows = g.edges("chunk_id", g.pieces(canon))
            out.append(EdgeGroup(g.symbol(canon), _dedupe([g.edge(r) for r in rows])))
        return tuple(out)


def impact(name: str, depth: int = 3, *, include_ambiguous: bool = False, repo: Path | None = None,
           index_dir: Path | None = None, db: IndexDB | None = None) -> tuple[Impact, ...]:
    """Transitive callers of NAME up to `depth` calls away, nearest first; tests among them flagged."""
    if depth < 1:
        raise UserInputError("--depth must be at least 1")
    statuses = (RESOLVED, AMBIGUOUS) if include_ambiguous else (RESOLVED,)
    with opened(repo, index_dir, db) as idx:
        g = _Graph(idx)
        out = []
        for canon in g.find(name):
            seen: dict[int, ImpactNode] = {}
            frontier = {canon: 1.0}
            for level in range(1, depth + 1):
                nxt: dict[int, float] = {}
                for target, conf in frontier.items():
                    for row in g.edges("target_id", g.pieces(target), statuses):
                        caller = g.canonical(row[0])
                        if caller == canon or caller in seen:
                            continue
                        c = conf * row[5]
                        sym = g.symbol(caller)
                        seen[caller] = ImpactNode(sym, level, g.symbol(target), row[3], c, is_test(sym))
                        nxt[caller] = c
                frontier = nxt
                if not frontier:
                    break
            nodes = sorted(seen.values(), key=lambda n: (n.depth, n.symbol.file, n.symbol.line))
            out.append(Impact(g.symbol(canon), depth, tuple(nodes)))
        return tuple(out)


def trace(source: str, target: str, *, repo: Path | None = None, index_dir: Path | None = None,
          db: IndexDB | None = None, max_depth: int = MAX_TRACE_DEPTH) -> tuple[CallPath, ...]:
    """The shortest call paths from SOURCE to TARGET (several when they tie, up to MAX_PATHS).

    Resolved edges first; only when they connect nothing are ambiguous ones
    tried, and such paths say `certain: false`.
    """
    with opened(repo, index_dir, db) as idx:
        g = _Graph(idx)
        starts, goals = g.find(source), set(g.find(target))
        for statuses, certain in (((RESOLVED,), True), ((RESOLVED, AMBIGUOUS), False)):
            paths = _shortest(g, starts, goals, statuses, max_depth)
            if paths:
                return tuple(_path(g, p, certain) for p in paths)
        return ()


def _shortest(g: _Graph, starts: list[int], goals: set[int], statuses, max_depth: int) -> list[list[tuple]]:
    """Layered BFS keeping every parent on a shortest route; paths as [(def, line, conf)...]."""
    parents: dict[int, list[tuple[int, int, float]]] = {s: [] for s in starts}
    layer = list(starts)
    found = [s for s in starts if s in goals]
    depth = 0
    while layer and not found and depth < max_depth:
        depth += 1
        nxt: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
        for node in layer:
            for row in g.edges("chunk_id", g.pieces(node), statuses):
                if row[7] is None:
                    continue
                t = g.canonical(row[7])
                if t in parents:
                    continue
                nxt[t].append((node, row[3], row[5]))
        for t, ps in nxt.items():
            parents[t] = ps
        layer = list(nxt)
        found = [t for t in layer if t in goals]
    out: list[list[tuple]] = []

    def unwind(node: int, tail: list[tuple]) -> None:
        if len(out) >= MAX_PATHS:
            return
        if not parents[node]:
            out.append([(node, 0, 1.0)] + tail)
            return
        for parent, line, conf in sorted(parents[node], key=lambda p: (-p[2], p[1])):
            unwind(parent, [(node, line, conf)] + tail)

    for goal in sorted(found):
        unwind(goal, [])
    return out


def _path(g: _Graph, steps: list[tuple], certain: bool) -> CallPath:
    conf = 1.0
    for _, _, c in steps[1:]:
        conf *= c
    return CallPath(tuple(g.symbol(s) for s, _, _ in steps), tuple(line for _, line, _ in steps[1:]), conf, certain)
