"""Swift and Zig (the newly parsed native languages): definitions, qualnames, docs and calls."""

import pytest

from tests.chunk_fixtures import chunks, find

EXPECTED = {
    "Store.swift": [
        ("constant", "maxKeys", 3, 3),
        ("class", "Store", 5, 24),
        ("method", "Store.init", 11, 13),
        ("method", "Store.load", 15, 19),
        ("method", "Store.get", 21, 23),
        ("interface", "Backend", 26, 28),  # a protocol; its requirement has no body
        ("struct", "Pair", 30, 33),
        ("enum", "Mode", 35, 39),
        ("method", "Mode.writable", 38, 38),
        ("impl", "Store", 41, 47),  # an extension, named after the type it extends
        ("method", "Store.dump", 44, 46),  # ...whose methods are that type's
        ("type", "Key", 49, 49),
    ],
    "store.zig": [
        ("window", "store.zig", 1, 2),  # `//!` module doc and the import
        ("constant", "max_keys", 4, 5),
        ("struct", "Store", 7, 21),  # `const Store = struct { ... }`
        ("method", "Store.init", 13, 16),
        ("method", "Store.get", 18, 20),
        ("enum", "Mode", 23, 30),
        ("method", "Mode.writable", 27, 29),
        ("function", "parseKey", 32, 34),
        ("function", "main", 36, 39),
        ("window", "store.zig", 41, 43),  # the test block
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_chunk(name):
    assert [(c.kind, c.qualname, c.line_start, c.line_end) for c in chunks(name)] == EXPECTED[name]


@pytest.mark.parametrize(("name", "language"), [("Store.swift", "swift"), ("store.zig", "zig")])
def test_language_names(name, language):
    assert {c.language for c in chunks(name)} == {language}


@pytest.mark.parametrize(
    ("name", "qualname", "kind", "signature"),
    [
        ("Store.swift", "Store", "class", "public final class Store: Backend"),  # `@available` left out
        ("Store.swift", "Store", "impl", "extension Store: CustomStringConvertible"),
        ("Store.swift", "Store.get", None, "func get(_ key: String) -> String?"),
        ("Store.swift", "Store.init", None, "init(path: String)"),
        ("store.zig", "Store", None, "pub const Store = struct"),
        ("store.zig", "Store.get", None, "pub fn get(self: *Self, key: []const u8) ?[]const u8"),
    ],
)
def test_signatures(name, qualname, kind, signature):
    assert find(name, qualname, kind).signature == signature


@pytest.mark.parametrize(
    ("name", "qualname", "kind", "doc"),
    [
        ("Store.swift", "Store", "class", "A persistent key-value store."),
        ("Store.swift", "Store.load", None, "Reads the file into memory."),
        ("store.zig", "Store", None, "A persistent key-value store."),
        ("store.zig", "Store.init", None, "Creates an empty store."),
        ("store.zig", "max_keys", None, "The most keys a store may hold."),
    ],
)
def test_docs(name, qualname, kind, doc):
    assert find(name, qualname, kind).doc == doc


@pytest.mark.parametrize(
    ("name", "qualname", "calls"),
    [
        ("Store.swift", "Store.load", ("Data", "URL", "JSONDecoder", "decode")),
        ("Store.swift", "Store.get", ()),  # `items[key]` is a subscript, not a call
        ("Store.swift", "Store.dump", ("print", "sorted")),
        ("store.zig", "Store.init", ("StringHashMap", "init")),
        ("store.zig", "main", ("init", "get", "parseKey")),
        ("store.zig", "parseKey", ("trim",)),
    ],
)
def test_calls(name, qualname, calls):
    assert find(name, qualname).calls == calls


def test_zig_imports_and_self_aliases_are_not_constants():
    names = {c.name for c in chunks("store.zig")}
    assert "std" not in names and "Self" not in names
