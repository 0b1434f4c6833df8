"""Lua: module functions, methods, assigned functions, docs and calls."""

from functools import lru_cache
from pathlib import Path

import pytest

from codequarry.chunk import chunk_file

FIXTURE = Path(__file__).parent / "fixtures" / "chunk" / "store.lua"


@lru_cache(maxsize=None)
def chunks():
    return tuple(chunk_file("store.lua", FIXTURE.read_text()))


def find(qualname: str):
    found = [c for c in chunks() if c.qualname == qualname]
    assert len(found) == 1, f"{qualname}: {found}"
    return found[0]


def test_every_chunk():
    assert [(c.kind, c.qualname, c.line_start, c.line_end) for c in chunks()] == [
        ("window", "store.lua", 1, 4),  # `local M = {}` is a module table, `require` an import
        ("constant", "MAX_KEYS", 6, 6),
        ("window", "store.lua", 8, 9),
        ("function", "Store.new", 11, 15),  # `function Store.new`
        ("method", "Store.load", 17, 22),  # `function Store:load` → Store.load
        ("method", "Store.get", 24, 26),
        ("function", "parse_key", 28, 30),  # `local function`
        ("function", "M.open", 32, 36),  # `M.open = function`
    ]
    assert {c.language for c in chunks()} == {"lua"}


def test_names_signatures_docs():
    new = find("Store.new")
    assert (new.name, new.signature) == ("new", "function Store.new(path)")
    assert new.doc == "Creates a store.\n@param path string"
    assert find("Store.load").doc == "Reads the file into memory."
    assert find("M.open").signature == "M.open = function(path)"


@pytest.mark.parametrize(
    ("qualname", "calls"),
    [
        ("Store.new", ("setmetatable",)),
        ("Store.load", ("assert", "open", "decode", "read", "close")),
        ("M.open", ("new", "load")),
        ("parse_key", ("gsub",)),
    ],
)
def test_calls(qualname, calls):
    assert find(qualname).calls == calls
