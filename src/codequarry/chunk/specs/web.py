"""JavaScript, TypeScript (and TSX) and PHP."""

from __future__ import annotations

import re

from tree_sitter import Node

from .base import LangSpec, NodeFn, Rule, by_field, dotted, first_of, text


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


_MEMBER_CHAIN = re.compile(r"^[\w$]+(?:\.[\w$]+)+$")


def _js_assigned_function(node: Node) -> str | None:
    right = node.child_by_field_name("right")
    return "function" if right is not None and right.type in _JS_FUNCTION_VALUES else None


def _js_assigned_name(node: Node) -> str | None:
    """`Foo.prototype.bar = function` → Foo::bar; `module.exports.x =`, `exports.x =` → x.

    `module.exports = function createApplication()` takes the function's own name.
    """
    left = text(node.child_by_field_name("left"))
    if not _MEMBER_CHAIN.match(left):
        return None
    parts = [p for p in left.split(".") if p != "prototype"]
    if parts[:2] == ["module", "exports"]:
        parts = parts[2:]
    elif parts[:1] == ["exports"]:
        parts = parts[1:]
    if not parts:
        own = node.child_by_field_name("right").child_by_field_name("name")
        return text(own) if own is not None else None
    return dotted(".".join(parts))


def _js_assigned_body(node: Node) -> Node | None:
    right = node.child_by_field_name("right")
    return right.child_by_field_name("body") if right is not None else None


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
        # `obj.method = function …`, `Foo.prototype.bar = …`, `module.exports.x = () => …`
        "assignment_expression": Rule(_js_assigned_function, name=_js_assigned_name, body=_js_assigned_body),
    }
    if typescript:
        rules.update({
            "public_field_definition": rules["field_definition"],
            "abstract_class_declaration": rules["class_declaration"],
            "interface_declaration": Rule("interface"),
            "type_alias_declaration": Rule("type", body=None, local=True),  # in a function body too
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
                            "ambient_declaration", "expression_statement"}),
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


