"""Python, Ruby, shell and Lua."""

from __future__ import annotations

from tree_sitter import Node

from .base import UPPER_CASE, LangSpec, Rule, by_field, text


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


# --- Shell ------------------------------------------------------------------

SHELL = LangSpec(
    rules={"function_definition": Rule("function")},
    calls={"command": "name"},
)



# --- Lua --------------------------------------------------------------------
# `function M.f()` and `M.f = function` are `M.f`; `function Class:m()` is the method `Class.m`.

def _lua_last(name: Node | None) -> str | None:
    """The defined name itself: `load` of `M.load`, `get` of `Store:get`."""
    if name is None:
        return None
    if name.type == "identifier":
        return text(name)
    last = name.child_by_field_name("method") or name.child_by_field_name("field")
    return text(last) if last is not None and last.type == "identifier" else None


def _lua_path(name: Node | None) -> str:
    return text(name).replace(":", ".")


def _lua_target(node: Node) -> tuple[Node | None, Node | None]:
    """(variable, value) of `x = v` with one of each, else (None, None)."""
    names, values = node.named_children[:1], node.named_children[1:2]
    if len(node.named_children) != 2 or names[0].named_child_count != 1 or values[0].named_child_count != 1:
        return None, None
    return names[0].named_children[0], values[0].named_children[0]


def _lua_assignment_kind(node: Node) -> str | None:
    var, value = _lua_target(node)
    if var is None:
        return None
    if value.type == "function_definition":
        return "function"
    if value.type == "function_call" or (value.type == "table_constructor" and not value.named_children):
        return None  # `local M = {}` is a module table, `local X = require "x"` an import
    return "constant" if var.type == "identifier" and UPPER_CASE.match(text(var)) else None


LUA = LangSpec(
    rules={
        "function_declaration": Rule(
            lambda n: "method" if (f := n.child_by_field_name("name")) is not None
            and f.type == "method_index_expression" else "function",
            name=lambda n: _lua_last(n.child_by_field_name("name")),
            label=lambda n, name: _lua_path(n.child_by_field_name("name")),
        ),
        "assignment_statement": Rule(
            _lua_assignment_kind,
            name=lambda n: _lua_last(_lua_target(n)[0]),
            label=lambda n, name: _lua_path(_lua_target(n)[0]),
            body=lambda n: (v := _lua_target(n)[1]) is not None and v.child_by_field_name("body") or None,
        ),
    },
    wrappers=frozenset({"variable_declaration"}),
    opaque=frozenset({"function_definition"}),
    calls={"function_call": "name"},
)
