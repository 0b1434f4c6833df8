"""PNG plots of an evaluation's numbers (matplotlib, Agg backend: no display needed).

One panel per evaluation (dataset + split); every system of that evaluation
in each panel. matplotlib is imported here only, when a plot is asked for.
"""

from __future__ import annotations

from pathlib import Path

from codequarry.eval.metrics import RECALL_KS

BAR_METRICS = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "map@100")
LABELS = {"ndcg@10": "nDCG@10", "mrr@10": "MRR@10", "recall@1": "R@1", "recall@10": "R@10", "map@100": "MAP@100"}


def _pyplot():
    from codequarry.errors import require

    matplotlib = require("matplotlib", "eval")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _panels(plt, n: int, width: float, height: float):
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _title(d: dict) -> str:
    ds = d["dataset"]
    return f"{ds['name']} {ds['split']} ({ds['queries']} queries)"


def plot_recall_curves(evaluations: list[dict], path: Path) -> Path:
    """Recall@k for k in RECALL_KS, one line per system."""
    plt = _pyplot()
    fig, axes = _panels(plt, len(evaluations), 6.0, 4.2)
    for ax, d in zip(axes, evaluations):
        for s in d["systems"]:
            ys = [s["metrics"][f"recall@{k}"] for k in RECALL_KS]
            ax.plot(RECALL_KS, ys, marker="o", label=s["label"])
            ax.annotate(f"{ys[2]:.2f}", (RECALL_KS[2], ys[2]), textcoords="offset points", xytext=(0, 5),
                        fontsize=7, ha="center")
        ax.set_xscale("log")
        ax.set_xticks(RECALL_KS)
        ax.set_xticklabels([str(k) for k in RECALL_KS])
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("k")
        ax.set_ylabel("Recall@k")
        ax.set_title(_title(d), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)


def plot_metric_bars(evaluations: list[dict], path: Path, metrics=BAR_METRICS) -> Path:
    """Grouped bars (one group per metric, one bar per system) with the values written on them."""
    plt = _pyplot()
    fig, axes = _panels(plt, len(evaluations), 7.0, 4.2)
    for ax, d in zip(axes, evaluations):
        systems = d["systems"]
        width = 0.8 / max(1, len(systems))
        for j, s in enumerate(systems):
            xs = [i + (j - (len(systems) - 1) / 2) * width for i in range(len(metrics))]
            vals = [s["metrics"][m] for m in metrics]
            bars = ax.bar(xs, vals, width=width * 0.95, label=s["label"])
            for b, v in zip(bars, vals):
                ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.3f}", ha="center", va="bottom",
                        fontsize=6, rotation=90 if len(systems) > 3 else 0)
        ax.set_xticks(range(len(metrics)))
        ax.set_xticklabels([LABELS.get(m, m) for m in metrics])
        ax.set_ylim(0, 1.12)
        ax.set_title(_title(d), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper right", ncols=min(3, len(systems)))
    return save_figure(fig, path)


def save_figure(fig, path: Path) -> Path:
    """Lay out, write as PNG (parents created) and free a matplotlib figure."""
    plt = _pyplot()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
