"""Every `kind` a chunk can have, in one place: `--kind` is checked against it.

Kinds written in the language tables (specs.py) are read from them, so a new
language's plain kinds join by themselves. Kinds that a table's function
computes from the tree (a JS `const` is a function or a constant, a Go type
spec a struct, interface or type, a C typedef a struct, enum or type, a C
`#define` a macro) cannot be read without running it and are listed in
COMPUTED; tests/test_properties.py checks that every chunk of every chunker
fixture has a kind from here, so a kind missing from this list fails there.
"""

from __future__ import annotations

from functools import lru_cache

# Returned by kind functions in specs.py (see the module doc).
COMPUTED = frozenset({"function", "constant", "struct", "interface", "type", "enum", "macro"})
# Given outside the tables: a `function` in a scope that holds methods (assemble/definitions),
# a line window over code no definition covers, a Markdown section.
OTHERS = frozenset({"method", "window", "section"})


@lru_cache(maxsize=1)
def chunk_kinds() -> frozenset[str]:
    from . import sql
    from .specs import SPECS

    tables = {rule.kind for spec in SPECS.values() for rule in spec.rules.values() if isinstance(rule.kind, str)}
    return frozenset(tables | COMPUTED | OTHERS | set(sql._KINDS.values()))
