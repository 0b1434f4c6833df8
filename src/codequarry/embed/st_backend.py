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
        if folder is None:
            why = hub_unreachable(preset.source)
            if why:
                raise ModelUnavailableError(
                    f"cannot load model '{preset.name}': {why}; "
                    f"without network use an offline preset: --model {', '.join(offline_presets())}")
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
        self.engine = "torch"
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


def hub_unreachable(repo_id: str, *, timeout: float = 3.0) -> str | None:
    """Why the hub cannot serve `repo_id` now, or None when loading should just be tried.

    huggingface_hub retries an unreachable host with back-off for over a minute before it gives
    up; one plain connection decides the same in a fraction of a second. Skipped when the user
    chose offline mode (the library then reads its cache), when the model is cached already, and
    behind a proxy (a direct connection proves nothing there).
    """
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return None
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
            return None
    except Exception:  # not a valid repo id, or an old huggingface_hub: let loading say what is wrong
        return None
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"the Hugging Face hub ({host}) cannot be reached ({exc.strerror or type(exc).__name__})"
    return None


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
