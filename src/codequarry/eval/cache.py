"""Where evaluation keeps what is expensive to redo: corpus embeddings, fixture repos, indexes.

The cache folder is `$QUARRY_CACHE_DIR`, else `$XDG_CACHE_HOME/codequarry`,
else `~/.cache/codequarry`. Corpus embeddings are keyed by what determines
them: the model (its name, passage prefix and dimension) and a hash of the
exact texts embedded, so a changed corpus or model never reuses stale rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


def cache_dir() -> Path:
    env = os.environ.get("QUARRY_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "codequarry"


def texts_hash(ids: Sequence[str], texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for i, t in zip(ids, texts):
        h.update(str(i).encode("utf-8"))
        h.update(b"\x00")
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x01")
    return h.hexdigest()


def files_hash(paths: Sequence[Path]) -> str:
    """sha256 over the named files' bytes (in the given order), for result provenance."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode())
        h.update(b"\x00")
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return s[-limit:] or "x"


def encoder_key(encoder) -> str:
    """What identifies an encoder's passage vectors."""
    preset = getattr(encoder, "preset", None)
    prefix = getattr(preset, "passage_prefix", "") if preset is not None else ""
    source = getattr(preset, "source", "") if preset is not None else ""
    return f"{encoder.name}|{source}|{prefix}|{encoder.dim}"


def cached_passage_embeddings(
    encoder,
    ids: Sequence[str],
    texts: Sequence[str],
    *,
    folder: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, dict]:
    """Embed `texts` once per (encoder, texts) and keep the matrix as .npy.

    Returns (vectors, info) where info says whether the cache was hit and how
    long embedding took when it was not.
    """
    folder = Path(folder) if folder is not None else cache_dir() / "embeddings"
    corpus = texts_hash(ids, texts)
    key = hashlib.sha256(f"{encoder_key(encoder)}|{corpus}".encode()).hexdigest()[:20]
    stem = f"{slug(encoder.name)}-{key}"
    npy, meta_path = folder / f"{stem}.npy", folder / f"{stem}.json"
    if npy.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            vecs = np.load(npy, allow_pickle=False)
            if vecs.shape == (len(texts), encoder.dim) and meta.get("corpus_hash") == corpus:
                return vecs.astype(np.float32, copy=False), {**meta, "cache_hit": True, "path": str(npy)}
        except (OSError, ValueError):
            pass  # unreadable cache entry: embed again and overwrite it
    start = time.perf_counter()
    vecs = np.ascontiguousarray(encoder.encode_passages(list(texts), progress=progress), dtype=np.float32)
    seconds = time.perf_counter() - start
    folder.mkdir(parents=True, exist_ok=True)
    tmp = npy.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, vecs, allow_pickle=False)
    os.replace(tmp, npy)
    meta = {
        "model": encoder.name, "encoder_key": encoder_key(encoder), "corpus_hash": corpus,
        "rows": len(texts), "dim": int(encoder.dim), "embed_seconds": round(seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    return vecs, {**meta, "cache_hit": False, "path": str(npy)}
