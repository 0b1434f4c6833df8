"""Keep the resolved call graph in step with the chunks, inside the indexer's final transaction.

    update_graph(db, repo) -> GraphUpdate

Files without a row in `graph_files` (new, changed, or indexed before the
graph existed) are read again and analysed (facts.py): their call sites
become `call_targets` groups, their imports and base classes rows of their
own. Then every group that may have changed is resolved again:

- the new files' groups;
- groups whose target was deleted by this run (their `target_id` was set
  to NULL by the foreign key while the status still says resolved), which
  is how a callee's rename or removal reaches callers in unchanged files;
- groups calling a name that a new file defines or imports, which is how a
  new or renamed definition is found by callers that could not resolve
  before (or becomes a second candidate of a name that was unique).

A file that changed on disk since it was chunked is analysed from its
chunks' call names alone; the next run re-reads it anyway.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from codequarry.domain import content_hash
from codequarry.store.db import IndexDB, now

from .facts import UNKNOWN, FileFacts, Import, analyze
from .model import AMBIGUOUS, RESOLVED
from .modules import ModuleMap
from .resolve import Resolver
from .tables import CALLABLE, TYPES, Caller, Def, Tables

# Call edges out of these are examples in prose or schema text, not calls made by code.
NOT_CODE = frozenset({"markdown", "sql", "text"})
DEF_KINDS = CALLABLE | {"impl", "module"}
_BATCH = 500


@dataclass(frozen=True, slots=True)
class GraphUpdate:
    files: int  # files analysed
    groups: int  # call-site groups resolved (again)
    seconds: float


def sep_of(language: str) -> str:
    return "::" if language in ("rust", "cpp") else "."


def update_graph(db: IndexDB, repo: Path, known_facts: Mapping[str, FileFacts | None] | None = None) -> GraphUpdate:
    """Analyse the files the graph has not seen and re-resolve what they affect. No transaction of
    its own: the caller's (the indexer's final one) makes chunks and edges change together.
    `known_facts` (path → facts, None for a file without a reader) holds what the caller found when
    it parsed the files, so a file there is not read and parsed a second time."""
    started = time.perf_counter()
    conn = db.conn
    pending = conn.execute(
        "SELECT f.id, f.path, f.language, f.hash FROM files f "
        "LEFT JOIN graph_files g ON g.file_id = f.id WHERE g.file_id IS NULL"
    ).fetchall()
    touched: set[str] = set()
    fresh: list[tuple] = []  # the new files' groups, resolved before they are ever stored
    for file_id, path, lang, fhash in pending:
        touched |= _analyse_file(conn, Path(repo), file_id, path, lang, fhash, known_facts, fresh)
    conn.executemany("INSERT OR IGNORE INTO graph_files VALUES (?)", [(p[0],) for p in pending])
    stored = _groups_to_resolve(conn, touched)
    if stored or fresh:
        tables = load_tables(db, Path(repo))
        _resolve_groups(conn, tables, stored, fresh)
    db.set_meta("repo_root", str(repo))
    db.set_meta("last_indexed", now())
    return GraphUpdate(len(pending), len(stored) + len(fresh), round(time.perf_counter() - started, 3))


def _analyse_file(conn, repo: Path, file_id: int, path: str, lang: str | None, fhash: str,
                  known_facts: Mapping[str, FileFacts | None] | None, groups_out: list[tuple]) -> set[str]:
    """Store one file's imports and bases, add its call-site groups (chunk id, callee, receiver, receiver
    type, local, line) to `groups_out`; return the names it defines or imports."""
    rows = conn.execute(
        "SELECT id, kind, name, line_start, line_end FROM chunks WHERE file_id = ? ORDER BY id", (file_id,)
    ).fetchall()
    names = {r[2] for r in rows if r[1] in DEF_KINDS}
    if not rows or lang is None or lang in NOT_CODE:
        return names
    calls: dict[int, set[str]] = defaultdict(set)
    ids = [r[0] for r in rows]
    for start in range(0, len(ids), _BATCH):
        part = ids[start:start + _BATCH]
        for cid, callee in conn.execute(
            f"SELECT chunk_id, callee FROM calls WHERE chunk_id IN ({','.join('?' * len(part))})", part
        ):
            calls[cid].add(callee)
    if known_facts is not None and path in known_facts:
        facts = known_facts[path]
    else:
        facts = _facts(repo / path, lang, fhash)
    groups_out.extend((cid, name, recv, rtype, int(local), line)
                      for (cid, name, recv), (line, rtype, local) in _groups(rows, calls, facts).items())
    if facts is not None:
        conn.executemany("INSERT INTO imports VALUES (?, ?, ?, ?)",
                         [(file_id, i.alias, i.module, i.name) for i in facts.imports])
        classes = [r for r in rows if r[1] in TYPES]
        bases = []
        for b in facts.bases:
            owner = min((r for r in classes if r[2] == b.cls and r[3] <= b.line <= r[4]),
                        key=lambda r: r[4] - r[3], default=None)
            if owner is not None:
                bases.append((owner[0], b.base))
        conn.executemany("INSERT INTO class_bases VALUES (?, ?)", list(dict.fromkeys(bases)))
        names |= {i.alias for i in facts.imports} | {i.name for i in facts.imports if i.name}
    return names


def file_facts(lang: str | None, text: str) -> FileFacts | None:
    """A file's call sites, imports and bases, or None for prose and languages without a reader."""
    if lang is None or lang in NOT_CODE:
        return None
    try:
        return analyze(lang, text)
    except Exception:  # a grammar or reader bug costs the file its receivers, not the index run
        return None


def _facts(path: Path, lang: str, fhash: str) -> FileFacts | None:
    from codequarry.walk import read_source

    text, _ = read_source(path)
    if text is None or content_hash(text) != fhash:  # changed since it was chunked
        return None
    return file_facts(lang, text)


def _groups(rows, calls: dict[int, set[str]], facts: FileFacts | None) -> dict:
    """(chunk id, callee, receiver) → (first line, receiver type, local) for one file.

    The chunker decides which chunk owns a call (calls in a nested definition
    are its own); a site goes to the smallest chunk around its line that lists
    its name. Calls the chunker saw that no site explains keep receiver '?'.
    """
    out: dict[tuple[int, str, str], tuple[int, str, bool]] = {}
    spans = sorted(((r[4] - r[3], r[3], r[4], r[0]) for r in rows if calls.get(r[0])))
    by_name: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # smallest span first, as `spans`
    for _, s, e, cid in spans:
        for name in calls[cid]:
            by_name[name].append((s, e, cid))
    explained: set[tuple[int, str]] = set()
    for site in facts.sites if facts is not None else ():
        holders = [cid for s, e, cid in by_name.get(site.name, ()) if s <= site.line <= e]
        if not holders:
            continue
        owner = holders[0]
        # Overlapping windows of one long definition both list the call; one group is enough.
        explained.update((cid, site.name) for cid in holders)
        key = (owner, site.name, site.receiver)
        have = out.get(key)
        if have is None:
            out[key] = (site.line, site.rtype, site.local)
        elif site.line < have[0] or (site.rtype and not have[1]):
            out[key] = (min(site.line, have[0]), have[1] or site.rtype, have[2] and site.local)
    starts = {r[0]: r[3] for r in rows}
    for cid, names in calls.items():
        for name in names:
            if (cid, name) not in explained:
                out[(cid, name, UNKNOWN)] = (starts[cid], "", False)
    return out


def _groups_to_resolve(conn, touched: set[str]) -> list[tuple]:
    """Rows (rowid, chunk_id, callee, receiver, rtype, local, line) of every group to resolve again."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _graph_touched (name TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM _graph_touched")
    conn.executemany("INSERT OR IGNORE INTO _graph_touched VALUES (?)", [(n,) for n in touched])
    keys = conn.execute(
        f"""SELECT DISTINCT chunk_id, callee, receiver FROM call_targets
            WHERE status = 'pending'
               OR (target_id IS NULL AND status IN ('{RESOLVED}', '{AMBIGUOUS}') AND how NOT LIKE 'too many%')
               OR callee IN (SELECT name FROM _graph_touched)"""
    ).fetchall()
    conn.execute("DELETE FROM _graph_touched")
    if not keys:
        return []
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _graph_keys (chunk_id INTEGER, callee TEXT, receiver TEXT)")
    conn.execute("DELETE FROM _graph_keys")
    conn.executemany("INSERT INTO _graph_keys VALUES (?, ?, ?)", keys)
    rows = conn.execute(
        """SELECT t.rowid, t.chunk_id, t.callee, t.receiver, t.rtype, t.local, t.line FROM call_targets t
           JOIN _graph_keys k ON k.chunk_id = t.chunk_id AND k.callee = t.callee AND k.receiver = t.receiver"""
    ).fetchall()
    conn.execute("DELETE FROM _graph_keys")
    return rows


def load_tables(db: IndexDB, repo: Path) -> Tables:
    conn = db.conn
    files = dict(conn.execute("SELECT path, language FROM files WHERE language IS NOT NULL"))
    go_mod = Path(repo) / "go.mod"
    module = ""
    if go_mod.is_file():
        for line in go_mod.read_text("utf-8", "replace").splitlines():
            if line.startswith("module "):
                module = line.split(None, 1)[1].strip().strip('"')
                break
    kinds = sorted(DEF_KINDS)
    defs: dict[tuple, Def] = {}
    seen: set[tuple[str, str, str]] = set()
    for cid, path, lang, kind, name, qual, start, parent in conn.execute(
        f"SELECT c.id, f.path, c.language, c.kind, c.name, c.qualname, c.line_start, c.parent "
        f"FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.kind IN ({','.join('?' * len(kinds))}) "
        f"ORDER BY c.file_id, c.line_start, c.id", kinds
    ):
        # Pieces of a definition too long for one chunk (and a long class's leftover lines) share its
        # qualname and set parent to it: the first chunk stands for the definition.
        key = (path, qual, kind)
        if key in seen and (parent == qual or lang != "python"):
            continue  # Java/TS overloads: the first stands for the set
        seen.add(key)
        # Python: `@overload` stubs come before the implementation, which replaces them.
        defs[key] = Def(cid, path, lang, kind, name, qual, start)
    imports: dict[str, list[Import]] = defaultdict(list)
    for path, alias, mod, name in conn.execute(
        "SELECT f.path, i.alias, i.module, i.name FROM imports i JOIN files f ON f.id = i.file_id ORDER BY i.rowid"
    ):
        imports[path].append(Import(alias, mod, name))
    bases: dict[int, list[str]] = defaultdict(list)
    for cid, base in conn.execute("SELECT chunk_id, base FROM class_bases ORDER BY rowid"):
        bases[cid].append(base)
    return Tables(list(defs.values()), imports, bases, ModuleMap(files, module))


def _resolve_groups(conn, tables: Tables, rows: list[tuple], fresh: list[tuple]) -> None:
    """Resolve stored groups `rows` (rowid first) and new ones `fresh` (no rowid); store the outcomes
    in place of the stored rows."""
    resolver = Resolver(tables)
    callers = _callers(conn, {r[1] for r in rows} | {g[0] for g in fresh})
    seen: dict[tuple, tuple] = {}
    for cid, callee, receiver, rtype, local, line in itertools.chain((r[1:] for r in rows), fresh):
        key = (cid, callee, receiver)
        have = seen.get(key)
        seen[key] = (cid, callee, receiver, rtype, local, min(line, have[5]) if have else line)
    out = []
    for cid, callee, receiver, rtype, local, line in seen.values():
        caller = callers.get(cid)
        if caller is None:
            continue
        for o in resolver.resolve(caller, callee, receiver, rtype, bool(local)):
            out.append((cid, callee, receiver, rtype, local, line, o.target, o.status, o.confidence, o.how))
    ids = [r[0] for r in rows]
    for start in range(0, len(ids), _BATCH):
        part = ids[start:start + _BATCH]
        conn.execute(f"DELETE FROM call_targets WHERE rowid IN ({','.join('?' * len(part))})", part)
    conn.executemany("INSERT INTO call_targets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", out)


def _callers(conn, ids: set[int]) -> dict[int, Caller]:
    out: dict[int, Caller] = {}
    ids_l = list(ids)
    for start in range(0, len(ids_l), _BATCH):
        part = ids_l[start:start + _BATCH]
        for cid, path, lang, kind, qual in conn.execute(
            f"SELECT c.id, f.path, c.language, c.kind, c.qualname FROM chunks c JOIN files f ON f.id = c.file_id "
            f"WHERE c.id IN ({','.join('?' * len(part))})", part
        ):
            out[cid] = Caller(path, lang, kind, qual, sep_of(lang))
    return out
