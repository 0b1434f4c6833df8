"""Replay search candidates under many ranking settings, on dev data only (used by ranking_ablation.py).

The expensive parts — indexing and embedding a repository, encoding queries —
happen once per data set; each leg's candidates are then cached, and every
setting of the lexical fields, fusion weights and ranking rules is ranked by
the product's own pure function (`search.ranking.rank`) over those candidates.
So a rule's measured gain here is exactly its gain in `quarry search`.

Data sets: CoSQA dev (BEIR: no names or paths, so only the lexical tokens and
the fusion apply), the stdlib fixture's dev half, and every repository
fixture of a folder whose repository is in the dev split.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
DEPTH = 100


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LexVariant:
    """How the lexical leg is built and queried: stemming, which row function, field weights."""

    label: str
    stem: bool = True
    weights: tuple[float, ...] = (4.0, 2.0, 1.0, 1.0, 1.0, 1.0)
    legacy_rows: bool = False  # the two-column rows of before (names, body), unstemmed

    @property
    def table_key(self) -> tuple:
        return (self.stem, self.legacy_rows)


def legacy_row(chunk) -> tuple[str, ...]:
    """The lexical row as it was before fields: names (name, qualname, file stem) and body."""
    from pathlib import PurePosixPath

    from codequarry.search.tokens import tokenize

    names = " ".join(tokenize(f"{chunk.name} {chunk.qualname} {PurePosixPath(chunk.file).stem}",
                              stopwords=frozenset()))
    body = " ".join(tokenize(f"{chunk.signature}\n{chunk.doc}\n{chunk.code}"))
    return (names, "", "", "", "", body)


class LexTables:
    """In-memory FTS5 tables over one corpus, one per (stem, row function)."""

    def __init__(self, rows_for: Callable[[LexVariant], list[tuple[int, tuple[str, ...]]]]) -> None:
        self.rows_for = rows_for
        self.tables: dict[tuple, sqlite3.Connection] = {}
        self.cache: dict[tuple, dict[str, dict[int, float]]] = {}

    def conn(self, v: LexVariant) -> sqlite3.Connection:
        from codequarry.search import lexical

        if v.table_key not in self.tables:
            conn = sqlite3.connect(":memory:")
            lexical.create_table(conn)
            lexical.insert_rows(conn, self.rows_for(v))
            conn.commit()
            self.tables[v.table_key] = conn
        return self.tables[v.table_key]

    def candidates(self, v: LexVariant, queries: dict[str, str]) -> dict[str, dict[int, float]]:
        from codequarry.search import lexical

        key = (v.table_key, v.weights)
        if key not in self.cache:
            conn = self.conn(v)
            self.cache[key] = {
                qid: dict(lexical.search(conn, text, DEPTH, weights=v.weights, stem_tokens=v.stem and not v.legacy_rows))
                for qid, text in queries.items()
            }
        return self.cache[key]


@dataclass
class FixtureData:
    name: str
    language: str
    queries: list  # FixtureQuery
    chunks: dict  # id → Chunk, every chunk of the repository
    dense: dict[str, dict[int, float]]
    lex: LexTables = field(repr=False, default=None)
    missing_golds: int = 0

    @property
    def texts(self) -> dict[str, str]:
        return {q.id: q.text for q in self.queries}


def load_fixture(fx, encoder, model: str, split: str = "dev", limit: int | None = None) -> FixtureData | None:
    """Index (cached, the same index `quarry eval` uses) and collect the dense candidates once."""
    from codequarry.eval.cache import slug
    from codequarry.eval.fixture import default_index_dir, missing_golds, resolve_repository
    from codequarry.eval.systems import short_model
    from codequarry.indexer import index_repository
    from codequarry.search import lexical
    from codequarry.search.searcher import Searcher

    queries = fx.select(split, limit)
    if not queries:
        return None
    repo, _ = resolve_repository(fx)
    index_dir = default_index_dir(fx, repo)
    slot = slug(short_model(encoder.name)).replace(".", "-")
    t0 = time.perf_counter()
    stats = index_repository(repo, model=model, slot=slot, index_dir=index_dir, encoder=encoder)
    log(f"{fx.name}: {stats.chunks} chunks, index {time.perf_counter() - t0:.0f}s ({stats.embedded} embedded)")
    searcher = Searcher.open(repo, slot=slot, index_dir=index_dir, encoder=encoder)
    try:
        chunks = dict(searcher.db.iter_chunks())
        dense = {q.id: searcher.dense(q.text, DEPTH, None) for q in queries}
    finally:
        searcher.close()
    missing = [m for m in missing_golds(fx, chunks.values()) if m[0] in {q.id for q in queries}]

    def rows_for(v: LexVariant):
        make = legacy_row if v.legacy_rows else (lambda c: lexical.lexical_row(c, stem_tokens=v.stem))
        return [(i, make(c)) for i, c in chunks.items()]

    data = FixtureData(fx.name, fx.language or "python", queries, chunks, dense, missing_golds=len(missing))
    data.lex = LexTables(rows_for)
    return data


@dataclass
class BeirData:
    name: str
    queries: dict[str, str]
    qrels: dict
    corpus_ids: list[str]
    dense: dict[str, dict[int, float]]
    lex: LexTables = field(repr=False, default=None)


def load_beir(name: str, encoder, split: str = "dev", limit: int | None = None) -> BeirData:
    from codequarry.eval.beir import DenseCorpus, load_beir as _load
    from codequarry.search import lexical

    ds = _load(name, split, limit=limit)
    corpus = DenseCorpus(encoder, ds.corpus_ids, ds.corpus_texts)
    qv = encoder.encode_queries(list(ds.queries.values()))
    dense = {qid: corpus.search_vector(v, DEPTH) for qid, v in zip(ds.queries, qv)}
    data = BeirData(f"{ds.name}-{split}", ds.queries, ds.qrels, ds.corpus_ids, dense)
    texts = ds.corpus_texts

    def rows_for(v: LexVariant):
        if v.legacy_rows:  # before fields: the same unstemmed body
            from codequarry.search.tokens import tokenize

            return [(i, ("", "", "", "", "", " ".join(tokenize(t)))) for i, t in enumerate(texts)]
        return [(i, lexical.body_row(t, stem_tokens=v.stem)) for i, t in enumerate(texts)]

    data.lex = LexTables(rows_for)
    return data


# -- scoring --------------------------------------------------------------------------------------


def score_fixture(data: FixtureData, mode: str, v: LexVariant, weights, rules) -> dict:
    """Mean metrics of one setting on one fixture: file-level nDCG@10 (every query) and the
    definition-level nDCG@10, R@1, R@5 (queries whose gold names a definition)."""
    from codequarry.eval.metrics import query_metrics
    from codequarry.search.ranking import rank

    lex = data.lex.candidates(v, data.texts) if mode != "dense" else {}
    file_rows, def_rows = [], []
    for q in data.queries:
        d = data.dense[q.id] if mode not in ("lexical", "lexical-raw") else {}
        lx = lex.get(q.id, {}) if mode != "dense" else {}
        chunks = {i: data.chunks[i] for i in d.keys() | lx.keys() if i in data.chunks}
        if mode == "lexical-raw":  # bare BM25 order, as lexical mode ranked before the rules applied to it
            hits = [r.chunk for r in rank(q.text, "dense", lx, {}, chunks, DEPTH)]
        else:
            hits = [r.chunk for r in rank(q.text, mode, d, lx, chunks, DEPTH, weights=weights, rule_weights=rules)]
        file_rows.append(query_metrics(q.judge_files(hits), q.file_qrels))
        if q.qrels:
            def_rows.append(query_metrics(q.judge(hits), q.qrels))
    mean = lambda rows, m: sum(r[m] for r in rows) / len(rows) if rows else float("nan")  # noqa: E731
    return {"file_ndcg@10": mean(file_rows, "ndcg@10"), "ndcg@10": mean(def_rows, "ndcg@10"),
            "recall@1": mean(def_rows, "recall@1"), "recall@5": mean(def_rows, "recall@5"),
            "queries": len(file_rows), "definition_queries": len(def_rows)}


def score_beir(data: BeirData, mode: str, v: LexVariant, weights) -> dict:
    from codequarry.eval.metrics import evaluate_run, rank
    from codequarry.search.fusion import fuse

    lex = data.lex.candidates(v, data.queries) if mode != "dense" else {}
    run = {}
    for qid, text in data.queries.items():
        if mode == "dense":
            scores = data.dense[qid]
        elif mode in ("lexical", "lexical-raw"):  # no names here: both are the BM25 order
            scores = lex[qid]
        else:
            scores = fuse(text, data.dense[qid], lex[qid], None, weights)
        run[qid] = [data.corpus_ids[r] for r in rank(scores, DEPTH)]
    means, _, _ = evaluate_run(run, data.qrels)
    return {"ndcg@10": means["ndcg@10"], "recall@1": means["recall@1"], "recall@10": means["recall@10"]}
