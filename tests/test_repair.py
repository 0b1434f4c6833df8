"""Damage to an index is noticed and repaired; a full disk or a misplaced file is one line.

Each test damages a real index the way a disk, a crash or a user can (truncation, random bytes,
a smashed b-tree page, a full disk) and checks the error names the fix, the fix works, and the
previous index is left intact where a run fails.
"""

import errno
import os
import sqlite3
import zlib

import numpy as np
import pytest

from codequarry.embed.encoder import HashingEncoder
from codequarry.errors import CorruptIndexError, StorageError, UserInputError
from codequarry.indexer import index_repository
from codequarry.search.searcher import Searcher
from codequarry.store import vectors
from codequarry.store.db import IndexDB
from codequarry.serve.search_request import parse_search_request

from conftest import run_cli


def _vector_file(repo):
    db = IndexDB(repo / ".quarry")
    slot = db.slot("default")
    db.close()
    return vectors.vector_path(repo / ".quarry", "default", slot["generation"])


def _top(repo, query="retry failed uploads", mode="dense", k=3):
    s = Searcher.open(repo)
    try:
        return [(r.chunk.file, r.chunk.qualname) for r in s.search(query, k=k, mode=mode)]
    finally:
        s.close()


def _checkpoint(repo):
    conn = sqlite3.connect(repo / ".quarry" / "index.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _smash_root_page(repo, table):
    """Overwrite the b-tree header of `table`'s root page, as a bad sector or stray write would."""
    _checkpoint(repo)
    path = repo / ".quarry" / "index.db"
    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page)
        fh.write(b"\xff" * 12)


# -- vector files: checksummed on load, rebuilt by the next run -----------------------------------

def test_random_bytes_in_a_vector_file_are_caught_on_load(sample_repo):
    index_repository(sample_repo, model="hash")
    path = _vector_file(sample_repo)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = os.urandom(64)  # inside the vectors: faiss itself loads this happily
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError, match=r"checksum mismatch\); run 'quarry index --slot default'"):
        _top(sample_repo)
    stats = index_repository(sample_repo, model="hash")
    assert stats.embedded == 0 and "checksum mismatch" in stats.repaired[0]
    assert _top(sample_repo)[0][1] == "UploadStore.retry_failed_uploads"


def test_a_truncated_vector_file_is_rebuilt_by_the_next_run(sample_repo):
    index_repository(sample_repo, model="hash")
    before = _top(sample_repo)
    path = _vector_file(sample_repo)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 3)
    with pytest.raises(CorruptIndexError, match="damaged or truncated"):
        _top(sample_repo)
    stats = index_repository(sample_repo, model="hash")  # nothing changed in the repository
    assert stats.repaired and stats.embedded == 0
    assert _top(sample_repo) == before
    assert not path.exists()  # the damaged generation is gone, the new one in use


def test_the_warm_server_checks_a_generation_it_reloads(sample_repo):
    from codequarry.serve.server import WarmIndex

    index_repository(sample_repo, model="hash")
    warm = WarmIndex(sample_repo / ".quarry", encoder=HashingEncoder())
    try:
        src = sample_repo / "store.py"
        src.write_text(src.read_text() + "\n\ndef added():\n    return 2\n")
        index_repository(sample_repo, model="hash")
        path = _vector_file(sample_repo)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        with pytest.raises(CorruptIndexError, match="checksum mismatch"):
            warm.search(parse_search_request({"query": "retry failed uploads", "mode": "dense"}))
    finally:
        warm.close()


def test_vector_files_from_before_checksums_still_load_and_get_one(sample_repo):
    index_repository(sample_repo, model="hash")
    conn = sqlite3.connect(sample_repo / ".quarry" / "index.db")
    conn.execute("UPDATE slots SET checksum = NULL")
    conn.commit()
    conn.close()
    before = _top(sample_repo)  # loads unchecked
    stats = index_repository(sample_repo, model="hash")
    assert stats.repaired == [] and stats.embedded == 0
    db = IndexDB(sample_repo / ".quarry")
    assert db.slot("default")["checksum"].startswith("sha256:")
    db.close()
    assert _top(sample_repo) == before


def test_stale_generations_of_one_slot_spare_a_slot_whose_name_extends_it(sample_repo):
    index_repository(sample_repo, model="hash")
    folder = sample_repo / ".quarry"
    other = folder / "vectors-default-x-1.faiss"  # slot 'default-x', generation 1
    other.write_bytes(b"x")
    vectors.remove_stale(folder, "default", keep_generation=99)
    assert other.exists()


# -- cached vectors: crc-checked before they go into a new vector file ----------------------------

def test_a_damaged_cached_vector_is_embedded_again_not_baked_into_the_index(sample_repo):
    index_repository(sample_repo, model="hash")
    conn = sqlite3.connect(sample_repo / ".quarry" / "index.db")
    th, blob = conn.execute(
        "SELECT e.text_hash, e.vector FROM embeddings e JOIN chunks c ON c.text_hash = e.text_hash "
        "WHERE c.name = 'retry_failed_uploads'").fetchone()
    bad = bytearray(blob)
    bad[8:16] = os.urandom(8)
    conn.execute("UPDATE embeddings SET vector = ? WHERE text_hash = ?", (bytes(bad), th))  # crc left as it was
    conn.commit()
    conn.close()
    (sample_repo / "extra.py").write_text("def extra():\n    return 1\n")  # any change rebuilds the vectors
    stats = index_repository(sample_repo, model="hash")
    assert "1 cached vectors of hash were damaged or missing" in stats.repaired[0]
    db = IndexDB(sample_repo / ".quarry")
    cid = db.conn.execute("SELECT id FROM chunks WHERE name = 'retry_failed_uploads'").fetchone()[0]
    index = vectors.read(_vector_file(sample_repo), db.slot("default")["checksum"])
    stored = db.conn.execute("SELECT vector FROM embeddings WHERE text_hash = ?", (th,)).fetchone()[0]
    db.close()
    assert stored == blob  # embedded again, not the damaged bytes
    assert np.array_equal(index.reconstruct(int(cid)), np.frombuffer(blob, dtype=np.float32))


# -- index.db: SQLite's checks, then a rebuild from what is still good ----------------------------

def test_a_damaged_database_is_refused_then_rebuilt_by_force_keeping_the_cache(sample_repo):
    first = index_repository(sample_repo, model="hash")
    before = _top(sample_repo)
    _smash_root_page(sample_repo, "chunks")
    with pytest.raises(CorruptIndexError, match="quarry index --force") as refused:
        index_repository(sample_repo, model="hash")
    assert "\n" not in refused.value.format_message()  # SQLite's report spans lines; the error does not
    stats = index_repository(sample_repo, model="hash", force=True)
    assert "index.db was damaged" in stats.repaired[0]
    assert stats.embedded == 0 and stats.reused == first.chunks  # every cached vector was salvaged
    assert (sample_repo / ".quarry" / "index.db.corrupt").exists()
    assert _top(sample_repo) == before
    assert index_repository(sample_repo, model="hash").repaired == []  # sound again


def test_an_unreadable_database_file_is_rebuilt_by_force(sample_repo):
    index_repository(sample_repo, model="hash")
    _checkpoint(sample_repo)
    path = sample_repo / ".quarry" / "index.db"
    path.write_bytes(b"\x00" * 100 + path.read_bytes()[100:])  # the header is gone
    r = run_cli("index", "--model", "hash", str(sample_repo))
    assert r.returncode == 5 and "quarry index --force" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("index", "--model", "hash", "--force", str(sample_repo))
    assert r.returncode == 0, r.stderr
    assert "quarry: repaired: index.db was damaged" in r.stderr
    assert _top(sample_repo)[0][1] == "UploadStore.retry_failed_uploads"


def test_damage_sqlite_checks_miss_is_caught_in_use_and_repaired_by_force(sample_repo):
    # A damaged lexical index passes quick_check; searching trips on it.
    index_repository(sample_repo, model="hash")
    conn = sqlite3.connect(sample_repo / ".quarry" / "index.db")
    conn.execute("UPDATE lexical_data SET block = x'00ff00ff00ff' WHERE id = 10")  # FTS5 structure record
    conn.commit()
    conn.close()
    with pytest.raises(CorruptIndexError, match="damaged.*quarry index --force"):
        _top(sample_repo, "upload", mode="lexical")
    stats = index_repository(sample_repo, model="hash", force=True)  # trips mid-run, repairs, retries
    assert stats.repaired and stats.embedded == 0
    assert _top(sample_repo, "retry_failed_uploads", mode="lexical")[0][1] == "UploadStore.retry_failed_uploads"


# -- a full disk and a misplaced file: one line, previous index intact ----------------------------

def _limit_pages(monkeypatch, headroom_at_open=None):
    """Cap the database's size on the run's connection (PRAGMA max_page_count): SQLite then fails
    writes with SQLITE_FULL exactly as it does on a full disk."""
    real_init = IndexDB.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        if headroom_at_open is not None:
            pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
            self.conn.execute(f"PRAGMA max_page_count = {pages + headroom_at_open}")

    monkeypatch.setattr(IndexDB, "__init__", init)


def test_disk_full_while_caching_embeddings_is_one_error_and_leaves_the_index(sample_repo, monkeypatch):
    index_repository(sample_repo, model="hash")
    before = _top(sample_repo)
    (sample_repo / "extra.py").write_text("".join(f"def extra_{i}():\n    return {i}\n\n" for i in range(600)))
    _limit_pages(monkeypatch, headroom_at_open=2)
    with pytest.raises(StorageError, match="disk full.*previous index is intact"):
        index_repository(sample_repo, model="hash")
    monkeypatch.undo()
    assert _top(sample_repo) == before
    assert all(f != "extra.py" for f, _ in _top(sample_repo, "extra_7", mode="lexical"))
    assert index_repository(sample_repo, model="hash").files_parsed == 1  # and it recovers


def test_disk_full_in_the_final_transaction_leaves_the_index(sample_repo, monkeypatch):
    from codequarry import indexer

    index_repository(sample_repo, model="hash")
    before = _top(sample_repo)
    (sample_repo / "extra.py").write_text("".join(f"def extra_{i}():\n    return {i}\n\n" for i in range(300)))
    real_update_graph = indexer.update_graph

    def update_graph_then_fill_disk(db, repo, known_facts=None):
        # Inside the lexical phase's transaction (its last writes, the slot's vectors, still to come).
        real_update_graph(db, repo, known_facts)
        pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
        db.conn.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(indexer, "update_graph", update_graph_then_fill_disk)
    with pytest.raises(StorageError, match="disk full"):
        index_repository(sample_repo, model="hash")
    monkeypatch.undo()
    assert _top(sample_repo) == before
    assert sorted(p.name for p in (sample_repo / ".quarry").iterdir() if p.suffix in (".faiss", ".tmp")) == [
        _vector_file(sample_repo).name]  # no half-written generation left behind


def test_disk_full_writing_the_vector_file_leaves_the_index(sample_repo, monkeypatch):
    index_repository(sample_repo, model="hash")
    before = _top(sample_repo)
    (sample_repo / "extra.py").write_text("def extra():\n    return 1\n")

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(StorageError, match="no space left"):
        index_repository(sample_repo, model="hash")
    monkeypatch.undo()
    assert _top(sample_repo) == before
    assert not list((sample_repo / ".quarry").glob("*.tmp"))
    assert index_repository(sample_repo, model="hash").files_parsed == 1


DISK_FULL_CLI = r"""
import sys
from codequarry.store.db import IndexDB
real = IndexDB.__init__
def init(self, *a, **k):
    real(self, *a, **k)
    pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
    self.conn.execute(f"PRAGMA max_page_count = {pages + 2}")
IndexDB.__init__ = init
from codequarry.cli import main
sys.argv = ["quarry", *sys.argv[1:]]
main()
"""


def test_disk_full_is_one_line_on_the_command_line(sample_repo):
    import subprocess
    import sys

    (sample_repo / "extra.py").write_text("".join(f"def extra_{i}():\n    return {i}\n\n" for i in range(600)))
    r = subprocess.run([sys.executable, "-c", DISK_FULL_CLI, "index", "--model", "hash", str(sample_repo)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == StorageError.exit_code == 8
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("quarry:")]
    assert len(lines) == 1 and "disk full" in lines[0] and "Traceback" not in r.stderr


def test_an_index_folder_that_is_a_file_is_one_line(sample_repo):
    (sample_repo / ".quarry").write_text("not a folder")
    with pytest.raises(UserInputError, match="is a file, not an index folder"):
        index_repository(sample_repo, model="hash")
    r = run_cli("index", "--model", "hash", str(sample_repo))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "is a file" in r.stderr


def test_an_io_error_on_a_full_disk_is_reported_as_disk_full(tmp_path, monkeypatch):
    # On a full tmpfs SQLite reports some refused writes (growing -shm or the WAL) as I/O errors.
    import shutil
    from collections import namedtuple

    from codequarry.store.db import storage_error

    err = sqlite3.OperationalError("disk I/O error")
    assert "I/O error on" in storage_error(err, tmp_path).format_message()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(100 << 20, 99 << 20, 1 << 20))
    assert isinstance(storage_error(err, tmp_path), StorageError)
    assert "disk full" in storage_error(err, tmp_path).format_message()


def test_an_index_from_before_checksums_migrates_keeping_its_cache(sample_repo):
    index_repository(sample_repo, model="hash")
    before = _top(sample_repo)
    conn = sqlite3.connect(sample_repo / ".quarry" / "index.db")
    conn.executescript("""
        CREATE TABLE old (model TEXT NOT NULL, text_hash TEXT NOT NULL, vector BLOB NOT NULL,
                          PRIMARY KEY (model, text_hash)) WITHOUT ROWID;
        INSERT INTO old SELECT model, text_hash, vector FROM embeddings;
        DROP TABLE embeddings;
        ALTER TABLE old RENAME TO embeddings;
        ALTER TABLE slots DROP COLUMN checksum;
        DELETE FROM _migrations WHERE name = '006_vector_checksums';
    """)
    conn.close()
    stats = index_repository(sample_repo, model="hash")
    assert stats.embedded == 0 and stats.repaired == []
    db = IndexDB(sample_repo / ".quarry")
    rows = db.conn.execute("SELECT vector, crc FROM embeddings").fetchall()
    assert rows and all(crc == zlib.crc32(v) for v, crc in rows)
    assert db.slot("default")["checksum"].startswith("sha256:")
    db.close()
    assert _top(sample_repo) == before


def test_force_rebuilds_the_lexical_index_from_scratch(sample_repo):
    # FTS5 keeps its old segments when rows are deleted one by one: damage inside one survived
    # a --force run, invisible to quick_check, until a search read that term.
    index_repository(sample_repo, model="hash")
    conn = sqlite3.connect(sample_repo / ".quarry" / "index.db")
    rowid, block = conn.execute("SELECT id, block FROM lexical_data WHERE id > 10 ORDER BY id LIMIT 1").fetchone()
    conn.execute("UPDATE lexical_data SET block = ? WHERE id = ?", (block[:8] + os.urandom(len(block) - 8), rowid))
    conn.commit()
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("INSERT INTO lexical(lexical) VALUES('integrity-check')")
    conn.close()
    index_repository(sample_repo, model="hash", force=True)
    conn = sqlite3.connect(sample_repo / ".quarry" / "index.db")
    conn.execute("INSERT INTO lexical(lexical) VALUES('integrity-check')")  # raises if any damage is left
    conn.close()
    assert _top(sample_repo, "retry_failed_uploads", mode="lexical")[0][1] == "UploadStore.retry_failed_uploads"


def test_the_warm_server_follows_a_repair_that_replaces_the_database(sample_repo):
    """`--force` rebuilds a damaged index.db as a new file: a running server must read the new one,
    not go on answering from (or failing on) the file it opened first."""
    from codequarry.serve.server import WarmIndex

    index_repository(sample_repo, model="hash")
    warm = WarmIndex(sample_repo / ".quarry", encoder=HashingEncoder())
    try:
        _smash_root_page(sample_repo, "chunks")
        (sample_repo / "quota.py").write_text("def enforce_upload_quota(user):\n    return user.quota\n")
        index_repository(sample_repo, model="hash", force=True)
        reply = warm.search(parse_search_request({"query": "enforce upload quota", "mode": "lexical", "k": 3}))
        assert reply["results"][0]["qualname"] == "enforce_upload_quota"
    finally:
        warm.close()


def test_any_command_on_a_damaged_database_is_one_line(sample_repo):
    """Commands other than index and search (slot list, the graph queries) meet damage too."""
    index_repository(sample_repo, model="hash")
    _smash_root_page(sample_repo, "slots")
    out = run_cli("slot", "list", "--repo", str(sample_repo))
    assert out.returncode == CorruptIndexError.exit_code, out.stderr
    assert out.stderr.startswith("quarry: error: ") and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr and "quarry index --force" in out.stderr
