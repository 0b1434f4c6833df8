"""Turn a file's definitions into chunks.

- A definition's chunk is its full text, leading doc comment and decorators
  included. A container (class, impl, trait, module...) longer than
  `max_chars` shrinks to its skeleton: the header and everything up to its
  first nested definition, which get chunks of their own.
- Any chunk longer than `max_chars` becomes overlapping windows that keep
  the definition's kind, names, signature and doc, with `parent` set to its
  qualname.
- Lines no definition chunk covers become windows when they carry enough to
  be worth a vector (SIGNIFICANT_LINES non-blank lines or SIGNIFICANT_CHARS
  non-space characters): inside a container they are pieces of it (its kind
  and names, `parent` = its qualname); elsewhere kind `window`, name = file
  stem, qualname = path. A file without definitions is all windows, however
  short.
- Each chunk carries the calls made on its own lines by its own definition:
  calls inside nested definitions belong to those, and a window lists only
  the calls in its lines.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from pathlib import PurePosixPath

from ..domain import Chunk
from .definitions import Definition, Extraction
from .windows import split_lines

# Leftovers smaller than this (a closing brace, `end`, a short assignment) are not worth a vector.
SIGNIFICANT_LINES = 3
SIGNIFICANT_CHARS = 30


def assemble(path: str, language: str, lines: list[str], found: Extraction,
             max_chars: int, overlap: int) -> list[Chunk]:
    n = len(lines)
    defs = found.definitions
    for d in defs:  # ranges come from parsers: never trust them past the file's end
        d.end = max(1, min(d.end, n))
        d.start = max(1, min(d.start, d.end))
    owner = _innermost(n, defs, range(len(defs)))
    enclosing = _innermost(n, defs, [i for i, d in enumerate(defs) if d.container])
    calls: dict[int | None, tuple[list[int], list[str]]] = {}
    for line, _, name in sorted(found.calls, key=lambda c: c[:2]):
        at = calls.setdefault(owner[line] if 1 <= line <= n else None, ([], []))
        at[0].append(line)
        at[1].append(name)

    out: list[tuple[tuple[int, int, int], Chunk]] = []

    def emit(start: int, end: int, who: int | None, language: str, kind: str, name: str,
             qualname: str, signature: str = "", doc: str = "", parent: str | None = None) -> None:
        pieces = split_lines(lines, start, end, max_chars, overlap)
        if parent is None:
            parent = qualname if len(pieces) > 1 else ""
        lines_of, names_of = calls.get(who, ((), ()))
        for s, e, code in pieces:
            mine = names_of[bisect_left(lines_of, s):bisect_right(lines_of, e)]
            chunk = Chunk(file=path, language=language, kind=kind, name=name, qualname=qualname,
                          line_start=s, line_end=e, code=code, signature=signature, doc=doc,
                          parent=parent, calls=tuple(dict.fromkeys(mine)))
            out.append(((s, -e, len(out)), chunk))

    covered = bytearray(n + 2)
    for i, d in enumerate(defs):
        end = _skeleton_end(d, defs[i + 1] if i + 1 < len(defs) else None, lines, max_chars)
        emit(d.start, end, i, d.language, d.kind, d.name, d.qualname, d.signature, d.doc)
        covered[d.start:end + 1] = b"\x01" * (end + 1 - d.start)

    stem = PurePosixPath(path).stem or path
    line = 1
    while line <= n:
        if covered[line]:
            line += 1
            continue
        start, key = line, enclosing[line]
        while line <= n and not covered[line] and enclosing[line] == key:
            line += 1
        end = line - 1
        while start <= end and not lines[start - 1].strip():
            start += 1
        while end >= start and not lines[end - 1].strip():
            end -= 1
        if start > end or (defs and not _significant(lines[start - 1:end])):
            continue
        if key is None:
            emit(start, end, None, language, "window", stem, path, parent="")
        else:
            d = defs[key]
            emit(start, end, key, d.language, d.kind, d.name, d.qualname, d.signature, d.doc,
                 parent=d.qualname)
    out.sort(key=lambda item: item[0])
    return [chunk for _, chunk in out]


def _innermost(n: int, defs: list[Definition], which) -> list[int | None]:
    """For each line (1-based), the smallest of the chosen definitions containing it."""
    owner: list[int | None] = [None] * (n + 2)
    for i in sorted(which, key=lambda i: (defs[i].start - defs[i].end, i)):
        d = defs[i]
        owner[d.start:d.end + 1] = [i] * (d.end + 1 - d.start)
    return owner


def _skeleton_end(d: Definition, following: Definition | None, lines: list[str], max_chars: int) -> int:
    """Where a definition's own chunk ends: all of it, or a long container's head.

    Definitions come in document order with containers before their
    contents, so a container's first nested definition is the next one.
    """
    if not d.container or following is None or not d.start < following.start <= d.end:
        return d.end
    if sum(len(x) + 1 for x in lines[d.start - 1:d.end]) - 1 <= max_chars:
        return d.end
    end = following.start - 1
    while end > d.start and not lines[end - 1].strip():
        end -= 1
    return end


def _significant(region: list[str]) -> bool:
    if sum(1 for x in region if x.strip()) >= SIGNIFICANT_LINES:
        return True
    return sum(len("".join(x.split())) for x in region) >= SIGNIFICANT_CHARS
