"""Line windows, long definitions, and files that do not parse."""

import random
from pathlib import Path

import pytest

import codequarry.chunk as chunk_pkg
from codequarry.chunk import chunk_file
from codequarry.chunk.windows import split_lines

FIXTURES = Path(__file__).parent / "fixtures" / "chunk"


def honest(chunks, text):
    """Every multi-line chunk's code is exactly its lines of `text`."""
    lines = text.split("\n")
    for c in chunks:
        assert c.code == "\n".join(lines[c.line_start - 1:c.line_end]), (c.kind, c.line_start, c.line_end)


# --- split_lines --------------------------------------------------------------

LINES = [f"line {i:02d} " + "x" * 20 for i in range(1, 31)]  # 28 chars each


def test_text_that_fits_is_one_window():
    assert split_lines(LINES, 3, 5, 2000, 5) == [(3, 5, "\n".join(LINES[2:5]))]


def test_windows_fit_overlap_and_cover_every_line():
    got = split_lines(LINES, 1, 30, 200, 2)  # 6 lines fit in 200 characters
    assert [(s, e) for s, e, _ in got] == [(1, 6), (5, 10), (9, 14), (13, 18), (17, 22), (21, 26), (25, 30)]
    for s, e, code in got:
        assert len(code) <= 200
        assert code == "\n".join(LINES[s - 1:e])


def test_overlap_never_takes_more_than_half_the_budget():
    # 10 lines of overlap asked for, but only 2 lines (58 chars) fit in half of 150.
    got = split_lines(LINES, 1, 30, 150, 10)
    assert [(s, e) for s, e, _ in got][:3] == [(1, 5), (4, 8), (7, 11)]
    assert got[-1][1] == 30


def test_a_line_longer_than_the_budget_is_cut_by_characters():
    lines = ["short", "y" * 250, "tail"]
    got = split_lines(lines, 1, 3, 100, 5)
    assert [(s, e) for s, e, _ in got] == [(1, 1), (2, 2), (2, 2), (2, 2), (3, 3)]
    assert "".join(code for s, _, code in got if s == 2) == "y" * 250
    assert got[-1][2] == "tail"  # overlap does not reach back over the cut line


def test_tiny_budget_terminates():
    got = split_lines(["abc", "de"], 1, 2, 1, 5)
    assert "".join(code for _, _, code in got) == "abcde"


# --- long definitions -----------------------------------------------------------

def test_long_function_becomes_windows_of_that_function():
    text = (FIXTURES / "store.go").read_text()
    got = [c for c in chunk_file("store.go", text, max_chars=120, overlap_lines=1) if c.name == "Open"]
    assert len(got) > 1
    assert {(c.kind, c.qualname, c.parent) for c in got} == {("method", "Store.Open", "Store.Open")}
    assert {c.signature for c in got} == {"func (s *Store) Open(path string) error"}
    assert got[0].line_start == 33 and got[-1].line_end == 43
    for before, after in zip(got, got[1:]):
        assert after.line_start == before.line_end  # one line of overlap
    assert all(len(c.code) <= 120 for c in got)
    honest(got, text)
    # Each window lists the calls made in its own lines.
    by_lines = {(c.line_start, c.line_end): c.calls for c in got}
    assert all("ReadFile" not in calls for (s, e), calls in by_lines.items() if e < 36)
    assert any("ReadFile" in calls for calls in by_lines.values())


def test_long_class_shrinks_to_its_skeleton():
    text = (FIXTURES / "store.py").read_text()
    got = chunk_file("store.py", text, max_chars=300)
    store = next(c for c in got if c.qualname == "Store")
    assert (store.line_start, store.line_end, store.parent) == (16, 19, "")
    assert store.code.endswith("version = 2")
    assert [c.qualname for c in got if c.qualname.startswith("Store.")] == [
        "Store.__init__", "Store.open", "Store.load", "Store.Meta", "Store.Meta.describe"]
    honest(got, text)


def test_class_lines_after_its_methods_become_pieces_of_the_class():
    text = "\n".join([
        "class Index:",
        '    """Vectors and their ids."""',
        "",
        "    def add(self, vectors):",
        "        for v in vectors:",
        "            self.items.append(normalize(v))",
        "",
        "    limit = 10",
        "    metric = 'cosine'",
        "    default_factory = build_default_factory()",
        "",
    ])
    got = chunk_file("index.py", text, max_chars=120)
    assert [(c.kind, c.qualname, c.line_start, c.line_end, c.parent) for c in got] == [
        ("class", "Index", 1, 2, ""),
        ("method", "Index.add", 4, 6, ""),
        ("class", "Index", 8, 10, "Index"),
    ]
    assert got[2].calls == ("build_default_factory",)
    assert got[2].doc == "Vectors and their ids."


# --- files without usable definitions -------------------------------------------

def test_file_without_definitions_is_windows():
    text = (FIXTURES / "script.py").read_text()
    got = chunk_file("tools/script.py", text)
    assert [(c.kind, c.name, c.qualname, c.line_start, c.line_end) for c in got] == [
        ("window", "script", "tools/script.py", 1, 7)]
    assert got[0].calls == ("open", "print", "len", "read")


def test_syntax_errors_keep_what_parses_and_window_the_rest():
    text = (FIXTURES / "broken.py").read_text()
    got = chunk_file("broken.py", text)
    assert got[0].qualname == "fine" and (got[0].line_start, got[0].line_end) == (1, 2)
    rest = got[1:]
    assert rest and all(c.kind == "window" for c in rest)
    assert rest[0].line_start == 5 and rest[-1].line_end == 11
    honest(got, text)


@pytest.mark.parametrize(
    "path", ["g.py", "g.go", "G.java", "g.js", "g.ts", "g.tsx", "g.php", "g.rb", "g.rs", "g.cpp",
             "g.c", "g.sh", "g.md", "g.sql"])
def test_binary_garbage_never_raises(path):
    rng = random.Random(7)
    text = "".join(chr(rng.choice([rng.randrange(0, 32), rng.randrange(32, 127), rng.randrange(128, 0x3000)]))
                   for _ in range(3000))
    got = chunk_file(path, text, max_chars=500)
    assert got
    assert all(len(c.code) <= 500 for c in got)
    assert got == chunk_file(path, text, max_chars=500)


def test_empty_and_blank_files_have_no_chunks():
    assert chunk_file("empty.py", "") == []
    assert chunk_file("blank.rs", "\n\n   \n\t\n") == []


def test_huge_single_line_is_cut_and_the_rest_still_parses():
    line = "DATA = '" + "a" * 12000 + "'"
    text = line + "\n\ndef after():\n    return DATA\n"
    got = chunk_file("gen.py", text)
    pieces = [c for c in got if c.line_start == 1]
    assert len(pieces) == 7 and all(len(c.code) <= 2000 for c in pieces)
    assert "".join(c.code for c in pieces) == line
    assert {(c.kind, c.qualname) for c in pieces} == {("constant", "DATA")}
    assert {c.parent for c in pieces} == {"DATA"}
    after = got[-1]
    assert (after.qualname, after.line_start, after.line_end) == ("after", 3, 4)


def test_unknown_language_is_windows_of_plain_text():
    got = chunk_file("notes.txt", "remember\nthe milk\n")
    assert [(c.language, c.kind, c.qualname, c.code) for c in got] == [
        ("text", "window", "notes.txt", "remember\nthe milk")]


def test_a_crashing_extractor_degrades_to_windows(monkeypatch):
    def boom(lang, text):
        raise RuntimeError("grammar bug")

    monkeypatch.setattr(chunk_pkg, "extract", boom)
    got = chunk_file("util.c", (FIXTURES / "util.c").read_text())
    assert got and {c.kind for c in got} == {"window"}
    assert got[0].line_start == 1 and got[-1].line_end == 32


def test_crlf_line_endings():
    text = "def a():\r\n    return 1\r\n\r\nclass B:\r\n    pass\r\n"
    got = chunk_file("crlf.py", text)
    assert [(c.qualname, c.line_start, c.line_end, c.code) for c in got] == [
        ("a", 1, 2, "def a():\n    return 1"),
        ("B", 4, 5, "class B:\n    pass"),
    ]
