"""Per-language tables: which tree-sitter nodes are definitions, and how to read them.

One generic walker (chunk/definitions.py) runs over every grammar; what a
language does differently lives here as data, one module per family:

- base.py: `Rule`, `LangSpec` and the small readers the tables share
- scripting.py: Python, Ruby, shell, Lua
- web.py: JavaScript, TypeScript/TSX, PHP
- native.py: Go, Rust, C, C++, Zig, Swift
- managed.py: Java, Kotlin, Scala, C#
- functional.py: Elixir, Haskell
"""

from __future__ import annotations

from .base import UPPER_CASE, LangSpec, Rule, by_field, first_of, strip_generics, text
from .functional import ELIXIR, HASKELL
from .managed import CSHARP, JAVA, KOTLIN, SCALA
from .native import C, CPP, GO, RUST, SWIFT, ZIG
from .scripting import LUA, PYTHON, RUBY, SHELL
from .web import JAVASCRIPT, PHP, TYPESCRIPT

__all__ = ["SPECS", "UPPER_CASE", "LangSpec", "Rule", "by_field", "first_of", "strip_generics", "text"]

SPECS: dict[str, LangSpec] = {
    "python": PYTHON,
    "go": GO,
    "java": JAVA,
    "javascript": JAVASCRIPT,
    "typescript": TYPESCRIPT,
    "tsx": TYPESCRIPT,
    "php": PHP,
    "ruby": RUBY,
    "rust": RUST,
    "c": C,
    "cpp": CPP,
    "shell": SHELL,
    "csharp": CSHARP,
    "kotlin": KOTLIN,
    "scala": SCALA,
    "swift": SWIFT,
    "elixir": ELIXIR,
    "haskell": HASKELL,
    "lua": LUA,
    "zig": ZIG,
}
