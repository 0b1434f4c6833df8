"""The Encoder protocol, a deterministic test encoder, and the loader."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from codequarry.embed.presets import Preset, resolve_model

# numpy is imported where it is used: the lexical phase of `quarry index` never needs it.
if TYPE_CHECKING:
    import numpy as np

Progress = Callable[[int], None]


class Encoder(Protocol):
    """Maps texts to L2-normalised float32 rows. Queries and passages may differ (prefixes)."""

    name: str
    dim: int
    max_tokens: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


def normalize(x: np.ndarray) -> np.ndarray:
    import numpy as np

    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


def truncate(x: np.ndarray, dim: int | None) -> np.ndarray:
    """Matryoshka: keep the first `dim` dimensions and renormalise (no-op for None)."""
    if dim is None or dim >= x.shape[1]:
        return x
    return normalize(x[:, :dim])


_WORD = re.compile(r"[A-Za-z0-9]+")


class HashingEncoder:
    """Bag of lower-cased words hashed into `dim` buckets: deterministic, instant, no model.

    Used by tests where the model is not the point; similar texts still get
    similar vectors, so ranking tests are meaningful.
    """

    def __init__(self, dim: int = 256, name: str = "hash") -> None:
        self.name = name
        self.engine = "hash"
        self.dim = dim
        self.max_tokens = 10_000

    def _one(self, text: str) -> np.ndarray:
        import zlib

        import numpy as np

        v = np.zeros(self.dim, dtype=np.float32)
        for w in _WORD.findall(text.lower()):
            v[zlib.crc32(w.encode()) % self.dim] += 1.0
        return v

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        return normalize(np.stack([self._one(t) for t in texts])) if texts else np.zeros((0, self.dim), np.float32)

    def encode_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = self.encode_queries(texts)
        if progress:
            progress(len(texts))
        return out


BACKENDS = ("auto", "torch", "onnx", "openvino")


def load_encoder(model: str | Preset | None = None, backend: str | None = None) -> Encoder:
    """The encoder for a preset. `backend` (else $QUARRY_BACKEND, else auto) picks how a
    transformer runs: `auto` is the model's ONNX export on OpenVINO when that is installed
    (bf16 where the CPU has bf16 units), else on ONNX Runtime, when the export exists or can be
    made; else sentence-transformers on torch. All give the same vectors (cosine >= 0.9999 to
    fp32), so they share the preset's name. Variant presets (`minilm-int8`) always run on ONNX
    Runtime, and static ones (`fast`) on their own backend.
    """
    import importlib.util
    import os

    from codequarry.embed.presets import ONNX_VARIANTS
    from codequarry.errors import QuarryError, UserInputError

    preset = model if isinstance(model, Preset) else resolve_model(model)
    if preset.source == "builtin:hash":
        return HashingEncoder(preset.dim)
    choice = (backend or os.environ.get("QUARRY_BACKEND") or "auto").strip().lower()
    if choice not in BACKENDS:
        raise UserInputError(f"unknown backend '{choice}' (QUARRY_BACKEND: {', '.join(BACKENDS)})")
    if preset.source.startswith("model2vec:"):
        from codequarry.embed.static_backend import StaticEncoder

        return StaticEncoder(preset)  # no transformer: the backend choice does not apply
    variant = ONNX_VARIANTS.get(preset.name)
    if variant is not None:
        if choice in ("torch", "openvino"):
            raise UserInputError(f"'{preset.name}' runs only on ONNX Runtime; unset QUARRY_BACKEND={choice} or use --model minilm")
        from codequarry.embed.onnx_backend import OnnxEncoder

        return OnnxEncoder(preset, variant)
    if choice in ("onnx", "openvino"):
        from codequarry.embed.onnx_backend import OnnxEncoder

        return OnnxEncoder(preset, "fp32", runtime="openvino" if choice == "openvino" else "onnxruntime")
    if choice == "auto":
        from codequarry.embed import onnx_backend

        if onnx_backend.available(preset):
            runtimes = ["onnxruntime"]
            if importlib.util.find_spec("openvino") is not None:
                runtimes.insert(0, "openvino")
            for runtime in runtimes:
                try:
                    return onnx_backend.OnnxEncoder(preset, "fp32", runtime=runtime)
                except QuarryError as exc:
                    import sys

                    # Same vectors either way, so falling back only costs speed; say so.
                    then = "ONNX Runtime" if runtime == "openvino" else "sentence-transformers"
                    print(f"quarry: warning: {exc.format_message()}; using {then}", file=sys.stderr)
    from codequarry.embed.st_backend import SentenceTransformerEncoder

    return SentenceTransformerEncoder(preset)
