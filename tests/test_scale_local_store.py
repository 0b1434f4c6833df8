"""SQLite + FAISS as an org store (store/local.py): what only it promises.

Its lexical leg scores exactly as the single-repository index does, and its FAISS file is a checked cache
of the vectors in SQLite: a process killed mid-run, a stale or damaged file, or a write by another handle
never makes dense search disagree with the rows.
"""

import signal
import sqlite3
import subprocess
import sys
import textwrap

import faiss
import numpy as np
import pytest

from codequarry.domain import Chunk
from codequarry.search import lexical
from codequarry.store.base import ChunkRow, StoreFilter
from codequarry.store.local import LocalStore, vector_file

DIM = 4
Q = np.array([1, 0, 0, 0], dtype=np.float32)


def _rows(prefix: str, n: int, repo: str = "r"):
    rng = np.random.default_rng(len(prefix) + n)
    out = []
    for i in range(n):
        c = Chunk(file=f"{prefix}/m{i}.py", language="python", kind="function", name=f"{prefix}_fn{i}",
                  qualname=f"{prefix}_fn{i}", line_start=1, line_end=2, code=f"def {prefix}_fn{i}(): return {i}")
        v = rng.normal(size=DIM).astype(np.float32)
        out.append(ChunkRow(f"{prefix}-{i}", repo, c, f"h{prefix}{i}", v / np.linalg.norm(v)))
    return out


def _all_dense(store):
    return set(store.dense(Q, 10_000, StoreFilter()))


def _child(path, body: str) -> int:
    """Run `body` in a fresh interpreter with `store` open on `path`; it ends by SIGKILL, not close()."""
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        from codequarry.store.base import StoreFilter
        from codequarry.store.local import LocalStore
        from test_scale_local_store import _rows
        store = LocalStore({str(path)!r})
        store.bind("hash", {DIM})
    """) + textwrap.dedent(body) + "\nos.kill(os.getpid(), signal.SIGKILL)\n"
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), *sys.path])}
    return subprocess.run([sys.executable, "-c", script], env=env, timeout=120).returncode


def test_lexical_scores_match_the_single_repository_index(tmp_path):
    """Same six fields, same tokens, same bm25() weights: one repository scores as `quarry index` does."""
    rows = _rows("upload", 3) + _rows("retry_parse", 2)
    store = LocalStore(str(tmp_path / "org.sqlite"))
    store.bind("hash", DIM)
    store.add(rows)
    conn = sqlite3.connect(":memory:")
    lexical.create_table(conn)
    lexical.insert_rows(conn, [(i + 1, lexical.lexical_row(r.chunk)) for i, r in enumerate(rows)])
    for query in ("upload fn", "retry parse", "fn1"):
        single = {rows[n - 1].id: s for n, s in lexical.search(conn, query, 10)}
        assert single and store.lexical(query, 10, StoreFilter()) == pytest.approx(single)
    store.close()


def test_killed_writer_leaves_vectors_that_match_the_rows(tmp_path):
    path = tmp_path / "org.sqlite"
    store = LocalStore(str(path))
    store.bind("hash", DIM)
    store.add(_rows("old", 20))
    store.close()  # a FAISS file for these 20 rows
    assert vector_file(path).exists()
    rc = _child(path, """
        store.add(_rows("new", 5))
        store.delete(["old-0", "old-1"])
        store.dense(np.array([1, 0, 0, 0], np.float32), 3, StoreFilter())  # loaded, then stale in memory
    """)
    assert rc == -signal.SIGKILL
    store = LocalStore(str(path), create=False)
    try:
        ids = set(store.stored_hashes("r"))
        assert len(ids) == 23 and "new-4" in ids and "old-0" not in ids
        assert _all_dense(store) == ids  # the stale file was not trusted
    finally:
        store.close()
    store = LocalStore(str(path), create=False)  # close() wrote a file for the 23 rows: it loads
    try:
        assert _all_dense(store) == ids
    finally:
        store.close()


def test_killed_first_run_leaves_a_usable_store(tmp_path):
    path = tmp_path / "org.sqlite"
    assert _child(path, 'for i in range(4):\n    store.add(_rows(f"b{i}", 3))\n') == -signal.SIGKILL
    assert not vector_file(path).exists()
    store = LocalStore(str(path), create=False)
    try:
        assert len(store.stored_hashes("r")) == 12 and _all_dense(store) == set(store.stored_hashes("r"))
    finally:
        store.close()


@pytest.mark.parametrize("damage", ["truncate", "other_index", "delete"])
def test_damaged_or_swapped_vector_file_is_rebuilt(tmp_path, damage):
    path = tmp_path / "org.sqlite"
    rows = _rows("x", 10)
    store = LocalStore(str(path))
    store.bind("hash", DIM)
    store.add(rows)
    store.close()
    vf = vector_file(path)
    if damage == "truncate":
        vf.write_bytes(vf.read_bytes()[:50])
    elif damage == "other_index":  # a valid FAISS file, as a kill between file and record would leave
        other = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
        other.add_with_ids(np.eye(DIM, dtype=np.float32), np.arange(100, 104, dtype=np.int64))
        vf.write_bytes(faiss.serialize_index(other).tobytes())
    else:
        vf.unlink()
    store = LocalStore(str(path), create=False)
    try:
        want = max(rows, key=lambda r: float(r.vector @ Q)).id
        assert _all_dense(store) == {r.id for r in rows}
        assert next(iter(store.dense(Q, 1, StoreFilter()))) == want
    finally:
        store.close()


def test_a_long_lived_reader_sees_another_handles_writes(tmp_path):
    path = str(tmp_path / "org.sqlite")
    writer = LocalStore(path)
    writer.bind("hash", DIM)
    writer.add(_rows("a", 3))
    reader = LocalStore(path, create=False)
    try:
        assert _all_dense(reader) == {"a-0", "a-1", "a-2"}
        writer.add(_rows("b", 2))
        writer.delete(["a-0"])
        assert _all_dense(reader) == {"a-1", "a-2", "b-0", "b-1"}
    finally:
        reader.close()
        writer.close()


def test_a_sqlite_file_of_something_else_is_refused(tmp_path):
    from codequarry.errors import IndexMismatchError

    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(IndexMismatchError, match="not a codequarry org store"):
        LocalStore(str(other))


def test_a_sqlite_file_with_a_meta_table_of_its_own_is_left_alone(tmp_path):
    from codequarry.errors import IndexMismatchError

    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    conn.commit()
    with pytest.raises(IndexMismatchError, match="not a codequarry org store"):
        LocalStore(str(other))
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} == {"meta"}

