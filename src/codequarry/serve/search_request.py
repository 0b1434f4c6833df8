"""The body of POST /search (and `quarry org serve`'s POST /org/search), checked field by field before any
search work.

Whatever a client sends, a wrong field is one UserInputError line naming it
(the server answers 400), never a TypeError deep inside the searcher (a 500).
"""

from __future__ import annotations

from dataclasses import dataclass

from codequarry.errors import UserInputError

MODES = ("hybrid", "dense", "lexical")  # codequarry.search.searcher.MODES, which imports numpy
MAX_K = 100_000
MAX_FILTERS = 100
MAX_TEXT = 4096  # a language, kind, glob or slot name longer than this is not one


@dataclass(frozen=True, slots=True)
class SearchRequest:
    query: str
    k: int = 10
    mode: str = "hybrid"
    langs: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    path: str | None = None
    slot: str | None = None


def _text(payload: dict, field: str) -> str | None:
    value = payload.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UserInputError(f"'{field}' must be a string, not {_type(value)}")
    if len(value) > MAX_TEXT:
        raise UserInputError(f"'{field}' is longer than {MAX_TEXT} characters")
    return value


def _texts(payload: dict, field: str) -> tuple[str, ...]:
    value = payload.get(field)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserInputError(f"'{field}' must be a list of strings, not {_type(value)}")
    if len(value) > MAX_FILTERS or any(len(v) > MAX_TEXT for v in value):
        raise UserInputError(f"'{field}' holds more than {MAX_FILTERS} values or an overlong one")
    return tuple(value)


def _shown(text: str) -> str:
    """A client's string quoted on one short line: the error message is theirs to print."""
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


def _type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _query_k_mode(payload, fields: tuple[str, ...]) -> tuple[str, int, str]:
    """The fields every search body has, checked after the body itself and its field names."""
    if not isinstance(payload, dict):
        raise UserInputError(f"the request body must be a JSON object, not {_type(payload)}")
    unknown = sorted(set(payload) - set(fields))
    if unknown:
        raise UserInputError(f"unknown field {_shown(unknown[0])} (fields: {', '.join(fields)})")
    query = payload.get("query")
    if not isinstance(query, str):
        raise UserInputError(f"'query' must be a string, not {_type(query)}")
    k = payload.get("k", 10)
    # bool is an int subclass: `true` is not a count.
    if not isinstance(k, int) or isinstance(k, bool):
        raise UserInputError(f"'k' must be a whole number, not {_type(k)}")
    if not 1 <= k <= MAX_K:
        raise UserInputError(f"'k' must be between 1 and {MAX_K}")
    mode = _text(payload, "mode") or "hybrid"
    if mode not in MODES:
        raise UserInputError(f"unknown mode {_shown(mode)} (choose from {', '.join(MODES)})")
    return query, k, mode


def parse_search_request(payload) -> SearchRequest:
    """A SearchRequest from a decoded JSON body, or UserInputError naming the first bad field."""
    query, k, mode = _query_k_mode(payload, SearchRequest.__slots__)
    return SearchRequest(query=query, k=k, mode=mode, langs=_texts(payload, "langs"), kinds=_texts(payload, "kinds"),
                         path=_text(payload, "path"), slot=_text(payload, "slot"))


@dataclass(frozen=True, slots=True)
class OrgSearchRequest:
    """The body of `quarry org serve`'s POST /org/search: `quarry org search`'s arguments."""

    query: str
    k: int = 10
    mode: str = "hybrid"
    repos: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    path: str | None = None


def parse_org_search_request(payload) -> OrgSearchRequest:
    """An OrgSearchRequest from a decoded JSON body, or UserInputError naming the first bad field."""
    query, k, mode = _query_k_mode(payload, OrgSearchRequest.__slots__)
    return OrgSearchRequest(query=query, k=k, mode=mode, repos=_texts(payload, "repos"), langs=_texts(payload, "langs"),
                            kinds=_texts(payload, "kinds"), path=_text(payload, "path"))
