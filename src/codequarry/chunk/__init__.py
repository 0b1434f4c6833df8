"""Chunking: cut a source file into searchable units.

    chunk_file(path, text) -> list[Chunk]

Definitions (functions, methods, classes, structs, enums, interfaces,
traits, impls, type aliases, module-level constants, macros; markdown
sections; SQL tables, views, indexes, triggers) become chunks of their own;
the rest of the file becomes line windows. See assemble.py for how chunks
are cut and specs.py for what counts as a definition in each language.

Conventions every caller can rely on:

- Lines are 1-based and inclusive, counted at `\\n` (the `\\r` of a CRLF
  ending is dropped), and `code` is exactly those lines of the file. The one
  exception: a single line longer than `max_chars` is cut into pieces that
  each report that line, with `code` a slice of it.
- A definition's code starts at its leading doc comment, decorators or
  attributes, so `line_start` may precede the `def`/`fn` line.
- Qualified names use the language's own separator: `::` for Rust and C++,
  `.` everywhere else (Ruby included: `Store.load`, not `Store#load`).
  Go methods are qualified by their receiver type (`Store.Open`), C++
  out-of-class definitions by their class (`HnswIndex::build`), nested
  in their namespaces (a qualified C++ definition is taken for a method:
  the grammar cannot tell `ns::f` from `Class::f`). A Rust `impl` is named
  after its type (`Store`);
  a trait impl's qualname says which trait (`fmt::Display for Store`), and
  the methods in either are `Store::method`. Java packages and PHP
  namespaces are not part of qualnames.
- `doc` is a Python docstring, else the comments directly above the
  definition (no blank line between), markers removed.
- `.h` files are C++ (see languages.py).
- Output order: by `line_start`, longer (outer) chunks first.
"""

from __future__ import annotations

from ..domain import Chunk
from . import markdown, sql
from .assemble import assemble
from .definitions import Extraction, extract
from .languages import language_for

__all__ = ["CHUNKER_VERSION", "chunk_file", "language_for"]

# Bump whenever the chunks produced for the same input change.
CHUNKER_VERSION = "1"


def chunk_file(path: str, text: str, *, max_chars: int = 2000, overlap_lines: int = 5) -> list[Chunk]:
    """Chunks of one file; `path` is repo-relative POSIX, `text` already decoded.

    Never raises on bad source: what cannot be parsed becomes line windows.
    A file in no known language is all windows, with language `text`.
    """
    if not text.strip():
        return []
    lang = language_for(path, text[:256])
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    try:
        found = _extract(lang, text) if lang else Extraction()
    except Exception:  # a grammar or walker bug must cost the file its definitions, not its chunks
        found = Extraction()
    return assemble(path, lang or "text", lines, found, max(1, max_chars), max(0, overlap_lines))


def _extract(lang: str, text: str) -> Extraction:
    if lang == "markdown":
        return markdown.extract(text)
    if lang == "sql":
        return sql.extract(text)
    return extract(lang, text)
