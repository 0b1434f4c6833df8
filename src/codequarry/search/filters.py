"""Checks on search filters: `--lang Python` or `--kind fn` must be an error, not an empty result.

Valid languages are those codequarry.chunk.languages can assign (its tables),
plus `text` for files in no known language; valid kinds are
codequarry.chunk.kinds. A value outside those is still accepted when the
index holds it (an index built by a newer chunker). Anything else is a
one-line error naming the valid values, with a suggestion when the value is
one letter-case, alias or typo away.
"""

from __future__ import annotations

import difflib
from functools import lru_cache

from codequarry.errors import UserInputError


# What other languages call a kind.
KIND_ALIASES = {"fn": "function", "func": "function", "fun": "function", "def": "function", "sub": "function",
                "proc": "function", "procedure": "function", "const": "constant", "typedef": "type",
                "alias": "type", "record": "struct", "protocol": "interface", "namespace": "module",
                "heading": "section"}


@lru_cache(maxsize=1)
def known_languages() -> frozenset[str]:
    from codequarry.chunk import languages as L

    names = {*L.EXTENSIONS.values(), *L.FILENAMES.values(), *getattr(L, "_INTERPRETERS", {}).values(),
             *getattr(L, "_GRAMMARS", {})}
    names.update(v for v in L.FENCE_ALIASES.values() if v)
    return frozenset(names | {"text"})  # chunk_file's language for a file in no known language


@lru_cache(maxsize=1)
def _language_aliases() -> dict[str, str]:
    """`py` → python, `.rs` → rust, `golang` → go: what people type for a language."""
    from codequarry.chunk import languages as L

    aliases = {k.lower(): v for k, v in L.FENCE_ALIASES.items() if v}
    aliases.update((ext, lang) for ext, lang in L.EXTENSIONS.items())  # `.rs`
    aliases.update((ext[1:], lang) for ext, lang in L.EXTENSIONS.items())  # `rs`
    return aliases


def known_kinds() -> frozenset[str]:
    from codequarry.chunk.kinds import chunk_kinds

    return chunk_kinds()


def check_filters(langs=(), kinds=(), conn=None) -> None:
    """Raise UserInputError for a language or kind no chunk can have.

    `conn` (the index's SQLite connection, optional) is asked only about
    values outside the known ones, so the usual case costs no query.
    """
    _check("language", langs, known_languages(), _language_aliases(), conn, "language")
    _check("kind", kinds, known_kinds(), KIND_ALIASES, conn, "kind")


def _check(what: str, values, known: frozenset[str], aliases: dict[str, str], conn, column: str) -> None:
    for value in values:
        if not isinstance(value, str):
            raise UserInputError(f"a {what} filter must be a string, not {type(value).__name__}")
        if value in known:
            continue
        indexed = _indexed(conn, column)
        if value in indexed:
            continue
        valid = sorted(known | indexed)
        hint = _suggest(value, valid, aliases)
        raise UserInputError(
            f"unknown {what} '{value}'{f' (did you mean {hint!r}?)' if hint else ''}; "
            f"{what}s: {', '.join(valid)}"
        )


def _indexed(conn, column: str) -> set[str]:
    if conn is None:
        return set()
    try:
        return {r[0] for r in conn.execute(f"SELECT DISTINCT {column} FROM chunks") if isinstance(r[0], str)}
    except Exception:  # a damaged or foreign index: the known values still stand
        return set()


def _suggest(value: str, valid: list[str], aliases: dict[str, str]) -> str | None:
    low = value.lower()
    for v in valid:
        if v.lower() == low:
            return v
    if low in aliases and aliases[low] in valid:
        return aliases[low]
    starting = [v for v in valid if v.startswith(low)]
    if len(starting) == 1:  # `meth`, `java` (javascript has its own name)
        return starting[0]
    close = difflib.get_close_matches(low, valid, n=1, cutoff=0.75)
    return close[0] if close else None
