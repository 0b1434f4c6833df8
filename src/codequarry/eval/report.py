"""Reports of an evaluation: JSON on disk, Markdown tables, a terminal table.

Every number comes from `Evaluation.details`; deltas are against the first
system of the same evaluation.
"""

from __future__ import annotations

import json
from pathlib import Path

from codequarry.eval.metrics import FILE_METRIC_NAMES, FILE_PREFIX, METRIC_NAMES, RECALL_KS

HEADERS = {
    **{f"recall@{k}": f"R@{k}" for k in RECALL_KS},
    "mrr@10": "MRR@10", "ndcg@10": "nDCG@10", "map@100": "MAP@100",
}
HEADERS.update({m: "file " + HEADERS[m.removeprefix(FILE_PREFIX)] for m in FILE_METRIC_NAMES})


def table_metrics(systems: list[dict]) -> tuple[str, ...]:
    """File-level metrics first when the evaluation has them (repository fixtures), then the rest."""
    files = tuple(m for m in FILE_METRIC_NAMES if any(m in s["metrics"] for s in systems))
    return files + METRIC_NAMES


def _group_cell(m: dict) -> str:
    """One system on one group (category, language, fixture): the headline numbers."""
    if "file_ndcg@10" in m:
        defs = m.get("definition_queries", 1)
        return f"{fmt(m['file_ndcg@10'])} / " + (f"{fmt(m['recall@1'])} / {fmt(m['recall@5'])}" if defs else "– / –")
    return f"{fmt(m['ndcg@10'])} / {fmt(m['recall@10'])}"


def _group_title(systems: list[dict]) -> str:
    return ("file nDCG@10 / R@1 / R@5" if any("file_ndcg@10" in s["metrics"] for s in systems)
            else "nDCG@10 / R@10")


def group_rows(details: dict, key: str) -> list[list[str]]:
    """Rows (group, repositories or queries, one cell per system) of a by_category / by_language /
    by_fixture breakdown."""
    systems = details["systems"]
    groups = sorted({g for s in systems for g in s.get(key, {})})
    rows = []
    for g in groups:
        cells = []
        for s in systems:
            m = s.get(key, {}).get(g)
            if m is not None and key == "by_fixture":
                m = {**m["metrics"], "definition_queries": m.get("definition_queries", 1)}
            cells.append(_group_cell(m) if m else "–")
        first = next(s[key][g] for s in systems if g in s.get(key, {}))
        count = str(first.get("queries", 0))
        if "repositories" in first:
            count = f"{first['repositories']} / {count}"
        extra = [first.get("language", "")] if key == "by_fixture" else []
        rows.append([g, *extra, count, *cells])
    return rows
# The terminal's columns for a folder of repository fixtures.
COMPACT_METRICS = ("file_ndcg@10", "file_recall@10", "recall@1", "recall@5", "ndcg@10", "mrr@10")
# The compact set for combined tables (README).
SUMMARY_METRICS = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100")


def fmt(x: float) -> str:
    return f"{x:.3f}"


def fmt_delta(x: float) -> str:
    return "±0" if abs(x) < 5e-4 else f"{x:+.3f}"


def result_json(details: dict, metrics: dict, primary: str) -> dict:
    return {**details, "metrics": metrics, "primary_metric": primary}


def _system_cells(s: dict, base: dict | None, metrics=METRIC_NAMES) -> list[str]:
    cells = []
    for m in metrics:
        v = s["metrics"].get(m, 0.0)
        cells.append(fmt(v) if base is None or base is s else f"{fmt(v)} ({fmt_delta(v - base['metrics'].get(m, 0.0))})")
    return cells


def _latency_cells(s: dict) -> list[str]:
    lat = s["latency"]
    return [f"{lat['latency_p50_ms']:.1f}", f"{lat['latency_p95_ms']:.1f}", f"{lat['queries_per_s']:.0f}"]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _dataset_line(d: dict) -> str:
    ds = d["dataset"]
    cq = d.get("codequarry") or {}
    commit = (cq.get("git_commit") or "")[:10] or "no git commit"
    if cq.get("git_dirty"):
        commit += " (dirty)"
    return (f"{ds['name']} ({ds['split']}), {ds['queries']} queries, dataset hash {ds['hash']}; "
            f"codequarry {cq.get('version', '?')} @ {commit}; {d['date']}")


def markdown(details: dict) -> str:
    """Full report for one evaluation: the main table with deltas, then per category / language
    (and per fixture for a folder of fixtures)."""
    systems = details["systems"]
    base = systems[0] if systems else None
    metrics = table_metrics(systems)
    out = [f"## {details['prefix']}", "", _dataset_line(details), ""]
    if details["dataset"].get("kind") == "fixtures":
        out += [f"Macro-averaged over {len(details['dataset'].get('fixtures', []))} repositories "
                "(each repository's mean counts once).", ""]
    header = ["system", *(HEADERS[m] for m in metrics), "p50 ms", "p95 ms", "q/s"]
    rows = [[s["label"], *_system_cells(s, base, metrics), *_latency_cells(s)] for s in systems]
    out.append(_md_table(header, rows))
    if len(systems) > 1:
        out += ["", f"Deltas in parentheses are against `{base['label']}`."]
    index = {(s["index"].get("slot"), s["index"].get("model")): s["index"] for s in systems if s.get("index")}
    if index:
        out += ["", "Index: " + "; ".join(
            f"slot {slot} ({model}): {i.get('chunks', '?')} chunks, {i.get('seconds', 0):.1f}s "
            f"({i.get('embedded', 0)} embedded, {i.get('reused', 0)} reused)" for (slot, model), i in index.items())]
    multi = details["dataset"].get("kind") == "fixtures"
    for key, title in (("by_fixture", "repository"), ("by_category", "category"), ("by_language", "language")):
        groups = sorted({g for s in systems for g in s.get(key, {})})
        if not groups or (key == "by_language" and len(groups) < 2 and "by_category" in systems[0] and not multi):
            continue
        out += ["", f"### {_group_title(systems)} by {title}", ""]
        count = "repositories / queries" if multi and key != "by_fixture" else "queries"
        header = [title, *(["language"] if key == "by_fixture" else []), count, *(s["label"] for s in systems)]
        out.append(_md_table(header, group_rows(details, key)))
    warnings = details.get("warnings") or []
    if warnings:
        out += ["", *(f"> warning: {w}" for w in warnings)]
    return "\n".join(out) + "\n"


def summary_markdown(evaluations: list[dict], metrics=SUMMARY_METRICS) -> str:
    """One table over several evaluations (dataset × system), e.g. the README's."""
    header = ["dataset", "system", *(HEADERS[m] for m in metrics), "p50 ms"]
    rows = []
    for d in evaluations:
        ds = d["dataset"]
        for s in d["systems"]:
            rows.append([f"{ds['name']} {ds['split']} ({ds['queries']})", s["label"],
                         *(fmt(s["metrics"][m]) for m in metrics), f"{s['latency']['latency_p50_ms']:.1f}"])
    return _md_table(header, rows) + "\n"


def print_table(details: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # piped or captured: don't squeeze 12 columns into 80
            console = Console(width=220)
    systems = details["systems"]
    base = systems[0] if systems else None
    metrics = table_metrics(systems)
    if details["dataset"].get("kind") == "fixtures":  # the headline columns; the Markdown has them all
        metrics = COMPACT_METRICS
    table = Table(title=details["prefix"], caption=_dataset_line(details))
    table.add_column("system")
    for m in metrics:
        table.add_column(HEADERS[m], justify="right")
    for h in ("p50 ms", "p95 ms", "q/s"):
        table.add_column(h, justify="right")
    for s in systems:
        table.add_row(s["label"], *_system_cells(s, base, metrics), *_latency_cells(s))
    console.print(table)
    if details["dataset"].get("kind") == "fixtures":  # a single fixture keeps its breakdowns to the Markdown
        for key, title in (("by_fixture", "repository"), ("by_language", "language"), ("by_category", "category")):
            rows = group_rows(details, key)
            if not rows:
                continue
            t = Table(title=f"{_group_title(systems)} by {title}")
            t.add_column(title)
            if key == "by_fixture":
                t.add_column("language")
            t.add_column("repos / queries" if details["dataset"].get("kind") == "fixtures" and key != "by_fixture"
                         else "queries", justify="right")
            for s in systems:
                t.add_column(s["label"], justify="right")
            for r in rows:
                t.add_row(*r)
            console.print(t)
    for w in details.get("warnings") or []:
        console.print(f"[yellow]warning:[/] {w}")


def write_outputs(details: dict, metrics: dict, primary: str, out_dir: Path, *, plots: bool = True) -> dict[str, Path]:
    """results JSON + Markdown (+ PNG plots) named after the evaluation prefix."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = details["prefix"]
    paths = {"json": out_dir / f"{stem}.json", "markdown": out_dir / f"{stem}.md"}
    paths["json"].write_text(json.dumps(result_json(details, metrics, primary), indent=1, default=str) + "\n")
    paths["markdown"].write_text(markdown(details))
    if plots:
        from codequarry.eval.plots import plot_metric_bars, plot_recall_curves

        paths["recall_png"] = plot_recall_curves([details], out_dir / f"{stem}-recall.png")
        paths["metrics_png"] = plot_metric_bars([details], out_dir / f"{stem}-metrics.png")
    return paths


def category_markdown(evaluations: list[dict], metric: str = "ndcg@10") -> str:
    """Per-category table over the evaluations that have categories (fixtures): one column per system."""
    rows, labels = [], []
    for d in evaluations:
        for s in d["systems"]:
            if s.get("by_category") and s["label"] not in labels:
                labels.append(s["label"])
    if not labels:
        return ""
    for d in evaluations:
        cats = sorted({c for s in d["systems"] for c in s.get("by_category", {})})
        for c in cats:
            by = {s["label"]: s["by_category"].get(c) for s in d["systems"] if s.get("by_category")}
            n = next((v["queries"] for v in by.values() if v), 0)
            rows.append([f"{d['dataset']['name']} {d['dataset']['split']}", c, str(n),
                         *(fmt(by[lab][metric]) if by.get(lab) else "–" for lab in labels)])
    return _md_table(["dataset", "category", "queries", *(f"{lab} {HEADERS[metric]}" for lab in labels)], rows) + "\n"


def index_summary(evaluations: list[dict]) -> list[str]:
    """One line per fixture index used: chunks, seconds, and how much was embedded in this run."""
    seen, out = set(), []
    for d in evaluations:
        for s in d["systems"]:
            i = s.get("index")
            if not i:
                continue
            key = (d["dataset"]["name"], i.get("slot"), i.get("embedded"), i.get("seconds"))
            if key in seen:
                continue
            seen.add(key)
            out.append(f"{d['dataset']['name']} index, slot {i.get('slot')} ({i.get('model')}): "
                       f"{i.get('chunks')} chunks in {i.get('seconds', 0):.1f}s, {i.get('embedded', 0)} embedded "
                       f"this run" + (" (cached index)" if not i.get("embedded") else ""))
    return out
