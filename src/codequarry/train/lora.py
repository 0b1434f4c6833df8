"""LoRA adapters with peft on a sentence-transformers model: wrap, save, merge, load.

An adapter folder holds peft's `adapter_config.json` and
`adapter_model.safetensors` (a few MB) plus `quarry-adapter.json`, which
names the base model it goes on top of (a `package:` source, so the shipped
adapter loads on the packaged MiniLM offline) and the pooling/limits to use.
"""

from __future__ import annotations

import json
from pathlib import Path

ADAPTER_META = "quarry-adapter.json"


def _backbone_holder(model):
    """The sentence-transformers Transformer module and the attribute holding the HF model."""
    first = model[0]
    for attr in ("model", "auto_model"):
        if attr in getattr(first, "_modules", {}):
            return first, attr
    raise TypeError("cannot find the transformer inside this sentence-transformers model")


def backbone(model):
    holder, attr = _backbone_holder(model)
    return getattr(holder, attr)


def apply_lora(model, *, r: int = 16, alpha: int = 32, dropout: float = 0.05,
               target_modules: list[str] | tuple[str, ...] = ("query", "key", "value", "dense")):
    """Wrap the model's transformer in a peft LoRA model (in place); returns (model, trainable, total)."""
    from peft import LoraConfig, get_peft_model

    holder, attr = _backbone_holder(model)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules),
                        bias="none")
    peft_model = get_peft_model(getattr(holder, attr), config)
    setattr(holder, attr, peft_model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return model, trainable, total


def is_peft(model) -> bool:
    return hasattr(backbone(model), "peft_config")


def save_adapter(model, folder: str | Path, *, base: str, extra: dict | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    backbone(model).save_pretrained(str(folder))
    # peft records the base as a local path; name it the portable way (e.g. a package: source).
    cfg_path = folder / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = base
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True))
    meta = {"format": "codequarry-lora-adapter", "base": base,
            "max_seq_length": int(model.max_seq_length or 256),
            "dim": _dim(model), **(extra or {})}
    (folder / ADAPTER_META).write_text(json.dumps(meta, indent=1, sort_keys=True))
    return folder


def merge(model):
    """Fold the LoRA weights into the base weights (in place): a plain model again."""
    holder, attr = _backbone_holder(model)
    inner = getattr(holder, attr)
    if hasattr(inner, "merge_and_unload"):
        setattr(holder, attr, inner.merge_and_unload())
    return model


def save_merged(model, folder: str | Path) -> Path:
    """A complete sentence-transformers folder: `quarry index --model FOLDER` uses it as is."""
    folder = Path(folder)
    merge(model)
    model.save(str(folder))
    return folder


def _resolve_base(base: str) -> str:
    if base.startswith("package:"):
        from codequarry.embed.presets import package_path

        return str(package_path(base))
    from codequarry.embed.presets import PRESETS

    if base in PRESETS:
        return _resolve_base(PRESETS[base].source)
    return base


def _adapter_meta(adapter_dir: Path, base: str | None) -> tuple[dict, str]:
    """The adapter's quarry-adapter.json and the base model it goes on (`base` overrides)."""
    meta_path = adapter_dir / ADAPTER_META
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    base = base or meta.get("base")
    if not base:
        raise ValueError(f"{adapter_dir}: no base model given and no {ADAPTER_META}")
    return meta, base


def load_adapter_model(adapter_dir: str | Path, *, base: str | None = None, device: str = "cpu", merged: bool = True):
    """SentenceTransformer = the base model named in quarry-adapter.json + this adapter (merged for speed)."""
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer

    adapter_dir = Path(adapter_dir)
    meta, base = _adapter_meta(adapter_dir, base)
    model = SentenceTransformer(_resolve_base(base), device=device)
    holder, attr = _backbone_holder(model)
    setattr(holder, attr, PeftModel.from_pretrained(getattr(holder, attr), str(adapter_dir)))
    if merged:
        merge(model)
    if meta.get("max_seq_length"):
        model.max_seq_length = int(meta["max_seq_length"])
    model.eval()
    return model


def is_adapter_folder(path: str | Path) -> bool:
    path = Path(path)
    return (path / "adapter_config.json").is_file() and (path / ADAPTER_META).is_file()


def _dim(model) -> int:
    fn = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(fn())


def load_adapter_light(adapter_dir: str | Path, *, base: str | None = None, device: str = "cpu"):
    """Like `load_adapter_model(merged=True)` without peft: W += (alpha / r) · B·A for every adapted Linear.

    Only plain LoRA (no DoRA, no rank patterns) is understood — what `apply_lora` writes. This is
    what the search path uses, so the shipped preset needs torch + sentence-transformers only.
    """
    import torch
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer

    adapter_dir = Path(adapter_dir)
    meta, base = _adapter_meta(adapter_dir, base)
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    if config.get("use_dora") or config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ValueError(f"{adapter_dir}: only plain LoRA adapters load without peft")
    r = float(config["r"])
    scale = float(config["lora_alpha"]) / (r ** 0.5 if config.get("use_rslora") else r)
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    model = SentenceTransformer(_resolve_base(base), device=device)
    modules = dict(backbone(model).named_modules())
    done = 0
    with torch.no_grad():
        for key, a in weights.items():
            if ".lora_A." not in key:
                continue
            b = weights[key.replace(".lora_A.", ".lora_B.")]
            path = key.split(".lora_A.")[0].removeprefix("base_model.model.")
            target = modules.get(path)
            if target is None:
                raise ValueError(f"{adapter_dir}: adapter module '{path}' is not in the base model")
            target.weight += (scale * (b.float() @ a.float())).to(target.weight.dtype)
            done += 1
    if not done:
        raise ValueError(f"{adapter_dir}: no LoRA weights found")
    if meta.get("max_seq_length"):
        model.max_seq_length = int(meta["max_seq_length"])
    model.eval()
    return model
