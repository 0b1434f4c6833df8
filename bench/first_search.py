"""Time to first search: quarry's lexical phase against semble's whole index, side by side, per repository.

    QUARRY_REPOS_DIR=/work/repos .venv/bin/python bench/first_search.py [--repo NAME ...] [--rounds 3]

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
  the lexical phase, as in the product).

Each figure is the median of --rounds rounds. Prints a table with the ratios (quarry / semble),
their median and maximum, and writes bench/out/first_search.json with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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


def _env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "QUARRY_NO_SERVER": "1", **extra}


def semble_process(repo: Path, model: Path, query: str) -> float:
    cache = tempfile.mkdtemp(prefix="semble-cache-")
    try:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", SEMBLE_PROCESS, str(repo), str(model), query], check=True,
                       env=_env(SEMBLE_CACHE_LOCATION=cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def quarry_process(repo: Path, folder: Path, query: str) -> tuple[float, float]:
    """(seconds to the first answer, of which the search command)."""
    shutil.rmtree(folder, ignore_errors=True)
    quarry = [sys.executable, "-m", "codequarry.cli"]
    t = time.perf_counter()
    subprocess.run([*quarry, "index", str(repo), "--index-dir", str(folder), "--background", "--json"], check=True,
                   env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    indexed = time.perf_counter()
    # The detached embedder would take the CPU from the next measurement.
    subprocess.run(["pkill", "-f", "--", f"--index-dir {folder} "], check=False)
    out = subprocess.run([*quarry, "search", query, "--index-dir", str(folder), "--json"], check=True,
                         env=_env(), capture_output=True, text=True)
    done = time.perf_counter()
    if not json.loads(out.stdout):
        raise SystemExit(f"quarry search answered nothing on {repo.name} for {query!r}")
    return done - t, done - indexed


def semble_in_process(repo: Path, model: Path) -> float:
    from semble import SembleIndex

    cache = tempfile.mkdtemp(prefix="semble-cache-")
    old = os.environ.get("SEMBLE_CACHE_LOCATION")
    os.environ["SEMBLE_CACHE_LOCATION"] = cache
    try:
        t = time.perf_counter()
        SembleIndex.from_path(repo, model_path=str(model))
        return time.perf_counter() - t
    finally:
        if old is None:
            os.environ.pop("SEMBLE_CACHE_LOCATION", None)
        else:
            os.environ["SEMBLE_CACHE_LOCATION"] = old
        shutil.rmtree(cache, ignore_errors=True)


def quarry_in_process(repo: Path, folder: Path) -> tuple[float, int, int]:
    from codequarry.indexer import index_repository

    shutil.rmtree(folder, ignore_errors=True)
    t = time.perf_counter()
    stats = index_repository(repo, index_dir=folder, background=True, spawn=False)
    return time.perf_counter() - t, stats.files_parsed, stats.chunks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", type=Path, default=FIXTURES)
    ap.add_argument("--repo", action="append", default=[], help="only this repository (repeatable)")
    ap.add_argument("--rounds", type=int, default=3)
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
            m: dict[str, list[float]] = {k: [] for k in ("semble_proc", "quarry_proc", "quarry_search",
                                                         "semble_lib", "quarry_lib")}
            files = chunks = 0
            for _ in range(args.rounds):
                m["semble_proc"].append(semble_process(repo.path, model, query))
                total, search = quarry_process(repo.path, work / "proc", query)
                m["quarry_proc"].append(total)
                m["quarry_search"].append(search)
                m["semble_lib"].append(semble_in_process(repo.path, model))
                seconds, files, chunks = quarry_in_process(repo.path, work / "lib")
                m["quarry_lib"].append(seconds)
            med = {k: round(statistics.median(v), 3) for k, v in m.items()}
            row = {"repo": repo.name, "language": repo.language, "files": files, "chunks": chunks, **med,
                   "ratio_proc": round(med["quarry_proc"] / med["semble_proc"], 2),
                   "ratio_lib": round(med["quarry_lib"] / med["semble_lib"], 2), "load1": load()}
            rows.append(row)
            print(f"{repo.name:24} process {row['quarry_proc']:6.2f}s vs {row['semble_proc']:5.2f}s "
                  f"({row['ratio_proc']:4.2f}x)   in-process {row['quarry_lib']:6.2f}s vs {row['semble_lib']:5.2f}s "
                  f"({row['ratio_lib']:5.2f}x)   load {row['load1']}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    summary = {k: {"median": round(statistics.median(r[k] for r in rows), 2), "max": max(r[k] for r in rows),
                   "over_2x": [r["repo"] for r in rows if r[k] > 2]} for k in ("ratio_proc", "ratio_lib")}
    print("\n| repository | chunks | quarry first answer (process) | semble index+answer (process) | ratio "
          "| quarry lexical phase (in-process) | semble index (in-process) | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['repo']} | {r['chunks']:,} | {r['quarry_proc']:.2f} s | {r['semble_proc']:.2f} s | "
              f"{r['ratio_proc']:.2f}× | {r['quarry_lib']:.2f} s | {r['semble_lib']:.2f} s | {r['ratio_lib']:.2f}× |")
    for k, label in (("ratio_proc", "process"), ("ratio_lib", "in-process")):
        s = summary[k]
        print(f"{label}: median ratio {s['median']}×, max {s['max']}×, above 2×: {', '.join(s['over_2x']) or 'none'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "rounds": args.rounds,
        "load1_before": load_before, "load1_after": load(), "cpus": os.cpu_count(), "rows": rows,
        "summary": summary}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
