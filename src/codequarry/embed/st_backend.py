"""sentence-transformers backend: the only module that imports it (and torch)."""

from __future__ import annotations


from typing import Sequence

import numpy as np

from codequarry.embed.encoder import Progress, normalize
from codequarry.embed.presets import Preset, model_folder, offline_presets
from codequarry.errors import ModelUnavailableError, require

BATCH_SIZE = 32


class SentenceTransformerEncoder:
    def __init__(self, preset: Preset) -> None:
        st = require("sentence_transformers", "models")
        quiet_transformers()
        folder = model_folder(preset)  # an adapter comes back merged onto its base
        source = str(folder) if folder is not None else preset.source
        try:
            self.model = st.SentenceTransformer(source, device="cpu")
        except Exception as exc:  # hub errors come in many types; all mean "cannot load"
            hint = ", ".join(offline_presets())
            raise ModelUnavailableError(
                f"cannot load model '{preset.name}' ({type(exc).__name__}); "
                f"without network use an offline preset: --model {hint}"
            ) from exc
        self.preset = preset
        self.name = preset.name
        self.dim = embedding_dim(self.model)
        self.max_tokens = min(preset.max_tokens, int(self.model.max_seq_length or preset.max_tokens))
        self.model.max_seq_length = self.max_tokens
        self.tokenizer = self.model.tokenizer

    def _encode(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # Sorting by length keeps padding (wasted FLOPs) low inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            vecs = self.model.encode(
                [texts[i] for i in idx], batch_size=BATCH_SIZE, convert_to_numpy=True,
                normalize_embeddings=True, show_progress_bar=False,
            )
            out[idx] = vecs
            if progress:
                progress(len(idx))
        return normalize(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.preset.query_prefix + t for t in texts], None)

    def encode_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self._encode([self.preset.passage_prefix + t for t in texts], progress)




def embedding_dim(model) -> int:
    """A SentenceTransformer's output size (the method was renamed in sentence-transformers 5)."""
    fn = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(fn())


def quiet_transformers() -> None:
    # Weight-loading bars and info logs are noise in a CLI that draws its own progress.
    import transformers

    transformers.utils.logging.set_verbosity_error()
    # A hub that cannot be reached retries with a log line per attempt; the user gets our one line.
    import huggingface_hub

    huggingface_hub.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
