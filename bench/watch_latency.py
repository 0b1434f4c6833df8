"""Edit -> searchable latency under `quarry watch`.

    python bench/watch_latency.py [--source PATH] [--edits 30] [--debounce 100] [--model hash]

Copies --source (default: codequarry's own src/) into a scratch folder,
indexes it with --model, runs `watch` (the function `quarry watch` calls) in
a thread, then --edits times appends a new uniquely named function to one of
the files (a different file each time) and polls a lexical search every
10 ms until that name is found. Latency runs from the write to the first
search that finds it, so it holds the debounce quiet period, the incremental
index run (stat walk, re-chunk, embed, graph update, commit) and up to 10 ms
of polling. Prints a table and writes bench/out/watch_latency.json with the
load average before and after (the machines are shared).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "src"))


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=ROOT / "src")
    ap.add_argument("--edits", type=int, default=30)
    ap.add_argument("--debounce", type=int, default=100, help="ms of quiet before a run (quarry watch --debounce)")
    ap.add_argument("--model", default="hash")
    args = ap.parse_args()

    from codequarry.agents.watch import watch
    from codequarry.indexer import index_repository
    from codequarry.search.searcher import Searcher

    os.environ.setdefault("QUARRY_CACHE_DIR", tempfile.mkdtemp(prefix="quarry-cache-"))
    load_before = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="quarry-watch-"))
    repo = scratch / "repo"
    shutil.copytree(args.source, repo, ignore=shutil.ignore_patterns(".quarry", "__pycache__", "*.pyc"))
    stats = index_repository(repo, model=args.model)
    targets = sorted(p for p in repo.rglob("*.py") if p.stat().st_size > 0)
    runs: list = []
    stop, ready = threading.Event(), threading.Event()

    def on_run(run):
        runs.append(run)
        ready.set()

    t = threading.Thread(target=watch, args=(repo,), daemon=True,
                         kwargs=dict(debounce_ms=args.debounce, on_run=on_run, stop_event=stop))
    t.start()
    ready.wait(120)
    time.sleep(0.5)
    searcher = Searcher.open(repo)
    latencies = []
    try:
        for n in range(args.edits):
            name = f"watch_probe_{n}_{os.getpid()}"
            path = targets[(n * 7) % len(targets)]
            started = time.perf_counter()
            with open(path, "a") as f:
                f.write(f"\n\ndef {name}():\n    return {n}\n")
            while True:
                if any(r.chunk.name == name for r in searcher.search(name, 5, "lexical")):
                    latencies.append(time.perf_counter() - started)
                    break
                if time.perf_counter() - started > 60:
                    raise SystemExit(f"edit {n} not searchable within 60 s")
                time.sleep(0.01)
            time.sleep(0.2)  # let the run that found it finish reporting before the next edit
    finally:
        stop.set()
        t.join(10)
        searcher.close()
    index_runs = [r.seconds for r in runs[1:] if r.error is None]
    load_after = os.getloadavg()
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source": str(args.source), "files": stats.files_seen, "chunks": stats.chunks, "model": args.model,
        "debounce_ms": args.debounce, "edits": len(latencies),
        "latency_s": {"p50": round(statistics.median(latencies), 3), "p95": round(pct(latencies, 0.95), 3),
                      "max": round(max(latencies), 3), "min": round(min(latencies), 3)},
        "index_run_s": {"p50": round(statistics.median(index_runs), 3), "p95": round(pct(index_runs, 0.95), 3),
                        "runs": len(index_runs)} if index_runs else None,
        "errors": [r.error for r in runs if r.error],
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(),
    }
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"watch latency: {result['files']} files, {result['chunks']} chunks, model {args.model}, "
          f"debounce {args.debounce} ms, {len(latencies)} edits")
    print(f"{'':<22}{'p50':>8}{'p95':>8}{'max':>8}")
    lat = result["latency_s"]
    print(f"{'edit -> searchable s':<22}{lat['p50']:>8.3f}{lat['p95']:>8.3f}{lat['max']:>8.3f}")
    if result["index_run_s"]:
        ir = result["index_run_s"]
        print(f"{'index run s':<22}{ir['p50']:>8.3f}{ir['p95']:>8.3f}")
    print(f"load average before {result['load_before']}, after {result['load_after']} ({result['cpus']} cpus)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "watch_latency.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
