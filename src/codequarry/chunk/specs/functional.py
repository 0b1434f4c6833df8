"""Elixir and Haskell: modules of functions, several clauses to a function."""

from __future__ import annotations

import inspect
import re

from tree_sitter import Node

from .base import LangSpec, Rule, child_of, first_of, text

# --- Elixir -----------------------------------------------------------------
# Everything is a call: `def`, `defmodule`, `@doc` are calls the kinds below recognise.
# A module is named as written (`defmodule Plug.Conn` → `Plug.Conn`), nested modules
# under their parents, and functions under their module: `Plug.Conn.send_resp`.
# A `defimpl Size, for: Map` is the module Elixir makes of it, `Size.Map`.

_EX_FUNCTIONS = {"def": "function", "defp": "function", "defdelegate": "function",
                 "defmacro": "macro", "defmacrop": "macro", "defguard": "macro", "defguardp": "macro"}
_EX_MODULES = {"defmodule": "module", "defprotocol": "interface", "defimpl": "impl"}
# Kernel forms that read as calls but are definitions, control flow or compile-time plumbing.
_EX_NOT_CALLS = frozenset(_EX_FUNCTIONS) | frozenset(_EX_MODULES) | {
    "defstruct", "defexception", "defoverridable", "alias", "import", "require", "use", "quote",
    "unquote", "unquote_splicing", "fn", "case", "cond", "if", "unless", "with", "for", "try",
    "receive", "raise", "reraise", "throw", "super", "__MODULE__", "__CALLER__", "__ENV__",
}
# Module attributes with a meaning of their own; any other `@name value` is a constant.
_EX_RESERVED_ATTRS = frozenset({
    "doc", "moduledoc", "typedoc", "spec", "callback", "macrocallback", "optional_callbacks", "impl",
    "behaviour", "derive", "enforce_keys", "compile", "deprecated", "since", "dialyzer", "external_resource",
    "on_load", "on_definition", "before_compile", "after_compile", "vsn", "file", "type", "typep", "opaque",
    "tag", "moduletag", "describetag",  # ExUnit
})


def _ex_target(node: Node) -> str:
    return text(node.child_by_field_name("target"))


def _ex_arguments(node: Node) -> Node | None:
    return child_of(node, {"arguments"})


def _ex_head(node: Node) -> Node | None:
    """The `name(args)` of a def, under any `when` guard."""
    args = _ex_arguments(node)
    head = args.named_children[0] if args is not None and args.named_children else None
    while head is not None and head.type == "binary_operator":  # `f(x) when guard`
        head = head.child_by_field_name("left")
    return head


def _ex_has_body(node: Node) -> bool:
    if child_of(node, {"do_block"}) is not None:
        return True
    args = _ex_arguments(node)
    kw = child_of(args, {"keywords"})
    return kw is not None and any(text(p.child_by_field_name("key")).startswith("do:") for p in kw.named_children)


def _ex_attribute(node: Node) -> Node | None:
    """The `name value` call of a module attribute `@name value`."""
    if node.type != "unary_operator" or not text(node).startswith("@"):
        return None
    operand = node.child_by_field_name("operand")
    return operand if operand is not None and operand.type == "call" else None


def _ex_call_kind(node: Node) -> str | None:
    target = _ex_target(node)
    if target in _EX_MODULES:
        return _EX_MODULES[target]
    if target in _EX_FUNCTIONS:
        # `def size(data)` in a protocol is a declaration; `defdelegate` never has a body.
        return _EX_FUNCTIONS[target] if target == "defdelegate" or _ex_has_body(node) else None
    return None


def _ex_call_name(node: Node) -> str | None:
    target = _ex_target(node)
    args = _ex_arguments(node)
    if target in _EX_MODULES:
        first = args.named_children[0] if args is not None and args.named_children else None
        if first is None or first.type != "alias":
            return None
        if target == "defimpl":  # `defimpl Size, for: Map` is the module Size.Map
            pair = first_of(child_of(args, {"keywords"}), {"pair"})
            if pair is not None and text(pair.child_by_field_name("key")).startswith("for:"):
                return f"{text(first)}.{text(pair.child_by_field_name('value'))}"
        return text(first)
    head = _ex_head(node)
    if head is None:
        return None
    return text(head.child_by_field_name("target")) if head.type == "call" else text(head)


def _ex_attribute_kind(node: Node) -> str | None:
    attr = _ex_attribute(node)
    if attr is None:
        return None
    name = _ex_target(attr)
    if name in ("type", "typep", "opaque"):
        return "type"
    return "constant" if name not in _EX_RESERVED_ATTRS and _ex_arguments(attr) is not None else None


def _ex_attribute_name(node: Node) -> str | None:
    attr = _ex_attribute(node)
    name = _ex_target(attr)
    if name in ("type", "typep", "opaque"):  # `@type t :: ...`, `@type t(a) :: ...`
        spec = first_of(_ex_arguments(attr), {"binary_operator"})
        left = spec.child_by_field_name("left") if spec is not None else None
        if left is not None and left.type == "call":
            left = left.child_by_field_name("target")
        return text(left) if left is not None and left.type == "identifier" else None
    return name


def _ex_callee(node: Node) -> Node | None:
    """Calls, but not definition heads, `@spec` contents, field access or Kernel forms."""
    target = node.child_by_field_name("target")
    if target is None or _ex_target(node) in _EX_NOT_CALLS:
        return None
    if target.type == "dot" and _ex_arguments(node) is None:
        return None  # `conn.state`: a field, not a call
    up, depth = node.parent, 0
    while up is not None and depth < 4:  # the head of a def sits in its arguments, under a guard at most
        if up.type == "call" and _ex_target(up) in _EX_FUNCTIONS and node == _ex_head(up):
            return None
        if up.type == "unary_operator" and text(up).startswith("@"):
            return None
        up, depth = up.parent, depth + 1
    return target


def _doc_string(attr: Node | None) -> str:
    """The text of `@doc "..."` / `@doc \"\"\"...\"\"\"`; `@doc false` has none."""
    string = first_of(_ex_arguments(attr), {"string"}) if attr is not None else None
    if string is None:
        return ""
    content = "".join(text(c) for c in string.named_children if c.type in ("quoted_content", "escape_sequence"))
    return inspect.cleandoc(content)


def _ex_refine(node: Node, leading: list[Node], found) -> None:
    if node.type != "call":
        return
    found.signature = found.signature.rstrip(", ")  # `def f(x), do: ...` ends its head at the comma
    if _ex_target(node) in _EX_MODULES:
        block = child_of(node, {"do_block"})
        for child in block.named_children[:3] if block is not None else ():
            attr = _ex_attribute(child)
            if attr is not None and _ex_target(attr) == "moduledoc":
                found.doc = _doc_string(attr) or found.doc
                return
        return
    for lead in reversed(leading):
        attr = _ex_attribute(lead)
        if attr is not None and _ex_target(attr) == "doc":
            found.doc = _doc_string(attr)
            return


ELIXIR = LangSpec(
    rules={
        "call": Rule(
            _ex_call_kind,
            name=_ex_call_name,
            container=frozenset(_EX_MODULES.values()), holds_constants=True,
            body=lambda n: child_of(n, {"do_block"}) or child_of(_ex_arguments(n), {"keywords"}),
        ),
        "unary_operator": Rule(_ex_attribute_kind, name=_ex_attribute_name, body=None),
    },
    attributes=frozenset({"unary_operator"}),  # `@doc`, `@spec`, `@impl` above a def
    opaque=frozenset({"anonymous_function"}),
    calls={"call": _ex_callee},
    merge_clauses=True,
    refine=_ex_refine,
)


# --- Haskell ----------------------------------------------------------------
# Top-level functions by bare name, their type signature and haddock included and
# their equations merged into one definition. Type classes and instances read like
# Rust traits and impls: `class Backend` (kind interface) holds `Backend.flush`;
# `instance Backend Store` (kind impl, qualname `Backend Store`) holds `Store.flush`.

def _hs_data_kind(node: Node) -> str:
    constructors = node.child_by_field_name("constructors")
    count = sum(1 for c in constructors.named_children if c.type in ("data_constructor", "gadt_constructor")) \
        if constructors is not None else 0
    return "enum" if count > 1 else "struct"


def _hs_bind_kind(node: Node) -> str | None:
    """`x = 10` is a constant; `f = g . h` is a function."""
    match = node.child_by_field_name("match")
    expr = match.child_by_field_name("expression") if match is not None else None
    if node.child_by_field_name("name") is None:
        return None  # a pattern binding: `(a, b) = ...`
    return "constant" if expr is not None and expr.type in ("literal", "string", "list") else "function"


def _hs_instance_name(node: Node) -> str | None:
    found = first_of(node.child_by_field_name("patterns"), {"name"})
    return text(found) if found is not None else None


def _hs_callee(node: Node) -> Node | None:
    """`f x y` is apply(apply(f, x), y): only the outermost apply is the call."""
    parent = node.parent
    if parent is not None and parent.type == "apply" and parent.child_by_field_name("function") == node:
        return None
    up = parent
    for _ in range(6):  # `show (Leaf x) = ...`: a constructor pattern is no call
        if up is None or up.type not in ("apply", "parens", "patterns", "tuple", "list"):
            break
        if up.type == "patterns":
            return None
        up = up.parent
    fn = node.child_by_field_name("function")
    while fn is not None and fn.type == "apply":
        fn = fn.child_by_field_name("function")
    if fn is not None and fn.type == "qualified":  # `M.insert` → insert
        fn = fn.child_by_field_name("id")
    return fn


_HADDOCK = re.compile(r"^\s*(?:\{-\s*)?[|^]\s?", re.M)


def _hs_refine(node: Node, leading: list[Node], found) -> None:
    found.doc = re.sub(r"\s*-\}\s*$", "", _HADDOCK.sub("", found.doc, count=1)).strip()
    sig = next((s for s in reversed(leading) if s.type == "signature"), None)
    if sig is not None:  # `load :: FilePath -> IO Store` says more than the first equation
        found.signature = " ".join(text(sig).split())[:200]


HASKELL = LangSpec(
    rules={
        "function": Rule("function", body="match"),
        "bind": Rule(_hs_bind_kind, body="match"),
        "data_type": Rule(_hs_data_kind, body="constructors"),
        "newtype": Rule("type", body="constructor"),
        "type_synonym": Rule("type", body=None),
        "type_family": Rule("type", body=None),
        "class": Rule("interface", container=True, holds_methods=True, body="declarations"),
        "instance": Rule("impl", name=_hs_instance_name, container=True, holds_methods=True,
                         body="declarations", label=lambda n, name: " ".join(
                             text(n).split(" where", 1)[0].removeprefix("instance").split())),
    },
    comments=frozenset({"comment", "haddock"}),
    attributes=frozenset({"signature", "pragma"}),
    opaque=frozenset({"lambda"}),
    calls={"apply": _hs_callee},
    merge_clauses=True,
    adopts_comments=frozenset({"declarations", "class_declarations", "instance_declarations"}),
    refine=_hs_refine,
)
