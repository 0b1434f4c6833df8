"""The ChunkStore protocol, held to the same contract by every store: Milvus Lite and SQLite + FAISS.

Real engines, tiny data: a handful of chunks with hand-made vectors, so each expectation is exact.
"""

import numpy as np
import pytest

from codequarry.domain import Chunk
from codequarry.errors import IndexMismatchError, IndexMissingError, UserInputError
from codequarry.store.base import ChunkRow, FileState, StoreFilter, chunk_id

DIM = 4


def _milvus_ready() -> bool:
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError:
        return False
    return True


STORES = [
    "local",
    pytest.param("milvus", marks=[
        pytest.mark.scale, pytest.mark.skipif(not _milvus_ready(), reason="the 'scale' extra is not installed")]),
]


def _open(kind: str, folder, name: str = "org", create: bool = True):
    from codequarry.store.open import open_store

    return open_store(str(folder / f"{name}.{'sqlite' if kind == 'local' else 'db'}"), create=create)


@pytest.fixture(params=STORES)
def kind(request):
    return request.param


@pytest.fixture
def store(kind, tmp_path):
    s = _open(kind, tmp_path)
    s.bind("hash", DIM)
    yield s
    s.close()


def _chunk(file, name, code, language="python", kind="function", line=1):
    return Chunk(file=file, language=language, kind=kind, name=name, qualname=name, line_start=line,
                 line_end=line + 1, code=code)


def _row(repo, chunk, vec, text_hash=None):
    h = text_hash or f"h-{chunk.name}"
    v = np.asarray(vec, dtype=np.float32)
    return ChunkRow(chunk_id(repo, chunk, h), repo, chunk, h, v / np.linalg.norm(v))


# Two repositories; the query vector [1, 0, 0, 0] is nearest to `retry_upload`, then `upload_file`.
ROWS = [
    _row("alpha", _chunk("src/upload.py", "retry_upload", "def retry_upload(): retry the failed upload"),
         [1, 0.1, 0, 0]),
    _row("alpha", _chunk("src/upload.py", "upload_file", "def upload_file(): send a file", line=5), [1, 0.5, 0, 0]),
    _row("alpha", _chunk("util/paths.py", "normalise_path", "def normalise_path(p): collapse slashes"), [0, 1, 0, 0]),
    _row("beta", _chunk("net/retry.go", "RetryRequest", "func RetryRequest() { retry upload }", language="go"),
         [1, 0.3, 0, 0]),
    _row("beta", _chunk("net/header.go", "Header", "type Header struct{}", language="go", kind="struct"), [0, 0, 1, 0]),
]
Q = np.array([1, 0, 0, 0], dtype=np.float32)


def _names(store, scores):
    got = store.fetch(scores)
    return [got[i].chunk.name for i in sorted(scores, key=lambda i: -scores[i])]


def test_rows_round_trip_and_replace_in_place(store):
    assert store.add(ROWS) == len(ROWS)
    got = store.fetch([r.id for r in ROWS])
    assert {i: (s.repo, s.chunk, s.text_hash) for i, s in got.items()} == {r.id: (r.repo, r.chunk, r.text_hash)
                                                                            for r in ROWS}
    assert store.stored_hashes("alpha") == {r.id: r.text_hash for r in ROWS if r.repo == "alpha"}
    assert store.stored_chunks("beta") == {r.id: (r.chunk.file, r.text_hash) for r in ROWS if r.repo == "beta"}
    vecs = store.vectors([ROWS[0].id, "nope"])
    assert list(vecs) == [ROWS[0].id] and np.allclose(vecs[ROWS[0].id], ROWS[0].vector)
    # The same id again replaces the row: no duplicate, the new vector answers.
    moved = ChunkRow(ROWS[2].id, "alpha", ROWS[2].chunk, ROWS[2].text_hash, np.array([1, 0, 0, 0], np.float32))
    store.add([moved])
    assert len(store.stored_hashes("alpha")) == 3
    assert _names(store, store.dense(Q, 1, StoreFilter())) == ["normalise_path"]
    assert store.delete([ROWS[0].id, "nope"]) >= 1 and ROWS[0].id not in store.stored_hashes("alpha")


def test_dense_and_lexical_obey_every_filter(store):
    store.add(ROWS)
    assert _names(store, store.dense(Q, 3, StoreFilter())) == ["retry_upload", "RetryRequest", "upload_file"]
    # A selective filter still fills k from the rows it allows.
    assert _names(store, store.dense(Q, 2, StoreFilter(repos=("beta",)))) == ["RetryRequest", "Header"]
    assert _names(store, store.dense(Q, 5, StoreFilter(langs=("go",), kinds=("struct",)))) == ["Header"]
    assert _names(store, store.dense(Q, 5, StoreFilter(path="util/*.py"))) == ["normalise_path"]
    assert _names(store, store.dense(Q, 5, StoreFilter(path="paths.py"))) == ["normalise_path"]  # a path suffix
    assert store.dense(Q, 5, StoreFilter(repos=("gamma",))) == {}
    lex = store.lexical("retry upload", 10, StoreFilter())
    assert set(_names(store, lex)) >= {"retry_upload", "RetryRequest"}
    assert set(_names(store, store.lexical("retry upload", 10, StoreFilter(repos=("alpha",))))) <= {
        "retry_upload", "upload_file"}
    assert _names(store, store.lexical("retry", 10, StoreFilter(langs=("go",)))) == ["RetryRequest"]
    assert _names(store, store.lexical("slashes", 10, StoreFilter(path="util/*"))) == ["normalise_path"]
    assert store.lexical("slashes", 10, StoreFilter(repos=("beta",))) == {}


def test_delete_repository_leaves_the_others(store):
    store.add(ROWS)
    store.set_repository("alpha", "/src/alpha", 3, files=[FileState("src/upload.py", 10, 1, "fa")], parser="p")
    store.set_repository("beta", "/src/beta", 2, files=[FileState("net/retry.go", 20, 2, "fb")], parser="p")
    beta = store.stored_hashes("beta")
    assert store.delete_repository("alpha") == 3
    assert store.stored_hashes("alpha") == {} and store.file_states("alpha") == {}
    assert store.stored_hashes("beta") == beta and list(store.file_states("beta")) == ["net/retry.go"]
    assert list(store.repositories()) == ["beta"]
    assert {store.fetch([i])[i].repo for i in store.dense(Q, 5, StoreFilter())} == {"beta"}
    assert store.lexical("retry upload", 10, StoreFilter(repos=("alpha",))) == {}


def test_file_states_are_upserted_and_forgotten(store):
    a, b = FileState("a.py", 1, 100, "ha"), FileState("b.py", 2, 200, "hb")
    store.set_repository("alpha", "/src/alpha", 0, files=[a, b], parser="p1")
    assert store.file_states("alpha") == {"a.py": a, "b.py": b}
    a2 = FileState("a.py", 3, 300, "ha2")
    store.set_repository("alpha", "/src/alpha", 0, files=[a2], gone=["b.py"], parser="p2")
    assert store.file_states("alpha") == {"a.py": a2}
    assert store.repositories()["alpha"]["parser"] == "p2"
    assert store.file_states("beta") == {}


def test_bind_keeps_the_model_and_refuses_another(kind, tmp_path):
    s = _open(kind, tmp_path)
    assert s.model is None
    s.bind("hash", DIM)
    s.add(ROWS[:1])
    s.close()
    s = _open(kind, tmp_path, create=False)
    try:
        assert (s.model, s.dim) == ("hash", DIM)
        s.bind("hash", DIM)  # the same binding is fine
        with pytest.raises(IndexMismatchError, match="holds vectors of model 'hash'"):
            s.bind("minilm", 384)
        assert list(s.dense(Q, 3, StoreFilter())) == [ROWS[0].id]  # reopened: vectors still answer
    finally:
        s.close()


def test_missing_store_is_not_created_by_a_reader(kind, tmp_path):
    with pytest.raises(IndexMissingError, match="no store at"):
        _open(kind, tmp_path / "nowhere", create=False)
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("uri, want", [
    ("http://milvus:19530", "milvus"), ("tcp://10.0.0.1:19530", "milvus"), ("~/org.db", "milvus"),
    ("/data/org.sqlite", "local"), ("org.sqlite", "local"),
])
def test_store_kind_from_the_uri(uri, want):
    from codequarry.store.open import store_kind

    assert store_kind(uri) == want


def test_unknown_store_form_is_a_one_line_error():
    from codequarry.store.open import open_store

    with pytest.raises(UserInputError, match=r"--store 'org\.txt' is not .*\*\.sqlite"):
        open_store("org.txt")
