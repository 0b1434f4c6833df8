"""Property-based tests (hypothesis) of the walker and of every chunker.

- The walker, over random trees (odd names, nested folders, links to files and
  folders inside and outside the root, dangling links, loops, .gitignore files
  with valid and invalid lines) and trees changing while it walks, never
  raises, yields each file once under its real path, and, when no ignore rule
  is in play, yields exactly the regular files a plain walk finds.
- Every chunker (each language in codequarry.chunk.languages' grammar table,
  plus files in no known language), over random and mutated source, never
  raises, returns chunks whose lines and code match the file, with a known
  kind and language, and leaves no line uncovered unless it is blank or in a
  leftover region too small to be worth a vector (SIGNIFICANT_LINES /
  SIGNIFICANT_CHARS in chunk/assemble.py).

Example counts are small on purpose: the whole file runs in a few seconds
(QUARRY_PROPERTY_SCALE=N runs N times as many).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codequarry.chunk import chunk_file, languages
from codequarry.chunk.assemble import SIGNIFICANT_CHARS, SIGNIFICANT_LINES
from codequarry.search.filters import known_kinds, known_languages
from codequarry.walk import SKIP_DIRS, WalkReport, walk

FIXTURES = Path(__file__).parent / "fixtures" / "chunk"
# QUARRY_PROPERTY_SCALE=50 multiplies every example count, for a deep search now and then.
SCALE = max(1, int(os.environ.get("QUARRY_PROPERTY_SCALE", "1")))


def fast(examples: int) -> settings:
    # No example database: nothing written into the checkout; print_blob tells how to replay a failure.
    return settings(max_examples=examples * SCALE, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# --- the walker -----------------------------------------------------------------------------

ODD_NAMES = ["a.py", "b c.py", "-rf.py", "--help", "ünï cødé.py", "日本.go", "new\nline.py", "tab\t.rs", " lead",
             "trail ", "*.py", "[ab].py", "!neg.py", "#hash.py", "back\\slash.py", "x", ".hidden.py", "node_modules",
             ".git", "build", "dup.py", "\x1b]0;t\x07.py", "DUP.py"]
GITIGNORE_LINES = ["*.py", "!a.py", "x/", "/b c.py", "**/x", "#c", "", "!", "\\", "[z-a]", "*", "d*/", "-rf.py",
                   "node_modules/", "!*/", "ünï*"]

name_st = st.one_of(
    st.sampled_from(ODD_NAMES),
    st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=6)
    .filter(lambda s: s not in (".", "..")),
)


@st.composite
def tree_ops(draw, with_gitignore: bool):
    kinds = ["dir", "file", "file", "link"] + (["gitignore"] if with_gitignore else [])
    ops = []
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(kinds))
        where = draw(st.integers(0, 10))  # index into the folders made so far
        if kind == "gitignore":
            ops.append((kind, where, "\n".join(draw(st.lists(st.sampled_from(GITIGNORE_LINES), max_size=4)))))
        elif kind == "link":
            target = draw(st.sampled_from(["file", "dir", "outside_file", "outside_dir", "dangling", "self",
                                           "parent", "root", "cycle", "abs_file"]))
            ops.append((kind, where, draw(name_st), target, draw(st.integers(0, 20))))
        else:
            ops.append((kind, where, draw(name_st), draw(st.sampled_from([b"x = 1\n", b"", b"\x00bin"]))))
    return ops


def _build(base: Path, ops) -> Path:
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "leak.py").write_text("x = 1\n")
    dirs, files = [root], []
    for op in ops:
        d = dirs[op[1] % len(dirs)]
        try:
            if op[0] == "gitignore":
                (d / ".gitignore").write_text(op[2])
            elif op[0] == "dir":
                (d / op[2]).mkdir()
                dirs.append(d / op[2])
            elif op[0] == "file":
                (d / op[2]).write_bytes(op[3])
                files.append(d / op[2])
            else:
                _, _, name, target, pick = op
                link = d / name
                to = {
                    "file": lambda: os.path.relpath(files[pick % len(files)], d) if files else "missing",
                    "abs_file": lambda: str(files[pick % len(files)]) if files else "/nonexistent",
                    "dir": lambda: os.path.relpath(dirs[pick % len(dirs)], d),
                    "outside_file": lambda: str(outside / "leak.py"),
                    "outside_dir": lambda: str(outside),
                    "dangling": lambda: "no-such-target",
                    "self": lambda: name,
                    "parent": lambda: "..",
                    "root": lambda: str(root),
                    "cycle": lambda: name + ".other",
                }[target]()
                os.symlink(to, link)
                if target == "cycle":
                    os.symlink(name, d / (name + ".other"))
        except OSError:  # a name already taken, or too long: the tree is what it is
            continue
    return root


def _plain_walk(root: Path) -> set[str]:
    """Every regular file a walk that never follows links finds, minus the folders quarry always skips."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [n for n in dirnames if n not in SKIP_DIRS and not os.path.isfile(os.path.join(dirpath, n, "pyvenv.cfg"))]
        for n in filenames:
            p = os.path.join(dirpath, n)
            if stat.S_ISREG(os.lstat(p).st_mode):
                found.add(Path(p).relative_to(root).as_posix())
    return found


def _check_walked(root: Path, got) -> None:
    real_root = Path(os.path.realpath(root))
    rels = [sf.rel for sf in got]
    assert len(rels) == len(set(rels)), "a file was yielded twice"
    inodes = set()
    for sf in got:
        assert sf.path == real_root / sf.rel
        st_ = os.lstat(sf.path)
        assert stat.S_ISREG(st_.st_mode)
        assert (st_.st_dev, st_.st_ino) not in inodes, f"{sf.rel}: the same file under two names"
        inodes.add((st_.st_dev, st_.st_ino))
        parts = Path(sf.rel).parts
        for i in range(1, len(parts)):  # the real path: no folder on the way is a link
            assert not os.path.islink(real_root.joinpath(*parts[:i])), sf.rel


@fast(60)
@given(tree_ops(with_gitignore=True))
def test_walk_never_raises_and_yields_each_file_once_at_its_real_path(ops):
    with tempfile.TemporaryDirectory() as base:
        root = _build(Path(base), ops)
        report = WalkReport()
        got = list(walk(root, report=report, exclude=("-rf.py",)))
        _check_walked(root, got)
        assert all(v > 0 for v in report.skipped.values())


@fast(40)
@given(tree_ops(with_gitignore=False))
def test_walk_without_ignore_rules_finds_exactly_the_real_files(ops):
    with tempfile.TemporaryDirectory() as base:
        root = _build(Path(base), ops)
        got = list(walk(root))
        _check_walked(root, got)
        assert {sf.rel for sf in got} == _plain_walk(root)


@fast(40)
@given(tree_ops(with_gitignore=True), st.lists(st.tuples(st.integers(0, 50), st.sampled_from(
    ["unlink", "rmtree", "file_to_dir", "dir_to_file", "to_loop", "to_link_outside"])), max_size=6))
def test_walk_survives_a_tree_that_changes_while_it_walks(ops, changes):
    with tempfile.TemporaryDirectory() as base:
        root = _build(Path(base), ops)
        entries = sorted(root.rglob("*"), key=lambda p: str(p))
        report = WalkReport()
        got = []
        for step, sf in enumerate(walk(root, report=report)):
            got.append(sf)
            for pick, change in changes:
                if pick % 4 == step % 4 and entries:
                    _change(entries[pick % len(entries)], change, Path(base) / "outside")
        assert len({sf.rel for sf in got}) == len(got)


def _change(p: Path, change: str, outside: Path) -> None:
    try:
        if change == "unlink":
            p.unlink()
        elif change == "rmtree":
            shutil.rmtree(p)
        elif change == "file_to_dir":
            p.unlink()
            p.mkdir()
        elif change == "dir_to_file":
            shutil.rmtree(p)
            p.write_text("x = 1\n")
        elif change == "to_loop":
            p.unlink()
            os.symlink(p.name, p)
        else:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            os.symlink(outside, p)
    except OSError:
        pass


# --- the chunkers ---------------------------------------------------------------------------

def _path_for(lang: str) -> str:
    for ext, lg in languages.EXTENSIONS.items():
        if lg == lang:
            return "src/sample" + ext
    for name, lg in languages.FILENAMES.items():
        if lg == lang:
            return "src/" + name
    raise AssertionError(f"no file name maps to {lang}")


def _seeds(lang: str) -> list[str]:
    seeds = [p.read_text() for p in sorted(FIXTURES.iterdir())
             if p.is_file() and languages.language_for(p.name) == lang]
    return seeds or ["x = 1\n"]


# Each chunker by its language: all of the grammar table, so languages added later are covered too.
CHUNKED = sorted(languages._GRAMMARS)
TOKENS = ["\n", "\n\n", "    ", "\t", " ", "{", "}", "(", ")", "[", "]", ";", ":", ",", "'", '"', "`", "\\", "/*", "*/",
          "//", "#", "--", "<", ">", "=", "def ", "class ", "fn ", "function ", "func ", "end", "begin", "impl ",
          "struct ", "CREATE TABLE t (", "$$", "```", "```python\n", "# Title\n", "@decorator\n", "x", "Name",
          "é", "日本", "\u202e", "\r", "\r\n", "\x00", "\ufeff", "return ", "=>", "template <", "#define X 1\n"]
noise_st = st.lists(st.sampled_from(TOKENS), max_size=30).map("".join)


@st.composite
def mutated_source(draw, seeds: list[str]):
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "truncate"]))
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 200)))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(noise_st) + text[i:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i]
    return text


def _check_chunks(path: str, text: str, max_chars: int) -> None:
    chunks = chunk_file(path, text, max_chars=max_chars)  # must not raise
    if not text.strip():
        assert chunks == []
        return
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    n = len(lines)
    covered = [False] * (n + 1)
    for c in chunks:
        assert 1 <= c.line_start <= c.line_end <= n, c
        assert c.kind in known_kinds(), f"{path}: kind {c.kind!r} is missing from codequarry/chunk/kinds.py"
        assert c.language in known_languages(), f"{path}: language {c.language!r} is not in chunk/languages.py's tables"
        region = "\n".join(lines[c.line_start - 1:c.line_end])
        if c.code != region:  # only a line too long for one chunk is cut, into slices of it
            assert c.line_start == c.line_end and len(region) > max_chars and c.code in region, c
        for line in range(c.line_start, c.line_end + 1):
            covered[line] = True
    missed = [i for i in range(1, n + 1) if not covered[i] and lines[i - 1].strip()]
    if not missed:
        return
    found = _definitions(path, text)
    assert found.definitions, f"{path}: a file without definitions must be all windows, missed {missed}"
    # A leftover region: a run of uncovered lines inside the same innermost container.
    key = _innermost_containers(n, found.definitions)
    start = None
    for i in range(1, n + 2):
        if i <= n and not covered[i] and (start is None or key[i] == key[start]):
            start = start or i
            continue
        if start is not None:
            region = lines[start - 1:i - 1]
            significant = (sum(1 for x in region if x.strip()) >= SIGNIFICANT_LINES
                           or sum(len("".join(x.split())) for x in region) >= SIGNIFICANT_CHARS)
            assert not significant, f"{path}: lines {start}-{i - 1} dropped silently: {region!r}"
            start = i if i <= n and not covered[i] else None


def _definitions(path: str, text: str):
    from codequarry.chunk import _extract
    from codequarry.chunk.definitions import Extraction

    lang = languages.language_for(path, text[:256])
    try:
        return _extract(lang, text) if lang else Extraction()
    except Exception:
        return Extraction()


def _innermost_containers(n: int, defs) -> list:
    key: list = [None] * (n + 2)
    best = [n + 2] * (n + 2)
    for i, d in enumerate(defs):
        if not d.container:
            continue
        end = max(1, min(d.end, n))
        start = max(1, min(d.start, end))
        for line in range(start, end + 1):
            if end - start <= best[line]:
                best[line], key[line] = end - start, i
    return key


@pytest.mark.parametrize("lang", CHUNKED)
def test_every_chunker_handles_mutated_source(lang):
    path, seeds = _path_for(lang), _seeds(lang)
    for seed in seeds:  # the seeds themselves first: their kinds must all be known ones
        _check_chunks(path, seed, 2000)

    @fast(25)
    @given(mutated_source(seeds), st.sampled_from([2000, 200, 40]))
    def run(text, max_chars):
        _check_chunks(path, text, max_chars)

    run()


@pytest.mark.parametrize("lang", CHUNKED + ["no known language"])
@fast(10)
@given(text=st.one_of(noise_st, st.text(max_size=300)))
def test_every_chunker_handles_random_text(lang, text):
    _check_chunks(_path_for(lang) if lang in CHUNKED else "notes.unknown-ext", text, 200)
