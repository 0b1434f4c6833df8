"""The lexical leg: BM25 over identifier-split tokens, in SQLite FTS5.

The index lives in the same database as the chunks, so it is updated in the
same transaction and never drifts from them. Names (bare + qualified name and
file stem) and body (signature, doc, code) are separate columns, so a hit on a
definition's name counts more than a mention in someone else's body.
"""

from __future__ import annotations

import sqlite3
from pathlib import PurePosixPath

from codequarry.domain import Chunk
from codequarry.search.tokens import tokenize

# Column weights for FTS5's bm25(): names, body.
NAME_WEIGHT = 2.0
BODY_WEIGHT = 1.0
MAX_QUERY_TOKENS = 64


def lexical_row(chunk: Chunk) -> tuple[str, str]:
    stem = PurePosixPath(chunk.file).stem
    names = " ".join(tokenize(f"{chunk.name} {chunk.qualname} {stem}", stopwords=frozenset()))
    body = " ".join(tokenize(f"{chunk.signature}\n{chunk.doc}\n{chunk.code}"))
    return names, body


def match_expression(query: str) -> str | None:
    seen: list[str] = []
    for t in tokenize(query):
        if t not in seen:
            seen.append(t)
    if not seen:
        return None
    return " OR ".join(f'"{t}"' for t in seen[:MAX_QUERY_TOKENS])


def search(
    conn: sqlite3.Connection, query: str, k: int, *, weights: tuple[float, float] = (NAME_WEIGHT, BODY_WEIGHT),
    table: str = "lexical",
) -> list[tuple[int, float]]:
    """Best k (rowid, score) pairs, higher is better. Scores are BM25 (FTS5 negates them; we don't)."""
    expr = match_expression(query)
    if expr is None:
        return []
    rows = conn.execute(
        f"SELECT rowid, -bm25({table}, ?, ?) AS s FROM {table} WHERE {table} MATCH ? ORDER BY s DESC LIMIT ?",
        (*weights, expr, k),
    ).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]


def create_table(conn: sqlite3.Connection, table: str = "lexical") -> None:
    """For corpora outside a repository index (BEIR sets): same schema, same scoring."""
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5(names, body, tokenize = \"unicode61 tokenchars '_'\")")
