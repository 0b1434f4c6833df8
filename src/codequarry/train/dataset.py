"""Build a pair set: fetch sources → `quarry index` each → mine → de-duplicate → split → balance → write.

Split by repository: per language one repository (EVAL_REPOS) is held out as
the `eval` split, so a model evaluated on mined pairs never saw that
repository; every other repository is `train`. Then each language's train
pairs are capped at `per_language` (seeded sample), which is what "balanced
per language" means here; recipes choose their own mix from that.
"""

from __future__ import annotations

import json
import platform
import random
import time
from collections import Counter
from pathlib import Path

from codequarry.train.pairs import (
    MANIFEST_FILE, PAIRS_FILE, Pair, cosqa_pairs, file_sha256, summarize, write_pairs,
)

EVAL_REPOS = {
    "python": "python3-click",
    "go": "golang-github-spf13-cobra-dev",
    "java": "openjdk-17-source/java.sql",
    "rust": "librust-clap-dev",
    "javascript": "node-commander",
    "typescript": "zod",
    "php": "php-monolog",
    "ruby": "ruby-thor",
    "cpp": "libfmt-dev",
}
BUILDER_VERSION = "1"


def _order(p: Pair) -> tuple:
    return (p.split, p.language, p.source, p.repo, p.file, p.qualname, p.id)


def build_pair_set(
    out_dir: Path, *, workdir: Path, cosqa: Path | None, languages: list[str] | None = None,
    sources: list[str] | None = None, per_language: int = 4000, eval_per_language: int = 500,
    seed: int = 13, fetch: bool = True, log=print,
) -> dict:
    """Write out_dir/pairs.jsonl and out_dir/manifest.json; return the manifest."""
    from codequarry.train.mining import dedupe, index_source, mine_index
    from codequarry.train.sources import fetch_source, select_sources

    started = time.time()
    out_dir = Path(out_dir)
    workdir = Path(workdir)
    pairs: list[Pair] = []
    inputs: list[dict] = []
    cosqa_info: dict = {}
    blocked: list[str] = []
    if cosqa is not None:
        cpairs, exclusions, cosqa_info = cosqa_pairs(cosqa, seed=seed)
        pairs.extend(cpairs)
        blocked = _test_positives(Path(cosqa))
        for name in ("corpus.jsonl", "queries.dev.jsonl", "qrels/dev.tsv", "original/cosqa-dev.json"):
            path = Path(cosqa) / name
            if path.is_file():
                inputs.append({"file": str(path), "sha256": file_sha256(path)})
        log(f"cosqa: {len(cpairs)} pairs ({cosqa_info})")
    from codequarry.train.mining import strip_doc

    blocked_stripped = [strip_doc(code, "python") for code in blocked]
    mined: list[Pair] = []
    mining_stats: dict[str, dict] = {}
    fetched_info = []
    for src in (select_sources(languages, sources) if (languages or sources or per_language) else []):
        f = fetch_source(src, workdir, fetch=fetch)
        index_dir = workdir / "index" / src.name.replace("/", "__")
        t0 = time.time()
        istats = index_source(Path(f.root), index_dir)
        stats: Counter = Counter()
        found = mine_index(index_dir, repo=src.name, version=f.version, stats=stats)
        mining_stats[src.name] = {"chunks": istats.chunks, "index_seconds": round(time.time() - t0, 1), **stats}
        fetched_info.append(f.to_json() | {"candidates": len(found)})
        mined.extend(found)
        log(f"{src.language:10} {src.name}: {f.files} files, {istats.chunks} chunks, {len(found)} candidates")
    mined.sort(key=_order)
    rng = random.Random(seed)
    rng.shuffle(mined)  # which of two near-duplicates survives must not depend on the package order
    dstats: Counter = Counter()
    kept = dedupe(mined, blocked_codes=blocked_stripped, stats=dstats)
    for p in kept:
        p.split = "eval" if EVAL_REPOS.get(p.language) == p.repo else "train"
    balanced: list[Pair] = []
    by_lang: dict[tuple[str, str], list[Pair]] = {}
    for p in sorted(kept, key=_order):
        by_lang.setdefault((p.language, p.split), []).append(p)
    available = {f"{lang}/{split}": len(v) for (lang, split), v in sorted(by_lang.items())}
    for (lang, split), group in sorted(by_lang.items()):
        cap = per_language if split == "train" else eval_per_language
        if cap >= 0 and len(group) > cap:
            group = sorted(random.Random(f"{seed}:{lang}:{split}").sample(group, cap), key=_order)
        balanced.extend(group)
    # Relations only matter between pairs that made it into the set.
    keys = {p.key for p in balanced} | {p.key for p in pairs}
    for p in balanced:
        p.related = [r for r in p.related if r in keys or ":class:" in r]
    final = sorted(pairs + balanced, key=_order)
    sha = write_pairs(final, out_dir / PAIRS_FILE)
    manifest = {
        "format": "codequarry-train-pairs", "builder_version": BUILDER_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(time.time() - started, 1),
        "pairs_file": PAIRS_FILE, "pairs_sha256": sha,
        "settings": {"per_language": per_language, "eval_per_language": eval_per_language, "seed": seed,
                     "languages": languages, "sources": sources, "eval_repos": EVAL_REPOS},
        "summary": summarize(final),
        "mined_available_after_dedupe": available,
        "dedupe": dict(dstats), "mining": mining_stats, "sources": fetched_info,
        "cosqa": cosqa_info, "inputs": inputs,
        "host": {"python": platform.python_version(), "machine": platform.machine()},
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def _test_positives(root: Path) -> list[str]:
    """Code of the CoSQA test positives: mined code near any of them is dropped."""
    corpus = {}
    with open(root / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            corpus[str(row["_id"])] = row.get("text") or ""
    ids = set()
    with open(root / "qrels" / "test.tsv", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[1] in corpus:
                ids.add(parts[1])
    return [corpus[i] for i in sorted(ids)]
