"""LoRA adapters with peft on a sentence-transformers model: wrap, save, merge, load.

The adapter folder format, and its merge for inference without peft, live in
`codequarry.embed.adapter`; this module is the training side.
"""

from __future__ import annotations

import json
from pathlib import Path

from codequarry.embed.adapter import ADAPTER_META, adapter_meta, resolve_base
from codequarry.embed.st_backend import embedding_dim


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
            "dim": embedding_dim(model), **(extra or {})}
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


def load_model(source: str, max_seq_length: int | None = None):
    """A SentenceTransformer from any model source a recipe may name: preset, `package:` source,
    sentence-transformers folder, hub id or adapter folder. A failure is one model error (exit 6),
    not the loader's traceback: recipes name models by hand, and typos happen."""
    from sentence_transformers import SentenceTransformer

    from codequarry.embed.adapter import is_adapter_folder
    from codequarry.errors import ModelUnavailableError, QuarryError

    try:
        if is_adapter_folder(source):
            model = load_adapter_model(source)
        else:
            model = SentenceTransformer(resolve_base(source), device="cpu")
    except QuarryError:
        raise
    except Exception as exc:  # missing folder, broken weights, unreachable hub: all mean "cannot load"
        raise ModelUnavailableError(f"cannot load model '{source}' ({type(exc).__name__}: {exc})") from exc
    if max_seq_length:
        model.max_seq_length = max_seq_length
    return model


def load_adapter_model(adapter_dir: str | Path, *, base: str | None = None, device: str = "cpu", merged: bool = True):
    """SentenceTransformer = the base model named in quarry-adapter.json + this adapter (merged for speed)."""
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer

    adapter_dir = Path(adapter_dir)
    meta, base = adapter_meta(adapter_dir, base)
    model = SentenceTransformer(resolve_base(base), device=device)
    holder, attr = _backbone_holder(model)
    setattr(holder, attr, PeftModel.from_pretrained(getattr(holder, attr), str(adapter_dir)))
    if merged:
        merge(model)
    if meta.get("max_seq_length"):
        model.max_seq_length = int(meta["max_seq_length"])
    model.eval()
    return model
