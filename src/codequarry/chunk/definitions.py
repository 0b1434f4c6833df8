"""Find the definitions in a parsed file: one walker driven by the tables in specs/.

A definition's line range covers its leading doc comment, attributes and
decorators as well as the node itself, so `code` reads the way a developer
sees it in the file. Definitions inside function bodies (closures, local
classes) are part of their function, not definitions of their own; the one
exception is a local type (rules marked `local`: a Rust `type X = …;`, a Go
`type x struct`, a TypeScript `type X = …` in a function body), which is
also a definition of its own, qualified by its function (`parse.Pair`).

Tree-sitter recovers from syntax errors locally, so definitions it still
recognises in a damaged file are kept (their ranges are real); whatever it
could not make sense of is left for line windows. Where a grammar loses a
whole file to something it cannot parse (C# preprocessor lines inside a
parameter list or between `lock (...)` and its block; a Scala 2 call to a
method named `inline`), the language's `repair` gives a second parse of the
same bytes with that neutralised, and the less damaged tree is walked
(C#: of each `#if`, only the first branch is then seen).

Every call in the file is recorded with its position; the caller decides
which chunk owns it. A call is its callee's bare name (`obj.bar()` → bar,
`new Foo()` → Foo, `Foo::new()` → new, a shell command's name); Rust macro
invocations are not calls.

Where a language writes one function as several clauses (Haskell equations,
Elixir `def` clauses), consecutive clauses of one name with only blank lines
between are merged into one definition.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from dataclasses import dataclass, field
from typing import NamedTuple

from tree_sitter import Node

from .languages import ParseTimeout, nodes_of, parse, parse_bytes
from .specs import SPECS, LangSpec, Rule, strip_generics, text

MAX_SIGNATURE = 200

# Children at the top of a definition that come before what a signature should show.
_DECORATIONS = frozenset({"decorator", "attribute_item", "attribute", "marker_annotation", "annotation",
                          "attribute_list"})
# Things a name never contains (destructuring patterns, strings, broken parses).
_BAD_NAME = re.compile(r"[{}();,\"'`\s]")
_CALLEE_FIELDS = ("name", "property", "field", "attribute", "method", "function", "constructor", "type")
_IDENTIFIER = re.compile(r"^[^\W\d][\w$-]*[?!]?$")
_NAMELIKE = re.compile(r"identifier|name$|^word$|^constant$")


@dataclass(slots=True)
class Definition:
    language: str
    kind: str
    name: str
    qualname: str
    start: int  # 1-based, inclusive; first line of leading comments/decorators
    end: int
    signature: str = ""
    doc: str = ""
    container: bool = False  # its chunk may shrink to a skeleton when long


@dataclass(slots=True)
class Extraction:
    definitions: list[Definition] = field(default_factory=list)
    # (line, column, callee): the position of the callee's name, so sorting gives reading order.
    calls: list[tuple[int, int, str]] = field(default_factory=list)

    def shifted(self, lines: int) -> Extraction:
        """The same findings `lines` further down (code embedded in another file)."""
        for d in self.definitions:
            d.start += lines
            d.end += lines
        self.calls = [(line + lines, col, name) for line, col, name in self.calls]
        return self


class _Scope(NamedTuple):
    parts: tuple[str, ...] = ()
    methods: bool = False
    constants: bool = True
    local: bool = False  # inside a function body: only `local` rules apply


def extract(lang: str, source: str) -> Extraction:
    """Definitions and calls of `source`, a whole file in `lang` (a tree-sitter language)."""
    spec = SPECS[lang]
    data, tree = parse(lang, source)
    root = _repaired(lang, spec, data, tree.root_node)
    out = Extraction()
    # Reading order visits a node's ancestors first: `open` holds the ones still enclosing it that
    # set what their insides may define (definitions, opaque nodes), each with (end, scope, allowed).
    open_: list[tuple[int, int, _Scope, bool]] = [(root.start_byte, root.end_byte, _Scope(), True)]
    for node in nodes_of(lang, root, _wanted(lang, spec)):
        start, end = node.start_byte, node.end_byte
        while len(open_) > 1 and not (open_[-1][0] <= start and end <= open_[-1][1]):
            open_.pop()
        scope, allowed = open_[-1][2], open_[-1][3]
        ntype = node.type
        if ntype in spec.calls:
            callee = _callee(node, spec.calls[ntype])
            if callee is not None:
                row, col = callee.start_point
                # From the file's bytes, not the tree's: a repaired tree may have renamed it.
                out.calls.append((row + 1, col, data[callee.start_byte:callee.end_byte].decode("utf-8", "replace")))
        rule = spec.rules.get(ntype)
        if rule is not None and not allowed and not (rule.local and scope.local):
            rule = None
        inner = _define(node, rule, scope, spec, lang, data, out.definitions) if rule is not None else None
        if inner is not None:
            open_.append((start, end, *inner))
        elif ntype in spec.opaque:
            open_.append((start, end, scope, False))
    if spec.merge_clauses:
        out.definitions = _merge_clauses(out.definitions, source.split("\n"))
    return out


_WANTED: dict[str, frozenset[str]] = {}


def _wanted(lang: str, spec: LangSpec) -> frozenset[str]:
    """The node types the walk acts on: calls, definitions, and nodes whose insides define nothing."""
    got = _WANTED.get(lang)
    if got is None:
        got = _WANTED[lang] = frozenset(spec.calls) | frozenset(spec.rules) | spec.opaque
    return got


def _repaired(lang: str, spec: LangSpec, data: bytes, root: Node) -> Node:
    """`root` (of `data`'s tree), or the root of its repair's tree when that is less damaged (see
    `LangSpec.repair`)."""
    if spec.repair is None or not root.has_error:
        return root
    fixed = spec.repair(data)
    if fixed == data or len(fixed) != len(data):  # a repair that moved offsets would misplace everything
        return root
    try:
        other = parse_bytes(lang, fixed).root_node
    except ParseTimeout:  # the repair is a second chance; the file's own tree stands
        return root
    return other if _damage(other) < _damage(root) else root


def _damage(root: Node) -> int:
    """Bytes inside ERROR nodes plus one per MISSING node: an ERROR root costs the whole file."""
    total, stack = 0, [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR":
            total += node.end_byte - node.start_byte
        elif node.is_missing:
            total += 1
        else:
            stack.extend(c for c in node.children if c.has_error)
    return total


def _define(node: Node, rule: Rule, scope: _Scope, spec: LangSpec, lang: str, data: bytes,
            found: list[Definition]) -> tuple[_Scope, bool] | None:
    """Record `node` if it is a definition; return the scope and permission for its children."""
    kind = rule.kind(node) if callable(rule.kind) else rule.kind
    if kind is None or (kind == "constant" and not scope.constants):
        return None
    if rule.needs_body and _body(node, rule) is None:
        return None
    if rule.transparent:  # its contents belong to the enclosing scope (Kotlin companion object)
        return _Scope(scope.parts, rule.holds_methods, rule.holds_constants), True
    raw = rule.name(node)
    if not raw or (_BAD_NAME.search(raw.rstrip("'")) and not raw.startswith("operator")):  # Haskell `f'`
        return None
    # Qualified declarations (`HnswIndex::build`, Ruby `Foo::Bar`) carry their own scope.
    parts = [strip_generics(p) or p for p in raw.split("::")]
    name = parts[-1]
    qualifier = tuple(p for p in parts[:-1] if p)
    if rule.qualifier is not None and (q := rule.qualifier(node)):
        qualifier += (q,)
    if kind == "function" and (scope.methods or qualifier):
        kind = "method"
    path = scope.parts + qualifier + (name,)
    container = rule.container if isinstance(rule.container, bool) else kind in rule.container
    if container:
        inner = (_Scope(path, rule.holds_methods, rule.holds_constants), True)
    else:  # nothing inside is a definition, but a local type is qualified by this one
        inner = (_Scope(path, False, False, local=True), False)
    if not rule.emit:
        return inner
    label = rule.label(node, name) if rule.label is not None else None
    qualname = spec.sep.join(scope.parts + qualifier + (label,)) if label else spec.sep.join(path)
    outer = _outermost(node, spec)
    leading = _leading(outer, spec)
    comments = [c for c in leading if c.type in spec.comments]
    doc = _docstring(node) if spec.docstrings else ""
    definition = Definition(
        language=lang,
        kind=kind,
        name=name,
        qualname=qualname,
        start=(leading[0] if leading else outer).start_point[0] + 1,
        end=last_line(outer),
        signature=_signature(outer, _body(node, rule), data, spec),
        doc=doc or clean_comments([text(c) for c in comments]),
        container=container,
    )
    if spec.refine is not None:
        spec.refine(node, leading, definition)
    found.append(definition)
    return inner


def last_line(node: Node) -> int:
    """1-based last line of `node`; a node that swallowed its newline ends on the line before."""
    row, col = node.end_point
    return row if col == 0 and row > node.start_point[0] else row + 1


def _outermost(node: Node, spec: LangSpec) -> Node:
    """Climb through wrappers (`export`, decorators, one-spec `const (...)`) that belong to `node`."""
    outer = node
    while (parent := outer.parent) is not None and parent.type in spec.wrappers:
        if sum(1 for c in parent.named_children if c.type == outer.type) > 1:
            break
        outer = parent
    return outer


def _leading(outer: Node, spec: LangSpec) -> list[Node]:
    """Comments and attributes stacked directly above `outer`, top first."""
    belongs = spec.comments | spec.attributes
    found: list[Node] = []
    top = outer.start_point[0]
    sib = _before(outer, spec)
    while sib is not None and sib.type in belongs and last_line(sib) >= top:  # no blank line between
        before = _before(sib, spec)
        if before is not None and last_line(before) - 1 == sib.start_point[0]:
            break  # a trailing comment of the statement before
        if sib.type in spec.comments and re.match(r"\s*(//!|/\*!|#!)", text(sib)):
            break  # inner docs describe the enclosing module, not what follows
        found.append(sib)
        top = sib.start_point[0]
        sib = before
    return found[::-1]


def _before(node: Node, spec: LangSpec) -> Node | None:
    """The named sibling before `node`; for the first child of an `adopts_comments` node,
    the last child of the node before its parent (where the grammar left its comments)."""
    sib = node.prev_named_sibling
    parent = node.parent
    if sib is None and parent is not None and parent.type in spec.adopts_comments:
        before = parent.prev_named_sibling
        if before is not None and before.type not in spec.comments and before.named_children:
            before = before.named_children[-1]
        sib = before
    return sib


def _body(node: Node, rule: Rule) -> Node | None:
    if rule.body is None:
        return None
    if callable(rule.body):
        return rule.body(node)
    return node.child_by_field_name(rule.body)


def _signature(outer: Node, body: Node | None, data: bytes, spec: LangSpec) -> str:
    """The header of a definition, up to its body, on one line."""
    start = outer.start_byte
    for child in outer.children:
        if child.type == "modifiers":  # annotations inside a modifier list (Java, Kotlin, Swift)
            for mod in child.children:
                if mod.type not in _DECORATIONS and mod.type not in spec.comments:
                    break
                start = mod.end_byte
            break
        if child.type not in _DECORATIONS and child.type not in spec.comments:
            break
        start = child.end_byte
    if body is not None and body.start_byte > start:
        head = _without_comments(outer, start, body.start_byte, data, spec)
    else:  # no body to stop at: the first line says enough
        head = data[start:outer.end_byte].decode("utf-8", "replace").strip().split("\n", 1)[0]
    head = " ".join(head.split()).rstrip("{\\ =")
    return head[:MAX_SIGNATURE]


def _without_comments(outer: Node, start: int, end: int, data: bytes, spec: LangSpec) -> str:
    """`data[start:end]` minus the comments inside it (`def f(x):  # note`)."""
    pieces, at = [], start
    stack = [outer]
    while stack:
        node = stack.pop()
        if node.start_byte >= end or node.end_byte <= at:
            continue
        if node.type in spec.comments:
            pieces.append(data[at:node.start_byte])
            at = node.end_byte
            continue
        stack.extend(reversed(node.children))
    pieces.append(data[at:end])
    return b" ".join(pieces).decode("utf-8", "replace")


_STRING = re.compile(r"^[rRuUbBfF]*(\"\"\"|'''|\"|')(.*)\1$", re.S)


def _docstring(node: Node) -> str:
    body = node.child_by_field_name("body")
    first = next((c for c in body.named_children if c.type != "comment"), None) if body is not None else None
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return ""
    string = first.named_children[0]
    m = _STRING.match(text(string)) if string.type == "string" else None
    return inspect.cleandoc(m.group(2)) if m else ""


_LINE_MARKER = re.compile(r"^\s*(?:/{2,}!?|#+|--+)\s?")
_BLOCK_LINE = re.compile(r"^\s*\*(?!/)\s?")


def clean_comments(raw: list[str]) -> str:
    """Comment text without its markers: `///`, `//`, `#`, `--`, `/** */` and leading `*`."""
    lines: list[str] = []
    for comment in raw:
        comment = comment.strip()
        if comment.startswith("/*"):
            body = re.sub(r"^/\*+!?", "", comment)
            body = re.sub(r"\*+/$", "", body)
            lines.extend(_BLOCK_LINE.sub("", line) for line in body.split("\n"))
        else:
            lines.extend(_LINE_MARKER.sub("", line) for line in comment.split("\n"))
    return textwrap.dedent("\n".join(line.rstrip() for line in lines)).strip()


def _callee(node: Node, field_name) -> Node | None:
    """The bare name of what a call invokes: `obj.bar()` → bar, `Foo::new()` → new.

    `field_name` is the field holding the callee, None for the node itself, or a
    function of the node returning the callee expression (None: not a call).
    """
    if callable(field_name):
        target = field_name(node)
    else:
        target = node.child_by_field_name(field_name) if field_name else node
    for _ in range(8):  # callee expressions nest shallowly; stop on pathological ones
        if target is None:
            return None
        kids = target.named_children
        if not kids:
            return target if _IDENTIFIER.match(text(target)) else None
        nxt = next((c for f in _CALLEE_FIELDS if (c := target.child_by_field_name(f)) is not None), None)
        if nxt is None:
            named = [k for k in kids if _NAMELIKE.search(k.type)]
            nxt = named[-1] if named else None
        target = nxt
    return None


def _merge_clauses(defs: list[Definition], lines: list[str]) -> list[Definition]:
    """One definition per run of same-named clauses separated by nothing but blank lines."""
    out: list[Definition] = []
    for d in defs:
        prev = out[-1] if out else None
        if (prev is not None and not prev.container and (prev.qualname, prev.kind) == (d.qualname, d.kind)
                and prev.end < d.start and not any(x.strip() for x in lines[prev.end:d.start - 1])):
            prev.end = d.end
            prev.doc = prev.doc or d.doc
            continue
        out.append(d)
    return out
