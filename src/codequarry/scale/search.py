"""`quarry org search`: one query across every repository of a store, ranked as `quarry search` ranks.

Both legs run in the store under the same filters (dense top-k by inner
product, lexical top-k by BM25: Milvus's, or FTS5's in a local store); fusion and the ranking rules are
codequarry's own pure functions, so a repository ranks the same whichever
store holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from codequarry.domain import SearchResult
from codequarry.embed.encoder import Encoder, load_encoder
from codequarry.errors import IndexMissingError, UserInputError
from codequarry.search import filters, fusion, ranking
from codequarry.search.searcher import CANDIDATES, check_query
from codequarry.store.base import ChunkStore, StoreFilter


@dataclass(frozen=True, slots=True)
class OrgResult:
    repo: str
    result: SearchResult

    def to_json(self) -> dict:
        return {"repo": self.repo, **self.result.to_json()}


def org_search(store: ChunkStore, query: str, k: int = 10, mode: str = "hybrid", *, repos=(), langs=(), kinds=(),
               path: str | None = None, encoder: Encoder | None = None) -> list[OrgResult]:
    check_query(query, k, mode)
    filters.check_filters(langs, kinds)
    if store.model is None:
        raise IndexMissingError(f"the store {getattr(store, 'uri', '')} holds no repositories; run 'quarry org index'")
    known = store.repositories()
    missing = [r for r in repos if r not in known]
    if missing:
        raise UserInputError(f"no repository named '{missing[0]}' in the store (repositories: "
                             f"{', '.join(known) or 'none'})")
    where = StoreFilter(tuple(repos), tuple(langs), tuple(kinds), path)
    n = max(CANDIDATES, k)
    dense: dict[str, float] = {}
    if mode in ("dense", "hybrid"):
        encoder = encoder or load_encoder(store.model)
        dense = store.dense(encoder.encode_queries([query])[0], n, where)
    lex = store.lexical(query, n, where) if mode in ("lexical", "hybrid") else {}
    stored = store.fetch(dense.keys() | lex.keys())
    chunks = {i: s.chunk for i, s in stored.items()}
    # The single-repository ranking (fusion and rules; lexical mode ranks with the rules too).
    scores = ranking.score(query, mode, dense, lex, chunks)
    out: list[OrgResult] = []
    seen: set[tuple[str, str, str]] = set()
    for i, s in fusion.top(scores, len(scores)):
        hit = stored.get(i)
        if hit is None:  # deleted between the search and the fetch (a concurrent re-index)
            continue
        # Windows of one long definition share its qualname: show the definition once.
        key = (hit.repo, hit.chunk.file, hit.chunk.qualname)
        if key in seen:
            continue
        seen.add(key)
        sources = {leg: d[i] for leg, d in (("dense", dense), ("lexical", lex)) if i in d}
        out.append(OrgResult(hit.repo, SearchResult(hit.chunk, s, sources)))
        if len(out) == k:
            break
    return out
