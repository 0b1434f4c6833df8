"""Definitions extracted from small real files, one per language (tests/fixtures/chunk/)."""

from functools import lru_cache
from pathlib import Path

import pytest

from codequarry.chunk import chunk_file

FIXTURES = Path(__file__).parent / "fixtures" / "chunk"


@lru_cache(maxsize=None)
def chunks(name: str, max_chars: int = 2000):
    return tuple(chunk_file(name, (FIXTURES / name).read_text(), max_chars=max_chars))


def find(name: str, qualname: str, kind: str | None = None):
    found = [c for c in chunks(name) if c.qualname == qualname and (kind is None or c.kind == kind)]
    assert len(found) == 1, f"{qualname} in {name}: {found}"
    return found[0]


# Every chunk of each fixture: (kind, qualname, line_start, line_end), in output order.
EXPECTED = {
    "store.py": [
        ("window", "store.py", 1, 5),  # module docstring and imports
        ("constant", "DEFAULT_PATH", 7, 7),
        ("constant", "MAX_KEYS", 8, 8),
        ("class", "StoreError", 12, 13),
        ("class", "Store", 16, 39),
        ("method", "Store.__init__", 21, 23),
        ("method", "Store.open", 25, 31),  # starts at its decorator
        ("method", "Store.load", 33, 35),
        ("class", "Store.Meta", 37, 39),
        ("method", "Store.Meta.describe", 38, 39),
        ("function", "parse_key", 42, 45),
        ("function", "fetch_remote", 48, 50),
        ("window", "store.py", 53, 56),  # the __main__ block
    ],
    "store.go": [
        ("window", "store.go", 1, 7),
        ("constant", "MaxKeys", 9, 10),
        ("constant", "modeRead", 13, 13),
        ("constant", "modeWrite", 14, 14),
        ("window", "store.go", 15, 17),
        ("struct", "Store", 19, 23),
        ("interface", "Backend", 25, 29),
        ("type", "Key", 31, 31),
        ("method", "Store.Open", 33, 43),
        ("method", "Store.parse", 45, 47),
        ("function", "New", 49, 52),
    ],
    "Store.java": [
        ("window", "Store.java", 1, 4),
        ("class", "Store", 6, 36),
        ("method", "Store.Store", 15, 17),
        ("method", "Store.get", 19, 22),
        ("method", "Store.put", 24, 27),
        ("class", "Store.Entry", 29, 35),
        ("method", "Store.Entry.describe", 32, 34),
        ("interface", "Backend", 38, 40),  # its bodiless method is not a chunk
        ("enum", "Mode", 42, 49),
        ("method", "Mode.writable", 46, 48),
        ("class", "Pair", 51, 51),
    ],
    "store.js": [
        ("window", "store.js", 1, 1),
        ("constant", "MAX_KEYS", 3, 3),
        ("constant", "config", 4, 4),
        ("class", "Store", 6, 24),
        ("method", "Store.constructor", 10, 13),
        ("method", "Store.load", 15, 19),
        ("method", "Store.size", 21, 23),
        ("function", "parseKey", 26, 27),
        ("function", "helper", 29, 31),
        ("function", "openStore", 33, 37),
        ("window", "store.js", 39, 41),  # anonymous default export
    ],
    "store.ts": [
        ("constant", "MAX_KEYS", 3, 3),
        ("interface", "Backend", 5, 9),
        ("type", "Key", 11, 11),
        ("enum", "Mode", 13, 16),
        ("class", "Store", 18, 33),
        ("method", "Store.constructor", 21, 21),
        ("method", "Store.get", 23, 26),
        ("method", "Store.set", 28, 30),
        ("function", "Util.load", 36, 38),  # namespaces qualify, but are no chunks
        ("function", "makeStore", 41, 43),
    ],
    "component.tsx": [
        ("window", "component.tsx", 1, 1),
        ("interface", "CounterProps", 3, 5),
        ("function", "Counter", 7, 11),
        ("function", "Label", 13, 13),
    ],
    "store.php": [
        ("constant", "MAX_KEYS", 5, 5),
        ("interface", "Backend", 7, 13),
        ("trait", "Loggable", 15, 21),
        ("method", "Loggable.log", 17, 20),
        ("class", "Store", 23, 42),
        ("method", "Store.get", 31, 36),
        ("method", "Store.open", 38, 41),
        ("enum", "Mode", 44, 48),
        ("function", "open_store", 50, 53),
    ],
    "store.rb": [
        ("module", "Storage", 3, 25),
        ("constant", "Storage.MAX_KEYS", 5, 5),
        ("class", "Storage.Store", 7, 24),
        ("method", "Storage.Store.initialize", 11, 14),
        ("method", "Storage.Store.load", 16, 19),
        ("method", "Storage.Store.open", 21, 23),
        ("function", "helper", 27, 29),
    ],
    "store.rs": [
        ("window", "store.rs", 1, 4),
        ("constant", "MAX_KEYS", 6, 7),
        ("constant", "GREETING", 8, 8),
        ("struct", "Store", 10, 14),  # doc comment and #[derive] included
        ("enum", "Mode", 16, 19),
        ("trait", "Backend", 21, 28),
        ("method", "Backend::flush", 25, 27),
        ("type", "Key", 30, 30),
        ("impl", "Store", 32, 41),
        ("method", "Store::new", 33, 36),
        ("method", "Store::get", 38, 40),
        ("impl", "fmt::Display for Store", 43, 47),
        ("method", "Store::fmt", 44, 46),
        ("macro", "square", 49, 53),
        ("module", "util", 55, 59),
        ("function", "util::double", 56, 58),
        ("function", "main", 61, 65),
    ],
    "hnsw.cpp": [
        ("window", "hnsw.cpp", 1, 2),
        ("macro", "HNSW_MAX_LEVEL", 4, 4),
        ("macro", "SQUARE", 5, 5),
        ("struct", "ann::Point", 9, 12),
        ("class", "ann::HnswIndex", 14, 26),
        ("method", "ann::HnswIndex::HnswIndex", 17, 17),
        ("method", "ann::HnswIndex::size", 21, 21),
        ("method", "ann::HnswIndex::build", 28, 35),  # defined outside the class
        ("enum", "ann::Metric", 37, 37),
        ("function", "main", 41, 45),
    ],
    "util.c": [
        ("window", "util.c", 1, 2),
        ("macro", "BUF_SIZE", 4, 4),
        ("macro", "MIN", 5, 5),
        ("struct", "buffer", 7, 11),
        ("type", "buffer_t", 13, 13),
        ("enum", "color", 15, 15),
        ("function", "buffer_append", 17, 30),
        ("function", "clamp", 32, 32),
    ],
    "build.sh": [
        ("window", "build.sh", 1, 4),
        ("function", "build", 6, 10),
        ("function", "clean", 12, 14),  # `function name {` form
        ("window", "build.sh", 16, 19),
    ],
}

ALL_FIXTURES = sorted(p.name for p in FIXTURES.iterdir())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_chunk_of_each_language(name):
    got = [(c.kind, c.qualname, c.line_start, c.line_end) for c in chunks(name)]
    assert got == EXPECTED[name]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_code_is_exactly_the_reported_lines(name):
    lines = (FIXTURES / name).read_text().split("\n")
    for c in chunks(name):
        assert c.code == "\n".join(lines[c.line_start - 1:c.line_end]), (c.qualname, c.line_start)
        assert c.file == name


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_output_is_ordered_outer_before_inner(name):
    got = [(c.line_start, -c.line_end) for c in chunks(name)]
    assert got == sorted(got)


@pytest.mark.parametrize(
    ("name", "qualname", "bare"),
    [
        ("store.py", "Store.Meta.describe", "describe"),
        ("store.go", "Store.Open", "Open"),
        ("store.rs", "fmt::Display for Store", "Store"),  # impls are named by their type
        ("store.rs", "Store::fmt", "fmt"),
        ("hnsw.cpp", "ann::HnswIndex::build", "build"),
        ("store.ts", "Util.load", "load"),
        ("store.rb", "Storage.Store.open", "open"),
    ],
)
def test_name_is_the_bare_identifier(name, qualname, bare):
    assert find(name, qualname).name == bare


@pytest.mark.parametrize(
    ("name", "qualname", "signature"),
    [
        ("store.py", "Store.open", 'def open(cls, path: str) -> "Store":'),
        ("store.py", "fetch_remote", "async def fetch_remote(url):"),
        ("store.py", "Store", "class Store:"),
        ("store.py", "MAX_KEYS", "MAX_KEYS = 1024"),
        ("store.go", "Store.Open", "func (s *Store) Open(path string) error"),
        ("store.go", "Store", "type Store struct"),
        ("Store.java", "Store", "public class Store implements Backend"),
        ("Store.java", "Store.put", "public void put(String key, String value)"),
        ("store.js", "parseKey", "export const parseKey = (raw) =>"),
        ("store.ts", "Store.get", "get(key: string): string | undefined"),
        ("store.ts", "Key", "export type Key = string | number;"),
        ("store.php", "Store.open", "public static function open(string $path): self"),
        ("store.rb", "Storage.Store.open", "def self.open(path)"),
        ("store.rs", "Store::get", "pub fn get(&self, key: &str) -> Option<&String>"),
        ("store.rs", "fmt::Display for Store", "impl fmt::Display for Store"),
        ("hnsw.cpp", "ann::HnswIndex::build", "void HnswIndex::build(const std::vector<Point>& pts)"),
        ("util.c", "buffer_append", "int buffer_append(struct buffer *buf, const char *src, size_t n)"),
        ("util.c", "MIN", "#define MIN(a, b) ((a) < (b) ? (a) : (b))"),
        ("build.sh", "clean", "function clean"),
    ],
)
def test_signature_is_the_header(name, qualname, signature):
    assert find(name, qualname).signature == signature


@pytest.mark.parametrize(
    ("name", "qualname", "doc"),
    [
        ("store.py", "Store", "Persistent mapping of string keys to JSON values."),
        ("store.py", "Store.open", "Open a store, loading existing data if the file exists."),
        ("store.py", "parse_key", "Split a dotted key into its parts."),
        ("store.go", "Store.Open",
         "Open loads the store at path.\nIt returns an error when the file is unreadable."),
        ("store.go", "MaxKeys", "MaxKeys bounds the number of keys a store may hold."),
        ("Store.java", "Store", "A persistent key-value store.\nThread-safe."),
        ("Store.java", "Store.get", "Returns the value for a key, or null."),
        ("store.js", "Store", "Persistent key-value store."),
        ("store.js", "Store.load", "Load the file from disk."),
        ("store.ts", "Backend", "Anything that can hold values."),
        ("component.tsx", "Counter", "A button that counts clicks."),
        ("store.php", "Backend", "Anything that can persist values."),
        ("store.php", "Store.get", "Fetch one value."),
        ("store.rb", "Storage.Store", "A persistent key-value store."),
        ("store.rs", "Store::new", "Creates an empty store."),
        ("hnsw.cpp", "ann::HnswIndex", "Hierarchical navigable small-world graph."),
        ("util.c", "buffer_append", "Append bytes to the buffer,\ngrowing it when needed."),
        ("build.sh", "build", "Compile everything."),
        ("store.go", "Store.parse", ""),  # no comment above: no doc
        ("store.rs", "MAX_KEYS", "The maximum number of keys."),
    ],
)
def test_doc_is_cleaned_of_comment_markers(name, qualname, doc):
    assert find(name, qualname).doc == doc


def test_rust_doc_comment_and_attribute_belong_to_the_struct():
    store = find("store.rs", "Store", "struct")
    assert store.doc == "A persistent key-value store."
    assert store.code.splitlines()[:2] == ["/// A persistent key-value store.", "#[derive(Debug, Default)]"]
    assert find("store.rs", "Store", "impl").doc == ""


def test_rust_inner_doc_is_not_a_definition_doc():
    window = find("store.rs", "store.rs")
    assert window.doc == "" and window.code.startswith("//! A tiny key-value store.")


@pytest.mark.parametrize(
    ("name", "qualname", "calls"),
    [
        ("store.py", "parse_key", ("lru_cache", "tuple", "strip", "split")),
        ("store.py", "Store.open", ("cls", "exists", "load")),
        ("store.go", "Store.Open", ("ReadFile", "Join", "parse")),
        ("Store.java", "Store.put", ("validate", "put")),
        ("store.js", "openStore", ("Store", "load")),
        ("store.php", "open_store", ("open",)),
        ("store.rb", "Storage.Store.open", ("new", "tap")),
        ("store.rs", "main", ("new", "double")),
        ("hnsw.cpp", "ann::HnswIndex::build", ("clear", "push_back", "rebalance", "SQUARE")),
        ("util.c", "buffer_append", ("realloc", "memcpy")),
        ("build.sh", "build", ("mkdir", "make")),
    ],
)
def test_calls_are_bare_names_in_reading_order(name, qualname, calls):
    assert find(name, qualname).calls == calls


def test_calls_of_nested_definitions_stay_with_them():
    # The class chunk holds its methods' text, but their calls are theirs.
    assert find("Store.java", "Store", "class").calls == ("HashMap",)
    assert find("store.py", "Store", "class").calls == ()


def test_top_level_code_windows_carry_their_calls():
    head, main_block = [c for c in chunks("store.py") if c.kind == "window"]
    assert (head.name, head.calls) == ("store", ())
    assert main_block.calls == ("open", "print", "parse_key")


def test_chunk_language_and_file_are_set():
    assert {c.language for c in chunks("component.tsx")} == {"tsx"}
    assert {c.language for c in chunks("util.c")} == {"c"}
    assert all(c.parent == "" for c in chunks("store.rs"))


def test_repeated_runs_give_identical_chunks():
    text = (FIXTURES / "store.rs").read_text()
    assert chunk_file("store.rs", text) == chunk_file("store.rs", text)


# --- small inline cases ------------------------------------------------------------

def test_trailing_comment_of_the_line_above_is_not_a_doc():
    text = "LIMIT = compute()  # how many\ndef f():\n    pass\n"
    f = next(c for c in chunk_file("t.py", text) if c.name == "f")
    assert (f.line_start, f.doc) == (2, "")


def test_comments_inside_a_header_are_left_out_of_the_signature():
    text = "def f(a,  # the first\n      b):\n    return a\n"
    assert chunk_file("t.py", text)[0].signature == "def f(a, b):"


def test_required_modules_are_not_constants():
    text = 'const fs = require("fs");\nconst LIMIT = 5;\nlet counter = 0;\n'
    got = [(c.kind, c.name) for c in chunk_file("t.js", text) if c.kind != "window"]
    assert got == [("constant", "LIMIT")]


def test_only_upper_case_module_assignments_are_python_constants():
    text = "TIMEOUT = 5\ntimeout = 5\n\nclass A:\n    RETRIES = 3\n"
    got = [(c.kind, c.qualname) for c in chunk_file("t.py", text)]
    assert got == [("constant", "TIMEOUT"), ("class", "A")]


def test_declarations_without_bodies_are_not_definitions():
    text = "struct node;\nint count(struct node *n);\nstruct node { int v; };\n"
    got = [(c.kind, c.name, c.line_start, c.line_end) for c in chunk_file("t.c", text)]
    assert got == [("window", "t", 1, 2), ("struct", "node", 3, 3)]  # prototypes stay searchable


def test_cpp_template_and_nested_qualifiers():
    text = "template <typename T>\nT Box<T>::take() { return v; }\nint a::b::c(int x) { return x; }\n"
    got = [(c.kind, c.name, c.qualname, c.line_start) for c in chunk_file("t.cpp", text)]
    assert got == [("method", "take", "Box::take", 1), ("method", "c", "a::b::c", 3)]
