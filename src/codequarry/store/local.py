"""The ChunkStore on one machine: one SQLite file plus a FAISS inner-product index beside it.

`quarry org --store PATH.sqlite` uses it: an organisation's repositories on a
laptop with no Milvus at all. The SQLite file is the source of truth — chunks
(with their repository, language, kind and path as columns), their vectors as
blobs, the per-file states of incremental runs, and the same six-field FTS5
lexical table that `quarry index` builds (codequarry.search.lexical), scored
by the same bm25() weights, so lexical scores match the single-repository index.

The FAISS file (`PATH.sqlite.faiss`) is a cache of the vectors. Every write
that changes chunks bumps a version in the same transaction; the file counts
only when the version and checksum recorded with it (meta `vectors`) match
the database and the bytes on disk. Otherwise it is rebuilt from the blobs. A
run killed at any point therefore never serves vectors that disagree with the
rows: the worst case is one rebuild on the next open.

Filters run in SQL and reach FAISS as an IDSelector of the rows they allow,
so a filtered dense top-k is the exact top-k of the allowed rows (over-fetching
then filtering would come back short whenever the filter is selective). The
lexical leg filters by a join in the same query, exact for the same reason.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from codequarry.domain import Chunk
from codequarry.errors import CorruptIndexError, IndexMismatchError, IndexMissingError, QuarryError, StorageError, \
    UserInputError
from codequarry.search import lexical
from codequarry.store.base import ChunkRow, FileState, StoredChunk, StoreFilter
from codequarry.store.db import Transaction

FORMAT = "codequarry-org-store"
SUFFIX = ".sqlite"
_BATCH = 500
_COLS = ("id", "repo", "file", "language", "kind", "name", "qualname", "signature", "doc", "parent", "line_start",
         "line_end", "code", "text_hash")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS repos (name TEXT PRIMARY KEY, record TEXT NOT NULL)",
    # `n` is the FAISS id and the FTS5 rowid; `id` is the caller's stable chunk id.
    "CREATE TABLE IF NOT EXISTS chunks (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, repo TEXT NOT NULL, "
    "file TEXT NOT NULL, language TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, qualname TEXT NOT NULL, "
    "signature TEXT NOT NULL, doc TEXT NOT NULL, parent TEXT NOT NULL, line_start INTEGER NOT NULL, "
    "line_end INTEGER NOT NULL, code TEXT NOT NULL, text_hash TEXT NOT NULL, vector BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS chunks_repo_file ON chunks (repo, file)",
    "CREATE TABLE IF NOT EXISTS files (repo TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, "
    "mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (repo, path)) WITHOUT ROWID",
)


def is_local(uri: str) -> bool:
    return str(uri).endswith(SUFFIX)


def vector_file(path: Path) -> Path:
    return Path(str(path) + ".faiss")


def _guarded(method):
    """SQLite's own failures (disk full, a damaged file, a lock held too long) as one StorageError line."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"SQLite store '{self.uri}': {' '.join(str(exc).split())}") from exc
        except OSError as exc:
            raise StorageError(f"SQLite store '{self.uri}': {exc.strerror or exc}") from exc

    return wrapper


class LocalStore:
    """ChunkStore on one SQLite file (rows, vectors, lexical index) and one FAISS file (a checked cache)."""

    def __init__(self, uri: str, *, create: bool = True) -> None:
        self.uri = str(uri)
        if not is_local(self.uri):
            raise UserInputError(f"a local store is a file ending in {SUFFIX}, not '{uri}'")
        self.path = Path(self.uri).expanduser()
        if not self.path.exists():
            if not create:  # a search must not leave an empty store behind
                raise IndexMissingError(f"no store at {self.path}; run 'quarry org index PATHS --store {uri}'")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path = self.path.resolve()
        self._index = None  # the FAISS index, loaded on the first dense search
        self._version = -1  # the data version self._index holds
        self.model: str | None = None
        self.dim: int | None = None
        self._open()

    @_guarded
    def _open(self) -> None:
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:  # a store that exists is only read here, so searches work on a read-only file
                self._create()
            elif "meta" not in tables or self._meta("format") != FORMAT:
                raise IndexMismatchError(f"{self.path} is a SQLite file but not a codequarry org store")
            binding = self._meta("model")
        except BaseException:
            self.conn.close()
            raise
        if binding:
            binding = json.loads(binding)
            self.model, self.dim = binding["model"], int(binding["dim"])

    def _create(self) -> None:
        with Transaction(self.conn):
            for stmt in _SCHEMA:
                self.conn.execute(stmt)
            lexical.create_table(self.conn)
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('version', '0')")

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                          (key, value))

    def _data_version(self) -> int:
        return int(self._meta("version") or 0)

    def _bump(self) -> None:
        """Inside a write: the rows changed, so any FAISS file written before no longer counts."""
        self.conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")

    @_guarded
    def bind(self, model: str, dim: int) -> None:
        if self.model is None:
            with Transaction(self.conn):
                self._set_meta("model", json.dumps({"model": model, "dim": int(dim)}))
            self.model, self.dim = model, int(dim)
        elif (self.model, self.dim) != (model, dim):
            raise IndexMismatchError(
                f"the store {self.uri} holds vectors of model '{self.model}' (dim {self.dim}), not '{model}' "
                f"(dim {dim}); index with --model {self.model}, or use another --store"
            )

    # -- writes ------------------------------------------------------------------------------
    def _delete_ns(self, ns: list[int]) -> None:
        for start in range(0, len(ns), _BATCH):
            part = ns[start : start + _BATCH]
            marks = ",".join("?" * len(part))
            self.conn.execute(f"DELETE FROM lexical WHERE rowid IN ({marks})", part)
            self.conn.execute(f"DELETE FROM chunks WHERE n IN ({marks})", part)

    def _drop(self, ns: list[int]) -> None:
        """Inside a write: delete chunks `ns`; if there were any, the FAISS file and the loaded index
        no longer count (dropping the loaded one before the commit costs at most a reload)."""
        self._delete_ns(ns)
        if ns:
            self._bump()
            self._index = None

    def _ns(self, ids: list[str]) -> list[int]:
        out: list[int] = []
        for start in range(0, len(ids), _BATCH):
            part = ids[start : start + _BATCH]
            out.extend(r[0] for r in self.conn.execute(
                f"SELECT n FROM chunks WHERE id IN ({','.join('?' * len(part))})", part))
        return out

    @_guarded
    def add(self, rows: Sequence[ChunkRow], *, replace: bool = True) -> int:
        """Write rows, replacing any stored under the same id (`replace` is Milvus's hint; SQLite
        always replaces, at no cost worth skipping)."""
        if not rows:
            return 0
        if self.model is None:
            raise AssertionError("bind() the store to a model before adding rows")
        rows = list({r.id: r for r in rows}.values())
        data = []
        for r in rows:
            vec = np.ascontiguousarray(r.vector, dtype=np.float32).reshape(-1)
            if vec.shape[0] != self.dim:
                raise IndexMismatchError(f"a vector of dimension {vec.shape[0]} for a store of dimension {self.dim}")
            c = r.chunk
            data.append((r.id, r.repo, c.file, c.language, c.kind, c.name, c.qualname, c.signature, c.doc, c.parent,
                         c.line_start, c.line_end, c.code, r.text_hash, vec.tobytes()))
        with Transaction(self.conn):
            self._delete_ns(self._ns([r.id for r in rows]))
            for r, values in zip(rows, data):
                n = self.conn.execute(
                    f"INSERT INTO chunks ({', '.join(_COLS)}, vector) VALUES ({', '.join('?' * (len(_COLS) + 1))})",
                    values).lastrowid
                lexical.insert_rows(self.conn, [(n, lexical.lexical_row(r.chunk))])
            self._bump()
        self._index = None  # rebuilt on the next dense search (or on close)
        return len(rows)

    @_guarded
    def delete(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with Transaction(self.conn):
            ns = self._ns(ids)
            self._drop(ns)
        return len(ns)

    @_guarded
    def delete_repository(self, repo: str) -> int:
        with Transaction(self.conn):
            ns = [r[0] for r in self.conn.execute("SELECT n FROM chunks WHERE repo = ?", (repo,))]
            self._drop(ns)
            self.conn.execute("DELETE FROM files WHERE repo = ?", (repo,))
            self.conn.execute("DELETE FROM repos WHERE name = ?", (repo,))
        return len(ns)

    @_guarded
    def set_repository(self, repo: str, path: str, chunks: int, *, files: Sequence[FileState] = (),
                       gone: Iterable[str] = (), parser: str = "") -> None:
        record = {"path": path, "chunks": chunks, "indexed_at": round(time.time(), 3), "parser": parser}
        with Transaction(self.conn):  # the record and the file states in one transaction
            self.conn.executemany("DELETE FROM files WHERE repo = ? AND path = ?", ((repo, p) for p in gone))
            self.conn.executemany(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?) ON CONFLICT(repo, path) DO UPDATE SET "
                "size = excluded.size, mtime_ns = excluded.mtime_ns, hash = excluded.hash",
                ((repo, f.path, f.size, f.mtime_ns, f.hash) for f in files))
            self.conn.execute("INSERT INTO repos VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                              "record = excluded.record", (repo, json.dumps(record)))

    # -- reads -------------------------------------------------------------------------------
    @_guarded
    def stored_hashes(self, repo: str) -> dict[str, str]:
        return dict(self.conn.execute("SELECT id, text_hash FROM chunks WHERE repo = ?", (repo,)))

    @_guarded
    def stored_chunks(self, repo: str) -> dict[str, tuple[str, str]]:
        return {i: (f, h) for i, f, h in self.conn.execute("SELECT id, file, text_hash FROM chunks WHERE repo = ?",
                                                            (repo,))}

    @_guarded
    def file_states(self, repo: str) -> dict[str, FileState]:
        return {p: FileState(p, s, m, h) for p, s, m, h in
                self.conn.execute("SELECT path, size, mtime_ns, hash FROM files WHERE repo = ?", (repo,))}

    @_guarded
    def count(self, repo: str | None = None) -> int:
        if repo is None:
            return self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return self.conn.execute("SELECT count(*) FROM chunks WHERE repo = ?", (repo,)).fetchone()[0]

    @_guarded
    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        ids = list(ids)
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(ids), _BATCH):
            part = ids[start : start + _BATCH]
            for i, blob in self.conn.execute(
                    f"SELECT id, vector FROM chunks WHERE id IN ({','.join('?' * len(part))})", part):
                out[i] = np.frombuffer(blob, dtype=np.float32).copy()
        return out

    @staticmethod
    def _where(where: StoreFilter) -> tuple[str, list]:
        """SQL over `chunks` for the filter (the same path rule as `quarry search --path`), or ('', [])."""
        parts, args = [], []
        for col, values in (("repo", where.repos), ("language", where.langs), ("kind", where.kinds)):
            if values:
                parts.append(f"{col} IN ({','.join('?' * len(values))})")
                args.extend(values)
        if where.path:
            parts.append("(file GLOB ? OR file GLOB ?)")
            args.extend([where.path, where.path if where.path.startswith("*") else f"*/{where.path}"])
        return " AND ".join(parts), args

    def _vectors(self):
        """The FAISS index for the rows as they are now: this handle's, the file's, or a rebuild."""
        from codequarry.store import vectors as faiss_files

        version = self._data_version()
        if self._index is not None and self._version == version:
            return self._index
        self._index = None
        vfile = vector_file(self.path)
        recorded = json.loads(self._meta("vectors") or "null")
        if recorded and recorded["version"] == version:
            try:
                self._index, self._version = faiss_files.read(vfile, recorded["checksum"]), version
                return self._index
            except CorruptIndexError:  # missing, truncated, or replaced by a racing writer: rebuild below
                pass
        self._index, self._version = self._rebuild()
        self._persist()
        return self._index

    def _rebuild(self):
        from codequarry.store import vectors as faiss_files

        self.conn.execute("BEGIN")  # one snapshot: the version and the vectors it names
        try:
            version = self._data_version()
            ns, blobs = [], []
            for n, blob in self.conn.execute("SELECT n, vector FROM chunks ORDER BY n"):
                ns.append(n)
                blobs.append(blob)
        finally:
            self.conn.execute("COMMIT")
        dim = self.dim or 1
        mat = (np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim) if blobs
               else np.zeros((0, dim), np.float32))
        return faiss_files.build(np.array(ns, dtype=np.int64), mat, dim), version

    def _persist(self) -> None:
        """Write the FAISS file for this handle's index, and record it, under the write lock. A kill
        between the file and the record leaves a checksum mismatch: the next open rebuilds."""
        from codequarry.store import vectors as faiss_files

        if self._index is None:
            return
        try:
            with Transaction(self.conn):
                if self._data_version() != self._version:  # a writer got in first: its close writes the file
                    return
                digest = faiss_files.write(self._index, vector_file(self.path))
                self._set_meta("vectors", json.dumps({"version": self._version, "checksum": digest}))
        except (sqlite3.OperationalError, OSError):
            # Locked past the timeout, read-only folder, full disk: the file stays a cache to rebuild.
            return

    @_guarded
    def dense(self, vector: np.ndarray, k: int, where: StoreFilter) -> dict[str, float]:
        from codequarry.store import vectors as faiss_files

        if self.model is None:
            return {}
        index = self._vectors()
        if index.ntotal == 0:
            return {}
        sql, args = self._where(where)
        allowed = None
        if sql:
            allowed = np.array([r[0] for r in self.conn.execute(f"SELECT n FROM chunks WHERE {sql}", args)],
                               dtype=np.int64)
        q = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        scores, ns = faiss_files.search(index, q, k, allowed)
        found = {int(n): float(s) for s, n in zip(scores[0], ns[0]) if n >= 0}
        ids = self._ids(list(found))
        return {ids[n]: s for n, s in found.items() if n in ids}

    def _ids(self, ns: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for start in range(0, len(ns), _BATCH):
            part = ns[start : start + _BATCH]
            out.update(self.conn.execute(f"SELECT n, id FROM chunks WHERE n IN ({','.join('?' * len(part))})", part))
        return out

    @_guarded
    def lexical(self, query: str, k: int, where: StoreFilter) -> dict[str, float]:
        expr = lexical.match_expression(query)
        if expr is None:
            return {}
        sql, args = self._where(where)
        weights = lexical.DEFAULT_FIELDS.as_tuple()
        marks = ", ".join("?" * len(weights))
        rows = self.conn.execute(
            f"SELECT c.id, -bm25(lexical, {marks}) AS s FROM lexical JOIN chunks c ON c.n = lexical.rowid "
            f"WHERE lexical MATCH ? {'AND ' + sql if sql else ''} ORDER BY s DESC LIMIT ?",
            (*weights, expr, *args, k),
        ).fetchall()
        return {i: float(s) for i, s in rows}

    @_guarded
    def fetch(self, ids: Iterable[str]) -> dict[str, StoredChunk]:
        ids = list(ids)
        out: dict[str, StoredChunk] = {}
        for start in range(0, len(ids), _BATCH):
            part = ids[start : start + _BATCH]
            for r in self.conn.execute(f"SELECT {', '.join(_COLS)} FROM chunks WHERE id IN "
                                       f"({','.join('?' * len(part))})", part):
                chunk = Chunk(file=r[2], language=r[3], kind=r[4], name=r[5], qualname=r[6], signature=r[7], doc=r[8],
                              parent=r[9], line_start=r[10], line_end=r[11], code=r[12])
                out[r[0]] = StoredChunk(r[0], r[1], chunk, r[13])
        return out

    @_guarded
    def repositories(self) -> dict[str, dict]:
        rows = self.conn.execute("SELECT name, record FROM repos ORDER BY name")
        return {name: json.loads(rec) for name, rec in rows}

    def close(self) -> None:
        """Leave a FAISS file that matches the rows, so the next search loads instead of rebuilding."""
        try:
            if self.model is not None and self._data_version() != json.loads(self._meta("vectors") or
                                                                             '{"version": -1}')["version"]:
                if self._index is None or self._version != self._data_version():
                    self._index, self._version = self._rebuild()
                self._persist()
        except QuarryError:
            raise
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"SQLite store '{self.uri}': {' '.join(str(exc).split())}") from exc
        finally:
            self._index = None
            self.conn.close()
