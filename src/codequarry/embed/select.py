"""Which chunks the dense leg leaves to the lexical one: they get no vector.

The pieces of a long container that come after its skeleton chunk (the skeleton carries the
container's vector). Measured on the repository fixture's dev half (bench/embed_less.py, 30,805
chunks, 262 queries): file nDCG@10 +0.0008, about 4 % of the embedding time saved. Options that
cost more than the issue's 0.005 were not taken: int8 vectors (−0.0052), 128-token inputs
(−0.016), the later windows of a long definition (−0.0075), test code (−0.0058).

Prose (Markdown, reST, text) and vendored code were left out too for a while (−0.0004 on the dev
half, which has no documentation repository): on the test half's reStructuredText repository
(sphinx-docs) that made hybrid search fall from 0.778 to 0.281 nDCG@10, since its dense leg could
then only return the few code files, which the ranking rules put above prose. They get vectors
again; SELECT_VERSION makes an index built under the old rule publish them on its next run.

A chunk left out is still searched: the lexical leg finds it, and hybrid search scores it by its
lexical score alone, as it does any chunk without a vector (search/fusion.py `convex`).
"""

from __future__ import annotations

from typing import Iterable


# Bump when lexical_only decides differently: a slot built under another rule is published again.
SELECT_VERSION = "2"


def lexical_only(chunks: Iterable[tuple[int, object]]) -> set[int]:
    """Ids of the chunks that get no vector, from (id, chunk) pairs: a `Chunk` or a `store.db.Placement`
    (file, qualname, parent, line_start, line_end). `parent` names the definition a chunk is a window
    or a piece of; a container's first chunk (its skeleton, no parent) carries the vector for its
    pieces."""
    out: set[int] = set()
    skeleton: dict[tuple[str, str], bool] = {}  # (file, definition) → its first chunk was a skeleton
    for i, c in sorted(chunks, key=lambda ic: (ic[1].file, ic[1].line_start, -ic[1].line_end)):
        if c.parent and skeleton.get((c.file, c.parent)):
            out.add(i)
        skeleton.setdefault((c.file, c.parent or c.qualname), not c.parent)
    return out
