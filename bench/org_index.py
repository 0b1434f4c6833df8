"""Throughput of `quarry org index` over the fetched repositories: 1 vs 2 Ray workers.

    QUARRY_REPOS_DIR=/work/repos python bench/org_index.py [--workers 1,2] [--model hash] [--repeats 1]

Each run indexes every repository under $QUARRY_REPOS_DIR into a fresh Milvus
Lite store on a fresh local Ray runtime (its start is part of the wall time,
and reported apart). Reports chunks/s on wall time, and where time goes:
parse seconds (summed over Ray tasks), embed seconds (summed over actors),
the driver's store reads/writes, and the runtime's start. Then one
incremental re-run with nothing changed (every chunk kept, none embedded).
Records the 1-minute load average before and after each run.

Writes bench/out/org_index.json and prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def one_run(repos: list[Path], store: str, model: str, workers: int, label: str) -> dict:
    import ray

    from codequarry.scale.index import index_organisation

    load_before = load1()
    t = time.perf_counter()
    # Started here (as ray_runtime would) so its start-up is measured apart from the indexing.
    ray.init(num_cpus=2 * workers, include_dashboard=False, log_to_driver=False, logging_level="WARNING",
             object_store_memory=256 * 1024 * 1024)
    started = time.perf_counter() - t
    try:
        stats = index_organisation(repos, store, model=model, workers=workers)
    finally:
        ray.shutdown()
    return dict(run=label, workers=workers, model=model, repos=len(stats.repos), chunks=stats.chunks,
                embedded=stats.embedded, reused=stats.reused, kept=stats.kept, wall_s=stats.seconds,
                ray_start_s=round(started, 2), chunks_per_s=stats.chunks_per_second,
                parse_task_s=stats.parse_seconds, embed_actor_s=stats.embed_seconds,
                driver_store_s=stats.write_seconds, load1_before=load_before, load1_after=load1())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repos-dir", type=Path, default=Path(os.environ.get("QUARRY_REPOS_DIR", "/work/repos")))
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--model", default="hash")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "org_index.json")
    args = ap.parse_args()
    repos = sorted(p for p in args.repos_dir.iterdir() if p.is_dir())
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        folder = Path(tempfile.mkdtemp(prefix="quarry-org-bench-"))
        try:
            store = str(folder / "org.db")
            rows.append(one_run(repos, store, args.model, workers, "full"))
            print(rows[-1], flush=True)
            rows.append(one_run(repos, store, args.model, workers, "unchanged"))
            print(rows[-1], flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
              "repos_dir": str(args.repos_dir), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    cols = ["run", "workers", "model", "repos", "chunks", "embedded", "wall_s", "ray_start_s", "chunks_per_s",
            "parse_task_s", "embed_actor_s", "driver_store_s", "load1_after"]
    print(" ".join(f"{c:>13}" for c in cols))
    for r in rows:
        print(" ".join(f"{str(r[c]):>13}" for c in cols))


if __name__ == "__main__":
    main()
