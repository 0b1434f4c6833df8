"""Recall of gold definitions: `gather` against plain search cut to the same token budget.

    python bench/gather_recall.py [--fixtures jinja2,pydantic,afero] [--budgets 2000,4000,8000] [--model hash]

For each repository fixture (bench/fixtures/repos/NAME.json, the repository
under $QUARRY_REPOS_DIR or /work/repos) and each query of its dev split:
index the repository with --model (once, into a scratch folder), then

    search   hybrid search top 50, kept in rank order while the estimate fits
    gather   agents.gather with the same budget

both with the token estimate gather uses (characters / 4 + 12 per item).
A gold counts as found when an item of the same file has its qualname, or
spans its lines (a class holding the gold method). Recall is found golds /
all golds, micro-averaged over the queries. gather's weights were set before
this was run and not tuned on it. Prints a table; writes bench/out/gather_recall.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "src"))


def found(golds, spans) -> int:
    """spans: (file, qualname, line, line_end) of what was kept."""
    n = 0
    for g in golds:
        for f, q, a, b in spans:
            if f != g.file:
                continue
            if q == g.name or (g.lines is not None and a <= g.lines[0] and g.lines[1] <= b):
                n += 1
                break
    return n


def search_cut(searcher, query: str, budget: int):
    from codequarry.agents.gather import HEADER_TOKENS, estimate_tokens

    kept, used = [], 0
    for r in searcher.search(query, 50):
        c = r.chunk
        cost = estimate_tokens(c.code) + HEADER_TOKENS
        if used + cost <= budget:
            kept.append((c.file, c.qualname, c.line_start, c.line_end))
            used += cost
    return kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default="jinja2,pydantic,afero")
    ap.add_argument("--budgets", default="2000,4000,8000")
    ap.add_argument("--model", default="hash")
    ap.add_argument("--split", default="dev")
    args = ap.parse_args()

    from codequarry.agents.gather import gather
    from codequarry.eval.fixture import load_fixture
    from codequarry.indexer import index_repository
    from codequarry.search.searcher import Searcher

    os.environ.setdefault("QUARRY_CACHE_DIR", tempfile.mkdtemp(prefix="quarry-cache-"))
    repos_dir = Path(os.environ.get("QUARRY_REPOS_DIR", "/work/repos"))
    budgets = [int(b) for b in args.budgets.split(",")]
    load_before = os.getloadavg()
    rows, per_fixture = [], {}
    totals = {b: {"golds": 0, "search": 0, "gather": 0} for b in budgets}
    for name in args.fixtures.split(","):
        fx = load_fixture(ROOT / "bench" / "fixtures" / "repos" / f"{name}.json")
        queries = fx.select(args.split)
        if not queries:
            print(f"{name}: no {args.split} queries, skipped")
            continue
        repo = repos_dir / name
        index_dir = Path(tempfile.mkdtemp(prefix=f"quarry-gather-{name}-"))
        t0 = time.perf_counter()
        index_repository(repo, model=args.model, index_dir=index_dir)
        searcher = Searcher.open(repo, index_dir=index_dir)
        counts = {b: {"golds": 0, "search": 0, "gather": 0} for b in budgets}
        gather_s = []
        for q in queries:
            for b in budgets:
                counts[b]["golds"] += len(q.gold)
                counts[b]["search"] += found(q.gold, search_cut(searcher, q.text, b))
                t = time.perf_counter()
                g = gather(q.text, b, searcher=searcher)
                gather_s.append(time.perf_counter() - t)
                counts[b]["gather"] += found(q.gold, [(i.file, i.qualname, i.line, i.line_end) for i in g.items])
        searcher.close()
        per_fixture[name] = {"queries": len(queries), "seconds": round(time.perf_counter() - t0, 1),
                             "gather_ms_median": round(1000 * sorted(gather_s)[len(gather_s) // 2], 1),
                             "recall": {b: {"search": round(c["search"] / c["golds"], 3),
                                            "gather": round(c["gather"] / c["golds"], 3), "golds": c["golds"]}
                                        for b, c in counts.items()}}
        for b in budgets:
            for k in totals[b]:
                totals[b][k] += counts[b][k]
        for b in budgets:
            c = counts[b]
            rows.append((name, b, c["golds"], c["search"] / c["golds"], c["gather"] / c["golds"]))
    for b in budgets:
        c = totals[b]
        if c["golds"]:
            rows.append(("all", b, c["golds"], c["search"] / c["golds"], c["gather"] / c["golds"]))
    print(f"gold recall within a token budget; model {args.model}, split {args.split}")
    print(f"{'fixture':<10}{'budget':>8}{'golds':>7}{'search':>8}{'gather':>8}")
    for name, b, golds, s, g in rows:
        print(f"{name:<10}{b:>8}{golds:>7}{s:>8.3f}{g:>8.3f}")
    load_after = os.getloadavg()
    print(f"load average before {[round(x, 2) for x in load_before]}, after {[round(x, 2) for x in load_after]}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "gather_recall.json").write_text(json.dumps({
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "model": args.model,
        "split": args.split, "fixtures": per_fixture,
        "all": {b: {"search": round(c["search"] / c["golds"], 3), "gather": round(c["gather"] / c["golds"], 3),
                    "golds": c["golds"]} for b, c in totals.items() if c["golds"]},
        "load_before": list(load_before), "load_after": list(load_after), "cpus": os.cpu_count()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
