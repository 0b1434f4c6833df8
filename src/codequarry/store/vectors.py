"""FAISS files, one per slot and generation.

A new generation is written beside the old one before the database commit
that points to it, so a killed run never leaves a slot without a usable file.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from codequarry.errors import CorruptIndexError

# numpy and faiss are imported where they are used: the lexical phase of `quarry index` and a search
# that runs before any vector is embedded never need them, and importing them costs ~90 ms.
if TYPE_CHECKING:
    import faiss
    import numpy as np


def vector_path(folder: Path, slot: str, generation: int) -> Path:
    return Path(folder) / f"vectors-{slot}-{generation}.faiss"


def build(ids: np.ndarray, vectors: np.ndarray, dim: int) -> faiss.Index:
    import faiss
    import numpy as np

    # Exact inner product: at repository scale (≤ ~100k chunks) a flat scan takes
    # milliseconds, and approximate indexes would cost recall for nothing.
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def write(index: faiss.Index, path: Path) -> str:
    """Write `index` to `path` (atomically) and return its checksum, which the caller stores with
    the slot in the transaction that points at this file."""
    import faiss

    # Serialised here and written by Python, not faiss.write_index: faiss ignores an error from the
    # final fclose, so a full disk could leave a truncated file behind a successful call.
    data = faiss.serialize_index(index)
    digest = checksum(data)
    tmp = path.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(memoryview(data))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest


def checksum(data) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _fix(slot: str | None) -> str:
    # Every slot's vectors are rebuilt from the embedding cache by a plain run on that slot.
    return f"run 'quarry index{f' --slot {slot}' if slot else ''}' to rebuild it from the cached embeddings"


def damage(path: Path, expected: str | None) -> str | None:
    """Why the vector file at `path` cannot be trusted (missing, unreadable, checksum mismatch), or None."""
    import numpy as np

    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if expected is None:  # written before checksums: it must at least parse
        import faiss

        try:
            faiss.deserialize_index(data)
        except RuntimeError:
            return "unreadable"
        return None
    return None if checksum(data) == expected else "damaged or truncated (checksum mismatch)"


def read(path: Path, expected: str | None = None, *, slot: str | None = None) -> faiss.Index:
    """Load a slot's vectors, checked against the checksum stored with the slot (when it has one)."""
    import faiss
    import numpy as np

    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # one copy in memory, hashed and parsed in place
    except FileNotFoundError:
        raise CorruptIndexError(f"vector file {path.name} is missing; {_fix(slot)}") from None
    if expected is not None and checksum(data) != expected:
        raise CorruptIndexError(f"vector file {path.name} is damaged or truncated (checksum mismatch); {_fix(slot)}")
    try:
        return faiss.deserialize_index(data)
    except RuntimeError as exc:
        raise CorruptIndexError(f"vector file {path.name} is unreadable; {_fix(slot)}") from exc


def _generation_files(folder: Path, slot: str):
    """(generation, path) of the slot's .faiss and .tmp files; the glob alone would also match
    slot 'a-b' when asked for slot 'a'."""
    pattern = re.compile(rf"vectors-{re.escape(slot)}-(\d+)\.(?:faiss|tmp)")
    for p in Path(folder).glob(f"vectors-{slot}-*"):
        if m := pattern.fullmatch(p.name):
            yield int(m.group(1)), p


def next_generation(folder: Path, slot: str, current: int) -> int:
    """A generation number no file on disk has yet: after a repair the database restarts its count,
    and a search may still be reading an old generation's file."""
    return max([current, *(g for g, _ in _generation_files(folder, slot))]) + 1


def remove_stale(folder: Path, slot: str, keep_generation: int) -> None:
    for generation, p in _generation_files(folder, slot):
        if p.suffix == ".tmp" or generation != keep_generation:
            p.unlink(missing_ok=True)


def search(index: faiss.Index, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
    """Top-k (scores, ids) per query; `allowed` restricts to those chunk ids (filters)."""
    import faiss
    import numpy as np

    k = max(1, min(k, index.ntotal))
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if allowed is None:
        return index.search(queries, k)
    if len(allowed) == 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64)))
    return index.search(queries, k, params=params)
