"""SQL: CREATE TABLE / VIEW / INDEX / TRIGGER / FUNCTION statements.

SQLite's `CREATE VIRTUAL TABLE … USING fts5(...)` is a table too.

Statements the grammar parses cleanly keep its boundaries; regions it gives
up on (dialect syntax, trigger bodies) are re-split at top-level `;` by a
small scanner that respects quotes, comments, dollar-quoting and
BEGIN...END bodies. What a statement creates is read by one regex over its
text either way, since the grammar's trees differ by statement and dialect.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from .definitions import Definition, Extraction, clean_comments
from .languages import parser_for

_NAME_PART = r'(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[\w$]+)'
_CREATE = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP(?:ORARY)?\s+)?(?:UNIQUE\s+)?"
    r"(?:MATERIALIZED\s+|RECURSIVE\s+|VIRTUAL\s+)?(?:DEFINER\s*=\s*\S+\s+)?"
    r"(TABLE|VIEW|INDEX|TRIGGER|FUNCTION|PROCEDURE)\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"({_NAME_PART}(?:\s*\.\s*{_NAME_PART})*)",
    re.I,
)
_KINDS = {"TABLE": "table", "VIEW": "view", "INDEX": "index", "TRIGGER": "trigger",
          "FUNCTION": "function", "PROCEDURE": "function"}
# Statements whose bodies hold `;`: only in these does BEGIN open a block (elsewhere it starts a transaction).
_HAS_BODY = re.compile(r"CREATE\b[^;]*?\b(?:TRIGGER|FUNCTION|PROCEDURE|EVENT)\b", re.I | re.S)
_TOKENS = re.compile(
    r"'(?:[^']|'')*'?|\"(?:[^\"]|\"\")*\"?|`[^`]*`?|--[^\n]*|/\*.*?(?:\*/|$)"
    r"|\$(?P<tag>\w*)\$.*?(?:\$(?P=tag)\$|$)"
    r"|\b(?P<word>BEGIN|CASE|END)\b(?!\s+(?:IF|LOOP|WHILE|REPEAT|CASE|FOR)\b)|;",
    re.I | re.S,
)
_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.S)


def extract(source: str) -> Extraction:
    out = Extraction()
    lines = source.split("\n")
    starts = [0] + [m.end() for m in re.finditer("\n", source)]
    for begin, end in _statements(source, lines, starts):
        begin = _skip_noise(source, begin, end)
        stmt = source[begin:end].rstrip().rstrip(";")
        m = _CREATE.match(stmt)
        if m is None:
            continue
        parts = [_unquote(p) for p in re.split(r"\s*\.\s*", m.group(2))]
        if parts[-1].upper() == "ON":  # `CREATE INDEX ON t (...)`: an unnamed index
            continue
        first = bisect_right(starts, begin)
        last = bisect_right(starts, begin + max(len(stmt) - 1, 0))
        top = first
        while top > 1 and lines[top - 2].strip().startswith("--"):
            top -= 1
        out.definitions.append(Definition(
            language="sql", kind=_KINDS[m.group(1).upper()], name=parts[-1], qualname=".".join(parts),
            start=top, end=last, signature=" ".join(lines[first - 1].split()).rstrip("(").rstrip()[:200],
            doc=clean_comments(lines[top - 1:first - 1]),
        ))
    return out


def _statements(source: str, lines: list[str], starts: list[int]) -> list[tuple[int, int]]:
    """Character spans of the statements in `source`."""
    def offset(point) -> int:  # tree-sitter columns count bytes, Python strings count characters
        row, col = point
        return starts[row] + len(lines[row].encode("utf-8", "replace")[:col].decode("utf-8", "replace"))

    root = parser_for("sql").parse(source.encode("utf-8", "replace")).root_node
    spans: list[tuple[int, int]] = []
    for node in root.named_children:
        if node.type in ("comment", "marginalia"):
            continue
        begin, end = offset(node.start_point), offset(node.end_point)
        if node.has_error:
            spans.extend(_split(source, begin, end))
        else:
            spans.append((begin, end))
    return spans


def _split(source: str, begin: int, end: int) -> list[tuple[int, int]]:
    """Split `source[begin:end]` at `;` outside quotes, comments and procedural bodies."""
    spans: list[tuple[int, int]] = []
    start, depth = begin, 0
    for tok in _TOKENS.finditer(source, begin, end):
        word = (tok.group("word") or "").upper()
        if word == "END":
            depth = max(0, depth - 1)
        elif word and _HAS_BODY.match(source, _skip_noise(source, start, end), tok.start()):
            depth += 1  # BEGIN or CASE inside a trigger/function body
        elif tok.group() == ";" and depth == 0:
            spans.append((start, tok.end()))
            start = tok.end()
    if source[start:end].strip():
        spans.append((start, end))
    return spans


def _skip_noise(source: str, begin: int, end: int) -> int:
    """Position of the first character after whitespace and comments."""
    return _LEADING_NOISE.match(source, begin, end).end()


def _unquote(part: str) -> str:
    return part[1:-1] if part[:1] in "\"`[" and len(part) > 1 else part

