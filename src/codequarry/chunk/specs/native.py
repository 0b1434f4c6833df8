"""Go, Rust, C, C++, Zig and Swift: compiled languages with types, impls and receivers."""

from __future__ import annotations

import re

from tree_sitter import Node

from .base import LangSpec, Rule, child_of, dotted, first_of, keyword, strip_generics, text


# --- Go ---------------------------------------------------------------------

def _go_type_kind(node: Node) -> str:
    t = node.child_by_field_name("type")
    return {"struct_type": "struct", "interface_type": "interface"}.get(t.type if t else "", "type")


def _go_receiver(node: Node) -> str | None:
    found = first_of(node.child_by_field_name("receiver"), {"type_identifier"})
    return text(found) if found is not None else None


GO = LangSpec(
    rules={
        "function_declaration": Rule("function", needs_body=True),
        "method_declaration": Rule("method", needs_body=True, qualifier=_go_receiver),
        # Types declared inside a function are found too, under the function's name.
        "type_spec": Rule(_go_type_kind, body=None, local=True),
        "type_alias": Rule("type", body=None, local=True),
        "const_spec": Rule("constant", body=None),
    },
    wrappers=frozenset({"type_declaration", "const_declaration"}),
    opaque=frozenset({"func_literal"}),
    calls={"call_expression": "function"},
)


# --- Rust -------------------------------------------------------------------

def _rust_impl_name(node: Node) -> str | None:
    name = strip_generics(text(node.child_by_field_name("type")))
    return name.rsplit("::", 1)[-1] or None


def _rust_impl_label(node: Node, name: str) -> str:
    trait = node.child_by_field_name("trait")
    return f"{' '.join(text(trait).split())} for {name}" if trait is not None else name


RUST = LangSpec(
    rules={
        "function_item": Rule("function"),
        "struct_item": Rule("struct"),
        "union_item": Rule("struct"),
        "enum_item": Rule("enum"),
        "trait_item": Rule("trait", container=True, holds_methods=True),
        "impl_item": Rule("impl", name=_rust_impl_name, container=True, holds_methods=True,
                          label=_rust_impl_label),
        "type_item": Rule("type", body=None, local=True),  # `type X = …;` in a fn body too
        "const_item": Rule("constant", body=None),
        "static_item": Rule("constant", body=None),
        "macro_definition": Rule("macro", body=None),
        "mod_item": Rule("module", container=True, holds_constants=True, needs_body=True),
    },
    sep="::",
    comments=frozenset({"line_comment", "block_comment"}),
    attributes=frozenset({"attribute_item"}),
    opaque=frozenset({"closure_expression"}),
    calls={"call_expression": "function"},
)


# --- C / C++ ----------------------------------------------------------------

def _c_function_name(node: Node) -> str | None:
    """The declared name under pointer/reference declarators: `HnswIndex::build`."""
    d = node.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator") or next(
            (c for c in d.named_children if "declarator" in c.type), None)
    name = d.child_by_field_name("declarator") if d is not None else None
    return text(name) if name is not None else None


def _c_typedef_kind(node: Node) -> str:
    t = node.child_by_field_name("type")
    if t is not None and t.child_by_field_name("body") is not None:
        if t.type == "enum_specifier":
            return "enum"
        if t.type in ("struct_specifier", "union_specifier", "class_specifier"):
            return "struct"
    return "type"


def _c_typedef_name(node: Node) -> str | None:
    found = first_of(node.child_by_field_name("declarator"), {"type_identifier", "primitive_type"})
    return text(found) if found is not None else None


_C_RECORD = dict(container=True, holds_methods=True, needs_body=True)

_C_RULES = {
    "function_definition": Rule("function", name=_c_function_name),
    "struct_specifier": Rule("struct", **_C_RECORD),
    "union_specifier": Rule("struct", **_C_RECORD),
    "enum_specifier": Rule("enum", needs_body=True),
    "type_definition": Rule(_c_typedef_kind, name=_c_typedef_name, body=None),
    # A bare `#define NAME` is an include guard or a flag, not something to look up.
    "preproc_def": Rule(lambda n: "macro" if n.child_by_field_name("value") else None, body=None),
    "preproc_function_def": Rule("macro", body=None),
}

C = LangSpec(
    rules=_C_RULES,
    wrappers=frozenset({"declaration", "linkage_specification"}),
    calls={"call_expression": "function"},
)

CPP = LangSpec(
    rules={
        **_C_RULES,
        "class_specifier": Rule("class", **_C_RECORD),
        "namespace_definition": Rule("module", container=True, holds_constants=True, emit=False),
        "alias_declaration": Rule("type", body=None),
    },
    sep="::",
    wrappers=frozenset({"declaration", "linkage_specification", "template_declaration"}),
    opaque=frozenset({"lambda_expression"}),
    calls={"call_expression": "function", "new_expression": "type"},
)




# --- Zig --------------------------------------------------------------------
# A Zig type is a value: `const Store = struct { ... };` names the struct, and the
# functions inside it are its methods (`Store.init`).

_ZIG_TYPES = {"struct_declaration": "struct", "union_declaration": "struct", "opaque_declaration": "struct",
              "enum_declaration": "enum", "error_set_declaration": "enum"}
# Values that bind a module or the enclosing type, not something to look up.
_ZIG_NOT_CONSTANT = re.compile(r"^@(import|This|cImport|embedFile)\b")
_ZIG_ALIAS = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


def _zig_value(node: Node) -> Node | None:
    """What follows the `=`."""
    after = False
    for child in node.children:
        if after and child.is_named and child.type != "comment":
            first = child.named_children[0] if child.named_children else None
            if child.type == "struct_initializer" and first is not None and first.type in _ZIG_TYPES:
                return first  # `const A = struct { ... }{};`: an instance, but the methods are its type's
            return child
        after = after or child.type == "="
    return None


def _zig_variable_kind(node: Node) -> str | None:
    value = _zig_value(node)
    if value is None:
        return None
    if value.type in _ZIG_TYPES:
        return _ZIG_TYPES[value.type]
    if keyword(node, {"const", "var"}) != "const" or _ZIG_NOT_CONSTANT.match(text(value)):
        return None
    # `const Allocator = std.mem.Allocator;` re-exports a name: the definition is elsewhere.
    return None if _ZIG_ALIAS.match(text(value)) else "constant"


def _zig_type_body(node: Node) -> Node | None:
    value = _zig_value(node)
    return child_of(value, {"{"}) if value is not None and value.type in _ZIG_TYPES else None


ZIG = LangSpec(
    rules={
        "function_declaration": Rule("function", needs_body=True),
        "variable_declaration": Rule(_zig_variable_kind, name=lambda n: text(child_of(n, {"identifier"})),
                                     container=frozenset({"struct", "enum"}), holds_methods=True,
                                     body=_zig_type_body),
    },
    opaque=frozenset({"test_declaration"}),  # a test's locals are not the module's
    calls={"call_expression": "function"},
)


# --- Swift ------------------------------------------------------------------
# One node type holds class, struct, enum, actor and extension; the keyword says which.
# An extension is named after the type it extends (kind `impl`, as a Rust impl is), so
# its methods are that type's: `extension Store { func dump() }` → `Store.dump`.

_SWIFT_KINDS = {"class": "class", "struct": "struct", "enum": "enum", "actor": "class", "extension": "impl"}


def _swift_type_name(node: Node) -> str | None:
    return dotted(strip_generics(text(node.child_by_field_name("name"))))


def _swift_constant(node: Node) -> str | None:
    """A file-level `let` holding a value (not a closure) is a constant."""
    binding = child_of(node, {"value_binding_pattern"})
    if binding is None or text(binding) != "let" or node.child_by_field_name("computed_value") is not None:
        return None
    value = node.child_by_field_name("value")
    return "constant" if value is not None and value.type != "lambda_literal" else None


def _swift_callee(node: Node) -> Node | None:
    suffix = child_of(node, {"call_suffix"})
    if suffix is not None and text(suffix).startswith("["):
        return None  # `items[key]` is a subscript
    fn = node.named_children[0] if node.named_children else None
    while fn is not None and fn.type == "navigation_expression":  # `a.b.c()` → c
        nav = fn.child_by_field_name("suffix")
        fn = nav.child_by_field_name("suffix") if nav is not None else None
    return fn


_SWIFT_TYPE = dict(container=True, holds_methods=True)

SWIFT = LangSpec(
    rules={
        "class_declaration": Rule(lambda n: _SWIFT_KINDS.get(keyword(n, _SWIFT_KINDS) or ""),
                                  name=_swift_type_name, **_SWIFT_TYPE),
        "protocol_declaration": Rule("interface", **_SWIFT_TYPE),
        "function_declaration": Rule("function", needs_body=True),
        "init_declaration": Rule("function", name=lambda n: "init", needs_body=True),
        "deinit_declaration": Rule("function", name=lambda n: "deinit"),
        "typealias_declaration": Rule("type", body=None),
        "property_declaration": Rule(_swift_constant, name=lambda n: text(first_of(
            n.child_by_field_name("name"), {"simple_identifier"})), body=None),
    },
    comments=frozenset({"comment", "multiline_comment"}),
    opaque=frozenset({"lambda_literal"}),
    calls={"call_expression": _swift_callee},
)
