"""Loss curve (plus learning rate and throughput) drawn from a run's real JSONL step log."""

from __future__ import annotations

import json
from pathlib import Path


def read_log(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _smooth(values: list[float], k: int) -> list[float]:
    out, acc = [], []
    for v in values:
        acc.append(v)
        if len(acc) > k:
            acc.pop(0)
        out.append(sum(acc) / len(acc))
    return out


def plot_log(log_path: str | Path, out: str | Path, *, title: str = "", extra_logs: dict | None = None) -> Path:
    """Three panels: loss per step (raw and smoothed), learning rate, pairs/s. `extra_logs` overlays other runs' loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    if not rows:
        raise ValueError(f"{log_path}: empty log")
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ax = axes[0]
    ax.plot(steps, [r["loss"] for r in rows], color="#9ab", lw=0.8, label="loss")
    ax.plot(steps, _smooth([r["loss"] for r in rows], 10), color="#135", lw=1.6, label="moving mean (10)")
    for name, path in (extra_logs or {}).items():
        other = read_log(path)
        ax.plot([r["step"] for r in other], _smooth([r["loss"] for r in other], 10), lw=1.2, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8)
    axes[1].plot(steps, [r["lr"] for r in rows], color="#a50")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("learning rate")
    axes[2].plot(steps, [r["pairs_per_s"] for r in rows], color="#385", lw=0.8)
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("pairs / s")
    fig.suptitle(f"{title} — from {Path(log_path).name}" if title else Path(log_path).name, fontsize=10)
    from codequarry.eval.plots import save_figure

    return save_figure(fig, out)
