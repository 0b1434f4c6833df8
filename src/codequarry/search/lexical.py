"""The lexical leg: BM25 over code-aware tokens, in SQLite FTS5, one column per field.

The index lives in the same database as the chunks, so it is updated in the
same transaction and never drifts from them. A chunk is six fields — its
name, qualified name, path, signature, doc comment and body — so a hit on a
definition's name counts more than a mention in someone else's body, and
`sessions.py` answers "session" through its path. FTS5's bm25() weighs each
field by a column weight (BM25F-like: the weighted term counts share one
length normalisation, k1 = 1.2, b = 0.75).

Text is pre-tokenised in Python (`terms`): identifiers split the way people say
them, then lightly stemmed (`tokens.stem`), so `parse config` meets
`parseConfig`, `parse_config` and `ConfigParser`. Whenever what a row holds
changes, LEXICAL_VERSION changes and IndexDB rebuilds the table from the
chunks on its next open (no re-embedding).
"""

from __future__ import annotations

import sqlite3
from dataclasses import astuple, dataclass
from pathlib import PurePosixPath
from typing import Iterable

from codequarry.domain import Chunk
from codequarry.search.tokens import STOPWORDS, tokenize

COLUMNS = ("name", "qualname", "path", "signature", "doc", "body")
# Bump when lexical_row or terms change what is stored: indexes rebuild their lexical table.
LEXICAL_VERSION = "2"
MAX_QUERY_TOKENS = 64
TOKENIZER = "unicode61 tokenchars '_'"


@dataclass(frozen=True, slots=True)
class FieldWeights:
    """FTS5 bm25() column weights, in COLUMNS order. Chosen on dev data by bench/ranking_tune.py
    (CoSQA dev, stdlib fixture dev, 8 dev repositories); bench/ranking_ablation.py reports each."""

    name: float = 12.0
    qualname: float = 4.0
    path: float = 6.0
    signature: float = 1.0
    doc: float = 3.0
    body: float = 1.0

    def as_tuple(self) -> tuple[float, ...]:
        return astuple(self)


DEFAULT_FIELDS = FieldWeights()
# Stemming of stored and query tokens (tokens.stem).
STEM = True


def terms(text: str, *, stem_tokens: bool = STEM, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """Tokens as stored and queried: identifier parts (stemmed) plus whole compound identifiers."""
    return tokenize(text, stopwords=stopwords, stemmed=stem_tokens)


def path_text(path: str) -> str:
    """Folders and file stem, not the extension (`src/requests/sessions.py` → `src requests sessions`)."""
    p = PurePosixPath(path)
    return " ".join([*p.parent.parts, p.stem])


def lexical_row(chunk: Chunk, *, stem_tokens: bool = STEM) -> tuple[str, ...]:
    """The six fields of a chunk, in COLUMNS order."""
    none = frozenset()

    def j(text: str, stopwords=STOPWORDS) -> str:
        return " ".join(terms(text, stem_tokens=stem_tokens, stopwords=stopwords))

    # A file window is named after its file and "qualified" by its path: that is the path field's job.
    window = chunk.kind == "window" and chunk.qualname == chunk.file
    return (
        "" if window else j(chunk.name, none),
        "" if window else j(chunk.qualname, none),
        j(path_text(chunk.file), none),
        j(chunk.signature),
        j(chunk.doc),
        j(chunk.code),
    )


def body_row(text: str, *, stem_tokens: bool = STEM) -> tuple[str, ...]:
    """A document with no structure (a BEIR corpus row): everything is body."""
    return ("", "", "", "", "", " ".join(terms(text, stem_tokens=stem_tokens)))


def match_expression(query: str, *, stem_tokens: bool = STEM) -> str | None:
    seen = list(dict.fromkeys(terms(query, stem_tokens=stem_tokens)))
    if not seen:
        return None
    return " OR ".join(f'"{t}"' for t in seen[:MAX_QUERY_TOKENS])


def search(
    conn: sqlite3.Connection, query: str, k: int, *, weights: FieldWeights | tuple[float, ...] = DEFAULT_FIELDS,
    table: str = "lexical", stem_tokens: bool = STEM,
) -> list[tuple[int, float]]:
    """Best k (rowid, score) pairs, higher is better. Scores are BM25 (FTS5 negates them; we don't)."""
    expr = match_expression(query, stem_tokens=stem_tokens)
    if expr is None:
        return []
    w = weights.as_tuple() if isinstance(weights, FieldWeights) else tuple(weights)
    marks = ", ".join("?" * len(w))
    rows = conn.execute(
        f"SELECT rowid, -bm25({table}, {marks}) AS s FROM {table} WHERE {table} MATCH ? ORDER BY s DESC LIMIT ?",
        (*w, expr, k),
    ).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]


def create_table(conn: sqlite3.Connection, table: str = "lexical") -> None:
    """For corpora outside a repository index (BEIR sets, the bench): same schema, same scoring."""
    conn.execute(f'CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5({", ".join(COLUMNS)}, tokenize = "{TOKENIZER}")')


def insert_rows(conn: sqlite3.Connection, rows: Iterable[tuple[int, tuple[str, ...]]], table: str = "lexical") -> None:
    conn.executemany(
        f"INSERT INTO {table} (rowid, {', '.join(COLUMNS)}) VALUES (?, {', '.join('?' * len(COLUMNS))})",
        ((rowid, *fields) for rowid, fields in rows),
    )


def rebuild(conn: sqlite3.Connection, chunks: Iterable[tuple[int, Chunk]], table: str = "lexical") -> int:
    """Refill the table from the chunks (inside the caller's transaction); returns the row count."""
    conn.execute(f"DELETE FROM {table}")
    n = 0

    def rows():
        nonlocal n
        for cid, c in chunks:
            n += 1
            yield cid, lexical_row(c)

    insert_rows(conn, rows(), table)
    return n
