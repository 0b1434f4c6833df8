"""One training run: recipe → pairs → (eval before) → LoRA/full fine-tune → save → (eval after) → info.

Writes into the run folder:

* `train_log.jsonl` — one line per optimizer step, written and flushed as
  the step finishes: loss, learning rate, pairs/s, tokens/s, elapsed time;
* `loss.png` — plotted from that log;
* `adapter/` (LoRA runs) and `model/` (merged sentence-transformers folder,
  usable as `quarry index --model <run>/model`);
* `training_info.json` — recipe, data hashes, counts, git commit, times,
  hardware, evaluation before/after, Matryoshka table.
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import time
from collections import Counter
from pathlib import Path

from codequarry.train.pairs import Pair, code_hash, file_sha256, norm_query, read_pairs

LOG_FILE = "train_log.jsonl"
INFO_FILE = "training_info.json"

_LANG_WORD = {"cpp": "c++", "javascript": "javascript", "typescript": "typescript"}


def web_style(query: str, language: str) -> str:
    """A doc sentence made to look like a search box query: lower case, no final stop, language named."""
    q = query.strip().rstrip(".").strip()
    q = q[:1].lower() + q[1:]
    return f"{_LANG_WORD.get(language, language)} {q}"


def select_pairs(pairs: list[Pair], data_cfg) -> tuple[list[Pair], dict]:
    """The training pairs of a recipe: CoSQA train pairs (repeated) + a seeded per-language sample of mined ones."""
    rng = random.Random(data_cfg.seed)
    chosen: list[Pair] = []
    counts: Counter = Counter()
    if data_cfg.cosqa:
        splits = ("train", "holdout") if data_cfg.include_holdout else ("train",)
        cosqa = [p for p in pairs if p.source.startswith("cosqa") and p.split in splits]
        for _ in range(max(1, int(data_cfg.cosqa_repeat))):
            chosen.extend(cosqa)
        counts["cosqa"] = len(cosqa)
    mined: dict[str, list[Pair]] = {}
    for p in pairs:
        if p.source == "mined" and p.split == "train":
            mined.setdefault(p.language, []).append(p)
    caps = dict(data_cfg.per_language)
    for lang in sorted(mined):
        cap = int(caps.get(lang, caps.get("*", 0)))
        group = mined[lang]
        if cap == 0:
            continue
        if 0 < cap < len(group):
            group = rng.sample(group, cap)
        if data_cfg.query_style == "web":
            group = [Pair(**(p.to_json() | {"query": web_style(p.query, p.language)})) for p in group]
        chosen.extend(group)
        counts[f"mined:{lang}"] = len(group)
    return chosen, dict(counts)


def _git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            return "none (no commit yet)"
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _hardware(threads: int) -> dict:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import peft
    import sentence_transformers
    import transformers

    return {"cpu": cpu, "cores_visible": os.cpu_count(), "torch_threads": threads, "device": "cpu",
            "gpu": None, "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__,
            "load_avg_start": os.getloadavg()}


def _miner(source: str, max_len: int):
    """The encoder that ranks the corpus for hard negatives when it is not the model being trained."""
    from codequarry.train.evaluate import ModelEncoder, weights_fingerprint
    from codequarry.train.lora import load_model

    other = load_model(source, max_len)
    return ModelEncoder(other, f"miner:{source}:{weights_fingerprint(other)}", max_len)


def _features(model, texts: list[str], max_len: int):
    model.max_seq_length = max_len
    fn = getattr(model, "preprocess", None) or model.tokenize
    return fn(texts)


def _schedule(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def train(cfg, *, log=print) -> dict:
    import numpy as np
    import torch

    from codequarry.train.evaluate import ModelEncoder, evaluate_model, weights_fingerprint
    from codequarry.train.losses import build_loss
    from codequarry.train.lora import apply_lora, load_model, save_adapter, save_merged
    from codequarry.train.plots import plot_log
    from codequarry.train.sampler import PlainBatchSampler, RelatedBatchSampler, batch_conflicts, pair_tokens

    started = time.time()
    tc = cfg.train
    torch.set_num_threads(max(1, int(tc.threads)))
    random.seed(tc.seed)
    np.random.seed(tc.seed)
    torch.manual_seed(tc.seed)
    run_dir = cfg.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    pairs_path = Path(cfg.data.pairs)
    pairs_file = pairs_path / "pairs.jsonl" if pairs_path.is_dir() else pairs_path
    all_pairs = read_pairs(pairs_file)
    chosen, counts = select_pairs(all_pairs, cfg.data)
    if len(chosen) < 2:
        raise ValueError("the recipe selects fewer than 2 training pairs")
    holdout = set() if cfg.data.include_holdout else {
        p.qualname for p in all_pairs if p.split == "holdout" and p.source.startswith("cosqa")}
    manifest = pairs_file.parent / "manifest.json"
    info: dict = {
        "name": cfg.name, "run_dir": str(run_dir), "config": cfg.to_dict(),
        "data": {"pairs_file": str(pairs_file), "pairs_sha256": file_sha256(pairs_file),
                 "manifest_sha256": file_sha256(manifest) if manifest.is_file() else None,
                 "selected": counts, "train_pairs": len(chosen),
                 "selected_ids_sha256": __import__("hashlib").sha256(
                     "\n".join(p.id for p in chosen).encode()).hexdigest(),
                 "holdout_queries": len(holdout)},
        "git_commit": _git_commit(), "hardware": _hardware(int(tc.threads)),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    log(f"[{cfg.name}] {len(chosen)} training pairs: {counts}")

    model = load_model(cfg.model.base, cfg.model.max_seq_length)
    eval_kwargs = dict(dataset=cfg.eval.dataset, splits=cfg.eval.splits, holdout=holdout, limit=cfg.eval.limit,
                       dims=cfg.eval.matryoshka_dims, log=log)
    base_name = f"base:{cfg.model.base}:{weights_fingerprint(model)}"
    if cfg.eval.before:
        log("evaluating the base model")
        t0 = time.time()
        info["eval_before"] = evaluate_model(ModelEncoder(model, base_name, cfg.model.eval_max_seq_length),
                                             **eval_kwargs)
        info["eval_before_seconds"] = round(time.time() - t0, 1)

    negatives: dict[int, list[str]] = {}
    if cfg.data.hard_negatives == "corpus":
        from codequarry.train.negatives import corpus_hard_negatives

        t0 = time.time()
        miner = (_miner(cfg.data.negatives_model, cfg.model.eval_max_seq_length) if cfg.data.negatives_model
                 else ModelEncoder(model, base_name, cfg.model.eval_max_seq_length))
        negatives, nstats = corpus_hard_negatives(
            chosen, miner, dataset=cfg.eval.dataset, holdout=holdout, pool=cfg.data.hard_negative_pool,
            seed=cfg.data.seed, per_pair=int(cfg.data.hard_negatives_per_pair))
        del miner
        info["hard_negatives"] = nstats | {"seconds": round(time.time() - t0, 1)}
        log(f"hard negatives: {nstats}")

    if cfg.lora.enabled:
        model, trainable, total = apply_lora(model, r=cfg.lora.r, alpha=cfg.lora.alpha, dropout=cfg.lora.dropout,
                                             target_modules=cfg.lora.target_modules)
    else:
        trainable = total = sum(p.numel() for p in model.parameters())
    info["parameters"] = {"trainable": trainable, "total": total}
    loss_fn = build_loss(cfg.loss, model)
    params = [p for p in loss_fn.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)

    tokens = [pair_tokens(p) | {f"c:{code_hash(n)}" for n in negatives.get(i, [])} for i, p in enumerate(chosen)]
    # Pairs with a hard negative and pairs without go in separate batches (the loss needs equal columns).
    subsets = [sorted(negatives), [i for i in range(len(chosen)) if i not in negatives]]
    samplers = []
    for k, subset in enumerate(s for s in subsets if s):
        sub_tokens = [frozenset(tokens[i]) for i in subset]
        if tc.filter_related:
            samplers.append((subset, RelatedBatchSampler(sub_tokens, tc.batch_size, seed=tc.seed + k)))
        else:
            samplers.append((subset, PlainBatchSampler(len(subset), tc.batch_size, seed=tc.seed + k)))
    sampler = samplers[0][1]
    n_epochs = max(1, int(np.ceil(tc.epochs)))
    epochs: list[list[list[int]]] = []
    for e in range(n_epochs):
        batches = []
        for subset, smp in samplers:
            smp.set_epoch(e)
            batches.extend([subset[j] for j in b] for b in smp)
        random.Random(f"{tc.seed}:interleave:{e}").shuffle(batches)
        epochs.append(batches)
    frac = tc.epochs - (n_epochs - 1)
    if 0 < frac < 1:
        epochs[-1] = epochs[-1][: max(1, int(len(epochs[-1]) * frac))]
    schedule = [(e, b) for e, batches in enumerate(epochs) for b in batches]
    if tc.max_steps:
        schedule = schedule[: tc.max_steps]
    total_steps = len(schedule)
    warmup = int(round(total_steps * tc.warmup_ratio))
    info["batching"] = {"sampler": type(sampler).__name__, "steps": total_steps, "warmup_steps": warmup,
                        **batch_conflicts([b for _, b in schedule], tokens)}
    log(f"{total_steps} steps of {tc.batch_size} ({type(sampler).__name__}; "
        f"{info['batching']['batches_with_related']} batches with related pairs)")

    log_path = run_dir / LOG_FILE
    labels_cache: dict[int, torch.Tensor] = {}
    model.train()
    t_start = time.time()
    step = 0
    stopped = "completed"
    with open(log_path, "w", encoding="utf-8") as logf:
        for step, (epoch, batch) in enumerate(schedule):
            elapsed = time.time() - t_start
            if tc.max_minutes and step >= 5 and step % 5 == 0:
                # Time-budgeted schedule: shrink the plan to the steps the budget affords at the speed so
                # far, so the learning rate still decays to zero when the budget ends.
                afford = int(tc.max_minutes * 60 * 0.97 / (elapsed / step))
                total_steps = max(step + 1, min(len(schedule), afford))
            if step >= total_steps:
                stopped = f"time budget ({tc.max_minutes} min): schedule shortened to {total_steps} steps"
                break
            if tc.max_minutes and elapsed > tc.max_minutes * 60:
                stopped = f"time budget ({tc.max_minutes} min) reached after {step} steps"
                break
            lr = tc.lr * _schedule(step, total_steps, warmup)
            for g in optimizer.param_groups:
                g["lr"] = lr
            t0 = time.time()
            qs = [chosen[i].query for i in batch]
            ps = [chosen[i].positive for i in batch]
            feats = [_features(model, qs, cfg.model.query_max_length),
                     _features(model, ps, cfg.model.max_seq_length)]
            if negatives and batch[0] in negatives:
                for col in range(len(negatives[batch[0]])):
                    feats.append(_features(model, [negatives[i][col] for i in batch], cfg.model.max_seq_length))
            labels = labels_cache.setdefault(len(batch), torch.arange(len(batch)))
            if tc.bf16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss = loss_fn(feats, labels)
            else:
                loss = loss_fn(feats, labels)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            dt = time.time() - t0
            n_tok = int(sum(int(f["attention_mask"].sum()) for f in feats))
            row = {"step": step + 1, "epoch": epoch, "loss": float(loss.detach()), "lr": lr,
                   "columns": len(feats), "planned_steps": total_steps,
                   "grad_norm": float(grad_norm), "batch": len(batch), "step_s": round(dt, 3),
                   "pairs_per_s": round(len(batch) / dt, 2), "tokens_per_s": round(n_tok / dt, 1),
                   "elapsed_s": round(time.time() - t_start, 1), "time": time.time()}
            logf.write(json.dumps(row) + "\n")
            logf.flush()
            if tc.log_every and (step + 1) % tc.log_every == 0:
                log(f"step {step + 1}/{total_steps} loss {row['loss']:.4f} lr {lr:.2e} "
                    f"{row['pairs_per_s']:.1f} pairs/s")
        else:
            step = len(schedule)
    train_seconds = time.time() - t_start
    info.update({"steps": step, "stopped": stopped, "train_seconds": round(train_seconds, 1),
                 "log": str(log_path)})
    model.eval()
    base_source = cfg.model.base
    if cfg.lora.enabled:
        info["adapter"] = str(save_adapter(model, run_dir / "adapter", base=base_source,
                                           extra={"recipe": cfg.name, "max_seq_length": cfg.model.eval_max_seq_length}))
        info["adapter_bytes"] = sum(p.stat().st_size for p in (run_dir / "adapter").iterdir())
    model.max_seq_length = cfg.model.eval_max_seq_length
    info["merged_model"] = str(save_merged(model, run_dir / "model"))
    try:
        info["plot"] = str(plot_log(log_path, run_dir / "loss.png", title=cfg.name))
    except Exception as exc:  # plotting is a convenience; the log is the record
        info["plot_error"] = f"{type(exc).__name__}: {exc}"
    if cfg.eval.after:
        log("evaluating the trained model")
        t0 = time.time()
        name = f"train:{cfg.name}:{weights_fingerprint(model)}"
        info["eval"] = evaluate_model(ModelEncoder(model, name, cfg.model.eval_max_seq_length), **eval_kwargs)
        info["eval_after_seconds"] = round(time.time() - t0, 1)
    info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    info["wall_seconds"] = round(time.time() - started, 1)
    info["hardware"]["load_avg_end"] = os.getloadavg()
    (run_dir / INFO_FILE).write_text(json.dumps(info, indent=1, sort_keys=True, default=str))
    log(f"done in {info['wall_seconds']:.0f}s → {run_dir}")
    return info


def check_queries_unseen(pairs: list[Pair], test_queries: list[str]) -> int:
    """How many training queries equal a test query (must be 0); used by tests and the bench."""
    test = {norm_query(q) for q in test_queries}
    return sum(1 for p in pairs if norm_query(p.query) in test)
