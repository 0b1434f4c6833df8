"""The scale-out ChunkStore on Milvus, through pymilvus' MilvusClient.

One code path for both deployments: a local `*.db` path opens an embedded
Milvus Lite file (tests, laptops); an `http(s)://` or `tcp://` URI talks to a
Milvus cluster (token from $MILVUS_TOKEN). Each chunk is one row holding its
dense vector and the text of Milvus's own BM25 function, which fills a sparse
field: the lexical leg runs inside Milvus too. Fusion happens above the seam.

Milvus has no multi-statement transactions: an indexing run inserts a
repository's new rows before deleting its stale ones, so a run killed half
way leaves extra rows (never missing ones), and the next run removes them.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from codequarry.domain import Chunk, content_hash
from codequarry.errors import IndexMismatchError, IndexMissingError, QuarryError, StorageError, UserInputError, require
from codequarry.search.lexical import lexical_row
from codequarry.store.base import ChunkRow, FileState, StoredChunk, StoreFilter

CHUNKS = "quarry_chunks"
META = "quarry_meta"  # model binding and one record per repository
FILES = "quarry_files"  # one row per indexed file: what an incremental run compares against the disk
# Milvus VARCHAR limits are in bytes; longer code is cut (the rest of a huge chunk is rarely what matches).
MAX_TEXT_BYTES = 60_000
MAX_NAME_BYTES = 2_000
INSERT_BATCH = 500
_FIELDS = ("id", "repo", "file", "language", "kind", "name", "qualname", "line_start", "line_end", "signature",
           "doc", "parent", "code", "text_hash")
_REMOTE = ("http://", "https://", "tcp://", "grpc://", "unix:")


def _message(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__


@contextmanager
def _milvus_errors(uri: str):
    """Milvus's own failures (server gone, bad request, disk full) as one StorageError line."""
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except MilvusException as exc:
        raise StorageError(f"Milvus store '{uri}': {_message(exc)}") from exc


def _guarded(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with _milvus_errors(self.uri):
            return method(self, *args, **kwargs)

    return wrapper


def is_remote(uri: str) -> bool:
    return uri.startswith(_REMOTE)


def _cut(text: str, limit: int) -> str:
    raw = text.encode("utf-8", "replace")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


def _lit(value: str) -> str:
    """A Milvus string literal (the filter language has no parameters in Milvus Lite)."""
    return json.dumps(value, ensure_ascii=False)


def _like_superset(glob: str) -> str:
    """A LIKE pattern matching at least what the glob does (checked exactly afterwards)."""
    out = []
    i = 0
    while i < len(glob):
        ch = glob[i]
        if ch == "[":  # a class: any one character will do for the superset
            end = glob.find("]", i + 1)
            out.append("%")
            i = end + 1 if end > 0 else len(glob)
            continue
        out.append("%" if ch in "*?%_" else ch)  # % and _ are LIKE wildcards: widen rather than escape
        i += 1
    pattern = "".join(out)
    return pattern if pattern.startswith("%") else "%" + pattern  # `--path x.py` also matches `a/x.py`


def path_matches(path: str, glob: str) -> bool:
    """Same rule as the SQLite path's filter: the glob matches the path, or a path suffix after a slash."""
    return fnmatch.fnmatchcase(path, glob) or (not glob.startswith("*") and fnmatch.fnmatchcase(path, "*/" + glob))


def filter_expression(where: StoreFilter) -> str:
    parts = []
    for field, values in (("repo", where.repos), ("language", where.langs), ("kind", where.kinds)):
        if values:
            parts.append(f"{field} in [{', '.join(_lit(v) for v in values)}]")
    if where.path:
        parts.append(f"file like {_lit(_like_superset(where.path))}")
    return " and ".join(parts)


def _file_key(repo: str, path: str) -> str:
    return content_hash(f"{repo}\x1f{path}")


class MilvusStore:
    """ChunkStore on one Milvus database (a Lite file or a cluster)."""

    def __init__(self, uri: str, *, create: bool = True, index_type: str = "AUTOINDEX") -> None:
        self.uri = uri = str(uri)
        require("pymilvus", "scale")
        if not is_remote(uri):
            require("milvus_lite", "scale")  # pymilvus opens `.db` files through it
            if not uri.endswith(".db"):
                raise UserInputError(f"a local Milvus store is a file ending in .db, not '{uri}'")
            path = Path(uri).expanduser()  # Milvus Lite 3 keeps a folder under this name
            if not create and not path.exists():  # a search must not leave an empty store behind
                raise IndexMissingError(f"no store at {path}; run 'quarry org index PATHS --store {uri}'")
            path.parent.mkdir(parents=True, exist_ok=True)
            uri = str(path.resolve())
        from pymilvus import MilvusClient

        # pymilvus logs every failed call with its traceback; the error reaches the user as one line.
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        try:
            self.client = MilvusClient(uri=uri, token=os.environ.get("MILVUS_TOKEN", ""))
        except Exception as exc:  # pymilvus raises its own hierarchy, and OSError for a bad file
            raise StorageError(f"cannot open Milvus store '{self.uri}': {_message(exc)}") from exc
        self.index_type = index_type
        with _milvus_errors(self.uri):
            self._ensure_meta()
            self._ensure_files()  # stores made before file states get the collection on first open
            if self.client.has_collection(CHUNKS):
                self.client.load_collection(CHUNKS)  # a reopened store's collections start released
            binding = self._meta_get("model")
        self.model: str | None = binding["model"] if binding else None
        self.dim: int | None = binding["dim"] if binding else None

    # -- schema ------------------------------------------------------------------------------
    def _ensure_meta(self) -> None:
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(META):
            self.client.load_collection(META)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=MAX_NAME_BYTES)
        schema.add_field("value", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in each collection
        params = self.client.prepare_index_params()
        params.add_index(field_name="unused", index_type="AUTOINDEX", metric_type="L2")
        self.client.create_collection(META, schema=schema, index_params=params)

    def _ensure_files(self) -> None:
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(FILES):
            self.client.load_collection(FILES)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)  # hash of repo and path
        schema.add_field("repo", DataType.VARCHAR, max_length=MAX_NAME_BYTES)
        schema.add_field("path", DataType.VARCHAR, max_length=MAX_NAME_BYTES)
        schema.add_field("size", DataType.INT64)
        schema.add_field("mtime_ns", DataType.INT64)
        schema.add_field("hash", DataType.VARCHAR, max_length=64)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
        params = self.client.prepare_index_params()
        params.add_index(field_name="unused", index_type="AUTOINDEX", metric_type="L2")
        self.client.create_collection(FILES, schema=schema, index_params=params)

    def _create_chunks(self, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        for name in ("repo", "file", "language", "kind", "name", "qualname", "signature", "parent"):
            schema.add_field(name, DataType.VARCHAR, max_length=MAX_NAME_BYTES)
        schema.add_field("line_start", DataType.INT64)
        schema.add_field("line_end", DataType.INT64)
        schema.add_field("doc", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        schema.add_field("code", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        schema.add_field("text_hash", DataType.VARCHAR, max_length=64)
        # The lexical text is codequarry's own identifier-split, stemmed tokens (its lexical fields), so
        # Milvus's standard analyzer sees `parse http header` for `ParseHTTPHeader`.
        schema.add_field("lexical", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["lexical"],
                                     output_field_names=["sparse"]))
        params = self.client.prepare_index_params()
        params.add_index(field_name="dense", index_type=self.index_type, metric_type="IP")
        params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        self.client.create_collection(CHUNKS, schema=schema, index_params=params)

    def _meta_get(self, key: str):
        rows = self.client.get(META, ids=[key], output_fields=["value"])
        return json.loads(rows[0]["value"]) if rows else None

    def _meta_put(self, key: str, value) -> None:
        self.client.upsert(META, [{"key": key, "value": json.dumps(value), "unused": [0.0, 0.0]}])

    @_guarded
    def bind(self, model: str, dim: int) -> None:
        if self.model is None:
            self._create_chunks(dim)
            self._meta_put("model", {"model": model, "dim": dim})
            self.model, self.dim = model, dim
        elif (self.model, self.dim) != (model, dim):
            raise IndexMismatchError(
                f"the store {self.uri} holds vectors of model '{self.model}' (dim {self.dim}), not '{model}' "
                f"(dim {dim}); index with --model {self.model}, or use another --store"
            )

    @property
    def _has_chunks(self) -> bool:
        return self.model is not None

    # -- writes ------------------------------------------------------------------------------
    @_guarded
    def add(self, rows: Sequence[ChunkRow], *, replace: bool = True) -> int:
        """Write rows; `replace=False` promises their ids are not stored (a plain insert, which
        skips the delete an upsert does first: bench/org_index.py measured the driver's writes as
        most of an index run)."""
        if not rows:
            return 0
        if not self._has_chunks:
            raise AssertionError("bind() the store to a model before adding rows")
        data = [self._row(r) for r in rows]
        write = self.client.upsert if replace else self.client.insert
        for start in range(0, len(data), INSERT_BATCH):
            write(CHUNKS, data[start : start + INSERT_BATCH])
        return len(data)

    @staticmethod
    def _row(r: ChunkRow) -> dict:
        c = r.chunk
        return {
            "id": r.id, "repo": r.repo, "file": _cut(c.file, MAX_NAME_BYTES), "language": c.language,
            "kind": c.kind, "name": _cut(c.name, MAX_NAME_BYTES), "qualname": _cut(c.qualname, MAX_NAME_BYTES),
            "signature": _cut(c.signature, MAX_NAME_BYTES), "parent": _cut(c.parent, MAX_NAME_BYTES),
            "line_start": c.line_start, "line_end": c.line_end, "doc": _cut(c.doc, MAX_TEXT_BYTES),
            "code": _cut(c.code, MAX_TEXT_BYTES), "text_hash": r.text_hash,
            "lexical": _cut("\n".join(lexical_row(c)), MAX_TEXT_BYTES),
            "dense": np.asarray(r.vector, dtype=np.float32).tolist(),
        }

    @_guarded
    def delete(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        if not ids or not self._has_chunks:
            return 0
        for start in range(0, len(ids), INSERT_BATCH):
            self.client.delete(CHUNKS, ids=ids[start : start + INSERT_BATCH])
        return len(ids)

    @_guarded
    def delete_repository(self, repo: str) -> int:
        removed = len(self.stored_hashes(repo))
        if removed:
            self.client.delete(CHUNKS, filter=f"repo == {_lit(repo)}")
        self.client.delete(FILES, filter=f"repo == {_lit(repo)}")
        self.client.delete(META, ids=[f"repo:{repo}"])
        return removed

    # -- reads -------------------------------------------------------------------------------
    def _iterate(self, expr: str, fields: list[str]):
        it = self.client.query_iterator(CHUNKS, batch_size=4096, filter=expr, output_fields=fields)
        try:
            while batch := it.next():
                yield from batch
        finally:
            it.close()

    @_guarded
    def stored_hashes(self, repo: str) -> dict[str, str]:
        if not self._has_chunks:
            return {}
        return {r["id"]: r["text_hash"] for r in self._iterate(f"repo == {_lit(repo)}", ["id", "text_hash"])}

    @_guarded
    def stored_chunks(self, repo: str) -> dict[str, tuple[str, str]]:
        if not self._has_chunks:
            return {}
        return {r["id"]: (r["file"], r["text_hash"])
                for r in self._iterate(f"repo == {_lit(repo)}", ["id", "file", "text_hash"])}

    @_guarded
    def file_states(self, repo: str) -> dict[str, FileState]:
        it = self.client.query_iterator(FILES, batch_size=4096, filter=f"repo == {_lit(repo)}",
                                        output_fields=["path", "size", "mtime_ns", "hash"])
        out: dict[str, FileState] = {}
        try:
            while batch := it.next():
                for r in batch:
                    out[r["path"]] = FileState(r["path"], int(r["size"]), int(r["mtime_ns"]), r["hash"])
        finally:
            it.close()
        return out

    @_guarded
    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        ids = list(ids)
        for start in range(0, len(ids), INSERT_BATCH):
            for r in self.client.get(CHUNKS, ids=ids[start : start + INSERT_BATCH], output_fields=["dense"]):
                out[r["id"]] = np.asarray(r["dense"], dtype=np.float32)
        return out

    @_guarded
    def count(self, repo: str | None = None) -> int:
        if not self._has_chunks:
            return 0
        rows = self.client.query(CHUNKS, filter=f"repo == {_lit(repo)}" if repo else "", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def _search(self, data, field: str, k: int, where: StoreFilter, metric: str) -> dict[str, float]:
        if not self._has_chunks:
            return {}
        # A path glob is pre-filtered as a LIKE superset and checked exactly here, so ask for more.
        limit = min(k * 4 if where.path else k, 16_384)
        hits = self.client.search(CHUNKS, data=[data], anns_field=field, limit=limit, filter=filter_expression(where),
                                  output_fields=["file"] if where.path else [],
                                  search_params={"metric_type": metric})[0]
        out: dict[str, float] = {}
        for h in hits:
            if where.path and not path_matches(h["entity"]["file"], where.path):
                continue
            # Milvus Lite reports BM25 as a negated distance, a cluster as a positive score.
            out[h["id"]] = abs(float(h["distance"])) if metric == "BM25" else float(h["distance"])
            if len(out) == k:
                break
        return out

    @_guarded
    def dense(self, vector: np.ndarray, k: int, where: StoreFilter) -> dict[str, float]:
        return self._search(np.asarray(vector, dtype=np.float32).tolist(), "dense", k, where, "IP")

    @_guarded
    def lexical(self, query: str, k: int, where: StoreFilter) -> dict[str, float]:
        from codequarry.search.lexical import terms

        text = " ".join(terms(query))  # the same tokens the stored lexical text was built from
        return self._search(text, "sparse", k, where, "BM25") if text else {}

    @_guarded
    def fetch(self, ids: Iterable[str]) -> dict[str, StoredChunk]:
        ids = list(ids)
        out: dict[str, StoredChunk] = {}
        if not ids or not self._has_chunks:
            return out
        for start in range(0, len(ids), INSERT_BATCH):
            for r in self.client.get(CHUNKS, ids=ids[start : start + INSERT_BATCH], output_fields=list(_FIELDS)):
                chunk = Chunk(file=r["file"], language=r["language"], kind=r["kind"], name=r["name"],
                              qualname=r["qualname"], line_start=int(r["line_start"]), line_end=int(r["line_end"]),
                              code=r["code"], signature=r["signature"], doc=r["doc"], parent=r["parent"])
                out[r["id"]] = StoredChunk(r["id"], r["repo"], chunk, r["text_hash"])
        return out

    @_guarded
    def repositories(self) -> dict[str, dict]:
        rows = self.client.query(META, filter='key like "repo:%"', output_fields=["key", "value"], limit=16_384)
        return dict(sorted((r["key"][5:], json.loads(r["value"])) for r in rows))

    @_guarded
    def set_repository(self, repo: str, path: str, chunks: int, *, files: Sequence[FileState] = (),
                       gone: Iterable[str] = (), parser: str = "") -> None:
        # No transactions in Milvus: states go in after the chunks and before the record, so a kill
        # leaves states that lag the chunks (the next run re-reads those files), never ones ahead.
        gone = [_file_key(repo, p) for p in gone]
        for start in range(0, len(gone), INSERT_BATCH):
            self.client.delete(FILES, ids=gone[start : start + INSERT_BATCH])
        rows = [{"key": _file_key(repo, f.path), "repo": repo, "path": _cut(f.path, MAX_NAME_BYTES), "size": f.size,
                 "mtime_ns": f.mtime_ns, "hash": f.hash, "unused": [0.0, 0.0]} for f in files]
        for start in range(0, len(rows), INSERT_BATCH):
            self.client.upsert(FILES, rows[start : start + INSERT_BATCH])
        self._meta_put(f"repo:{repo}", {"path": path, "chunks": chunks, "indexed_at": round(time.time(), 3),
                                        "parser": parser})

    def close(self) -> None:
        try:
            self.client.close()
        except QuarryError:
            raise
        except Exception:  # closing a client whose server is gone: nothing left to release
            pass
