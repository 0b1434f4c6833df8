"""Per-language tables: which tree-sitter nodes are definitions, and how to read them.

One generic walker (definitions.py) runs over every grammar; everything a
language does differently lives here as data, plus a few small readers for
names that are not simply a node's `name` field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Union

from tree_sitter import Node

NodeFn = Callable[[Node], "str | None"]


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


def by_field(*names: str) -> NodeFn:
    def read(node: Node) -> str | None:
        for name in names:
            child = node.child_by_field_name(name)
            if child is not None:
                return text(child)
        return None

    return read


@dataclass(frozen=True, slots=True)
class Rule:
    """How one node type becomes a definition.

    `kind` may be a function of the node returning None when this instance is
    not a definition after all (a JS `const` holding a number is a constant,
    one holding an arrow function is a function). A kind of `function` turns
    into `method` inside a scope that holds methods or under a qualifier
    (Go receiver, C++ `Class::`). Constants count only in scopes that hold
    constants (file, namespace, module), never inside classes.
    """

    kind: Union[str, NodeFn]
    name: NodeFn = by_field("name")
    container: bool = False  # nested definitions are looked for inside, under its name
    holds_methods: bool = False
    holds_constants: bool = False
    emit: bool = True  # False: a scope for qualnames only (C++ / TS namespaces)
    body: Union[str, Callable[[Node], "Node | None"], None] = "body"  # the signature ends where this starts
    needs_body: bool = False  # without a body it is a declaration, not a definition
    qualifier: Callable[[Node], "str | None"] | None = None  # Go receiver type
    label: Callable[[Node, str], str] | None = None  # qualname override (Rust trait impls)


@dataclass(frozen=True, slots=True)
class LangSpec:
    rules: dict[str, Rule]
    sep: str = "."
    comments: frozenset[str] = frozenset({"comment"})
    # Sibling nodes directly above a definition that belong to it (Rust `#[derive]`).
    attributes: frozenset[str] = frozenset()
    # A definition that is the only one of its type inside one of these extends to it
    # (`export`, decorators, `const (...)` with one spec, `template <...>`).
    wrappers: frozenset[str] = frozenset()
    # Function-like nodes that are not definitions themselves; nothing inside is one either.
    opaque: frozenset[str] = frozenset()
    # Call node type → the field holding the callee (None: the node itself names it).
    calls: dict[str, str | None] = field(default_factory=dict)
    docstrings: bool = False  # Python: the doc is the body's leading string


UPPER_CASE = re.compile(r"^_*[A-Z][A-Z0-9_]*$")


def strip_generics(name: str) -> str:
    """`Box<T>` → `Box`; C++ operators keep their angle brackets."""
    return name if name.startswith("operator") else re.sub(r"<.*>", "", name).strip()


# --- Python -----------------------------------------------------------------

def _py_assignment(node: Node) -> Node | None:
    kids = node.named_children
    if len(kids) == 1 and kids[0].type == "assignment":
        return kids[0]
    return None


def _py_constant(node: Node) -> str | None:
    a = _py_assignment(node)
    left = a.child_by_field_name("left") if a is not None else None
    if left is not None and left.type == "identifier" and UPPER_CASE.match(text(left)):
        return "constant"
    return None


PYTHON = LangSpec(
    rules={
        "function_definition": Rule("function"),
        "class_definition": Rule("class", container=True, holds_methods=True),
        "expression_statement": Rule(
            _py_constant, name=lambda n: text(_py_assignment(n).child_by_field_name("left")), body=None
        ),
    },
    wrappers=frozenset({"decorated_definition"}),
    opaque=frozenset({"lambda"}),
    calls={"call": "function"},
    docstrings=True,
)


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
        "type_spec": Rule(_go_type_kind, body=None),
        "type_alias": Rule("type", body=None),
        "const_spec": Rule("constant", body=None),
    },
    wrappers=frozenset({"type_declaration", "const_declaration"}),
    opaque=frozenset({"func_literal"}),
    calls={"call_expression": "function"},
)


# --- Java -------------------------------------------------------------------

_JAVA_TYPE = dict(container=True, holds_methods=True)

JAVA = LangSpec(
    rules={
        "class_declaration": Rule("class", **_JAVA_TYPE),
        "record_declaration": Rule("class", **_JAVA_TYPE),
        "interface_declaration": Rule("interface", **_JAVA_TYPE),
        "annotation_type_declaration": Rule("interface", **_JAVA_TYPE),
        "enum_declaration": Rule("enum", **_JAVA_TYPE),
        "method_declaration": Rule("function", needs_body=True),
        "constructor_declaration": Rule("function"),
        "compact_constructor_declaration": Rule("function"),
    },
    comments=frozenset({"line_comment", "block_comment"}),
    opaque=frozenset({"lambda_expression", "object_creation_expression"}),
    calls={"method_invocation": "name", "object_creation_expression": "type"},
)


# --- JavaScript / TypeScript ------------------------------------------------

_JS_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})


def _js_value_function(node: Node) -> Node | None:
    value = node.child_by_field_name("value")
    return value if value is not None and value.type in _JS_FUNCTION_VALUES else None


def _js_declarator(node: Node) -> str | None:
    value = node.child_by_field_name("value")
    if value is None:
        return None
    if value.type in _JS_FUNCTION_VALUES:
        return "function"
    decl = node.parent
    is_const = decl is not None and decl.type == "lexical_declaration" and decl.child(0).type == "const"
    is_require = value.type == "call_expression" and text(value.child_by_field_name("function")) == "require"
    return "constant" if is_const and not is_require else None


def _js_value_body(node: Node) -> Node | None:
    fn = _js_value_function(node)
    return fn.child_by_field_name("body") if fn is not None else None


def _unquote(read: NodeFn) -> NodeFn:
    return lambda n: (read(n) or "").strip("\"'`") or None


def _js_rules(typescript: bool) -> dict[str, Rule]:
    rules = {
        "function_declaration": Rule("function"),
        "generator_function_declaration": Rule("function"),
        "class_declaration": Rule("class", container=True, holds_methods=True),
        "method_definition": Rule("function"),
        "variable_declarator": Rule(_js_declarator, body=_js_value_body),
        # Class fields holding arrow functions are methods in all but name.
        "field_definition": Rule(
            lambda n: "function" if _js_value_function(n) else None,
            name=by_field("property", "name"), body=_js_value_body,
        ),
    }
    if typescript:
        rules.update({
            "public_field_definition": rules["field_definition"],
            "abstract_class_declaration": rules["class_declaration"],
            "interface_declaration": Rule("interface"),
            "type_alias_declaration": Rule("type", body=None),
            "enum_declaration": Rule("enum"),
            "internal_module": Rule("module", container=True, holds_constants=True, emit=False),
            "module": Rule("module", name=_unquote(by_field("name")), container=True,
                           holds_constants=True, emit=False),
        })
    return rules


def _js_spec(typescript: bool) -> LangSpec:
    return LangSpec(
        rules=_js_rules(typescript),
        wrappers=frozenset({"export_statement", "lexical_declaration", "variable_declaration",
                            "ambient_declaration"}),
        opaque=_JS_FUNCTION_VALUES | {"object", "class"},
        calls={"call_expression": "function", "new_expression": "constructor"},
    )


JAVASCRIPT = _js_spec(typescript=False)
TYPESCRIPT = _js_spec(typescript=True)


# --- PHP --------------------------------------------------------------------

_PHP_TYPE = dict(container=True, holds_methods=True)

PHP = LangSpec(
    rules={
        "function_definition": Rule("function"),
        "method_declaration": Rule("function", needs_body=True),
        "class_declaration": Rule("class", **_PHP_TYPE),
        "interface_declaration": Rule("interface", **_PHP_TYPE),
        "trait_declaration": Rule("trait", **_PHP_TYPE),
        "enum_declaration": Rule("enum", **_PHP_TYPE),
        "const_element": Rule("constant", name=lambda n: text(first_of(n, {"name"})), body=None),
    },
    wrappers=frozenset({"const_declaration"}),
    opaque=frozenset({"anonymous_function", "arrow_function", "object_creation_expression"}),
    calls={
        "function_call_expression": "function",
        "member_call_expression": "name",
        "nullsafe_member_call_expression": "name",
        "scoped_call_expression": "name",
        "object_creation_expression": None,
    },
)


# --- Ruby -------------------------------------------------------------------

def _ruby_constant(node: Node) -> str | None:
    left = node.child_by_field_name("left")
    return "constant" if left is not None and left.type == "constant" else None


RUBY = LangSpec(
    rules={
        "class": Rule("class", container=True, holds_methods=True, body=None),
        "module": Rule("module", container=True, holds_methods=True, holds_constants=True, body=None),
        "method": Rule("function", body=None),
        "singleton_method": Rule("method", body=None),
        "assignment": Rule(_ruby_constant, name=by_field("left"), body=None),
    },
    opaque=frozenset({"lambda"}),
    calls={"call": "method"},
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
        "type_item": Rule("type", body=None),
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


# --- Shell ------------------------------------------------------------------

SHELL = LangSpec(
    rules={"function_definition": Rule("function")},
    calls={"command": "name"},
)


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
}
