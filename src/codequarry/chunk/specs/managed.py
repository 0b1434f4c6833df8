"""Java, Kotlin, Scala and C#: class-based languages on managed runtimes."""

from __future__ import annotations

import re

from tree_sitter import Node

from .base import UPPER_CASE, LangSpec, Rule, body_child, by_field, child_of, first_of, keyword, text


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




# --- Kotlin -----------------------------------------------------------------
# Objects are classes; a companion object adds no name (`Store.open`, as Kotlin calls it);
# an extension function is qualified by its receiver type (`String.shout`).

def _kotlin_class_kind(node: Node) -> str:
    modifiers = child_of(node, {"modifiers"})
    if any(text(m) == "enum" for m in (modifiers.named_children if modifiers is not None else ())):
        return "enum"
    return "interface" if keyword(node, {"interface"}) else "class"


def _kotlin_receiver(node: Node) -> str | None:
    """`fun String.shout()`: the type written before the name."""
    for child in node.children:
        if child == node.child_by_field_name("name"):
            return None
        if child.type in ("user_type", "nullable_type"):
            found = first_of(child, {"identifier"})
            return text(found) if found is not None else None
    return None


def _kotlin_property_name(node: Node) -> str | None:
    return text(first_of(child_of(node, {"variable_declaration"}), {"identifier"})) or None


def _kotlin_constant(node: Node) -> str | None:
    """`const val`, or a read-only property with an UPPER_CASE name, holding no lambda."""
    if keyword(node, {"val", "var"}) != "val" or child_of(node, {"lambda_literal", "anonymous_function"}):
        return None
    modifiers = child_of(node, {"modifiers"})
    is_const = modifiers is not None and any(text(m) == "const" for m in modifiers.named_children)
    return "constant" if is_const or UPPER_CASE.match(_kotlin_property_name(node) or "") else None


_KOTLIN_BODY = body_child("class_body", "enum_class_body")

KOTLIN = LangSpec(
    rules={
        "class_declaration": Rule(_kotlin_class_kind, container=True, holds_methods=True, body=_KOTLIN_BODY),
        "object_declaration": Rule("class", container=True, holds_methods=True, holds_constants=True,
                                   body=_KOTLIN_BODY),
        "companion_object": Rule("class", transparent=True, container=True, holds_methods=True,
                                 holds_constants=True, body=_KOTLIN_BODY),
        "function_declaration": Rule("function", needs_body=True, body=body_child("function_body"),
                                     qualifier=_kotlin_receiver),
        "secondary_constructor": Rule("function", name=lambda n: "constructor", body=body_child("block")),
        "property_declaration": Rule(_kotlin_constant, name=_kotlin_property_name, body=None),
        "type_alias": Rule("type", name=by_field("type"), body=None),
    },
    comments=frozenset({"line_comment", "block_comment"}),
    opaque=frozenset({"lambda_literal", "anonymous_function", "object_literal"}),
    calls={"call_expression": lambda n: n.named_children[0] if n.named_children else None},
)


# --- Scala ------------------------------------------------------------------
# Objects are classes (a companion `object Store` shares its class's name, so its
# methods are `Store.apply`); `extension (s: String)` methods are `String.shout`.

def _scala_constant(node: Node) -> str | None:
    """A `val` with a capitalised name (Scala's constant style) that holds no function."""
    name = node.child_by_field_name("pattern")
    value = node.child_by_field_name("value")
    if name is None or name.type != "identifier" or not text(name)[:1].isupper():
        return None
    return "constant" if value is not None and value.type != "lambda_expression" else None


def _scala_extended(node: Node) -> str | None:
    param = first_of(node.child_by_field_name("parameters"), {"parameter"})
    found = first_of(param.child_by_field_name("type") if param is not None else None, {"type_identifier"})
    return text(found) if found is not None else None


# A call `inline(...)` (not `x.inline(...)`, not `def inline(`): tree-sitter-scala takes the word for
# Scala 3's `inline` modifier, which is never followed by `(`.
_SCALA_INLINE_CALL = re.compile(rb"(?<![\w$.`])(?<!def )inline(?=[ \t]*\()")


def scala_without_inline_calls(data: bytes) -> bytes:
    """The file with each call to a method named `inline` renamed to a same-length identifier.

    Scala 2 code may name a method `inline` (scaladoc's CommentFactoryBase does); a call to it
    derails the parser so far that a trait and its methods were lost. The calls the walker records
    are read from the file itself, so they still say `inline`.
    """
    return _SCALA_INLINE_CALL.sub(b"inl1ne", data)


_SCALA_TYPE = dict(container=True, holds_methods=True)

SCALA = LangSpec(
    rules={
        "class_definition": Rule("class", **_SCALA_TYPE),
        "object_definition": Rule("class", holds_constants=True, **_SCALA_TYPE),
        "trait_definition": Rule("trait", **_SCALA_TYPE),
        "enum_definition": Rule("enum", **_SCALA_TYPE),
        "extension_definition": Rule("impl", name=_scala_extended, emit=False, **_SCALA_TYPE),
        "function_definition": Rule("function"),
        "type_definition": Rule("type", body=None),
        "val_definition": Rule(_scala_constant, name=by_field("pattern"), body=None),
    },
    comments=frozenset({"comment", "block_comment"}),
    opaque=frozenset({"lambda_expression"}),
    calls={"call_expression": "function", "instance_expression": None},
    repair=scala_without_inline_calls,
)


# --- C# ---------------------------------------------------------------------
# Namespaces are not part of qualnames (as Java packages are not). A property with
# code in it (`=> expr`, `get { ... }`) is a method; an auto-property is not a definition.

def _csharp_property(node: Node) -> str | None:
    if node.child_by_field_name("value") is not None:
        return "function"
    accessors = node.child_by_field_name("accessors")
    has_code = accessors is not None and any(a.child_by_field_name("body") is not None
                                             for a in accessors.named_children)
    return "function" if has_code else None


_XML_REF = re.compile(r"<(?:see|seealso|paramref|typeparamref)\s+(?:cref|name|langword)=\"([^\"]*)\"\s*/>")
_XML_PARAM = re.compile(r"<(?:param|typeparam)\s+name=\"([^\"]*)\"\s*>")
_XML_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")


def csharp_doc(doc: str) -> str:
    """XML doc comments as text: `<summary>` tags dropped, `<see cref="X"/>` → X, params named."""
    doc = _XML_REF.sub(lambda m: m.group(1).split(":")[-1], doc)
    doc = _XML_PARAM.sub(lambda m: f"{m.group(1)}: ", doc)
    doc = _XML_TAG.sub("", doc)
    return "\n".join(line.strip() for line in doc.strip().split("\n") if line.strip())


def _csharp_refine(node: Node, leading: list[Node], found) -> None:
    found.doc = csharp_doc(found.doc)


_DIRECTIVE = re.compile(rb"[ \t]*#[ \t]*([a-z]+)")


def csharp_without_conditionals(data: bytes) -> bytes:
    """The file with every preprocessor line blanked and, of each `#if`, only the first branch kept.

    tree-sitter-c-sharp parses directives between members, but one inside a parameter list,
    an argument list or around a `lock (...)` header can make the whole file an ERROR node and
    cost it its classes (pythonnet's Finalizer.cs). Blanking keeps every byte offset and line
    number, so the tree of this text describes the file. Only the first branch is kept because
    the branches of one `#if` are alternatives: both together are often not valid C#.
    """
    out: list[bytes] = []
    depth = skip_from = 0  # skip_from: the depth whose later branches are being skipped (0: none)
    for line in data.splitlines(keepends=True):
        m = _DIRECTIVE.match(line)
        word = m.group(1) if m else None
        if word == b"if":
            depth += 1
        elif word in (b"elif", b"else") and depth and not skip_from:
            skip_from = depth
        elif word == b"endif" and depth:
            if skip_from == depth:
                skip_from = 0
            depth -= 1
        if m or skip_from:
            line = re.sub(rb"[^\r\n]", b" ", line)
        out.append(line)
    return b"".join(out)


_CSHARP_TYPE = dict(container=True, holds_methods=True)

CSHARP = LangSpec(
    rules={
        "class_declaration": Rule("class", **_CSHARP_TYPE),
        "struct_declaration": Rule("struct", **_CSHARP_TYPE),
        "record_declaration": Rule(lambda n: "struct" if keyword(n, {"struct"}) else "class", **_CSHARP_TYPE),
        "interface_declaration": Rule("interface", **_CSHARP_TYPE),
        "enum_declaration": Rule("enum", **_CSHARP_TYPE),
        "method_declaration": Rule("function", needs_body=True),
        "constructor_declaration": Rule("function"),
        "property_declaration": Rule(_csharp_property, body=lambda n: n.child_by_field_name("accessors")
                                     or n.child_by_field_name("value")),
        "delegate_declaration": Rule("type", body=None),
    },
    opaque=frozenset({"lambda_expression", "anonymous_method_expression", "anonymous_object_creation_expression"}),
    calls={"invocation_expression": "function", "object_creation_expression": "type"},
    refine=_csharp_refine,
    repair=csharp_without_conditionals,
)
