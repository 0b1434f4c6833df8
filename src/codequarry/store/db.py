"""The index database: schema, migrations, and every query the pipeline runs.

One SQLite file in WAL mode, so a search can read while an index run writes,
and a run killed at any point leaves the last committed index intact.
"""

from __future__ import annotations

import datetime as _dt
import errno
import functools
import sqlite3
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, NamedTuple

from codequarry.domain import Chunk
from codequarry.errors import (CorruptIndexError, IndexMismatchError, IndexMissingError, QuarryError, StorageError,
                               UserInputError)
from codequarry.locate import DB_NAME
from codequarry.search import lexical
from codequarry.store.migrations import MIGRATIONS

# numpy is imported where it is used: the lexical phase of `quarry index` never needs it.
if TYPE_CHECKING:
    import numpy as np

FORMAT = "codequarry-index"
DEFAULT_SLOT = "default"

_CHUNK_COLS = (
    "c.id, f.path, c.language, c.kind, c.name, c.qualname, c.signature, c.doc, c.parent, "
    "c.line_start, c.line_end, c.code"
)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Placement(NamedTuple):
    """Where a chunk is, without its code: what embed/select.py decides on."""

    file: str
    qualname: str
    parent: str
    line_start: int
    line_end: int
    text_hash: str


def row_to_chunk(row) -> Chunk:
    return Chunk(
        file=row[1], language=row[2], kind=row[3], name=row[4], qualname=row[5], signature=row[6],
        doc=row[7], parent=row[8], line_start=row[9], line_end=row[10], code=row[11],
    )


class IndexDB:
    """A handle on one index folder. `create=True` makes it if missing."""

    def __init__(self, folder: Path, *, create: bool = False, readonly: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        if not self.path.exists():
            if not create:
                raise IndexMissingError(
                    f"no index at {self.folder}; run 'quarry index' in the repository first"
                )
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise UserInputError(
                    f"{self.folder} is a file, not an index folder; move it away or pass --index-dir"
                ) from None
        try:
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.create_function("quarry_crc32", 1, _crc32, deterministic=True)  # used by migration 006
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = NORMAL")
            self._check_and_migrate(create=create, readonly=readonly)
        except sqlite3.DatabaseError as exc:
            err = storage_error(exc, self.folder)
            if err is exc:
                err = CorruptIndexError(f"{self.path} is not a readable codequarry index ({exc}); {REPAIR_HINT}")
            raise err from exc

    def quick_check(self) -> str | None:
        """SQLite's own structural check (page and b-tree consistency, not cell contents): the
        first problem it reports, or None when the file is sound."""
        rows = [r[0] for r in self.conn.execute("PRAGMA quick_check(1)")]
        if rows == ["ok"]:
            return None
        # Reported as '*** in database main ***\nPage 9: …': keep the error on one line.
        return " ".join(" ".join(rows).replace("*** in database main ***", "").split())

    # -- schema -----------------------------------------------------------------------------
    def _check_and_migrate(self, *, create: bool, readonly: bool) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "_migrations" not in tables:
            raise IndexMismatchError(f"{self.path} is a SQLite file but not a codequarry index")
        if not tables:
            if readonly or not create:
                raise IndexMissingError(f"no index at {self.folder}; run 'quarry index' first")
            self.conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
        done = {r[0] for r in self.conn.execute("SELECT name FROM _migrations")}
        known = [name for name, _ in MIGRATIONS]
        unknown = done - set(known)
        if unknown:
            raise IndexMismatchError(
                f"index was written by a newer codequarry (migration {sorted(unknown)[-1]}); upgrade codequarry"
            )
        pending = [(n, sql) for n, sql in MIGRATIONS if n not in done]
        if pending and readonly:
            raise IndexMismatchError("index needs a schema upgrade; run 'quarry index' once")
        for name, sql in pending:
            with self.transaction():
                for stmt in _statements(sql):
                    self.conn.execute(stmt)
                self.conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, now()))
        if not tables:
            with self.transaction():
                self.set_meta("format", FORMAT)
                self.set_meta("lexical_version", lexical.LEXICAL_VERSION)
            # Made with the index, so a server started while the first run holds the write lock (its
            # whole lexical phase) never has to wait for it.
            self.index_id()
        if self.get_meta("format") != FORMAT:
            raise IndexMismatchError(f"{self.path} is not a codequarry index")
        if not readonly and self.get_meta("lexical_version") != lexical.LEXICAL_VERSION:
            self._rebuild_lexical()

    def _rebuild_lexical(self) -> None:
        """The lexical rows are tokenised in Python: when how they are made changes (a migration,
        LEXICAL_VERSION), refill them from the chunks, once, in one transaction."""
        with self.transaction():
            if self.get_meta("lexical_version") == lexical.LEXICAL_VERSION:
                return  # another process rebuilt it while we waited for the lock
            lexical.rebuild(self.conn, self.iter_chunks())
            self.set_meta("lexical_version", lexical.LEXICAL_VERSION)

    def transaction(self):
        return Transaction(self.conn)

    def close(self) -> None:
        self.conn.close()

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value) -> None:
        self.conn.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )

    def index_id(self) -> str:
        """A random id for this index, made with it (or on first use, for an index older than that) and
        kept for its life: a warm server reports it so a client can tell its own index from a copy's
        (which shares the id but not the path)."""
        found = self.get_meta("index_id")
        if found is None:
            import secrets

            with self.transaction():  # OR IGNORE: two first users at once keep the same, first id
                self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('index_id', ?)", (secrets.token_hex(16),))
            found = self.get_meta("index_id")
        return found

    @property
    def chunks_generation(self) -> int:
        return int(self.get_meta("chunks_generation", "0"))

    # -- files and chunks -------------------------------------------------------------------
    def files(self) -> dict[str, tuple[int, int, int, str]]:
        """path → (id, size, mtime_ns, hash)."""
        return {
            r[0]: (r[1], r[2], r[3], r[4])
            for r in self.conn.execute("SELECT path, id, size, mtime_ns, hash FROM files")
        }

    def touch_file(self, file_id: int, size: int, mtime_ns: int) -> None:
        self.conn.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, file_id))

    def delete_file(self, file_id: int) -> None:
        ids = [r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE file_id = ?", (file_id,))]
        self.conn.executemany("DELETE FROM lexical WHERE rowid = ?", [(i,) for i in ids])
        self.conn.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def reset_lexical(self) -> None:
        """Empty the lexical index by recreating it (the lexical module's one definition), for runs that
        re-add every chunk: deleting rows one by one costs more and leaves FTS5's old segments,
        with any damage in them, in place."""
        self.conn.execute("DROP TABLE lexical")
        lexical.create_table(self.conn)

    def add_file(
        self, path: str, language: str | None, size: int, mtime_ns: int, hash_: str,
        chunks: list[Chunk], text_hashes: list[str], lexical_rows: list[tuple[str, ...]],
    ) -> None:
        cur = self.conn.execute(
            "INSERT INTO files (path, language, size, mtime_ns, hash) VALUES (?, ?, ?, ?, ?)",
            (path, language, size, mtime_ns, hash_),
        )
        file_id = cur.lastrowid
        ids = [
            self.conn.execute(
                "INSERT INTO chunks (file_id, language, kind, name, qualname, signature, doc, parent, "
                "line_start, line_end, code, text_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (file_id, chunk.language, chunk.kind, chunk.name, chunk.qualname, chunk.signature,
                 chunk.doc, chunk.parent, chunk.line_start, chunk.line_end, chunk.code, th),
            ).lastrowid
            for chunk, th in zip(chunks, text_hashes)
        ]
        self.conn.executemany("INSERT INTO calls VALUES (?, ?)",
                              [(cid, c) for cid, chunk in zip(ids, chunks) for c in chunk.calls])
        lexical.insert_rows(self.conn, zip(ids, lexical_rows))

    def chunk_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def file_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM files").fetchone()[0]

    def chunks_by_id(self, ids: Iterable[int]) -> dict[int, Chunk]:
        ids = list(ids)
        out: dict[int, Chunk] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in self.conn.execute(
                f"SELECT {_CHUNK_COLS} FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN ({marks})",
                part,
            ):
                out[row[0]] = row_to_chunk(row)
        return out

    def iter_chunks(self) -> Iterator[tuple[int, Chunk]]:
        for row in self.conn.execute(f"SELECT {_CHUNK_COLS} FROM chunks c JOIN files f ON f.id = c.file_id ORDER BY c.id"):
            yield row[0], row_to_chunk(row)

    def calls_of(self, chunk_id: int) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT callee FROM calls WHERE chunk_id = ?", (chunk_id,))]

    def filter_ids(self, *, langs=(), kinds=(), path_glob: str | None = None) -> np.ndarray | None:
        """Ids of chunks passing the filters, or None when there are no filters."""
        import numpy as np

        where, args = [], []
        if langs:
            where.append(f"c.language IN ({','.join('?' * len(langs))})")
            args.extend(langs)
        if kinds:
            where.append(f"c.kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        if path_glob:
            where.append("(f.path GLOB ? OR f.path GLOB ?)")
            args.extend([path_glob, f"*/{path_glob}" if not path_glob.startswith("*") else path_glob])
        if not where:
            return None
        rows = self.conn.execute(
            f"SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE {' AND '.join(where)}", args
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    # -- embeddings cache -------------------------------------------------------------------
    # Each row carries the crc32 of its vector: a row damaged on disk is re-embedded rather than
    # copied into a slot's next vector file (whose own checksum would then bless it).
    def missing_embeddings(self, model: str, text_hashes: Iterable[str]) -> set[str]:
        wanted = set(text_hashes)
        have: set[str] = set()
        hashes = list(wanted)
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            marks = ",".join("?" * len(part))
            have.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT text_hash FROM embeddings WHERE model = ? AND text_hash IN ({marks})", [model, *part]
                )
            )
        return wanted - have

    def put_embeddings(self, model: str, text_hashes: list[str], vectors: np.ndarray) -> None:
        import numpy as np

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO embeddings (model, text_hash, vector, crc) VALUES (?, ?, ?, ?)",
                [(model, h, b, zlib.crc32(b)) for h, b in ((h, v.tobytes()) for h, v in zip(text_hashes, vectors))],
            )

    def slot_vectors(self, model: str, dim: int, *, partial: bool = False,
                     without: set[int] | frozenset[int] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, vectors) of every chunk under `model` but those in `without` (left to the lexical
        leg); raises DamagedEmbeddings naming the text hashes whose cached vector is missing or fails
        its crc or length, so none is left out. `partial` (a progressive run, still embedding):
        leave those chunks out instead."""
        import numpy as np

        rows = [r for r in self.conn.execute(
            "SELECT c.id, e.vector, e.crc, c.text_hash FROM chunks c "
            "LEFT JOIN embeddings e ON e.model = ? AND e.text_hash = c.text_hash ORDER BY c.id",
            (model,),
        ) if r[0] not in without]
        size = 4 * dim
        bad = {r[3] for r in rows
               if r[1] is None or len(r[1]) != size or (r[2] is not None and zlib.crc32(r[1]) != r[2])}
        if bad and partial:
            rows = [r for r in rows if r[3] not in bad]
        elif bad:
            raise DamagedEmbeddings(model, bad)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return ids, vecs

    def has_vectors(self, model: str) -> bool:
        """Whether any chunk's text has a cached vector under `model`."""
        return self.conn.execute(
            "SELECT 1 FROM chunks c JOIN embeddings e ON e.model = ? AND e.text_hash = c.text_hash LIMIT 1", (model,)
        ).fetchone() is not None

    def delete_embeddings(self, model: str, text_hashes: Iterable[str]) -> None:
        with self.transaction():
            self.conn.executemany("DELETE FROM embeddings WHERE model = ? AND text_hash = ?",
                                  [(model, h) for h in text_hashes])

    def collect_embeddings(self) -> int:
        """Drop cached vectors (of every model) whose text no chunk has any more; the number dropped.
        Only a run's final transaction calls it: embeddings a killed run paid for are kept until
        a run commits, and by then the ones it reused are referenced again."""
        return self.conn.execute(
            "DELETE FROM embeddings WHERE text_hash NOT IN (SELECT text_hash FROM chunks)"
        ).rowcount

    def unembedded(self, model: str) -> list[tuple[int, str]]:
        """(chunk id, text hash) of chunks with no cached vector under `model`, one per text."""
        return self.conn.execute(
            "SELECT min(c.id), c.text_hash FROM chunks c LEFT JOIN embeddings e "
            "ON e.model = ? AND e.text_hash = c.text_hash WHERE e.text_hash IS NULL GROUP BY c.text_hash",
            (model,),
        ).fetchall()

    def placements(self) -> list[tuple[int, Placement]]:
        return [(r[0], Placement(*r[1:])) for r in self.conn.execute(
            "SELECT c.id, f.path, c.qualname, c.parent, c.line_start, c.line_end, c.text_hash "
            "FROM chunks c JOIN files f ON f.id = c.file_id")]

    def all_text_hashes(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT text_hash FROM chunks")]

    # -- slots ------------------------------------------------------------------------------
    def slots(self) -> list[dict]:
        rows = self.conn.execute(
            "SELECT name, model, dim, generation, chunks_generation, created, truncate_dim, checksum, embedded FROM slots "
            "ORDER BY created, name"
        ).fetchall()
        default = self.default_slot()
        return [
            dict(name=r[0], model=r[1], dim=r[2], generation=r[3], chunks_generation=r[4], created=r[5],
                 truncate_dim=r[6], checksum=r[7], embedded=r[8],
                 default=r[0] == default)
            for r in rows
        ]

    def slot(self, name: str) -> dict | None:
        return next((s for s in self.slots() if s["name"] == name), None)

    def coverage(self, slot: dict | None) -> tuple[int, int]:
        """(chunks the slot's vectors cover, chunks in the index). Equal once `quarry index` has embedded
        everything; until then a hybrid search is dense + lexical over the first, lexical over the rest."""
        total = self.chunk_count()
        if slot is None or not slot["generation"]:
            return 0, total
        return (total if slot.get("embedded") is None else min(slot["embedded"], total)), total

    def default_slot(self) -> str:
        return self.get_meta("default_slot", DEFAULT_SLOT)

    def create_slot(self, name: str, model: str, truncate_dim: int | None = None) -> None:
        check_slot_name(name)
        if self.slot(name):
            raise UserInputError(f"slot '{name}' already exists")
        if truncate_dim is not None and truncate_dim < 8:
            raise UserInputError("--dim must be at least 8")
        with self.transaction():
            self.conn.execute(
                "INSERT INTO slots (name, model, created, truncate_dim) VALUES (?, ?, ?, ?)",
                (name, model, now(), truncate_dim),
            )

    def update_slot(self, name: str, *, model: str, dim: int, generation: int, chunks_generation: int,
                    checksum: str | None = None, embedded: int | None = None) -> None:
        """Point the slot at a new vector generation (creating the slot on its first build);
        `embedded` is how many chunks it covers while a progressive run is embedding, None when all."""
        self.conn.execute(
            "INSERT INTO slots (name, model, dim, generation, chunks_generation, created, checksum, embedded) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET model = excluded.model, "
            "dim = excluded.dim, generation = excluded.generation, "
            "chunks_generation = excluded.chunks_generation, checksum = excluded.checksum, "
            "embedded = excluded.embedded",
            (name, model, dim, generation, chunks_generation, now(), checksum, embedded),
        )

    def promote(self, name: str) -> None:
        if not self.slot(name):
            raise UserInputError(f"no slot named '{name}'")
        with self.transaction():
            self.set_meta("default_slot", name)


class Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception (autocommit connection)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return False
            except sqlite3.Error:
                self._rollback()  # a failed COMMIT (disk full) may leave the transaction open
                raise
        self._rollback()
        return False

    def _rollback(self) -> None:
        # SQLite rolls back by itself after some errors (SQLITE_FULL, SQLITE_IOERR); a second
        # ROLLBACK would then raise and hide the error that matters.
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass


def _crc32(blob) -> int | None:
    return zlib.crc32(blob) if isinstance(blob, bytes) else None


class DamagedEmbeddings(Exception):
    """Cached vectors that are missing or fail their crc: the indexer drops them and embeds those
    texts again."""

    def __init__(self, model: str, text_hashes: set[str]) -> None:
        super().__init__(f"{len(text_hashes)} cached vectors of {model} are missing or damaged")
        self.model, self.text_hashes = model, text_hashes


def unusable_model_hint(slot: dict) -> str:
    """The way out for a slot bound to a model that does not load here."""
    from codequarry.embed.presets import DEFAULT_MODEL

    opt = "" if slot.get("default", True) else f" --slot {slot['name']}"
    if not slot["generation"]:
        return (f"slot '{slot['name']}' is bound to it but was never built: 'quarry index{opt} --model {DEFAULT_MODEL}' "
                "binds it to a model that loads")
    return (f"slot '{slot['name']}' was built with it: rebuild it with a model that loads, "
            f"'quarry index{opt} --force --model {DEFAULT_MODEL}'")


def check_slot_name(name: str) -> None:
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise UserInputError(f"slot name '{name}' must be letters, digits, '-' or '_'")


# SQLite's primary result codes (sqlite3.h) for the errors that are the disk's or the file's fault.
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 11, 13, 14, 26
REPAIR_HINT = "run 'quarry index --force' to rebuild it (cached embeddings that are still readable are kept)"


def storage_error(exc: BaseException, folder: Path) -> BaseException:
    """The one-line QuarryError for a damaged file or a full disk; any other error unchanged."""
    if isinstance(exc, QuarryError):
        return exc
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return StorageError(f"no space left writing the index in {folder}; the previous index is "
                                "intact: free some space and run 'quarry index' again")
        return exc
    if not isinstance(exc, sqlite3.DatabaseError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)  # Python ≥ 3.11
    text = " ".join(str(exc).split())  # one line, whatever SQLite said
    primary = code & 0xFF if code is not None else _SQLITE_IOERR if "disk I/O error" in str(exc) else None
    if primary == _SQLITE_FULL or "disk is full" in text:
        return StorageError(f"disk full writing {Path(folder) / DB_NAME} ({text}); the previous index is intact: "
                            "free some space and run 'quarry index' again")
    if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN) and _nearly_full(folder):
        # SQLite reports some writes a full disk refuses (growing the -shm or WAL, creating the
        # scratch database) as I/O errors or as files it cannot open.
        return StorageError(f"disk full writing {Path(folder) / DB_NAME} ({text}); the previous index is intact: "
                            "free some space and run 'quarry index' again")
    if primary == _SQLITE_IOERR or "disk I/O error" in text:
        return StorageError(f"I/O error on {Path(folder) / DB_NAME} ({text}); the previous index is intact "
                            "if the disk is: check it and run 'quarry index' again")
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or type(exc) is sqlite3.DatabaseError \
            or "malformed" in text or "not a database" in text:
        return CorruptIndexError(f"{Path(folder) / DB_NAME} is damaged ({text}); {REPAIR_HINT}")
    return exc


def _nearly_full(folder: Path) -> bool:
    import shutil

    try:
        return shutil.disk_usage(folder).free < 4 << 20
    except OSError:
        return False


def guarded(method):
    """Decorator for methods of objects holding an IndexDB as `.db` (Searcher, the warm server):
    a damaged database or a full disk becomes the one-line error naming the fix, not a traceback."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.DatabaseError, OSError) as exc:
            err = storage_error(exc, getattr(getattr(self, "db", None), "folder", Path(".quarry")))
            if err is exc:
                raise
            raise err from exc

    return wrapper


def _statements(sql: str) -> list[str]:
    # The migrations hold no semicolons inside literals, so a split is safe.
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]
