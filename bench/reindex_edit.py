"""Edit one file, re-index: how long until the edit is searchable, with the default model.

    QUARRY_REPOS_DIR=/work/repos .venv/bin/python bench/reindex_edit.py [--repo NAME ...] [--rounds 3]

For each fixture repository, a copy of the repository (mtimes kept) and a copy of a complete
`minilm` index of it (bench/semble_compare.py's cache: --index-cache; built there when missing) are
made in a scratch folder, so nothing shared is touched. Then, each timed as a new `quarry index`
process (what `quarry watch` or an editor hook runs):

* a re-index with nothing changed (a stat of every file);
* one source file edited (a new function appended to a middle-sized code file): re-chunk that file,
  embed its new chunk texts, publish the slot's vectors; checked by searching the new function's
  name and finding it first.

Prints a table and writes bench/out/reindex_edit.json with the load average.
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
CODE = {".py": "def quarry_bench_probe_{n}(value):\n    return value * {n}\n",
        ".go": "func QuarryBenchProbe{n}(v int) int {{ return v * {n} }}\n",
        ".rs": "pub fn quarry_bench_probe_{n}(v: i64) -> i64 {{ v * {n} }}\n",
        ".js": "function quarryBenchProbe{n}(v) {{ return v * {n}; }}\n",
        ".ts": "export function quarryBenchProbe{n}(v: number): number {{ return v * {n}; }}\n",
        ".rb": "def quarry_bench_probe_{n}(v)\n  v * {n}\nend\n",
        ".c": "int quarry_bench_probe_{n}(int v) {{ return v * {n}; }}\n",
        ".lua": "local function quarry_bench_probe_{n}(v) return v * {n} end\n"}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def _quarry(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "QUARRY_NO_SERVER": "1"}
    done = subprocess.run([sys.executable, "-m", "codequarry.cli", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"quarry {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def _target(index: Path) -> str | None:
    """A middle-sized indexed code file (not a test) in a language with a probe template."""
    import sqlite3

    conn = sqlite3.connect(index / "index.db")
    try:
        rows = conn.execute("SELECT path, size FROM files ORDER BY size").fetchall()
    finally:
        conn.close()
    files = [p for p, _ in rows if Path(p).suffix in CODE and "test" not in p.lower()]
    return files[len(files) // 2] if files else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", type=Path, default=FIXTURES)
    ap.add_argument("--repo", action="append", default=[])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--index-cache", type=Path, default=None, help="default: <cache>/semble_compare")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "reindex_edit.json")
    args = ap.parse_args(argv)
    from codequarry.eval.cache import cache_dir

    cache = args.index_cache or cache_dir() / "semble_compare"
    rows = []
    load_before = load()
    for repo in load_repos(args.fixtures, "all", tuple(args.repo)):
        work = Path(tempfile.mkdtemp(prefix="reindex-"))
        try:
            src, idx = work / "repo", work / "index"
            shutil.copytree(repo.path, src, symlinks=True)  # copy2: mtimes kept, so nothing looks changed
            cached = cache / f"{repo.name}-minilm"
            if not (cached / "index.db").exists():
                _quarry("index", str(repo.path), "--index-dir", str(cached), "--model", "minilm")
            shutil.copytree(cached, idx)
            (idx / "lock").unlink(missing_ok=True)
            first = json.loads(_quarry("index", str(src), "--index-dir", str(idx), "--json").stdout)
            rel = _target(idx)
            if rel is None:
                print(f"{repo.name}: no indexed file in a probed language; skipped", file=sys.stderr)
                continue
            noop, edit, embedded = [], [], []
            for n in range(args.rounds):
                t = time.perf_counter()
                _quarry("index", str(src), "--index-dir", str(idx), "--json")
                noop.append(time.perf_counter() - t)
                path = src / rel
                path.write_text(path.read_text(errors="replace") + "\n" + CODE[path.suffix].format(n=n + 1))
                t = time.perf_counter()
                stats = json.loads(_quarry("index", str(src), "--index-dir", str(idx), "--json").stdout)
                edit.append(time.perf_counter() - t)
                embedded.append(stats["embedded"])
                name = CODE[path.suffix].format(n=n + 1).split("(")[0].split()[-1]
                hits = json.loads(_quarry("search", name, "--index-dir", str(idx), "--json", "-k", "1").stdout)
                if not hits or hits[0]["name"] != name:
                    raise SystemExit(f"{repo.name}: the edit is not searchable: {name} → {hits[:1]}")
            row = {"repo": repo.name, "chunks": first["chunks"], "file": rel,
                   "first_run_s": first["seconds"], "noop_s": round(statistics.median(noop), 3),
                   "edit_s": round(statistics.median(edit), 3), "embedded": statistics.median(embedded),
                   "load1": load()}
            rows.append(row)
            print(f"{repo.name:24} no change {row['noop_s']:.2f}s  one file edited {row['edit_s']:.2f}s "
                  f"({row['embedded']:.0f} embedded)  load {row['load1']}", file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print("\n| repository | chunks | edited file | no-change re-index | one file edited | chunk texts embedded |")
    print("|---|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['repo']} | {r['chunks']:,} | `{r['file']}` | {r['noop_s']:.2f} s | {r['edit_s']:.2f} s "
              f"| {r['embedded']:.0f} |")
    if rows:
        print(f"median: no change {statistics.median(r['noop_s'] for r in rows):.2f} s, "
              f"one file edited {statistics.median(r['edit_s'] for r in rows):.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "rounds": args.rounds, "load1_before": load_before, "load1_after": load(),
                                    "rows": rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
