"""From the legs' candidates to the results: fusion, ranking rules, one result per definition.

A pure function of plain data, so the Searcher, the evaluation harness and the
bench (which replays cached candidates under many settings) rank identically.
"""

from __future__ import annotations

from codequarry.domain import Chunk, SearchResult
from codequarry.search import fusion, rules


def rank(
    query: str,
    mode: str,
    dense: dict[int, float],
    lexical: dict[int, float],
    chunks: dict[int, Chunk],
    k: int,
    *,
    weights: fusion.FusionWeights = fusion.DEFAULT_WEIGHTS,
    rule_weights: rules.RuleWeights = rules.DEFAULT_RULES,
    unembedded: frozenset[int] | set[int] = frozenset(),
) -> list[SearchResult]:
    """The best k results. `dense` mode is the bare dense leg (for measuring it); `lexical` and
    `hybrid` put their scores on one scale and apply the same ranking rules. `unembedded`: candidates
    without a vector yet (see fusion.convex)."""
    scores = score(query, mode, dense, lexical, chunks, weights=weights, rule_weights=rule_weights,
                   unembedded=unembedded)
    results = []
    seen: set[tuple[str, str]] = set()
    for i, s in fusion.top(scores, len(scores)):
        c = chunks.get(i)
        if c is None:
            continue
        # Windows of one long definition share its qualname: show the definition once.
        if (c.file, c.qualname) in seen:
            continue
        seen.add((c.file, c.qualname))
        sources = {leg: d[i] for leg, d in (("dense", dense), ("lexical", lexical)) if i in d}
        results.append(SearchResult(c, s, sources))
        if len(results) == k:
            break
    return results


def score(
    query: str,
    mode: str,
    dense: dict,
    lexical: dict,
    chunks: dict,
    *,
    weights: fusion.FusionWeights = fusion.DEFAULT_WEIGHTS,
    rule_weights: rules.RuleWeights = rules.DEFAULT_RULES,
    unembedded: frozenset | set = frozenset(),
) -> dict:
    """Each candidate's final score (fusion, then the ranking rules), before results are cut:
    `rank` for one repository, and `quarry org search`, which keeps one result per definition
    per repository."""
    if mode == "dense":
        return dense
    names = {i: (c.name, c.qualname) for i, c in chunks.items()}
    if mode == "lexical":
        scores = fusion.fuse_lexical(query, lexical, names, weights)
    else:
        scores = fusion.fuse(query, dense, lexical, names, weights, unembedded)
    info = rules.QueryInfo.of(query, fusion.is_identifier(query, names))
    return rules.apply_rules(scores, chunks, rule_weights, info)
