"""Hard negatives for the in-domain (CoSQA) pairs, mined from the retrieval corpus with the base model.

For each query the base model (or `data.negatives_model`, e.g. an adapter
trained in an earlier round) ranks the corpus; the negative is drawn
(seeded) from the best `pool` items that are *eligible*: not one of the
query's own positives, not a test or holdout positive of the data set (the
test split is only ever used to exclude), and scored by that model below
the query's own positive — a GIST-style guard against false negatives.
The corpus vectors are the ones the before-evaluation cached, so this costs
one query batch.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from codequarry.train.pairs import Pair, code_hash


def _blocked_corpus_ids(root: Path, holdout: set[str]) -> set[str]:
    blocked: set[str] = set()
    for split in ("test", "dev"):
        path = root / "qrels" / f"{split}.tsv"
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and (split == "test" or parts[0] in holdout):
                blocked.add(parts[1])
    return blocked


def corpus_hard_negatives(pairs: list[Pair], encoder, *, dataset: str, holdout: set[str], pool: int = 10,
                          seed: int = 13, per_pair: int = 1) -> tuple[dict[int, list[str]], dict]:
    """{index in pairs: `per_pair` negative texts} for the CoSQA pairs among `pairs`, and stats.

    A pair with fewer than `per_pair` eligible items gets none: the loss needs the same number of
    columns in every batch, and padding with repeats would weigh one negative twice.
    """
    from codequarry.eval.beir import load_beir
    from codequarry.eval.cache import cached_passage_embeddings

    idx = [i for i, p in enumerate(pairs) if p.source.startswith("cosqa")]
    if not idx:
        return {}, {"pairs": 0}
    ds = load_beir(dataset, "dev")
    cvecs, _ = cached_passage_embeddings(encoder, ds.corpus_ids, ds.corpus_texts)
    blocked = _blocked_corpus_ids(ds.root, holdout)
    hashes = [code_hash(t) for t in ds.corpus_texts]
    # All positives of a query text (a query may have several judged functions).
    positives_of: dict[str, set[str]] = {}
    for i in idx:
        positives_of.setdefault(pairs[i].query, set()).add(code_hash(pairs[i].positive))
    uniq = sorted({pairs[i].query for i in idx})
    qvecs = dict(zip(uniq, encoder.encode_queries(uniq)))
    pos_texts = sorted({pairs[i].positive for i in idx})
    pvecs = dict(zip(pos_texts, encoder.encode_passages(pos_texts)))
    rng = random.Random(seed)
    out: dict[int, list[str]] = {}
    stats = {"pairs": len(idx), "with_negative": 0, "too_few_eligible": 0, "skipped_blocked": 0,
             "skipped_above_positive": 0}
    cache: dict[str, list[int]] = {}
    for i in idx:
        p = pairs[i]
        key = p.query + "\x00" + p.positive
        if key not in cache:
            q = qvecs[p.query]
            scores = cvecs @ q
            pos_score = float(pvecs[p.positive] @ q)
            own = positives_of[p.query]
            eligible = []
            for j in np.argsort(-scores)[: pool * 6]:
                if ds.corpus_ids[j] in blocked:
                    stats["skipped_blocked"] += 1
                    continue
                if hashes[j] in own:
                    continue
                if scores[j] >= pos_score:
                    stats["skipped_above_positive"] += 1
                    continue
                eligible.append(int(j))
                if len(eligible) >= pool:
                    break
            cache[key] = eligible
        if len(cache[key]) >= per_pair:
            # choice() for one keeps the draws, and so the shipped adapter, identical to before per_pair.
            picks = [rng.choice(cache[key])] if per_pair == 1 else rng.sample(cache[key], per_pair)
            out[i] = [ds.corpus_texts[j] for j in picks]
            stats["with_negative"] += 1
        else:
            stats["too_few_eligible"] += 1
    return out, stats
