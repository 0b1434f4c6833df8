"""BEIR-format retrieval sets: loading them and searching their corpus with the shipped legs.

Layout: `corpus.jsonl` ({"_id", "title", "text"}), `queries.<split>.jsonl`
(or one `queries.jsonl`, filtered by the split's qrels) and
`qrels/<split>.tsv` (query-id, corpus-id, score; a header row is allowed).

The legs are the product's own: the lexical leg is `search.lexical` (FTS5
BM25 over `search.lexical.terms` output, every text in the body field), the dense leg
an exact inner product over the encoder's unit vectors, and hybrid is
`search.fusion.fuse` over the top-N candidates of each leg.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codequarry.errors import UserInputError
from codequarry.eval.cache import cached_passage_embeddings, files_hash
from codequarry.search import lexical as lexical_leg
from codequarry.search.fusion import DEFAULT_WEIGHTS, FusionWeights, fuse

# Candidates taken from each leg before fusion (and the depth of every run).
CANDIDATES = 100


@dataclass
class BeirDataset:
    name: str
    split: str
    root: Path
    corpus_ids: list[str]
    corpus_texts: list[str]
    queries: dict[str, str]  # qid → text, in file order
    qrels: dict[str, dict[str, int]]
    hash: str
    query_meta: dict[str, dict] = field(default_factory=dict)  # qid → {"category", "language"}

    @property
    def prefix(self) -> str:
        return f"{self.name}-{self.split}"

    def describe(self) -> dict:
        return {
            "kind": "beir", "name": self.name, "split": self.split, "path": str(self.root),
            "hash": self.hash, "corpus": len(self.corpus_ids), "queries": len(self.queries),
        }


def _checkout_root() -> Path | None:
    here = Path(__file__).resolve()
    for p in here.parents:
        if (p / "pyproject.toml").exists() and (p / "src" / "codequarry").is_dir():
            return p
    return None


def _git_root(start: Path) -> Path | None:
    for p in [start, *start.parents]:
        if (p / ".git").exists():
            return p
    return None


def dataset_roots() -> list[Path]:
    roots: list[Path] = []
    env = os.environ.get("QUARRY_DATASETS")
    if env:
        roots.append(Path(env).expanduser())
    for repo in (_checkout_root(), _git_root(Path.cwd().resolve())):
        if repo is not None:
            roots.append(repo.parent / "shared" / "datasets")
    return list(dict.fromkeys(roots))


def looks_like_beir(path: Path) -> bool:
    return (path / "corpus.jsonl").is_file()


def resolve_dataset(spec: str) -> Path:
    """A folder path, or a dataset name looked up under QUARRY_DATASETS / ../shared/datasets."""
    path = Path(spec).expanduser()
    if path.is_dir():
        if not looks_like_beir(path):
            raise UserInputError(f"{spec}: not a BEIR folder (no corpus.jsonl)")
        return path.resolve()
    if "/" not in spec and os.sep not in spec:
        for root in dataset_roots():
            if looks_like_beir(root / spec):
                return (root / spec).resolve()
        where = ", ".join(str(r) for r in dataset_roots()) or "nowhere"
        raise UserInputError(f"dataset '{spec}' not found (looked in {where}; set QUARRY_DATASETS)")
    raise UserInputError(f"{spec}: no such dataset folder")


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UserInputError(f"{path}:{n}: not JSON ({exc.msg})") from exc
    return rows


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if not line.strip():
                continue
            if len(parts) < 3:
                raise UserInputError(f"{path}:{n}: expected 'query-id<TAB>corpus-id<TAB>score'")
            try:
                score = int(float(parts[2]))
            except ValueError:
                if n == 1:
                    continue  # header row
                raise UserInputError(f"{path}:{n}: score '{parts[2]}' is not a number") from None
            qrels.setdefault(parts[0], {})[parts[1]] = score
    return qrels


def load_beir(spec: str | Path, split: str = "test", *, limit: int | None = None) -> BeirDataset:
    root = resolve_dataset(str(spec))
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise UserInputError(f"{root.name}: no split '{split}' (qrels/{split}.tsv missing; have: {', '.join(have) or 'none'})")
    qpath = root / f"queries.{split}.jsonl"
    if not qpath.is_file():
        qpath = root / "queries.jsonl"
    if not qpath.is_file():
        raise UserInputError(f"{root.name}: no queries.{split}.jsonl or queries.jsonl")
    corpus_path = root / "corpus.jsonl"
    qrels = _read_qrels(qrels_path)
    corpus_ids, corpus_texts = [], []
    for row in _read_jsonl(corpus_path):
        try:
            cid, text = str(row["_id"]), row.get("text") or ""
        except (KeyError, TypeError):
            raise UserInputError(f"{corpus_path}: every row needs an '_id'") from None
        title = row.get("title") or ""
        corpus_ids.append(cid)
        corpus_texts.append(f"{title}\n{text}" if title else text)
    queries: dict[str, str] = {}
    meta: dict[str, dict] = {}
    for row in _read_jsonl(qpath):
        qid = str(row.get("_id"))
        if qid in qrels:
            queries[qid] = row.get("text") or ""
            md = row.get("metadata") or {}
            meta[qid] = {k: md[k] for k in ("category", "language") if isinstance(md, dict) and k in md}
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise UserInputError(f"{qpath.name}: {len(missing)} judged queries have no text (e.g. {missing[0]})")
    known = set(corpus_ids)
    unknown = [(q, d) for q, judged in qrels.items() for d in judged if d not in known]
    if unknown:
        raise UserInputError(f"qrels/{split}.tsv: {len(unknown)} judged ids not in the corpus (e.g. {unknown[0][1]})")
    if limit is not None:
        queries = dict(list(queries.items())[: max(0, limit)])
        qrels = {q: qrels[q] for q in queries}
    return BeirDataset(
        name=root.name, split=split, root=root, corpus_ids=corpus_ids, corpus_texts=corpus_texts,
        queries=queries, qrels=qrels, hash=files_hash([corpus_path, qpath, qrels_path])[:16], query_meta=meta,
    )


class LexicalCorpus:
    """The corpus in an in-memory FTS5 table, rows written exactly as the indexer writes bodies."""

    def __init__(self, texts: list[str]) -> None:
        start = time.perf_counter()
        self.conn = sqlite3.connect(":memory:", check_same_thread=False)
        lexical_leg.create_table(self.conn)
        lexical_leg.insert_rows(self.conn, ((i, lexical_leg.body_row(t)) for i, t in enumerate(texts)))
        self.conn.commit()
        self.build_seconds = time.perf_counter() - start

    def search(self, query: str, n: int = CANDIDATES) -> dict[int, float]:
        return dict(lexical_leg.search(self.conn, query, n))


class DenseCorpus:
    """Exact inner product over unit vectors (what IndexFlatIP computes), in numpy."""

    def __init__(self, encoder, ids: list[str], texts: list[str], *, progress=None) -> None:
        self.encoder = encoder
        self.vectors, self.cache_info = cached_passage_embeddings(encoder, ids, texts, progress=progress)

    def search_vector(self, qvec: np.ndarray, n: int = CANDIDATES) -> dict[int, float]:
        return top_scores(self.vectors @ np.asarray(qvec, dtype=np.float32), n)


def top_scores(scores: np.ndarray, n: int) -> dict[int, float]:
    """{row: score} of the n best rows of one query's score vector (unordered; `metrics.rank` orders)."""
    n = min(n, len(scores))
    if n <= 0:
        return {}
    idx = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    return {int(i): float(scores[i]) for i in idx}


@dataclass
class QueryCandidates:
    """What both legs returned for one query, with the time each step took (seconds)."""

    dense: dict[int, float]
    lexical: dict[int, float]
    encode_s: float = 0.0
    dense_s: float = 0.0
    lexical_s: float = 0.0


def collect_candidates(
    ds: BeirDataset, lexical: LexicalCorpus | None, dense: DenseCorpus | None, *, n: int = CANDIDATES,
    progress=None,
) -> dict[str, QueryCandidates]:
    """Run each query through each available leg once, one query at a time (honest latency)."""
    out: dict[str, QueryCandidates] = {}
    for qid, text in ds.queries.items():
        c = QueryCandidates({}, {})
        if dense is not None:
            t0 = time.perf_counter()
            qv = dense.encoder.encode_queries([text])[0]
            t1 = time.perf_counter()
            c.dense = dense.search_vector(qv, n)
            c.encode_s, c.dense_s = t1 - t0, time.perf_counter() - t1
        if lexical is not None:
            t0 = time.perf_counter()
            c.lexical = lexical.search(text, n)
            c.lexical_s = time.perf_counter() - t0
        out[qid] = c
        if progress:
            progress(1)
    return out


def rank_mode(
    query: str, c: QueryCandidates, mode: str, weights: FusionWeights | None = DEFAULT_WEIGHTS, *,
    depth: int = CANDIDATES,
) -> tuple[list[int], float]:
    """(ranked corpus rows, latency in seconds) for one mode; `weights=None` in hybrid means RRF."""
    from codequarry.eval.metrics import rank
    from codequarry.search.fusion import rrf

    if mode == "dense":
        return rank(c.dense, depth), c.encode_s + c.dense_s
    if mode == "lexical":
        return rank(c.lexical, depth), c.lexical_s
    if mode == "hybrid":
        t0 = time.perf_counter()
        scores = rrf(c.dense, c.lexical) if weights is None else fuse(query, c.dense, c.lexical, None, weights)
        ranked = rank(scores, depth)
        fuse_s = time.perf_counter() - t0
        return ranked, c.encode_s + c.dense_s + c.lexical_s + fuse_s
    raise UserInputError(f"unknown mode '{mode}' (dense, lexical or hybrid)")
