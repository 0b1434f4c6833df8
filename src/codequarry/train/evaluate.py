"""Dense retrieval quality of a (base or trained) model on a BEIR set, before and after training.

Uses the evaluation harness's pieces: `eval.beir.load_beir` for the data,
`eval.cache.cached_passage_embeddings` so the corpus is embedded once per
model (the base model's vectors are reused across runs), and
`eval.metrics.evaluate_run` for nDCG@10 / MRR@10 / recall. Dense leg only:
exact inner product over unit vectors, as the product's dense search does.

CoSQA's dev split is reported three ways: all dev queries, the `holdout`
queries no recipe trains on (what recipes are chosen by), and the rest.
Matryoshka: the same vectors cut to the first d dimensions and renormalised.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import numpy as np

from codequarry.embed.st_backend import embedding_dim

BATCH = 32


class ModelEncoder:
    """The Encoder protocol over an in-memory SentenceTransformer (no prefixes: MiniLM has none)."""

    def __init__(self, model, name: str, max_tokens: int = 256) -> None:
        self.model = model
        self.name = name
        self.dim = embedding_dim(model)
        self.max_tokens = max_tokens
        self.preset = None

    def _encode(self, texts: list[str], progress=None) -> np.ndarray:
        import torch

        from codequarry.embed.encoder import normalize

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        old = self.model.max_seq_length
        self.model.max_seq_length = self.max_tokens
        self.model.eval()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.zeros((len(texts), self.dim), np.float32)
        try:
            with torch.inference_mode():
                for start in range(0, len(order), BATCH):
                    idx = order[start:start + BATCH]
                    out[idx] = self.model.encode([texts[i] for i in idx], batch_size=BATCH, convert_to_numpy=True,
                                                 normalize_embeddings=True, show_progress_bar=False)
                    if progress:
                        progress(len(idx))
        finally:
            self.model.max_seq_length = old
        return normalize(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts))

    def encode_passages(self, texts: Sequence[str], progress=None) -> np.ndarray:
        return self._encode(list(texts), progress)


def weights_fingerprint(model) -> str:
    """Short hash of the weights: cache key for a trained model's corpus vectors."""
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().float().cpu().numpy().tobytes()[:4096])
        h.update(str(float(p.detach().float().sum())).encode())
    return h.hexdigest()[:12]


def _truncate(vecs: np.ndarray, dim: int) -> np.ndarray:
    from codequarry.embed.encoder import normalize

    return normalize(vecs[:, :dim]) if dim < vecs.shape[1] else vecs


def _run(qvecs: np.ndarray, cvecs: np.ndarray, qids: list[str], cids: list[str], depth: int = 100) -> dict:
    """The harness's dense ranking (`eval.beir.top_scores` + `metrics.rank`), one matrix product for all queries."""
    from codequarry.eval.beir import top_scores
    from codequarry.eval.metrics import rank

    scores = qvecs @ cvecs.T
    return {qid: [cids[i] for i in rank(top_scores(scores[row], depth), depth)] for row, qid in enumerate(qids)}


def _score(run: dict, qrels: dict, qids: list[str]) -> dict:
    from codequarry.eval.metrics import evaluate_run

    sub = {q: qrels[q] for q in qids if q in qrels}
    means, _, _ = evaluate_run({q: run[q] for q in sub}, sub)
    keep = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100")
    return {k: round(float(means[k]), 4) for k in keep} | {"queries": len(sub)}


def evaluate_model(
    encoder, *, dataset: str = "cosqa", splits: Sequence[str] = ("dev", "test"), holdout: set[str] | None = None,
    dims: Sequence[int] = (), limit: int = 0, log: Callable[[str], None] = print,
) -> dict:
    """{split: metrics} (+ dev-holdout / dev-train) and, with dims, {"matryoshka": {split: {dim: metrics}}}."""
    import time

    from codequarry.eval.beir import load_beir
    from codequarry.eval.cache import cached_passage_embeddings

    results: dict = {"model": encoder.name}
    corpus_cache: dict[str, np.ndarray] = {}
    for split in splits:
        ds = load_beir(dataset, split, limit=limit or None)
        key = ds.root.as_posix()
        if key not in corpus_cache:
            t0 = time.time()
            vecs, info = cached_passage_embeddings(encoder, ds.corpus_ids, ds.corpus_texts)
            corpus_cache[key] = vecs
            log(f"  corpus {len(ds.corpus_ids)} passages: {'cached' if info.get('cache_hit') else 'embedded'} "
                f"in {time.time() - t0:.0f}s")
        cvecs = corpus_cache[key]
        qids = list(ds.queries)
        qvecs = encoder.encode_queries([ds.queries[q] for q in qids])
        full_dim = qvecs.shape[1]
        for dim in [full_dim, *[d for d in dims if d < full_dim]]:
            run = _run(_truncate(qvecs, dim), _truncate(cvecs, dim), qids, ds.corpus_ids)
            parts = {split: qids}
            if split == "dev" and holdout:
                parts["dev-holdout"] = [q for q in qids if q in holdout]
                parts["dev-train"] = [q for q in qids if q not in holdout]
            for name, ids in parts.items():
                if not ids:
                    continue
                metrics = _score(run, ds.qrels, ids)
                if dim == full_dim:
                    results[name] = metrics
                results.setdefault("matryoshka", {}).setdefault(name, {})[str(dim)] = {
                    "ndcg@10": metrics["ndcg@10"], "bytes_per_vector": dim * 4,
                    "corpus_bytes": dim * 4 * len(ds.corpus_ids),
                }
        log(f"  {split}: " + ", ".join(f"{n} nDCG@10 {results[n]['ndcg@10']:.4f}"
                                        for n in (split, "dev-holdout") if n in results and (n == split or split == "dev")))
    return results
