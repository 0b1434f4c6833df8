"""ONNX Runtime backend: a sentence-transformers model run without torch.

The model is exported once (torch.onnx, needs the `models` extra) into the
user cache, in a folder named after the model folder and a hash of its
weights file (shared by every preset on those weights); running it
needs only onnxruntime and tokenizers (the `fast` extra). Tokenisation,
truncation, pooling and normalisation follow the model's own
sentence-transformers files, so fp32 vectors match sentence-transformers to
within float rounding (tests/test_onnx_backend.py checks cosine >= 0.999).

Two variants live side by side in one cache folder:

* ``fp32``: the exported graph after onnxruntime's transformer fusions
  (fused attention, layer norm, GELU) — same vectors, ~1.6x faster.
* ``int8``: that graph with dynamic per-channel int8 weight quantisation.
  Its vectors differ from fp32 by a few 1e-3 in cosine, so it is only ever
  reached through its own preset name (``minilm-int8``): the name is the
  embedding-cache key, and int8 and fp32 rows must never share a slot.

The fp32 graph runs on ONNX Runtime or, when it is installed, on OpenVINO
(``openvino_runtime.py``), which uses bf16 on CPUs with bf16 matrix units.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from codequarry.embed.encoder import Progress, normalize
from codequarry.embed.presets import Preset, model_folder
from codequarry.errors import MissingExtraError, ModelUnavailableError, QuarryError, require

VARIANTS = ("fp32", "int8")
# Bump when the export recipe changes: old exports are then ignored, never reused.
EXPORT_VERSION = 1
OPSET = 17
# Texts per ONNX run. Batches are cut from length-sorted texts, so padding is small;
# 8 to 64 measured the same within noise on 2 cores.
BATCH_SIZE = 32
FAILED = "export-failed.txt"
_POOLING_MODES = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
}
_ST = "sentence_transformers.models."
_SUPPORTED_MODULES = {_ST + "Transformer", _ST + "Pooling", _ST + "Normalize"}
_PROBE = [
    "def read_config(path):\n    with open(path) as fh:\n        return json.load(fh)",
    "how to sort a dict by value",
    "x",
]


@dataclass(frozen=True, slots=True)
class Layout:
    """What a sentence-transformers folder says about how its vectors are made."""

    folder: Path
    weights: Path
    tokenizer: Path
    pooling: str
    normalize: bool
    max_seq_length: int | None
    do_lower_case: bool


def cache_root() -> Path:
    from codequarry.eval.cache import cache_dir

    return cache_dir() / "onnx"


def read_layout(folder: Path) -> Layout:
    """Parse modules.json / 1_Pooling / sentence_bert_config.json; refuse what we cannot reproduce."""
    try:
        return _read_layout(Path(folder))
    except (OSError, ValueError, TypeError, AttributeError) as exc:  # unreadable or malformed JSON
        raise ModelUnavailableError(f"cannot read the model files in {folder} ({one_line(exc)})") from exc


def _read_layout(folder: Path) -> Layout:
    weights = next((folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).is_file()), None)
    tokenizer = folder / "tokenizer.json"
    if weights is None or not tokenizer.is_file():
        raise ModelUnavailableError(f"{folder} has no model.safetensors/pytorch_model.bin and tokenizer.json")
    pooling, norm = "mean", False
    modules_path = folder / "modules.json"
    if modules_path.is_file():
        modules = json.loads(modules_path.read_text())
        types = [m.get("type", "") for m in modules]
        extra = sorted(set(types) - _SUPPORTED_MODULES)
        if extra or not types or types[0] != _ST + "Transformer" or types[0] in types[1:]:
            raise ModelUnavailableError(
                f"the ONNX backend cannot reproduce module(s) {', '.join(extra) or types} of {folder.name}"
            )
        norm = _ST + "Normalize" in types
        pool = next((m for m in modules if m.get("type") == _ST + "Pooling"), None)
        if pool is not None:
            cfg = json.loads((folder / pool.get("path", "") / "config.json").read_text())
            modes = [v for k, v in _POOLING_MODES.items() if cfg.get(k)]
            unknown = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v and k not in _POOLING_MODES]
            if len(modes) != 1 or unknown:
                raise ModelUnavailableError(f"the ONNX backend cannot reproduce the pooling of {folder.name}")
            pooling = modes[0]
    st_cfg = folder / "sentence_bert_config.json"
    cfg = json.loads(st_cfg.read_text()) if st_cfg.is_file() else {}
    return Layout(folder, weights, tokenizer, pooling, norm, cfg.get("max_seq_length"), bool(cfg.get("do_lower_case")))


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line: errors reach the user as a single line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:limit]}" if text else type(exc).__name__


def _cores() -> int:
    env = os.environ.get("QUARRY_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)  # e.g. 1 on a machine whose cores are busy with other work
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# -- the export cache ---------------------------------------------------------------------------


def weights_digest(weights: Path) -> str:
    """sha256 of the weights file, remembered by (path, size, mtime) so loads do not re-read 90 MB."""
    st = weights.stat()
    key = f"{weights.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    memo_path = cache_root() / "digests.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    if key in memo:
        return memo[key]
    h = hashlib.sha256()
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    memo[key] = h.hexdigest()
    try:
        _atomic_write(memo_path, json.dumps(memo, indent=1))
    except OSError:
        pass  # a read-only cache only costs re-hashing next time
    return memo[key]


def export_dir(layout: Layout) -> Path:
    """One folder per set of weights (named after its model folder), shared by every preset using them."""
    from codequarry.eval.cache import slug

    name = slug(f"{layout.folder.parent.name}-{layout.folder.name}", 60)
    return cache_root() / f"{name}-{weights_digest(layout.weights)[:16]}-v{EXPORT_VERSION}"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextmanager
def file_lock(path: Path):
    # Two processes exporting at once would each pay minutes; the second waits and reuses.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def ensure_export(name: str, layout: Layout, variant: str = "fp32", *, quiet: bool = False) -> Path:
    """Path of the cached ONNX file for `variant`, exporting (once) if it is not there yet."""
    if variant not in VARIANTS:
        raise ModelUnavailableError(f"unknown ONNX variant '{variant}' (choose from {', '.join(VARIANTS)})")
    folder = export_dir(layout)
    target = folder / f"model.{variant}.onnx"
    if target.is_file():
        return target
    try:
        _export_locked(name, layout, folder, variant, quiet)
    except OSError as exc:
        raise ModelUnavailableError(
            f"cannot write the ONNX export to {folder} ({exc.strerror or exc}); set QUARRY_CACHE_DIR to a writable folder"
        ) from exc
    return target


def _export_locked(name: str, layout: Layout, folder: Path, variant: str, quiet: bool) -> None:
    target = folder / f"model.{variant}.onnx"
    with file_lock(folder.with_name(folder.name + ".lock")):
        if target.is_file():
            return
        if not quiet:
            print(f"quarry: exporting '{name}' to ONNX ({variant}) once, into {folder}", file=sys.stderr)
        try:
            _export(layout, folder, variant)
        except MissingExtraError:
            raise
        except QuarryError as exc:
            # Remembered so `auto` does not pay a failing export on every start.
            _atomic_write(folder / FAILED, f"{exc.format_message()}\n")
            raise
        except Exception as exc:  # torch/onnx raise many types; all mean "no usable export"
            _atomic_write(folder / FAILED, f"{type(exc).__name__}: {exc}\n")
            raise ModelUnavailableError(
                f"cannot export '{name}' to ONNX ({one_line(exc)}); "
                "use QUARRY_BACKEND=torch"
            ) from exc


def can_export() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "onnx"))


def _export(layout: Layout, folder: Path, variant: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "model.fp32.onnx"
    if not fp32.is_file():
        _export_fp32(layout, folder)
    if variant == "int8":
        _quantize(fp32, folder / "model.int8.onnx")


def _export_fp32(layout: Layout, folder: Path) -> None:
    for module in ("torch", "transformers", "onnx"):
        require(module, "models")
    import inspect

    import torch
    from transformers import AutoConfig, AutoModel

    from codequarry.embed.st_backend import quiet_transformers

    quiet_transformers()

    start = time.perf_counter()
    # Eager attention traces to the plain MatMul/Softmax pattern that onnxruntime's
    # optimizer fuses into one Attention op; the SDPA trace is left unfused (~1.6x slower).
    model = AutoModel.from_pretrained(str(layout.folder), attn_implementation="eager").eval()
    config = AutoConfig.from_pretrained(str(layout.folder))
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters:
        names.append("token_type_ids")

    class Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args))).last_hidden_state

    # The dummy batch must contain padding: with an all-ones mask transformers skips
    # building the attention bias, and the trace would bake that shortcut in.
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, 5:] = 0
    dummy_inputs = {"input_ids": torch.full((2, 8), 5, dtype=torch.long), "attention_mask": mask,
                    "token_type_ids": torch.zeros(2, 8, dtype=torch.long)}
    dummy = tuple(dummy_inputs[n] for n in names)
    plain = folder / "model.plain.onnx"
    tmp = folder / f"plain.{os.getpid()}.tmp.onnx"
    axes = {n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer's warnings are about shapes it treats as constants; the check below is what counts.
        warnings.simplefilter("ignore")
        # eval() on the wrapper too: the exporter restores the wrapper's mode afterwards, recursively,
        # and a fresh Module is in training mode (dropout on).
        torch.onnx.export(
            Hidden(model).eval(), dummy, str(tmp), dynamo=False, input_names=names, output_names=["last_hidden_state"],
            dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True,
        )
    os.replace(tmp, plain)

    # The export must reproduce the model itself before anything is built on it.
    feeds, mask = _probe(_tokenizer(layout, 128))
    with torch.no_grad():
        ref = model(**{n: torch.from_numpy(feeds[n]) for n in names}).last_hidden_state.numpy()
    ref = _pool(ref, mask, layout.pooling)
    _check(plain, feeds, mask, layout, ref, "export")

    # Fused graph: same arithmetic, fewer kernels. Kept only if it still matches.
    chosen = plain
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        heads = int(getattr(config, "num_attention_heads", 0) or 0)
        hidden = int(getattr(config, "hidden_size", 0) or 0)
        opt = optimize_model(str(plain), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1)
        fused = folder / f"fused.{os.getpid()}.tmp.onnx"
        opt.save_model_to_file(str(fused))
        _check(fused, feeds, mask, layout, ref, "fused graph")
        chosen = fused
    except Exception as exc:  # fusion is an optimisation; the plain export stays correct
        print(f"quarry: note: kept the unfused ONNX graph ({type(exc).__name__})", file=sys.stderr)
    os.replace(chosen, folder / "model.fp32.onnx")
    plain.unlink(missing_ok=True)
    meta = {
        "source": str(layout.folder), "weights": str(layout.weights), "inputs": names, "opset": OPSET,
        "pooling": layout.pooling, "normalize": layout.normalize, "fused": chosen != plain,
        "torch": torch.__version__, "export_seconds": round(time.perf_counter() - start, 1),
        "export_version": EXPORT_VERSION,
    }
    _atomic_write(folder / "meta.json", json.dumps(meta, indent=1))


def _quantize(fp32: Path, out: Path) -> None:
    require("onnx", "models")
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out.with_name(f"int8.{os.getpid()}.tmp.onnx")
    # The quantizer logs advice ("run pre-processing") on the root logger; not the user's concern.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        # Per-channel int8 weights: per-tensor scales cost ~0.05 cosine against fp32 on
        # MiniLM (outlier columns), per-channel ~0.006 at the same speed. The default
        # tensor type lets the quantizer type the outputs of the fused contrib ops.
        quantize_dynamic(
            str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    os.replace(tmp, out)


def _check(path: Path, feeds: dict, mask: np.ndarray, layout: Layout, ref: np.ndarray, what: str) -> None:
    cos = _cosine(_OrtRun(path, 1).run(feeds), mask, layout, ref)
    if cos < 0.9999:
        raise ModelUnavailableError(f"the ONNX {what} does not reproduce the model (cosine {cos:.4f})")


def _cosine(hidden: np.ndarray, mask: np.ndarray, layout: Layout, ref: np.ndarray) -> float:
    """The smallest cosine between pooled rows of `hidden` and the pooled reference rows."""
    return float((normalize(_pool(hidden, mask, layout.pooling)) * normalize(ref)).sum(axis=1).min())


def _probe(tokenizer, pad_id: int = 0) -> tuple[dict, np.ndarray]:
    ids, mask = _pad([e.ids for e in tokenizer.encode_batch(_PROBE)], pad_id)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}, mask


# -- running ------------------------------------------------------------------------------------


class _OrtRun:
    """An ONNX Runtime session: `run(feeds)` gives the last hidden state (thread-safe)."""

    def __init__(self, path: Path, threads: int, variant: str = "fp32") -> None:
        self.session = _session(path, threads)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dim = self.session.get_outputs()[0].shape[-1]
        self.engine = f"onnxruntime {variant}"

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, {k: feeds[k] for k in self.inputs})[0]


def _openvino_run(path: Path, layout: Layout, tokenizer, pad_id: int, threads: int):
    """OpenVINO on the export, once its vectors are known to match ONNX Runtime's (checked on first use)."""
    from codequarry.embed.openvino_runtime import MIN_COSINE, OpenVinoRun

    runner = OpenVinoRun(path, threads)
    verdict = runner.verdict_path(path)
    try:
        cos = float(json.loads(verdict.read_text())["cosine_min"])
    except (OSError, ValueError, KeyError, TypeError):  # not checked yet, or an unreadable verdict
        feeds, mask = _probe(tokenizer, pad_id)
        ref = _pool(_OrtRun(path, 1).run(feeds), mask, layout.pooling)
        cos = _cosine(runner.run(feeds), mask, layout, ref)
        try:
            _atomic_write(verdict, json.dumps({"engine": runner.engine, "cosine_min": cos}))
        except OSError:
            pass  # a read-only cache only costs checking again next time
    if cos < MIN_COSINE:
        raise ModelUnavailableError(
            f"OpenVINO ({runner.engine}) does not reproduce the model (cosine {cos:.5f}); use QUARRY_BACKEND=onnx"
        )
    return runner


def _session(path: Path, threads: int):
    ort = require("onnxruntime", "fast")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # its warnings about unused initialisers are noise to a user
    # Idle pool threads sleep instead of spinning: on a busy machine a spinning thread burns the
    # slice its sibling needs (measured +30% int8 throughput with 2 threads under load), and a
    # warm server should not heat a core after every query.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a truncated or foreign file in the cache
        raise ModelUnavailableError(
            f"cannot load {path} ({type(exc).__name__}); delete that folder to export again"
        ) from exc


def _tokenizer(layout: Layout, max_tokens: int):
    tokenizers = require("tokenizers", "fast")
    tok = tokenizers.Tokenizer.from_file(str(layout.tokenizer))
    # tokenizer.json carries its own truncation/padding settings (MiniLM's: 128): override both.
    tok.enable_truncation(max_length=max_tokens)
    tok.no_padding()
    return tok


def _pad(rows: list[list[int]], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    m = mask[..., None].astype(np.float32)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return np.where(m > 0, hidden, -1e9).max(axis=1)
    summed = (hidden * m).sum(axis=1)
    counts = np.clip(m.sum(axis=1), 1e-9, None)
    return summed / (np.sqrt(counts) if mode == "mean_sqrt_len" else counts)


def available(preset: Preset) -> bool:
    """Whether `auto` may pick ONNX for this preset: onnxruntime present and an export there or makeable."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("tokenizers") is None:
        return False
    try:
        folder = model_folder(preset)
        if folder is None:
            return False
        layout = read_layout(folder)
        folder = export_dir(layout)
        if (folder / "model.fp32.onnx").is_file():
            return True
        return can_export() and not (folder / FAILED).is_file()
    except (QuarryError, OSError, ValueError):
        return False


class OnnxEncoder:
    """The Encoder protocol on the ONNX export, run by ONNX Runtime or OpenVINO (`runtime`): no torch
    import once the export exists."""

    def __init__(self, preset: Preset, variant: str = "fp32", *, threads: int | None = None,
                 runtime: str = "onnxruntime") -> None:
        require("onnxruntime", "fast")  # OpenVINO's first run is checked against it, too
        folder = model_folder(preset)
        if folder is None:
            raise ModelUnavailableError(
                f"the ONNX backend needs a local model folder; '{preset.name}' is a hub id (use QUARRY_BACKEND=torch)"
            )
        self.preset = preset
        self.variant = variant
        self.layout = read_layout(folder)
        self.name = preset.name
        self.max_tokens = min(preset.max_tokens, self.layout.max_seq_length or preset.max_tokens)
        self.path = ensure_export(preset.name, self.layout, variant)
        self.threads = threads or _cores()
        self.tokenizer = _tokenizer(self.layout, self.max_tokens)
        pad = self.tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else pad
        if runtime == "openvino":
            self.runner = _openvino_run(self.path, self.layout, self.tokenizer, self.pad_id, self.threads)
        else:
            self.runner = _OrtRun(self.path, self.threads, variant)
        # What computes the vectors, for a user to see (`quarry index`): "onnxruntime fp32", "openvino bf16".
        self.engine = self.runner.engine
        self.dim = int(self.runner.dim or preset.dim)

    def _encode(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.layout.do_lower_case:
            texts = [t.lower() for t in texts]
        rows = [e.ids for e in self.tokenizer.encode_batch(texts)]
        # Length-sorted batches: each pads only to its own longest row.
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]), reverse=True)
        out = np.zeros((len(rows), self.dim), np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            ids, mask = _pad([rows[i] for i in idx], self.pad_id)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.runner.run(feeds)
            out[idx] = _pool(hidden, mask, self.layout.pooling)
            if progress:
                progress(len(idx))
        # The protocol wants unit rows whether or not the model has a Normalize module.
        return normalize(out)

    def count_tokens(self, texts: Sequence[str]) -> int:
        return sum(len(e.ids) for e in self.tokenizer.encode_batch(list(texts)))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.preset.query_prefix + t for t in texts], None)

    def encode_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self._encode([self.preset.passage_prefix + t for t in texts], progress)
