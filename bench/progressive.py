"""Progressive indexing: how soon a fresh index answers, and how search behaves while it embeds.

    QUARRY_REPOS_DIR=/work/repos python bench/progressive.py [--repos jinja2,echo | --repos all]
        [--model minilm] [--baseline /work/main/src] [--no-search]

Per repository (read in place; the index goes to bench/out/progressive-<repo>/, rebuilt each run):

* `quarry index --model M --json` runs in a new process; this process polls the index folder and
  records the time to first search (the first moment a lexical search returns a result from another
  process's point of view: the lexical phase committed) and the time to complete hybrid (the slot
  covers every chunk);
* meanwhile it runs hybrid searches in a loop over a few queries with one long-lived Searcher (which
  follows each committed batch): p50/p95 latency during embedding, and how many answered;
* optionally (--baseline SRC) the same one-shot index with another checkout's source (say the main
  branch before progressive indexing), for the time a first search used to wait, and the ratio
  complete hybrid / baseline (median and max over the repositories). The two alternate which runs
  first from one repository to the next, so neither always finds the other's files in the page cache.

`--repos all` takes every repository of the fixture (bench/fixtures/repos/*.json, both halves: this
measures time, not quality).

Prints one table and writes bench/out/progressive.json, with the 1-minute load average (the machine is
shared, so figures move with it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
QUERIES = ["render a template", "parse the request body", "escape html", "load templates from a folder",
           "route handler with middleware", "compile an expression", "bind query parameters", "cache results"]


def load() -> float:
    return round(os.getloadavg()[0], 2)


def _slot_state(db_path: Path):
    """(chunks, embedded or None when complete, slot exists) as another reader sees them; None before any commit."""
    if not db_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
            row = conn.execute("SELECT embedded, generation FROM slots WHERE name = 'default'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # schema not there yet
        return None
    if not chunks or row is None:
        return None
    return chunks, row[0], row[1]


def run_progressive(repo: Path, model: str, src: Path, searching: bool = True) -> dict:
    folder = OUT / f"progressive-{repo.name}"
    shutil.rmtree(folder, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(src), "QUARRY_NO_SERVER": "1"}
    load_before = load()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "codequarry.cli", "index", str(repo), "--index-dir", str(folder),
                             "--model", model, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = complete = None
    latencies: list[float] = []
    searcher = None
    from codequarry.search.searcher import Searcher

    q = 0
    while proc.poll() is None or complete is None:
        state = _slot_state(folder / "index.db")
        now = time.perf_counter() - started
        if state is None:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
            continue
        if first is None:
            searcher = Searcher.open(repo, index_dir=folder)
            if searcher.search("template", k=5, mode="lexical"):
                first = now
        if state[1] is None:
            complete = now
            break
        if searching:
            t = time.perf_counter()
            searcher.search(QUERIES[q % len(QUERIES)], k=10)  # hybrid over what is embedded, lexical over the rest
            latencies.append((time.perf_counter() - t) * 1000)
            q += 1
            time.sleep(0.05)
        else:  # only watch: the time to complete hybrid without the bench's own searches taking CPU
            time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"quarry index failed on {repo}: {err.strip()[-500:]}")
    total = time.perf_counter() - started
    stats = json.loads(out)
    if complete is None:
        complete = total
    if searcher is not None:
        searcher.close()
    return {
        "repo": repo.name, "files": stats["files_parsed"], "chunks": stats["chunks"], "embedded": stats["embedded"],
        "first_search_s": round(first, 2) if first is not None else None,
        "complete_hybrid_s": round(complete, 2), "process_s": round(total, 2),
        "searches_during_embedding": len(latencies),
        "p50_ms_during_embedding": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms_during_embedding": round(sorted(latencies)[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
        "load_before": load_before, "load_after": load(),
    }


def run_baseline(repo: Path, model: str, src: Path) -> float:
    folder = OUT / f"progressive-baseline-{repo.name}"
    shutil.rmtree(folder, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(src), "QUARRY_NO_SERVER": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "codequarry.cli", "index", str(repo), "--index-dir", str(folder),
                    "--model", model, "--json"], env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    return round(seconds, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", default="jinja2,echo", help="comma-separated names, or `all` (the whole fixture)")
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--baseline", type=Path, default=None, help="src folder of a checkout to time one-shot")
    ap.add_argument("--no-search", action="store_true",
                    help="no searches during embedding (complete-hybrid time alone, comparable with --baseline)")
    ap.add_argument("--baseline-model", default=None, help="the baseline's model (default: --model), e.g. the "
                    "default of that checkout when the default has changed since")
    ap.add_argument("--out", type=Path, default=OUT / "progressive.json")
    args = ap.parse_args()
    repos_dir = Path(os.environ.get("QUARRY_REPOS_DIR", "/work/repos"))
    OUT.mkdir(parents=True, exist_ok=True)
    src = ROOT / "src"
    rows = []
    names = args.repos.split(",")
    if args.repos == "all":
        names = sorted(p.stem for p in (ROOT / "bench" / "fixtures" / "repos").glob("*.json")
                       if (repos_dir / p.stem).is_dir())
    for i, name in enumerate(names):
        base_model = args.baseline_model or args.model
        before = None
        if args.baseline and i % 2:
            before = run_baseline(repos_dir / name, base_model, args.baseline)
        row = run_progressive(repos_dir / name, args.model, src, searching=not args.no_search)
        if args.baseline:
            if before is None:
                before = run_baseline(repos_dir / name, base_model, args.baseline)
            row["baseline_model"], row["baseline_first_search_s"] = base_model, before
            row["complete_over_baseline"] = round(row["complete_hybrid_s"] / before, 3)
        rows.append(row)
        print(f"[{time.strftime('%H:%M:%S')} load {load()}] {row}", file=sys.stderr, flush=True)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "model": args.model,
              "searching": not args.no_search,
              "cores": len(os.sched_getaffinity(0)), "uptime": uptime, "rows": rows}
    ratios = [r["complete_over_baseline"] for r in rows if "complete_over_baseline" in r]
    if ratios:
        result["complete_over_baseline"] = {"median": round(statistics.median(ratios), 3), "max": max(ratios),
                                            "repos": len(ratios)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    cols = ["repo", "files", "chunks", "first_search_s", "complete_hybrid_s", "baseline_first_search_s",
            "complete_over_baseline", "p50_ms_during_embedding", "p95_ms_during_embedding",
            "searches_during_embedding", "load_before"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r.get(c, "-")) for c in cols))
    if ratios:
        print(f"complete hybrid / baseline: median {result['complete_over_baseline']['median']}, "
              f"max {result['complete_over_baseline']['max']} over {len(ratios)} repositories")
    print(f"{result['date']}, {args.model}, {result['cores']} cores; {uptime}")


if __name__ == "__main__":
    main()
