"""Time to first search: quarry's lexical phase against semble's whole index, side by side, per repository.

    QUARRY_REPOS_DIR=/work/repos .venv/bin/python bench/first_search.py [--repo NAME ...] [--rounds 3] [--complete]

Every repository of the fixture (bench/fixtures/repos, both halves: this measures time, not
quality), measured in one run, the two tools interleaved so they see the same machine load:

* **process** (what a person or an agent waits for, from launch to the first answer): semble as one
  new Python process that imports semble, builds its index (fresh cache, the static model distilled
  from MiniLM, as bench/semble_compare.py uses) and answers a query; quarry as
  `quarry index --background` (returns once the lexical phase is committed; the detached embedder
  it starts is stopped at once, so it does not load the next measurement) followed by
  `quarry search QUERY`, the default mode, which answers lexically until vectors exist;
* **in-process** (the library call alone, after imports): `SembleIndex.from_path` against
  `index_repository(background=True, spawn=False)` with the default model (its load runs alongside
  the lexical phase, as in the product);
* with --complete, **complete hybrid** as well: `quarry index` in a new process (the default,
  which returns once every vector is embedded, with the default model and runtime), against the
  same semble process.

Each figure is the median of --rounds rounds, in wall seconds and in CPU seconds (user + system,
of the process and every process it waited for: quarry's parse workers count, the detached
embedder does not). On a shared machine the wall ratio moves with the load; the CPU ratio is
the cost of the work itself. Prints a table with the ratios (quarry / semble), their median and
maximum, and writes bench/out/first_search.json with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from semble_compare import FIXTURES, load_repos

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEMBLE_PROCESS = (
    "import sys\n"
    "from semble import SembleIndex\n"
    "index = SembleIndex.from_path(sys.argv[1], model_path=sys.argv[2])\n"
    "assert index.search(sys.argv[3], top_k=10) is not None\n"
)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _cpu() -> float:
    """CPU seconds of this process's threads and of every child it has waited for."""
    return time.process_time() + _children_cpu()


def _env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "QUARRY_NO_SERVER": "1", **extra}


def semble_process(repo: Path, model: Path, query: str) -> tuple[float, float]:
    cache = tempfile.mkdtemp(prefix="semble-cache-")
    try:
        t, c = time.perf_counter(), _children_cpu()
        subprocess.run([sys.executable, "-c", SEMBLE_PROCESS, str(repo), str(model), query], check=True,
                       env=_env(SEMBLE_CACHE_LOCATION=cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t, _children_cpu() - c
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def quarry_process(repo: Path, folder: Path, query: str) -> tuple[float, float, float]:
    """(seconds to the first answer, of which the search command, CPU seconds)."""
    shutil.rmtree(folder, ignore_errors=True)
    quarry = [sys.executable, "-m", "codequarry.cli"]
    t, c = time.perf_counter(), _children_cpu()
    subprocess.run([*quarry, "index", str(repo), "--index-dir", str(folder), "--background", "--json"], check=True,
                   env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    indexed = time.perf_counter()
    # The detached embedder would take the CPU from the next measurement.
    subprocess.run(["pkill", "-f", "--", f"--index-dir {folder} "], check=False)
    out = subprocess.run([*quarry, "search", query, "--index-dir", str(folder), "--json"], check=True,
                         env=_env(), capture_output=True, text=True)
    done, cpu = time.perf_counter(), _children_cpu() - c
    if not json.loads(out.stdout):
        raise SystemExit(f"quarry search answered nothing on {repo.name} for {query!r}")
    return done - t, done - indexed, cpu


def quarry_complete(repo: Path, folder: Path) -> tuple[float, float]:
    """(seconds, CPU seconds) of a fresh `quarry index` that returns with every vector embedded."""
    shutil.rmtree(folder, ignore_errors=True)
    t, c = time.perf_counter(), _children_cpu()
    subprocess.run([sys.executable, "-m", "codequarry.cli", "index", str(repo), "--index-dir", str(folder), "--json"],
                   check=True, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t, _children_cpu() - c


def semble_in_process(repo: Path, model: Path) -> tuple[float, float]:
    from semble import SembleIndex

    cache = tempfile.mkdtemp(prefix="semble-cache-")
    old = os.environ.get("SEMBLE_CACHE_LOCATION")
    os.environ["SEMBLE_CACHE_LOCATION"] = cache
    try:
        t, c = time.perf_counter(), _cpu()
        SembleIndex.from_path(repo, model_path=str(model))
        return time.perf_counter() - t, _cpu() - c
    finally:
        if old is None:
            os.environ.pop("SEMBLE_CACHE_LOCATION", None)
        else:
            os.environ["SEMBLE_CACHE_LOCATION"] = old
        shutil.rmtree(cache, ignore_errors=True)


def quarry_in_process(repo: Path, folder: Path) -> tuple[float, float, int, int]:
    from codequarry.indexer import index_repository

    shutil.rmtree(folder, ignore_errors=True)
    t, c = time.perf_counter(), _cpu()
    stats = index_repository(repo, index_dir=folder, background=True, spawn=False)
    return time.perf_counter() - t, _cpu() - c, stats.files_parsed, stats.chunks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", type=Path, default=FIXTURES)
    ap.add_argument("--repo", action="append", default=[], help="only this repository (repeatable)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--complete", action="store_true", help="also time complete hybrid (`quarry index`, waiting)")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "first_search.json")
    args = ap.parse_args(argv)
    os.environ["QUARRY_NO_SERVER"] = "1"

    from codequarry.embed.presets import resolve_model
    from codequarry.embed.static_backend import ensure_distilled

    model = Path(ensure_distilled(resolve_model("minilm")))
    repos = load_repos(args.fixtures, "all", tuple(args.repo))
    work = Path(tempfile.mkdtemp(prefix="first-search-"))
    rows = []
    load_before = load()
    try:
        for repo in repos:
            query = repo.queries[0].text
            m: dict[str, list[float]] = defaultdict(list)
            files = chunks = 0
            for _ in range(args.rounds):
                for key, value in zip(("semble_proc", "semble_proc_cpu"), semble_process(repo.path, model, query)):
                    m[key].append(value)
                for key, value in zip(("quarry_proc", "quarry_search", "quarry_proc_cpu"),
                                      quarry_process(repo.path, work / "proc", query)):
                    m[key].append(value)
                for key, value in zip(("semble_lib", "semble_lib_cpu"), semble_in_process(repo.path, model)):
                    m[key].append(value)
                seconds, cpu, files, chunks = quarry_in_process(repo.path, work / "lib")
                m["quarry_lib"].append(seconds)
                m["quarry_lib_cpu"].append(cpu)
                if args.complete:
                    for key, value in zip(("quarry_complete", "quarry_complete_cpu"),
                                          quarry_complete(repo.path, work / "complete")):
                        m[key].append(value)
            med = {k: round(statistics.median(v), 3) for k, v in m.items()}
            row = {"repo": repo.name, "language": repo.language, "files": files, "chunks": chunks, **med,
                   "load1": load()}
            for kind in ("proc", "lib"):
                row[f"ratio_{kind}"] = round(med[f"quarry_{kind}"] / med[f"semble_{kind}"], 2)
                row[f"ratio_{kind}_cpu"] = round(med[f"quarry_{kind}_cpu"] / med[f"semble_{kind}_cpu"], 2)
            if args.complete:  # against the same semble process: index built and a query answered
                row["ratio_complete"] = round(med["quarry_complete"] / med["semble_proc"], 2)
                row["ratio_complete_cpu"] = round(med["quarry_complete_cpu"] / med["semble_proc_cpu"], 2)
            rows.append(row)
            print(f"{repo.name:24} process {row['quarry_proc']:5.2f}s vs {row['semble_proc']:5.2f}s "
                  f"({row['ratio_proc']:4.2f}x; cpu {row['ratio_proc_cpu']:4.2f}x)   in-process {row['quarry_lib']:5.2f}s "
                  f"vs {row['semble_lib']:5.2f}s ({row['ratio_lib']:5.2f}x; cpu {row['ratio_lib_cpu']:5.2f}x)   "
                  + (f"   complete {row['quarry_complete']:5.2f}s ({row['ratio_complete']:5.2f}x)" if args.complete else "")
                  + f"   load {row['load1']}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratios = ("ratio_proc", "ratio_proc_cpu", "ratio_lib", "ratio_lib_cpu") + (
        ("ratio_complete", "ratio_complete_cpu") if args.complete else ())
    summary = {k: {"median": round(statistics.median(r[k] for r in rows), 2), "max": max(r[k] for r in rows),
                   "over_2x": [r["repo"] for r in rows if r[k] > 2]} for k in ratios}
    print("\n| repository | chunks | first answer, process: quarry / semble (wall) | ratio | CPU ratio "
          "| index call, in-process: quarry lexical phase / semble (wall) | ratio | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['repo']} | {r['chunks']:,} | {r['quarry_proc']:.2f} / {r['semble_proc']:.2f} s | "
              f"{r['ratio_proc']:.2f}× | {r['ratio_proc_cpu']:.2f}× | {r['quarry_lib']:.2f} / {r['semble_lib']:.2f} s | "
              f"{r['ratio_lib']:.2f}× | {r['ratio_lib_cpu']:.2f}× |")
    if args.complete:
        print("\n| repository | complete hybrid, process: quarry / semble (wall) | ratio | CPU ratio |")
        print("|---|---:|---:|---:|")
        for r in rows:
            print(f"| {r['repo']} | {r['quarry_complete']:.2f} / {r['semble_proc']:.2f} s | {r['ratio_complete']:.2f}× | "
                  f"{r['ratio_complete_cpu']:.2f}× |")
        print(f"| **all** | {sum(r['quarry_complete'] for r in rows):.1f} / {sum(r['semble_proc'] for r in rows):.1f} s | | |")
    for k, label in (("ratio_proc", "process, wall"), ("ratio_proc_cpu", "process, CPU"),
                     ("ratio_lib", "in-process, wall"), ("ratio_lib_cpu", "in-process, CPU"),
                     ("ratio_complete", "complete hybrid, wall"), ("ratio_complete_cpu", "complete hybrid, CPU")):
        if k not in summary:
            continue
        s = summary[k]
        print(f"{label}: median ratio {s['median']}×, max {s['max']}×, above 2×: {', '.join(s['over_2x']) or 'none'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "rounds": args.rounds,
        "complete": args.complete,
        "load1_before": load_before, "load1_after": load(), "cpus": os.cpu_count(), "rows": rows,
        "summary": summary}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
