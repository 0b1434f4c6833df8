"""Chunking: cut a source file into searchable units.

    chunk_file(path, text) -> list[Chunk]

Definitions (functions, methods, classes, structs, enums, interfaces,
traits, impls, type aliases, module-level constants, macros; markdown and
reStructuredText sections; SQL tables, views, indexes, triggers) become
chunks of their own; the rest of the file becomes line windows. Every text
file is chunked: one in a format without definitions (YAML, JSON,
Dockerfile, plain text…) is all windows, under its format's language name
(languages.py holds the table). See assemble.py for how chunks are cut and
specs/ for what counts as a definition in each of the 20 parsed languages.

Conventions every caller can rely on:

- Lines are 1-based and inclusive, counted at `\\n` (the `\\r` of a CRLF
  ending is dropped), and `code` is exactly those lines of the file. The one
  exception: a single line longer than `max_chars` is cut into pieces that
  each report that line, with `code` a slice of it.
- A definition's code starts at its leading doc comment, decorators or
  attributes, so `line_start` may precede the `def`/`fn` line.
- Qualified names use the language's own separator: `::` for Rust and C++,
  `.` everywhere else (Ruby included: `Store.load`, not `Store#load`):
  enclosing types/modules, then the name; packages and namespaces are not
  part of them (Java, C#, Kotlin, Scala, Swift: `Class.method`; Haskell
  module names neither).
  Go methods are qualified by their receiver type (`Store.Open`), C++
  out-of-class definitions by their class (`HnswIndex::build`), nested
  in their namespaces (a qualified C++ definition is taken for a method:
  the grammar cannot tell `ns::f` from `Class::f`). A Rust `impl` is named
  after its type (`Store`);
  a trait impl's qualname says which trait (`fmt::Display for Store`), and
  the methods in either are `Store::method`. Java packages and PHP
  namespaces are not part of qualnames.
  Kotlin and Scala objects qualify like classes, a Kotlin companion object
  adds no name (`Store.open`), Kotlin extension functions and Scala 3
  extension methods are qualified by the extended type (`String.shout`). A
  Swift extension is a chunk of kind `impl` named after the type it
  extends, and its methods are that type's (`Store.dump`).
  Elixir: the module name as written, nested under its parents, then the
  function (`Plug.Conn.send_resp`); `defimpl Size, for: Map` is `Size.Map`.
  Haskell: top-level functions by bare name; a type class (kind
  `interface`) qualifies its methods (`Backend.flush`), an instance (kind
  `impl`, qualname `Backend Store`) qualifies its methods by the instance
  type (`Store.flush`), as Rust traits and impls do. Lua: `function M.f`
  and `M.f = function` are `M.f`, `function Class:m` is the method
  `Class.m`. Zig: `const Foo = struct { fn bar() }` gives struct `Foo` and
  method `Foo.bar`; top-level functions by bare name. JavaScript functions
  assigned to members are `obj.method`, with `prototype` dropped
  (`Foo.prototype.bar = function` → method `Foo.bar`) and `module.exports.`
  / `exports.` dropped (`exports.x = () => …` → function `x`).
- A type alias declared inside a function body (Rust, Go, TypeScript) is a
  definition of its own, qualified by its function (`main::Key`,
  `parse.pair`), besides being part of the function's chunk.
- Several clauses of one function (Haskell equations, Elixir `def`
  clauses) with only blank lines between are one definition; a Haskell
  function's type signature and haddock are part of it, and its
  signature is the `name :: type` line. Elixir docs come from `@doc` /
  `@moduledoc`; C# docs are the XML doc comment's text.
- `doc` is a Python docstring, else the comments directly above the
  definition (no blank line between), markers removed.
- `.h` files are C or C++ by content (see languages.py).
- Output order: by `line_start`, longer (outer) chunks first.
"""

from __future__ import annotations

from ..domain import Chunk
from . import markdown, rst, sql
from .assemble import assemble
from .definitions import Extraction, extract
from .languages import LANGUAGES, language_for, parsed

__all__ = ["CHUNKER_VERSION", "LANGUAGES", "chunk_file", "language_for"]

# Bump whenever the chunks produced for the same input change.
CHUNKER_VERSION = "4"


def chunk_file(path: str, text: str, *, max_chars: int = 2000, overlap_lines: int = 5) -> list[Chunk]:
    """Chunks of one file; `path` is repo-relative POSIX, `text` already decoded.

    Never raises on bad source: what cannot be parsed becomes line windows.
    A file in no known language is all windows, with language `text`.
    """
    if not text.strip():
        return []
    lang = language_for(path, text)
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
    if lang == "rst":
        return rst.extract(text)
    return extract(lang, text) if parsed(lang) else Extraction()
