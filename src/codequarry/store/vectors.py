"""FAISS files, one per slot and generation.

A new generation is written beside the old one before the database commit
that points to it, so a killed run never leaves a slot without a usable file.
"""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

from codequarry.errors import CorruptIndexError


def vector_path(folder: Path, slot: str, generation: int) -> Path:
    return Path(folder) / f"vectors-{slot}-{generation}.faiss"


def build(ids: np.ndarray, vectors: np.ndarray, dim: int) -> faiss.Index:
    # Exact inner product: at repository scale (≤ ~100k chunks) a flat scan takes
    # milliseconds, and approximate indexes would cost recall for nothing.
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def write(index: faiss.Index, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    faiss.write_index(index, str(tmp))
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read(path: Path) -> faiss.Index:
    if not path.exists():
        raise CorruptIndexError(f"vector file {path.name} is missing; run 'quarry index --force'")
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise CorruptIndexError(f"vector file {path.name} is unreadable; run 'quarry index --force'") from exc


def remove_stale(folder: Path, slot: str, keep_generation: int) -> None:
    for p in Path(folder).glob(f"vectors-{slot}-*.faiss"):
        if p != vector_path(folder, slot, keep_generation):
            p.unlink(missing_ok=True)
    for p in Path(folder).glob(f"vectors-{slot}-*.tmp"):
        p.unlink(missing_ok=True)


def search(index: faiss.Index, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
    """Top-k (scores, ids) per query; `allowed` restricts to those chunk ids (filters)."""
    k = max(1, min(k, index.ntotal))
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if allowed is None:
        return index.search(queries, k)
    if len(allowed) == 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64)))
    return index.search(queries, k, params=params)
