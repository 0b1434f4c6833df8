"""Index the CPython standard library (Lib/, no tests) and report what it cost.

Copies this interpreter's Lib/ (tests excluded) to bench/out/cpython-lib so the
one-file edit that follows never touches the real standard library, runs
`quarry index --json` in a fresh process, then edits one file and re-indexes.

    python bench/index_cpython.py [--model minilm] [--limit-files N]

Prints a table and writes bench/out/index_cpython-<model>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
TEST_DIRS = {"test", "tests", "idle_test", "site-packages", "__pycache__"}


def copy_lib(dest: Path, limit: int | None) -> int:
    src = Path(sysconfig.get_paths()["stdlib"])
    if dest.exists():
        shutil.rmtree(dest)
    n = 0
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        if TEST_DIRS & set(rel.parts[:-1]) or rel.name.startswith("test_"):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        n += 1
        if limit and n >= limit:
            break
    return n


def run_index(repo: Path, model: str, index_dir: Path) -> tuple[dict, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "codequarry.cli", "index", str(repo), "--model", model,
         "--index-dir", str(index_dir), "--json"],
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"index failed: {proc.stderr.strip()}")
    peak_kib = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return json.loads(proc.stdout), wall, peak_kib


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--limit-files", type=int, default=None)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    repo = OUT / "cpython-lib"
    index_dir = OUT / f"cpython-index-{args.model.replace('/', '_')}"
    shutil.rmtree(index_dir, ignore_errors=True)
    copied = copy_lib(repo, args.limit_files)

    full, wall, peak = run_index(repo, args.model, index_dir)
    edited = repo / "json" / "encoder.py"
    edited.write_text(edited.read_text() + "\n\ndef bench_added(x):\n    return x * 2\n")
    inc, inc_wall, _ = run_index(repo, args.model, index_dir)

    row = {
        "model": args.model,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "files_copied": copied,
        "files_indexed": full["files_parsed"],
        "chunks": full["chunks"],
        "seconds": round(wall, 1),
        "chunks_per_s": round(full["chunks"] / full["seconds"], 1),
        "peak_rss_mib": round(peak / 1024, 1),
        "index_mib": round(dir_size(index_dir) / 2**20, 1),
        "reindex_one_file_s": round(inc_wall, 2),
        "reindex_embedded": inc["embedded"],
        "reindex_reused": inc["reused"],
        "date": time.strftime("%Y-%m-%d"),
    }
    (OUT / f"index_cpython-{args.model.replace('/', '_')}.json").write_text(json.dumps(row, indent=2))
    width = max(len(k) for k in row)
    for k, v in row.items():
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
