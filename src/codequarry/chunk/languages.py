"""Which language a file is in, and a tree-sitter parser for it.

`.h` maps to `cpp`: the C++ grammar parses plain C headers well, while the
C grammar falls apart on C++ headers (classes, namespaces, templates), and a
header's language cannot be told from its name.
"""

from __future__ import annotations

import importlib
import re
import threading
from pathlib import PurePosixPath

EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".go": "go",
    ".java": "java",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "tsx",
    ".php": "php", ".phtml": "php",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
    ".rs": "rust",
    ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".c++": "cpp",
    ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp", ".inl": "cpp",
    ".h": "cpp",
    ".c": "c",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".ksh": "shell",
    ".md": "markdown", ".markdown": "markdown",
    ".sql": "sql",
}

FILENAMES: dict[str, str] = {
    "Rakefile": "ruby", "Gemfile": "ruby", "Guardfile": "ruby", "Vagrantfile": "ruby",
    ".bashrc": "shell", ".bash_profile": "shell", ".profile": "shell", ".zshrc": "shell",
}

# Interpreter named on a `#!` line → language, for extensionless scripts.
_INTERPRETERS = {
    "sh": "shell", "bash": "shell", "zsh": "shell", "ksh": "shell", "dash": "shell",
    "python": "python", "node": "javascript", "ruby": "ruby", "php": "php",
}

# Fence info strings in markdown use many aliases for the same language.
FENCE_ALIASES: dict[str, str] = {
    "py": "python", "python": "python", "python3": "python",
    "go": "go", "golang": "go", "java": "java",
    "js": "javascript", "javascript": "javascript", "jsx": "javascript", "node": "javascript",
    "ts": "typescript", "typescript": "typescript", "tsx": "tsx",
    "php": "php", "rb": "ruby", "ruby": "ruby", "rs": "rust", "rust": "rust",
    "c": "c", "cpp": "cpp", "c++": "cpp", "cc": "cpp", "cxx": "cpp",
    "sh": "shell", "bash": "shell", "shell": "shell", "zsh": "shell", "console": None,
    "sql": "sql", "postgresql": "sql", "mysql": "sql", "sqlite": "sql",
}

_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "go": ("tree_sitter_go", "language"),
    "java": ("tree_sitter_java", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "php": ("tree_sitter_php", "language_php"),
    "ruby": ("tree_sitter_ruby", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "c": ("tree_sitter_c", "language"),
    "shell": ("tree_sitter_bash", "language"),
    "markdown": ("tree_sitter_markdown", "language"),
    "sql": ("tree_sitter_sql", "language"),
}


def language_for(path: str, head: str | None = None) -> str | None:
    """Language of `path` by extension or well-known filename, else None.

    `head` (the start of the file, optional) lets extensionless scripts be
    recognised by their `#!` line.
    """
    p = PurePosixPath(path)
    lang = FILENAMES.get(p.name) or EXTENSIONS.get(p.suffix.lower())
    if lang is None and head and not p.suffix and head.startswith("#!"):
        words = [w for w in head[2:].split("\n", 1)[0].split() if not w.startswith("-")]
        if words and words[0].endswith("/env"):
            words = words[1:]
        if words:
            lang = _INTERPRETERS.get(re.sub(r"[\d.]+$", "", words[0].rsplit("/", 1)[-1]))
    return lang


_languages: dict[str, object] = {}
_local = threading.local()  # tree-sitter Parsers are not safe to share across threads


def parser_for(lang: str):
    """A cached tree-sitter Parser for `lang` (one per thread)."""
    from tree_sitter import Language, Parser

    parsers = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(lang)
    if parser is None:
        language = _languages.get(lang)
        if language is None:
            module, func = _GRAMMARS[lang]
            language = _languages[lang] = Language(getattr(importlib.import_module(module), func)())
        parser = parsers[lang] = Parser(language)
    return parser
