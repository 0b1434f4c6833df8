"""What a language table is made of: `Rule`, `LangSpec`, and small readers shared by the tables.

One generic walker (definitions.py) runs over every grammar; everything a
language does differently lives in the per-family modules of this package
as data, plus a few small readers for names that are not simply a node's
`name` field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Union

from tree_sitter import Node

if TYPE_CHECKING:  # the walker's record; only hooks see it
    from ..definitions import Definition

NodeFn = Callable[[Node], "str | None"]
# A call node → the expression naming its callee (the walker reads the bare name from it), or None: not a call.
CalleeFn = Callable[[Node], "Node | None"]


def text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None else ""


def first_of(node: Node | None, types: frozenset[str] | set[str]) -> Node | None:
    """First descendant (pre-order, node included) whose type is in `types`."""
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if n.type in types:
            return n
        stack.extend(reversed(n.named_children))
    return None


def child_of(node: Node | None, types: frozenset[str] | set[str]) -> Node | None:
    """First direct child (named or not) whose type is in `types`."""
    if node is None:
        return None
    return next((c for c in node.children if c.type in types), None)


def keyword(node: Node, words: frozenset[str] | set[str]) -> str | None:
    """The first anonymous child token of `node` that is one of `words` (`class`, `struct`…)."""
    return next((c.type for c in node.children if not c.is_named and c.type in words), None)


def by_field(*names: str) -> NodeFn:
    def read(node: Node) -> str | None:
        for name in names:
            child = node.child_by_field_name(name)
            if child is not None:
                return text(child)
        return None

    return read


def body_child(*types: str) -> Callable[[Node], "Node | None"]:
    """A body that is a child of one of `types` rather than a `body` field (Kotlin, Swift, Zig)."""
    wanted = frozenset(types)
    return lambda node: child_of(node, wanted)


@dataclass(frozen=True, slots=True)
class Rule:
    """How one node type becomes a definition.

    `kind` may be a function of the node returning None when this instance is
    not a definition after all (a JS `const` holding a number is a constant,
    one holding an arrow function is a function). A kind of `function` turns
    into `method` inside a scope that holds methods or under a qualifier
    (Go receiver, C++ `Class::`). Constants count only in scopes that hold
    constants (file, namespace, module), never inside classes.

    A name may carry its own scope as `A::B::name` (C++ `HnswIndex::build`,
    Ruby `Foo::Bar`); readers for languages that write `A.b` translate to that.
    """

    kind: Union[str, NodeFn]
    name: NodeFn = by_field("name")
    # Nested definitions are looked for inside, under its name; a set: only when the kind is in it.
    container: Union[bool, frozenset[str]] = False
    holds_methods: bool = False
    holds_constants: bool = False
    emit: bool = True  # False: a scope for qualnames only (C++ / TS namespaces)
    transparent: bool = False  # a scope that adds no name (Kotlin companion object): its contents are its owner's
    body: Union[str, Callable[[Node], "Node | None"], None] = "body"  # the signature ends where this starts
    needs_body: bool = False  # without a body it is a declaration, not a definition
    qualifier: Callable[[Node], "str | None"] | None = None  # Go receiver type
    label: Callable[[Node, str], str] | None = None  # qualname override (Rust trait impls)
    local: bool = False  # also a definition inside a function body (local type aliases), under its path


@dataclass(frozen=True, slots=True)
class LangSpec:
    rules: dict[str, Rule]
    sep: str = "."
    comments: frozenset[str] = frozenset({"comment"})
    # Sibling nodes directly above a definition that belong to it (Rust `#[derive]`, a Haskell type signature).
    attributes: frozenset[str] = frozenset()
    # A definition that is the only one of its type inside one of these extends to it
    # (`export`, decorators, `const (...)` with one spec, `template <...>`).
    wrappers: frozenset[str] = frozenset()
    # Function-like nodes that are not definitions themselves; nothing inside is one either.
    opaque: frozenset[str] = frozenset()
    # Call node type → the field holding the callee (None: the node itself names it;
    # a function: returns the callee expression, or None when this node is no call).
    calls: dict[str, Union[str, None, CalleeFn]] = field(default_factory=dict)
    docstrings: bool = False  # Python: the doc is the body's leading string
    # Consecutive definitions with one qualname and only blank lines between are one
    # (Haskell equations, Elixir function clauses).
    merge_clauses: bool = False
    # Node types whose first child's leading comments the grammar leaves at the end of
    # the node before (tree-sitter-haskell puts the first declaration's haddock in `imports`).
    adopts_comments: frozenset[str] = frozenset()
    # Last word on a definition: (node, its leading comments/attributes, the record) → adjusts
    # the record's doc or signature in place (Elixir `@doc`, C# XML doc tags, Haskell `::` lines).
    refine: Callable[[Node, list[Node], "Definition"], None] | None = None
    # When the file does not parse cleanly: the same bytes with what the grammar chokes on
    # neutralised (C# preprocessor branches, a Scala 2 call to a method named `inline`), every
    # offset and line unchanged. The walker keeps whichever tree is less damaged; names, calls
    # and signatures are still read from the file itself, so a repair must not touch names.
    repair: Callable[[bytes], bytes] | None = None


UPPER_CASE = re.compile(r"^_*[A-Z][A-Z0-9_]*$")


def strip_generics(name: str) -> str:
    """`Box<T>` → `Box`; C++ operators keep their angle brackets."""
    return name if name.startswith("operator") else re.sub(r"<.*>", "", name).strip()


def dotted(name: str | None) -> str | None:
    """`a.b.c` → `a::b::c`, the walker's way of saying "name `c` in scope `a.b`"."""
    return name.replace(".", "::") if name else None
