"""Which chunks the dense leg leaves to the lexical one: they get no vector.

Measured on the repository fixture's dev half (bench/embed_less.py, 30,805 chunks, 262 queries):
leaving out prose (Markdown, reST, text, README-like files) and vendored code, and the pieces of a
long container that come after its skeleton chunk, saves about 13 % of the embedding time and
changes file nDCG@10 by +0.0004 (95 % interval −0.005…+0.006). Options that cost more than the
issue's 0.005 were not taken: int8 vectors (−0.0052), 128-token inputs (−0.016), and the later
windows of a long definition (−0.0075).

A chunk left out is still searched: the lexical leg finds it, and hybrid search scores it by its
lexical score alone, as it does any chunk without a vector (search/fusion.py `convex`).
"""

from __future__ import annotations

from typing import Iterable


def lexical_only(chunks: Iterable[tuple[int, object]]) -> set[int]:
    """Ids of the chunks that get no vector, from (id, chunk) pairs: a `Chunk` or a `store.db.Placement`
    (file, language, qualname, parent, line_start, line_end). `parent` names the definition a chunk is
    a window or a piece of; a container's first chunk (its skeleton, no parent) carries the vector for
    its pieces."""
    from codequarry.search.rules import is_doc, is_vendor_path

    out: set[int] = set()
    skeleton: dict[tuple[str, str], bool] = {}  # (file, definition) → its first chunk was a skeleton
    for i, c in sorted(chunks, key=lambda ic: (ic[1].file, ic[1].line_start, -ic[1].line_end)):
        if is_doc(c) or is_vendor_path(c.file):
            out.add(i)
        elif c.parent and skeleton.get((c.file, c.parent)):
            out.add(i)
        skeleton.setdefault((c.file, c.parent or c.qualname), not c.parent)
    return out
