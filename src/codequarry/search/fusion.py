"""Pure ranking functions: how the legs' scores become one ranking.

Everything here works on plain dicts/arrays so it can be tested and tuned
without an index. The weights are chosen from measurements (bench/fusion_sweep.py,
CoSQA dev and the repository fixture's dev half), not guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from codequarry.search.tokens import is_identifier_query

_LONE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class FusionWeights:
    # Share of the lexical leg in the convex combination, per query type. Chosen on dev data
    # (bench/ranking_tune.py, bench/fusion_sweep.py; MiniLM). For queries in words over a
    # repository's chunks, whose lexical leg reads names, paths, signatures and docs: 0.35 (over
    # 0.25, on the dev halves: stdlib fixture hybrid nDCG@10 0.775 → 0.804, repositories' file
    # nDCG@10 0.874 → 0.877, definition R@1 0.413 → 0.431; 0.4 and 0.5 no better).
    lexical_words: float = 0.35
    # The same over a corpus of bare snippets (BEIR sets such as CoSQA, `names` None): the lexical
    # leg is body BM25 alone there, and 0.25 is the largest share that keeps CoSQA dev hybrid near
    # dense alone (it costs ~0.004 per 0.1 above that).
    lexical_words_flat: float = 0.25
    # Identifier-like queries take 0.85 (+0.004 repository file nDCG@10, +0.011 definition R@1 over 0.7).
    lexical_identifier: float = 0.85
    # Added to a candidate whose name/qualname equals an identifier-like query.
    exact_name_boost: float = 0.5
    # Added on top when the whole qualname is the query, case and all (`Glob` the function over
    # `IOFS.Glob` and `glob`); half of it when only the name is, case and all (`Context.JSON` finds
    # `context.JSON` before `context.json`).
    qualname_bonus: float = 0.1
    # Added to a candidate named by a code-like word inside a longer query ("the ChoiceLoader class",
    # "JsonFormatter formatBatch"). Off: no dev gain (4 such queries in the dev repositories).
    embedded_name_boost: float = 0.0


DEFAULT_WEIGHTS = FusionWeights()


def minmax(scores: dict[int, float]) -> dict[int, float]:
    if not scores:
        return {}
    vals = np.fromiter(scores.values(), dtype=np.float64)
    lo, hi = float(vals.min()), float(vals.max())
    if hi - lo < 1e-12:
        return {i: 1.0 for i in scores}
    return {i: (s - lo) / (hi - lo) for i, s in scores.items()}


def convex(dense: dict[int, float], lexical: dict[int, float], lexical_share: float,
           unembedded: frozenset[int] | set[int] = frozenset()) -> dict[int, float]:
    """Weighted sum of min-max normalised scores; a leg that missed a candidate gives it 0.

    A candidate in `unembedded` has no vector yet (`quarry index` is still embedding): the dense
    leg could not have found it, so it is scored by its lexical score alone rather than losing
    the dense share to chunks that happen to be embedded already."""
    d, l = minmax(dense), minmax(lexical)
    out: dict[int, float] = {}
    for i in d.keys() | l.keys():
        if i in unembedded:
            out[i] = l.get(i, 0.0)
        else:
            out[i] = (1.0 - lexical_share) * d.get(i, 0.0) + lexical_share * l.get(i, 0.0)
    return out


def rrf(*rankings: dict[int, float], k: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion, kept as the measured baseline that naive fusion loses to."""
    out: dict[int, float] = {}
    for ranking in rankings:
        for rank, i in enumerate(sorted(ranking, key=ranking.get, reverse=True)):
            out[i] = out.get(i, 0.0) + 1.0 / (k + rank + 1)
    return out


def name_matches(query: str, name: str, qualname: str) -> bool:
    q = query.strip().rstrip("()").lower()
    return q in (name.lower(), qualname.lower()) or qualname.lower().endswith("." + q) or qualname.lower().endswith("::" + q)


def _names_a_candidate(query: str, names: dict[int, tuple[str, str]] | None) -> bool:
    """A lone lower-case word (`urlsplit`, `dedent`) is an identifier when a candidate bears that name."""
    q = query.strip()
    if not names or not _LONE_WORD.fullmatch(q):
        return False
    return any(name_matches(q, *n) for n in names.values())


def top(scores: dict[int, float], k: int) -> list[tuple[int, float]]:
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def is_identifier(query: str, names: dict[int, tuple[str, str]] | None) -> bool:
    """Identifier-like (`parseHeader`, `Store.open`), or a lone word that names a candidate (`urlsplit`)."""
    return is_identifier_query(query) or _names_a_candidate(query, names)


def fuse(
    query: str,
    dense: dict[int, float],
    lexical: dict[int, float],
    names: dict[int, tuple[str, str]] | None = None,
    weights: FusionWeights = DEFAULT_WEIGHTS,
    unembedded: frozenset[int] | set[int] = frozenset(),
) -> dict[int, float]:
    """The hybrid ranking used everywhere (repository search and BEIR evaluation).

    `names` maps candidate id → (name, qualname) for the exact-name boost; BEIR
    corpora have no names and pass None.
    """
    identifier = is_identifier(query, names)
    if identifier:
        share = weights.lexical_identifier
    else:
        share = weights.lexical_words if names is not None else weights.lexical_words_flat
    scores = convex(dense, lexical, share, unembedded)
    return _boost_exact_names(query, scores, names, weights) if identifier else _boost_embedded(query, scores, names, weights)


def fuse_lexical(
    query: str,
    lexical: dict[int, float],
    names: dict[int, tuple[str, str]] | None = None,
    weights: FusionWeights = DEFAULT_WEIGHTS,
) -> dict[int, float]:
    """The lexical mode on the hybrid's scale: min-max normalised BM25 plus the exact-name boost,
    so the same ranking rules apply to it."""
    scores = minmax(lexical)
    if is_identifier(query, names):
        return _boost_exact_names(query, scores, names, weights)
    return _boost_embedded(query, scores, names, weights)


def code_words(query: str) -> list[str]:
    """The identifier-like words of a query in words (`ChoiceLoader`, `Logger::pushHandler`, `read_file`)."""
    words = (w.strip(",.;:?!'\"`") for w in query.split())
    return [w for w in words if w and is_identifier_query(w)]


def _boost_embedded(query, scores, names, weights: FusionWeights) -> dict[int, float]:
    if not (names and weights.embedded_name_boost):
        return scores
    found = code_words(query)
    if found:
        for i in scores:
            if i in names and any(name_matches(w, *names[i]) for w in found):
                scores[i] += weights.embedded_name_boost
    return scores


def _last_part(q: str) -> str:
    return re.split(r"\.|::|#|->", q)[-1]


def _boost_exact_names(query, scores, names, weights: FusionWeights) -> dict[int, float]:
    if names:
        q = query.strip().rstrip("()")
        for i in scores:
            if i in names and name_matches(query, *names[i]):
                scores[i] += weights.exact_name_boost
                if weights.qualname_bonus:  # case counts here: Go's Glob is not glob
                    if names[i][1] == q:
                        scores[i] += weights.qualname_bonus
                    elif names[i][0] == _last_part(q):
                        scores[i] += weights.qualname_bonus / 2
    return scores
