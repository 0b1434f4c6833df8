"""The Encoder protocol, a deterministic test encoder, and the loader."""

from __future__ import annotations

import re
from typing import Callable, Protocol, Sequence

import numpy as np

from codequarry.embed.presets import Preset, resolve_model

Progress = Callable[[int], None]


class Encoder(Protocol):
    """Maps texts to L2-normalised float32 rows. Queries and passages may differ (prefixes)."""

    name: str
    dim: int
    max_tokens: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


_WORD = re.compile(r"[A-Za-z0-9]+")


class HashingEncoder:
    """Bag of lower-cased words hashed into `dim` buckets: deterministic, instant, no model.

    Used by tests where the model is not the point; similar texts still get
    similar vectors, so ranking tests are meaningful.
    """

    def __init__(self, dim: int = 256, name: str = "hash") -> None:
        self.name = name
        self.dim = dim
        self.max_tokens = 10_000

    def _one(self, text: str) -> np.ndarray:
        import zlib

        v = np.zeros(self.dim, dtype=np.float32)
        for w in _WORD.findall(text.lower()):
            v[zlib.crc32(w.encode()) % self.dim] += 1.0
        return v

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return normalize(np.stack([self._one(t) for t in texts])) if texts else np.zeros((0, self.dim), np.float32)

    def encode_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = self.encode_queries(texts)
        if progress:
            progress(len(texts))
        return out


def load_encoder(model: str | Preset | None = None) -> Encoder:
    preset = model if isinstance(model, Preset) else resolve_model(model)
    if preset.source == "builtin:hash":
        return HashingEncoder(preset.dim)
    from codequarry.embed.st_backend import SentenceTransformerEncoder

    return SentenceTransformerEncoder(preset)
