"""quarry and semble side by side on the multi-language repository fixture, in one run.

For each repository of bench/fixtures/repos/*.json (one split per file), build
quarry's index and semble's index (both timed), then run every query through
four systems: quarry hybrid, quarry lexical, semble hybrid (alpha auto) and
semble BM25 + its ranking rules (alpha=0). Scored:

* file-level NDCG@10: files ranked by their first appearance in the ranked
  chunk list; a file's relevance is the highest grade among the query's golds
  naming it;
* definition-level R@1 / R@5 over the golds that have a `name`: a quarry chunk
  matches when its file is the gold's and its qualname is the name, or its
  parent is (a window of a long definition), or (C++ / Rust, whose chunker
  keeps namespaces) its qualname ends with `::name`. semble's chunks carry no
  names, so a semble chunk matches when it is in the gold file and its lines
  overlap the definition's lines as codequarry's chunker finds them there.

Reported per repository, per language, per category and overall (macro over
queries), with index seconds and query p50 per system.

    QUARRY_REPOS_DIR=/work/repos .venv/bin/python bench/semble_compare.py --split dev
    ... --mode lexical-only      # quarry lexical + semble BM25 only (quarry indexes with `hash`)

quarry's index lives in a cache folder (--cache-dir), so a re-run only checks
files and reuses the vectors; the table then shows that run's (incremental)
seconds and the JSON also keeps the last from-scratch build's (--fresh forces
one). semble is rebuilt from scratch each run in a fresh SEMBLE_CACHE_LOCATION.
Writes bench/out/semble_compare.json. Never run on the test split while tuning.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from codequarry.eval.fixture import REPOS_PREFIX, FixtureQuery, load_fixtures, repos_root

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIXTURES = HERE / "fixtures" / "repos"

SYSTEMS = ("quarry-hybrid", "quarry-lexical", "semble-hybrid", "semble-bm25")
LEXICAL_ONLY = ("quarry-lexical", "semble-bm25")
# Languages whose chunker keeps namespaces in the qualname (`ns::Type::f`).
NAMESPACED = frozenset({"cpp", "rust"})
METRICS = ("ndcg@10", "def_r@1", "def_r@5")


# --------------------------------------------------------------------------- fixture loading

@dataclass(frozen=True, slots=True)
class Repo:
    name: str
    language: str
    split: str
    path: Path
    queries: tuple[FixtureQuery, ...]


def load_repos(folder: Path, split: str, names: tuple[str, ...] = (), limit: int | None = None) -> list[Repo]:
    """The repository fixtures in `folder` through the evaluation harness's own loader and
    `repos:` resolution (eval/fixture.py), so both tools see exactly what `quarry eval` sees."""
    out = []
    for fx in load_fixtures(folder):
        if split != "all" and fx.split != split:
            continue
        if names and fx.name not in names:
            continue
        qs = fx.select(None if split == "all" else split, limit)
        path = repos_root() / fx.repository["path"].removeprefix(REPOS_PREFIX)
        out.append(Repo(fx.name, fx.language or "", fx.split or "", path, tuple(qs)))
    return out


# --------------------------------------------------------------------------- matching and metrics

def ranked_files(files: list[str]) -> list[str]:
    """Files in order of their first appearance in a ranked chunk list."""
    return list(dict.fromkeys(files))


def names_definition(chunk, name: str, language: str) -> bool:
    """A quarry chunk (same file already checked) is the named definition or a window of it."""
    if chunk.qualname == name or chunk.parent == name:
        return True
    if language in NAMESPACED:
        return chunk.qualname.endswith("::" + name) or chunk.parent.endswith("::" + name)
    return False


def definition_spans(text: str, path: str, name: str, language: str) -> tuple[int, int] | None:
    """The lines codequarry's chunker gives the definition `name` in this file (windows joined), or None."""
    from codequarry.chunk import chunk_file

    spans = [(c.line_start, c.line_end) for c in chunk_file(path, text) if names_definition(c, name, language)]
    if not spans:
        return None
    return min(s for s, _ in spans), max(e for _, e in spans)


def definition_ids(matches: list[list[int]]) -> list[str]:
    """Ranked chunks → ids for the metrics: `gJ` for the first chunk matching named gold J, else `rN`.

    `matches[n]` lists the named golds chunk n matches; a gold counts once (its first chunk).
    """
    used: set[int] = set()
    out = []
    for n, js in enumerate(matches):
        j = next((j for j in js if j not in used), None)
        if j is None:
            out.append(f"r{n}")
        else:
            used.add(j)
            out.append(f"g{j}")
    return out


def score_query(files: list[str], matches: list[list[int]], q: FixtureQuery) -> dict[str, float | None]:
    from codequarry.eval.metrics import ndcg_at, recall_at

    out: dict[str, float | None] = {"ndcg@10": ndcg_at(ranked_files(files), q.file_qrels, 10)}
    named = {f"g{j}": 1 for j, g in enumerate(q.gold) if g.name}
    if named:
        ids = definition_ids(matches)
        out["def_r@1"] = recall_at(ids, named, 1)
        out["def_r@5"] = recall_at(ids, named, 5)
    else:
        out["def_r@1"] = out["def_r@5"] = None
    return out


def quarry_matches(chunks, q: FixtureQuery, language: str) -> list[list[int]]:
    return [[j for j, g in enumerate(q.gold) if g.name and c.file == g.file and names_definition(c, g.name, language)]
            for c in chunks]


def span_matches(results: list[tuple[str, int, int]], q: FixtureQuery, spans: dict[int, tuple[int, int] | None]) -> list[list[int]]:
    """(file, start, end) results → named golds whose definition lines they overlap."""
    out = []
    for f, s, e in results:
        out.append([j for j, g in enumerate(q.gold)
                    if g.name and f == g.file and spans.get(j) is not None and s <= spans[j][1] and e >= spans[j][0]])
    return out


def mean(xs) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def aggregate(rows: list[dict], key: str | None) -> dict:
    """Macro means over queries, per system, grouped by `key` (None: overall)."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault("all" if key is None else r[key], []).append(r)
    out = {}
    for g, rs in sorted(groups.items()):
        systems = sorted({s for r in rs for s in r["scores"]}, key=SYSTEMS.index)
        out[g] = {"queries": len(rs), **{s: {m: mean(r["scores"][s][m] for r in rs if s in r["scores"]) for m in METRICS}
                                       for s in systems}}
    return out


# --------------------------------------------------------------------------- the two tools

def quarry_index(repo: Repo, model: str, cache: Path, fresh: bool) -> tuple[Path, float, dict]:
    from codequarry.indexer import index_repository

    folder = cache / f"{repo.name}-{model}"
    stamp = folder.parent / f"{folder.name}.fresh.json"
    if fresh and folder.exists():
        shutil.rmtree(folder)
    was_fresh = not folder.exists()
    t = time.perf_counter()
    stats = index_repository(repo.path, model=model, index_dir=folder)
    seconds = time.perf_counter() - t
    if was_fresh:
        stamp.write_text(json.dumps({"seconds": round(seconds, 2), "date": _now()}))
    last = json.loads(stamp.read_text()) if stamp.exists() else None
    info = {"seconds": round(seconds, 2), "fresh": was_fresh, "last_fresh": last,
            "chunks": stats.chunks, "files": stats.files_seen, "embedded": stats.embedded}
    return folder, seconds, info


def semble_index(repo: Repo, model_path: Path):
    from semble import SembleIndex

    tmp = tempfile.mkdtemp(prefix="semble-cache-")
    old = os.environ.get("SEMBLE_CACHE_LOCATION")
    os.environ["SEMBLE_CACHE_LOCATION"] = tmp  # a fresh cache: the build is timed from scratch
    try:
        t = time.perf_counter()
        index = SembleIndex.from_path(repo.path, model_path=str(model_path))
        seconds = time.perf_counter() - t
    finally:
        if old is None:
            os.environ.pop("SEMBLE_CACHE_LOCATION", None)
        else:
            os.environ["SEMBLE_CACHE_LOCATION"] = old
    return index, seconds, tmp


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1000.0


# --------------------------------------------------------------------------- the run

def run_repo(repo: Repo, args, systems: tuple[str, ...], static: Path) -> tuple[list[dict], dict]:
    from codequarry.search.searcher import Searcher

    model = "hash" if args.mode == "lexical-only" else args.model
    folder, q_secs, q_info = quarry_index(repo, model, args.cache_dir, args.fresh)
    sem, s_secs, tmp = semble_index(repo, static)
    searcher = Searcher.open(repo.path, index_dir=folder)
    runners = {
        "quarry-hybrid": lambda text: [(r.chunk, r.chunk.file) for r in searcher.search(text, k=args.k, mode="hybrid")],
        "quarry-lexical": lambda text: [(r.chunk, r.chunk.file) for r in searcher.search(text, k=args.k, mode="lexical")],
        "semble-hybrid": lambda text: [(r.chunk, r.chunk.file_path) for r in sem.search(text, top_k=args.k, alpha=None)],
        "semble-bm25": lambda text: [(r.chunk, r.chunk.file_path) for r in sem.search(text, top_k=args.k, alpha=0.0)],
    }
    for s in systems:  # load models and warm caches outside the timed queries
        runners[s]("warm up")
    latencies: dict[str, list[float]] = {s: [] for s in systems}
    texts: dict[str, str | None] = {}
    rows = []
    for q in repo.queries:
        spans = {}
        for j, g in enumerate(q.gold):
            if g.name:
                if g.file not in texts:
                    p = repo.path / g.file
                    texts[g.file] = p.read_text(encoding="utf-8", errors="replace") if p.is_file() else None
                t = texts[g.file]
                spans[j] = definition_spans(t, g.file, g.name, repo.language) if t is not None else None
        scores = {}
        for s in systems:
            hits, ms = timed(lambda: runners[s](q.text))
            latencies[s].append(ms)
            files = [f for _, f in hits]
            if s.startswith("quarry"):
                matches = quarry_matches([c for c, _ in hits], q, repo.language)
            else:
                matches = span_matches([(f, c.start_line, c.end_line) for c, f in hits], q, spans)
            scores[s] = score_query(files, matches, q)
        rows.append({"id": q.id, "repo": repo.name, "language": repo.language, "category": q.category,
                     "unlocated_definitions": [q.gold[j].name for j, v in spans.items() if v is None],
                     "scores": scores})
    searcher.close()
    shutil.rmtree(tmp, ignore_errors=True)
    stats = sem.stats
    meta = {"repo": repo.name, "language": repo.language, "queries": len(rows),
            "quarry_index": q_info, "semble_index": {"seconds": round(s_secs, 2), "files": stats.indexed_files,
                                                     "chunks": stats.total_chunks},
            "latency_ms": {s: v for s, v in latencies.items()}}
    return rows, meta


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def fmt(x) -> str:
    return "   -  " if x is None else f"{x:6.3f}"


def print_table(title: str, table: dict, systems: tuple[str, ...], metric: str = "ndcg@10") -> None:
    print(f"\n{title} — {metric}")
    print(f"{'':24} {'n':>4} " + " ".join(f"{s:>15}" for s in systems))
    for g, row in table.items():
        print(f"{g:24} {row['queries']:>4} " + " ".join(f"{fmt(row.get(s, {}).get(metric)):>15}" for s in systems))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    ap.add_argument("--repo", action="append", default=[], help="only this fixture repository (repeatable)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many queries per repository")
    ap.add_argument("--model", default="minilm", help="quarry's embedding model (default minilm)")
    ap.add_argument("--mode", choices=("all", "lexical-only"), default="all")
    ap.add_argument("--k", type=int, default=20, help="chunks asked of each system per query")
    ap.add_argument("--fixtures", type=Path, default=FIXTURES)
    ap.add_argument("--cache-dir", type=Path, default=None, help="where quarry's indexes are kept between runs")
    ap.add_argument("--fresh", action="store_true", help="rebuild quarry's indexes from scratch")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "semble_compare.json")
    args = ap.parse_args(argv)

    from codequarry.embed.presets import resolve_model
    from codequarry.embed.static_backend import ensure_distilled
    from codequarry.eval.cache import cache_dir
    from codequarry.eval.metrics import percentile

    if args.cache_dir is None:
        args.cache_dir = cache_dir() / "semble_compare"
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    repos = load_repos(args.fixtures, args.split, tuple(args.repo), args.limit)
    if not repos:
        print(f"no fixture repository in split '{args.split}' matches", file=sys.stderr)
        return 2
    missing = [r.name for r in repos if not r.path.is_dir()]
    if missing:
        print(f"repositories not fetched: {', '.join(missing)} (run bench/fetch_repos.py; set QUARRY_REPOS_DIR)",
              file=sys.stderr)
        return 2
    systems = LEXICAL_ONLY if args.mode == "lexical-only" else SYSTEMS
    # semble's dense leg: the static model codequarry's `fast` preset distils from minilm.
    static = ensure_distilled(resolve_model("minilm"))
    started = _now()
    load_before = _uptime()

    rows, metas = [], []
    for repo in repos:
        print(f"[{_now()}] {repo.name} ({repo.language}, {len(repo.queries)} queries)", file=sys.stderr, flush=True)
        r, m = run_repo(repo, args, systems, static)
        rows += r
        metas.append(m)
        print(f"    quarry index {m['quarry_index']['seconds']:.1f}s (fresh={m['quarry_index']['fresh']}), "
              f"semble index {m['semble_index']['seconds']:.1f}s", file=sys.stderr, flush=True)

    tables = {"overall": aggregate(rows, None), "category": aggregate(rows, "category"),
              "language": aggregate(rows, "language"), "repo": aggregate(rows, "repo")}
    lat = {s: percentile([x for m in metas for x in m["latency_ms"][s]], 50) for s in systems}
    index_seconds = {"quarry": sum(m["quarry_index"]["seconds"] for m in metas),
                     "quarry_last_fresh": sum((m["quarry_index"]["last_fresh"] or {}).get("seconds", 0.0) for m in metas),
                     "semble": sum(m["semble_index"]["seconds"] for m in metas)}

    for metric in METRICS:
        print_table("overall", tables["overall"], systems, metric)
    print_table("per category", tables["category"], systems)
    print_table("per language", tables["language"], systems)
    print_table("per repository", tables["repo"], systems)
    print(f"\nindex seconds: quarry {index_seconds['quarry']:.1f} this run "
          f"(last from-scratch builds: {index_seconds['quarry_last_fresh']:.1f}), semble {index_seconds['semble']:.1f}")
    print("query p50 ms: " + ", ".join(f"{s} {v:.1f}" for s, v in lat.items()))
    unlocated = sorted({(r["repo"], n) for r in rows for n in r["unlocated_definitions"]})
    if unlocated:
        print(f"{len(unlocated)} gold definitions codequarry's chunker does not find (no semble match possible): "
              + ", ".join(f"{a}:{b}" for a, b in unlocated[:10]) + (" …" if len(unlocated) > 10 else ""))
    load_after = _uptime()
    print(f"load: before {load_before!r}; after {load_after!r}")

    for m in metas:
        m["latency_p50_ms"] = {s: round(percentile(v, 50), 2) for s, v in m.pop("latency_ms").items()}
    out = {
        "config": {"split": args.split, "repos": [r.name for r in repos], "limit": args.limit, "model": args.model,
                   "mode": args.mode, "k": args.k, "systems": list(systems), "semble_model": str(static),
                   "semble_version": _semble_version()},
        "git_commit": _git_commit(), "started": started, "finished": _now(),
        "uptime_before": load_before, "uptime_after": load_after,
        "tables": tables, "index_seconds": index_seconds, "query_p50_ms": lat, "repos": metas,
        "unlocated_definitions": [list(x) for x in unlocated], "queries": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


def _semble_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("semble")
    except Exception:  # not installed as a distribution: the run itself would have failed first
        return None


if __name__ == "__main__":
    sys.exit(main())
