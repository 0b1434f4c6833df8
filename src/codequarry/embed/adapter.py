"""LoRA adapter folders as model folders, for both backends.

An adapter folder holds peft's `adapter_config.json` and
`adapter_model.safetensors` (a few MB) plus `quarry-adapter.json`, which
names the base model it goes on top of (a `package:` source, so the shipped
adapter works on the packaged MiniLM offline).

Backends only ever run plain sentence-transformers folders, so an adapter is
merged once into the user cache: the base folder's small files copied, the
weights written with W += (alpha / r) · B·A for every adapted Linear. That
needs numpy and safetensors only (no torch, no peft), and the merged folder
then exports to ONNX like any other model, which keeps the search path free
of torch when the default model is an adapter.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from codequarry.errors import ModelUnavailableError

ADAPTER_META = "quarry-adapter.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
# Bump when the merge recipe changes: old merged folders are then ignored.
MERGE_VERSION = 1


def is_adapter_folder(path: str | Path) -> bool:
    path = Path(path)
    return (path / ADAPTER_CONFIG).is_file() and (path / ADAPTER_META).is_file()


def adapter_meta(adapter_dir: str | Path, base: str | None = None) -> tuple[dict, str]:
    """The adapter's quarry-adapter.json and the base model it goes on (`base` overrides)."""
    meta_path = Path(adapter_dir) / ADAPTER_META
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    base = base or meta.get("base")
    if not base:
        raise ValueError(f"{adapter_dir}: no base model given and no {ADAPTER_META}")
    return meta, base


def resolve_base(base: str) -> str:
    """A `package:` source or preset name → its folder; anything else is returned as is."""
    from codequarry.embed.presets import PRESETS, package_path

    if base.startswith("package:"):
        return str(package_path(base))
    if base in PRESETS:
        return resolve_base(PRESETS[base].source)
    return base


def merged_folder(adapter_dir: str | Path, *, base: str | None = None) -> Path:
    """A sentence-transformers folder = base + adapter, made once in the cache and reused."""
    from codequarry.eval.cache import cache_dir, slug

    adapter_dir = Path(adapter_dir)
    try:
        meta, base = adapter_meta(adapter_dir, base)
        base_dir = Path(resolve_base(base))
        h = hashlib.sha256(f"merge-v{MERGE_VERSION}|{base_dir.resolve()}".encode())
        for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS, ADAPTER_META):
            h.update((adapter_dir / name).read_bytes())
        st = (base_dir / "model.safetensors").stat()
        h.update(f"|{st.st_size}|{st.st_mtime_ns}".encode())
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"cannot read the adapter in {adapter_dir} ({exc})") from exc
    target = cache_dir() / "adapters" / f"{slug(adapter_dir.name, 40)}-{h.hexdigest()[:16]}"
    if (target / "model.safetensors").is_file():
        return target
    from safetensors import SafetensorError

    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(base_dir, tmp, ignore=shutil.ignore_patterns("model.safetensors", "pytorch_model.bin",
                                                                      "*.onnx", "onnx", "README.md"))
        _write_merged_weights(adapter_dir, base_dir / "model.safetensors", tmp / "model.safetensors")
        if meta.get("max_seq_length"):
            cfg_path = tmp / "sentence_bert_config.json"
            cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
            cfg["max_seq_length"] = int(meta["max_seq_length"])
            cfg_path.write_text(json.dumps(cfg, indent=2))
        (tmp / "merged-from.json").write_text(json.dumps({"adapter": str(adapter_dir.resolve()),
                                                           "base": str(base_dir.resolve()), **meta}, indent=1))
        try:
            os.replace(tmp, target)
        except OSError:  # another process merged it first: theirs is the same
            if not (target / "model.safetensors").is_file():
                raise
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        raise ModelUnavailableError(f"cannot merge the adapter {adapter_dir} onto {base_dir} ({exc})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_merged_weights(adapter_dir: Path, base_weights: Path, out: Path) -> None:
    import numpy as np
    from safetensors.numpy import load_file, save_file

    config = json.loads((adapter_dir / ADAPTER_CONFIG).read_text())
    if config.get("use_dora") or config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ValueError("only plain LoRA adapters can be merged (no DoRA, no rank patterns)")
    r = float(config["r"])
    scale = float(config["lora_alpha"]) / (r ** 0.5 if config.get("use_rslora") else r)
    weights = load_file(str(base_weights))
    lora = load_file(str(adapter_dir / ADAPTER_WEIGHTS))
    done = 0
    for key, a in lora.items():
        if ".lora_A." not in key:
            continue
        b = lora[key.replace(".lora_A.", ".lora_B.")]
        path = key.split(".lora_A.")[0].removeprefix("base_model.model.")
        # The base file may or may not carry the architecture prefix (e.g. "bert.").
        name = next((n for n in (f"{path}.weight", f"bert.{path}.weight") if n in weights), None)
        if name is None:
            raise ValueError(f"adapter module '{path}' is not in the base model")
        w = weights[name]
        weights[name] = (w.astype(np.float32) + scale * (b.astype(np.float32) @ a.astype(np.float32))).astype(w.dtype)
        done += 1
    if not done:
        raise ValueError("no LoRA weights found")
    save_file(weights, str(out), metadata={"format": "pt"})
