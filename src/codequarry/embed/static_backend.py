"""Static-embedding backend (Model2Vec): the only module that imports model2vec.

A Model2Vec model is one vector per vocabulary token, distilled from a
transformer by running every token through it once; a text's vector is the
mean of its tokens' vectors. No attention, so encoding costs a tokenizer pass
and a lookup: thousands of chunks a second on two cores, at a measured loss in
quality (bench/speed.py reports both next to the transformer).

Preset sources:

* ``model2vec:<preset>`` distils that (local) preset once into the user cache,
  keyed by the weights' hash and the recipe; distilling needs torch (the
  `models` extra) and takes ~2 minutes on 2 cores, running needs only model2vec.
* ``model2vec:<folder>`` loads a StaticModel saved there.

The recipe is part of what the vectors are: change DISTILL_RECIPE and the
preset must get a new name, or old and new rows would share an embedding cache.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from codequarry.embed.encoder import Progress, normalize
from codequarry.embed.presets import PRESETS, Preset
from codequarry.errors import ModelUnavailableError, QuarryError, require

DISTILL_RECIPE = {"pca_dims": 256, "sif_coefficient": 1e-4, "version": 1}
# model2vec encodes in batches of its own; ours only bound how often progress is reported.
BATCH_SIZE = 2048


def _cache_root() -> Path:
    from codequarry.eval.cache import cache_dir

    return cache_dir() / "model2vec"


def static_folder(preset: Preset, *, distill_if_missing: bool = True) -> Path:
    spec = preset.source.removeprefix("model2vec:")
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    base = PRESETS.get(spec)
    if base is None or base.source.startswith(("model2vec:", "builtin:")):
        raise ModelUnavailableError(f"'{preset.name}': '{spec}' is neither a folder nor a transformer preset")
    return ensure_distilled(base, distill_if_missing=distill_if_missing)


def distilled_dir(base: Preset) -> Path:
    from codequarry.embed.onnx_backend import model_folder, read_layout, weights_digest
    from codequarry.eval.cache import slug

    folder = model_folder(base)
    if folder is None:
        raise ModelUnavailableError(f"distilling needs a local model folder; '{base.name}' is a hub id")
    digest = weights_digest(read_layout(folder).weights)[:16]
    r = DISTILL_RECIPE
    return _cache_root() / f"{slug(base.name)}-{digest}-pca{r['pca_dims']}-v{r['version']}"


def ensure_distilled(base: Preset, *, distill_if_missing: bool = True) -> Path:
    target = distilled_dir(base)
    if (target / "model.safetensors").is_file():
        return target
    if not distill_if_missing:
        raise ModelUnavailableError(f"no distilled static model for '{base.name}' in {target}")
    try:
        _distill_locked(base, target)
    except OSError as exc:
        raise ModelUnavailableError(
            f"cannot write the static model to {target} ({exc.strerror or exc}); set QUARRY_CACHE_DIR to a writable folder"
        ) from exc
    return target


def _distill_locked(base: Preset, target: Path) -> None:
    from codequarry.embed.onnx_backend import file_lock, model_folder, one_line

    with file_lock(target.with_name(target.name + ".lock")):
        if (target / "model.safetensors").is_file():
            return
        for module in ("torch", "transformers", "skeletoken"):
            require(module, "models")
        print(f"quarry: distilling a static model from '{base.name}' once (a few minutes), into {target}",
              file=sys.stderr)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        try:
            from model2vec.distill import distill

            model = distill(str(model_folder(base)), pca_dims=DISTILL_RECIPE["pca_dims"],
                            sif_coefficient=DISTILL_RECIPE["sif_coefficient"])
            model.save_pretrained(str(tmp))
            os.replace(tmp, target)
        except QuarryError:
            raise
        except Exception as exc:  # transformers/model2vec raise many types; all mean "no model"
            raise ModelUnavailableError(f"cannot distill a static model from '{base.name}' ({one_line(exc)})") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def load_static(folder: Path):
    """A StaticModel from a local folder.

    Reads the three files itself when they are the plain layout (what `distill`
    writes): StaticModel.from_pretrained imports model2vec's hub machinery
    (huggingface_hub, httpx: ~0.25 s), a third of a cold search. Anything else
    goes through from_pretrained.
    """
    import json

    from model2vec.model import StaticModel

    folder = Path(folder)
    files = [folder / n for n in ("model.safetensors", "tokenizer.json", "config.json")]
    if all(f.is_file() for f in files):
        from safetensors import safe_open
        from tokenizers import Tokenizer

        with safe_open(str(files[0]), framework="numpy") as fh:
            keys = set(fh.keys())
            tensors = {k: fh.get_tensor(k) for k in ("embeddings", "weights", "mapping") if k in keys}
        if "embeddings" in tensors:
            config = json.loads(files[2].read_text())
            return StaticModel(
                vectors=tensors["embeddings"], tokenizer=Tokenizer.from_file(str(files[1])),
                weights=tensors.get("weights"), token_mapping=tensors.get("mapping"), config=config,
                normalize=bool(config.get("normalize", False)), max_length=config.get("max_length", 512),
            )
    return StaticModel.from_pretrained(str(folder), force_download=False)


class StaticEncoder:
    """The Encoder protocol over a Model2Vec StaticModel. Queries and passages share one path."""

    def __init__(self, preset: Preset) -> None:
        from codequarry.embed.onnx_backend import one_line

        require("model2vec", "fast")
        folder = static_folder(preset)
        try:
            self.model = load_static(folder)
        except Exception as exc:  # a missing or foreign folder; the message names it
            raise ModelUnavailableError(
                f"cannot load static model '{preset.name}' from {folder} ({one_line(exc)})"
            ) from exc
        self.preset = preset
        self.folder = folder
        self.name = preset.name
        self.engine = "model2vec"
        self.dim = int(self.model.dim)
        self.max_tokens = preset.max_tokens

    def _encode(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        parts = []
        for start in range(0, len(texts), BATCH_SIZE):
            batch = texts[start : start + BATCH_SIZE]
            # No multiprocessing: a CLI or server process should not fork workers behind the user's back.
            parts.append(self.model.encode(batch, max_length=self.max_tokens, use_multiprocessing=False,
                                           show_progress_bar=False))
            if progress:
                progress(len(batch))
        return normalize(np.concatenate(parts).astype(np.float32, copy=False))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.preset.query_prefix + t for t in texts], None)

    def encode_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self._encode([self.preset.passage_prefix + t for t in texts], progress)
