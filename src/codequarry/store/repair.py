"""Rebuilding a damaged index.db from what can still be read.

Chunks, call edges and the lexical index are cheap to recompute from the
repository, so a repair keeps only what is expensive or chosen by the user:
cached embeddings (each checked against its crc32 and length), slots and the
promoted slot. The new database is built beside the old one; the damaged file
is then kept as `index.db.corrupt` (for a bug report) and the new one moved
into place, so `index.db` is never absent, and a kill at any point leaves
either the damaged index (repaired again by the next forced run) or the new one.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from codequarry.locate import DB_NAME
from codequarry.store.db import REPAIR_HINT, IndexDB

HINT = REPAIR_HINT
ASIDE = DB_NAME + ".corrupt"
_WORK = "repair"


@dataclass(frozen=True, slots=True)
class Salvage:
    embeddings: int = 0
    dropped: int = 0  # rows read but failing their crc or length
    slots: int = 0
    unreadable_ranges: int = 0  # key ranges whose pages could not be read


def rebuild_database(folder: Path, reason: str) -> str:
    """Replace a damaged index.db by a fresh one holding what was readable; one line saying what
    was done. The caller holds the index lock and has closed its own connection."""
    folder = Path(folder)
    work = folder / _WORK
    shutil.rmtree(work, ignore_errors=True)  # leftovers of a repair killed midway
    work.mkdir()
    fresh = IndexDB(work, create=True)
    try:
        kept = salvage(folder / DB_NAME, fresh)
        fresh.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        fresh.close()
    _swap_in(folder, work / DB_NAME)
    shutil.rmtree(work, ignore_errors=True)
    lost = f", {kept.dropped} damaged ones dropped" if kept.dropped else ""
    lost += f", {kept.unreadable_ranges} unreadable key ranges skipped" if kept.unreadable_ranges else ""
    reason = " ".join(reason.split())
    return (f"index.db was damaged ({reason}); kept it as {ASIDE} and rebuilt the index from the repository, "
            f"reusing {kept.embeddings} cached vectors{lost} and {kept.slots} slot(s)")


def _swap_in(folder: Path, new_db: Path) -> None:
    live = folder / DB_NAME
    # The damaged file's WAL must leave first: SQLite would replay it onto the new database.
    for suffix in ("-wal", "-shm"):
        src = folder / (DB_NAME + suffix)
        if src.exists():
            os.replace(src, folder / (ASIDE + suffix))
        else:
            (folder / (ASIDE + suffix)).unlink(missing_ok=True)
    aside = folder / ASIDE
    aside.unlink(missing_ok=True)
    if live.exists():
        try:
            os.link(live, aside)  # the damaged file stays at its name until the new one replaces it
        except OSError:
            shutil.copyfile(live, aside)
    for suffix in ("-wal", "-shm"):  # a clean close leaves none; move them with the file if it did
        if (new_db.parent / (DB_NAME + suffix)).exists():
            os.replace(new_db.parent / (DB_NAME + suffix), folder / (DB_NAME + suffix))
    os.replace(new_db, live)


def salvage(old: Path, fresh: IndexDB) -> Salvage:
    """Copy readable slots and cached embeddings from the database at `old` into `fresh`."""
    try:
        src = sqlite3.connect(f"file:{old}?mode=ro", uri=True, isolation_level=None)
        src.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error:
        return Salvage()
    try:
        slots, default = _read_slots(src)
        with fresh.transaction():
            for s in slots:
                fresh.conn.execute(
                    "INSERT INTO slots (name, model, dim, created, truncate_dim) VALUES (?, ?, ?, ?, ?)", s)
            if default and any(s[0] == default for s in slots):
                fresh.set_meta("default_slot", default)
        dims = {s[1]: s[2] for s in slots if s[2]}
        kept = dropped = unreadable = 0
        has_crc = _has_column(src, "embeddings", "crc")
        for model in _models(src, [s[1] for s in slots]):
            k, d, u = _copy_embeddings(src, fresh, model, dims.get(model), has_crc)
            kept, dropped, unreadable = kept + k, dropped + d, unreadable + u
        return Salvage(kept, dropped, len(slots), unreadable)
    finally:
        src.close()


def _read_slots(src: sqlite3.Connection) -> tuple[list[tuple], str | None]:
    try:
        slots = src.execute("SELECT name, model, dim, created, truncate_dim FROM slots").fetchall()
    except sqlite3.Error:
        slots = []
    try:
        row = src.execute("SELECT value FROM meta WHERE key = 'default_slot'").fetchone()
    except sqlite3.Error:
        row = None
    return slots, row[0] if row else None


def _has_column(src: sqlite3.Connection, table: str, column: str) -> bool:
    try:
        return any(r[1] == column for r in src.execute(f"PRAGMA table_info({table})"))
    except sqlite3.Error:
        return False


def _models(src: sqlite3.Connection, named: list[str]) -> list[str]:
    """Every model in the cache, found by seeking the primary key (a skip-scan touches only the
    pages on the way), so damage elsewhere does not hide them; the slots' models as a fallback."""
    found: list[str] = []
    last = ""
    try:
        while row := src.execute("SELECT model FROM embeddings WHERE model > ? ORDER BY model LIMIT 1",
                                 (last,)).fetchone():
            found.append(row[0])
            last = row[0]
    except sqlite3.Error:
        pass
    return list(dict.fromkeys([*found, *named]))


def _ranges():
    # Text hashes are hex: 256 key ranges, so a damaged page costs only the rows in its range.
    yield "", "00"
    for i in range(256):
        yield f"{i:02x}", f"{i + 1:02x}" if i < 255 else "g"
    yield "g", "\U0010ffff"


def _copy_embeddings(src, fresh: IndexDB, model: str, dim: int | None, has_crc: bool) -> tuple[int, int, int]:
    """Copy one model's readable rows range by range; (kept, dropped as damaged, unreadable ranges)."""
    cols = "text_hash, vector, crc" if has_crc else "text_hash, vector, NULL"
    size = 4 * dim if dim else None
    kept = dropped = unreadable = 0
    for lo, hi in _ranges():
        try:
            rows = src.execute(f"SELECT {cols} FROM embeddings WHERE model = ? AND text_hash >= ? AND text_hash < ?",
                               (model, lo, hi)).fetchall()
        except sqlite3.Error:
            unreadable += 1
            continue
        if size is None and rows:  # a model no slot names: its usual vector length
            size = (Counter(len(r[1]) for r in rows if isinstance(r[1], bytes)).most_common(1) or [(0,)])[0][0]
        good = [(model, h, v, zlib.crc32(v)) for h, v, crc in rows
                if isinstance(v, bytes) and len(v) == size and (crc is None or zlib.crc32(v) == crc)]
        if good:
            with fresh.transaction():
                fresh.conn.executemany(
                    "INSERT OR REPLACE INTO embeddings (model, text_hash, vector, crc) VALUES (?, ?, ?, ?)", good)
        kept, dropped = kept + len(good), dropped + len(rows) - len(good)
    return kept, dropped, unreadable
