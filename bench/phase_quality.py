"""Search quality at each phase of a progressive index, on the repository fixture's dev half.

    QUARRY_REPOS_DIR=/work/repos .venv/bin/python bench/phase_quality.py [--split dev]

What a search answers while `quarry index` runs, replayed over each dev repository's complete
`minilm` index (bench/semble_compare.py's cache, copied to a scratch folder; built there when
missing): after the lexical phase (no vectors: the default search answers lexically, with the
ranking rules), then with 25 %, 50 % and 75 % of the chunk texts embedded — in the order the
indexer embeds them (shortest text first; indexer._embed) — and complete. A partial state is
exact, not simulated from the complete ranking: the dense leg searches only the embedded
chunks' vectors (a FAISS ID filter) and every lexical candidate without a vector is scored by
its lexical score alone, as `Searcher` does mid-embedding (`ranking.rank(..., unembedded=)`).

File-level nDCG@10 and definition R@1 / R@5, macro over queries (bench/semble_compare.py's
scoring), overall and per category. Writes bench/out/phase_quality.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import semble_compare as sc

HERE = Path(__file__).resolve().parent
FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
K = 20  # as bench/semble_compare.py asks (--k)
DEPTH = 100


def _index(repo, cache: Path) -> Path:
    from codequarry.indexer import index_repository

    folder = cache / f"{repo.name}-minilm"
    if not (folder / "index.db").exists():
        index_repository(repo.path, model="minilm", index_dir=folder)
    return folder


def evaluate(repo, folder: Path) -> dict[float, list[dict]]:
    from codequarry.embed.text import DEFAULT_TEXT_FORMAT, chunk_text
    from codequarry.search.ranking import rank
    from codequarry.search.searcher import Searcher

    s = Searcher.open(repo.path, index_dir=folder)
    try:
        chunks = dict(s.db.iter_chunks())
        by_text: dict[str, list[int]] = defaultdict(list)
        length: dict[str, int] = {}
        hashes = dict(s.db.conn.execute("SELECT id, text_hash FROM chunks"))
        for i, c in chunks.items():
            h = hashes[i]
            by_text[h].append(i)
            length[h] = len(chunk_text(c, DEFAULT_TEXT_FORMAT))
        order = sorted(by_text, key=lambda h: length[h])  # as indexer._embed embeds them
        out: dict[float, list[dict]] = {}
        for f in FRACTIONS:
            done = order[: round(f * len(order))]
            embedded = {i for h in done for i in by_text[h]}
            allowed = np.array(sorted(embedded), dtype=np.int64)
            rows = []
            for q in repo.queries:
                lex = s.lexical(q.text, DEPTH, None)
                if embedded:
                    dense = s.dense(q.text, DEPTH, allowed)
                    cands = {i: chunks[i] for i in dense.keys() | lex.keys()}
                    hits = rank(q.text, "hybrid", dense, lex, cands, K, unembedded=frozenset(lex.keys() - embedded))
                else:  # no vectors yet: the default search answers lexically
                    hits = rank(q.text, "lexical", {}, lex, {i: chunks[i] for i in lex}, K)
                found = [r.chunk for r in hits]
                scores = sc.score_query([c.file for c in found], sc.quarry_matches(found, q, repo.language), q)
                rows.append({"category": q.category, **scores})
            out[f] = rows
        return out
    finally:
        s.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", type=Path, default=sc.FIXTURES)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "phase_quality.json")
    args = ap.parse_args(argv)
    from codequarry.eval.cache import cache_dir

    cache = args.cache_dir or cache_dir() / "semble_compare"
    work = Path(tempfile.mkdtemp(prefix="phase-quality-"))
    per: dict[float, list[dict]] = defaultdict(list)
    try:
        for repo in sc.load_repos(args.fixtures, args.split):
            copy = work / repo.name
            shutil.copytree(_index(repo, cache), copy)
            (copy / "lock").unlink(missing_ok=True)
            for f, rows in evaluate(repo, copy).items():
                per[f].extend(rows)
            print(f"{repo.name}: {len(repo.queries)} queries", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    metrics = ("ndcg@10", "def_r@1", "def_r@5")
    table = {}
    for f, rows in per.items():
        row = {m: round(float(np.mean([r[m] for r in rows if r.get(m) is not None])), 4) for m in metrics}
        for cat in sorted({r["category"] for r in rows}):
            row[f"ndcg@10 {cat}"] = round(float(np.mean([r["ndcg@10"] for r in rows if r["category"] == cat])), 4)
        table[f] = row
    cats = sorted({r["category"] for rows in per.values() for r in rows})
    print(f"\n| phase | file nDCG@10 | def R@1 | def R@5 | {' | '.join(cats)} |")
    print("|---|---:|---:|---:|" + "---:|" * len(cats))
    for f, row in table.items():
        label = "lexical phase (no vectors)" if f == 0 else "complete hybrid" if f == 1 else f"{f:.0%} of texts embedded"
        print(f"| {label} | {row['ndcg@10']:.3f} | {row['def_r@1']:.3f} | {row['def_r@5']:.3f} | "
              + " | ".join(f"{row[f'ndcg@10 {c}']:.3f}" for c in cats) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "split": args.split, "queries": len(per[1.0]),
                                    "phases": {str(k): v for k, v in table.items()}}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
