"""What one file says about calls: call sites with their receivers, imports, base classes.

    analyze(lang, text) -> FileFacts | None

The chunker records only the bare name of each call (`Chunk.calls`); the
resolver needs more: what the call was made on (`self.open()`,
`os.path.join()`, `store.open()` with `store: Store`), which names the file
binds from elsewhere, and which classes extend which. This module reads
that from the tree-sitter tree, per language, with queries (the walk runs
in C); languages without a reader here get None and their calls resolve by
name alone.

Receivers are normalised so the resolver need not know the language:
`''` a bare call, `self` (self, cls, this, Self, a Go method's receiver
variable), `super`, `new` (a constructor: `new Foo()`), a dotted path
(`os.path`, `store`, `self.db`; Rust `::` becomes `.`), or `?` for anything
else (a call's result, an index expression).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

BARE, SELF, SUPER, NEW, UNKNOWN = "", "self", "super", "new", "?"


@dataclass(frozen=True, slots=True)
class Site:
    line: int
    name: str
    receiver: str = BARE
    rtype: str = ""  # declared or constructed type of the receiver variable, when the file says
    local: bool = False  # a bare name bound inside the calling function (parameter, variable, nested def)


@dataclass(frozen=True, slots=True)
class Import:
    """`alias` is bound in the file to `name` of `module` (name '' = the module itself).

    alias '*' is a star import; module '' refers to the file itself (a JS
    `export default foo` is alias 'default' for 'foo').
    """

    alias: str
    module: str
    name: str


@dataclass(frozen=True, slots=True)
class Base:
    cls: str  # the class's name
    line: int  # line of the class's name, to find its chunk
    base: str  # dotted, as written, generics stripped


@dataclass(frozen=True, slots=True)
class FileFacts:
    sites: tuple[Site, ...] = ()
    imports: tuple[Import, ...] = ()
    bases: tuple[Base, ...] = ()


def text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None else ""


# Member access nodes: type -> (field holding the object, field holding the member).
_MEMBER = {
    "attribute": ("object", "attribute"),
    "member_expression": ("object", "property"),
    "selector_expression": ("operand", "field"),
    "field_expression": ("value", "field"),
    "scoped_identifier": ("path", "name"),
    "scoped_type_identifier": ("path", "name"),
    "field_access": ("object", "field"),
    "qualified_type": ("package", "name"),
}
_NAMES = frozenset({"identifier", "type_identifier", "field_identifier", "property_identifier",
                    "package_identifier", "private_property_identifier", "crate", "super", "constant"})
_SELF_WORDS = frozenset({"self", "this", "Self"})


def dotted(node: Node | None, self_words: frozenset[str] = _SELF_WORDS) -> str | None:
    """`a.b.c` for a chain of names (any language's member syntax), else None."""
    parts: list[str] = []
    for _ in range(16):
        if node is None:
            return None
        t = node.type
        if t in _MEMBER:
            obj, member = _MEMBER[t]
            m = node.child_by_field_name(member)
            if m is None:
                return None
            parts.append(text(m))
            node = node.child_by_field_name(obj)
            continue
        word = text(node)
        if t in ("this", "self") or (t in _NAMES and word in self_words):
            parts.append(SELF)
        elif t == "super" or word == "super":
            parts.append(SUPER)
        elif t in _NAMES:
            parts.append(word)
        elif t == "call" and text(node.child_by_field_name("function")) == "super":  # Python super()
            parts.append(SUPER)
        else:
            return None
        return ".".join(reversed(parts))
    return None


_OPTIONAL = re.compile(r"^(?:typing\.)?Optional\[(.*)\]$")
_TYPE_HEAD = re.compile(r"[A-Za-z_$][\w$]*(?:(?:\.|::)[A-Za-z_$][\w$]*)*")


def type_name(raw: str) -> str:
    """The class a type annotation names: `Optional[Store]`, `*Store`, `&mut Store<T>`,
    `Store | None`, `"Store"` → `Store`; `pkg.Store` → `pkg.Store`; builtin shapes → ''."""
    raw = raw.strip().strip("\"'")
    if m := _OPTIONAL.match(raw):
        raw = m.group(1)
    raw = raw.split("|")[0].strip()
    raw = re.sub(r"^(?:[&*]|mut\b|dyn\b|impl\b|'\w+\b|\s)+", "", raw)
    m = _TYPE_HEAD.match(raw)
    if not m:
        return ""
    name = m.group(0).replace("::", ".")
    return "" if name in ("var", "None", "null", "undefined", "any", "unknown", "object", "void") else name


def analyze(lang: str, source: str) -> FileFacts | None:
    """Call sites, imports and bases of one file; None for a language with no reader."""
    from codequarry.chunk.languages import parse

    from .imports import IMPORT_READERS
    from .readers import reader_for

    reader = reader_for(lang)
    if reader is None:
        return None
    root = parse(lang, source)[1].root_node
    sites = reader.sites(root)
    imports, bases = IMPORT_READERS[lang](root, lang)
    return FileFacts(tuple(sites), tuple(dict.fromkeys(imports)), tuple(dict.fromkeys(bases)))
