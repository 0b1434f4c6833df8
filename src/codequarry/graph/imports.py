"""Per-language import tables and base classes, read from the tree-sitter tree.

Each reader returns ([Import], [Base]). An Import binds `alias` in the file
to `name` inside `module`, spelled the way the language spells it (the
resolver maps it to files: modules.py):

- Python `import a.b as c` → (c, a.b, ''); `import a.b` → (a.b, a.b, '') and (a, a, '');
  `from .x import y as z` → (z, .x, y); `from m import *` → (*, m, '').
- Go `import u "github.com/a/util"` → (u, github.com/a/util, ''); the alias
  defaults to the path's last element (its `/vN` suffix dropped).
- Java `import com.x.Store;` → (Store, com.x, Store); `import static
  com.x.Util.helper;` → (helper, com.x.Util, helper); stars → (*, com.x, '');
  `package com.x;` → (<package>, com.x, '').
- JS/TS `import d, {a as b} from './x'` → (d, ./x, default), (b, ./x, a);
  `import * as ns` and `const ns = require('./x')` → (ns, ./x, '');
  re-exports bind like imports; `export default foo` → (default, '', foo).
- Rust `use crate::a::{B, c as d}` → (B, crate::a, B), (d, crate::a, c);
  `use a::*` → (*, a, '').
"""

from __future__ import annotations

import re

from tree_sitter import Node

from codequarry.chunk.languages import nodes_of

from .facts import Base, Import, dotted, text, type_name


def _strip(raw: str) -> str:
    return type_name(re.sub(r"<.*>|\[.*\]", "", raw))


def _line(node: Node) -> int:
    return node.start_point[0] + 1


def _walk(root: Node, types: frozenset[str], lang: str):
    """Nodes of `types` under `root`, in reading order; not the ones inside a node it yields."""
    end = -1
    for n in nodes_of(lang, root, types):
        if n.start_byte < end:
            continue
        end = n.end_byte
        yield n


# --- Python ------------------------------------------------------------------------------------


def python(root: Node, lang: str) -> tuple[list[Import], list[Base]]:
    imports: list[Import] = []
    bases: list[Base] = []
    # Every import and class, nested ones too (a class's methods and inner classes; imports inside
    # functions), in reading order.
    for node in nodes_of(lang, root, frozenset({"import_statement", "import_from_statement", "class_definition"})):
        if node.type == "import_statement":
            for item in node.children_by_field_name("name"):
                if item.type == "aliased_import":
                    imports.append(Import(text(item.child_by_field_name("alias")),
                                          text(item.child_by_field_name("name")), ""))
                else:
                    imports.append(Import(text(item), text(item), ""))
                    if "." in text(item):  # `import a.b` binds `a` too
                        top = text(item).split(".", 1)[0]
                        imports.append(Import(top, top, ""))
        elif node.type == "import_from_statement":
            module = text(node.child_by_field_name("module_name"))
            if module == "__future__":
                continue
            if any(c.type == "wildcard_import" for c in node.named_children):
                imports.append(Import("*", module, ""))
            for item in node.children_by_field_name("name"):
                if item.type == "aliased_import":
                    imports.append(Import(text(item.child_by_field_name("alias")), module,
                                          text(item.child_by_field_name("name"))))
                else:
                    imports.append(Import(text(item), module, text(item)))
        else:
            name = node.child_by_field_name("name")
            supers = node.child_by_field_name("superclasses")
            for arg in supers.named_children if supers is not None else ():
                base = dotted(arg, frozenset())  # keyword arguments (metaclass=...) are not bases
                if base and base != "object" and name is not None:
                    bases.append(Base(text(name), _line(name), base))
    return imports, bases


# --- Go ----------------------------------------------------------------------------------------


def go_alias(path: str) -> str:
    """The package name an import path binds by default: its last element, minus a `/vN` suffix."""
    parts = [p for p in path.split("/") if p]
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]):
        parts.pop()
    last = parts[-1] if parts else path
    last = re.sub(r"\.v\d+$", "", last)
    return re.sub(r"^go-|-go$", "", last).replace("-", "_").replace(".", "_")


def go(root: Node, lang: str) -> tuple[list[Import], list[Base]]:
    imports: list[Import] = []
    bases: list[Base] = []
    for node in _walk(root, frozenset({"import_spec", "type_spec", "function_declaration", "method_declaration"}), lang):
        if node.type == "import_spec":
            path = text(node.child_by_field_name("path")).strip('"`')
            alias_node = node.child_by_field_name("name")
            alias = text(alias_node) if alias_node is not None else go_alias(path)
            if alias == "_":
                continue
            imports.append(Import("*" if alias == "." else alias, path, ""))
        elif node.type == "type_spec":
            name = node.child_by_field_name("name")
            t = node.child_by_field_name("type")
            if t is None or name is None:
                continue
            if t.type == "struct_type":  # embedded fields promote their methods
                body = next((c for c in t.named_children if c.type == "field_declaration_list"), None)
                for f in body.named_children if body is not None else ():
                    if f.type == "field_declaration" and f.child_by_field_name("name") is None:
                        base = _strip(text(f.child_by_field_name("type")))
                        if base:
                            bases.append(Base(text(name), _line(name), base))
            elif t.type == "interface_type":
                for el in t.named_children:
                    if el.type in ("type_elem", "constraint_elem", "interface_type_name", "type_identifier",
                                   "qualified_type"):
                        base = _strip(text(el))
                        if base:
                            bases.append(Base(text(name), _line(name), base))
    return imports, bases


# --- Java --------------------------------------------------------------------------------------

_JAVA_TYPES = frozenset({"class_declaration", "interface_declaration", "enum_declaration",
                         "record_declaration"})


def java(root: Node, lang: str) -> tuple[list[Import], list[Base]]:
    imports: list[Import] = []
    bases: list[Base] = []
    # Every import and type declaration, nested types too, in reading order.
    for node in nodes_of(lang, root, frozenset({"import_declaration", "package_declaration"}) | _JAVA_TYPES):
        if node.type == "package_declaration":  # kept for same-package lookups across source roots
            path = next((text(c) for c in node.named_children if c.type in ("scoped_identifier", "identifier")), "")
            imports.append(Import("<package>", path, ""))
            continue
        if node.type == "import_declaration":
            path = next((text(c) for c in node.named_children if c.type in ("scoped_identifier", "identifier")), "")
            if not path:
                continue
            if any(c.type == "asterisk" for c in node.named_children):
                imports.append(Import("*", path, ""))
            else:
                module, _, name = path.rpartition(".")
                imports.append(Import(name, module, name))
            continue
        name = node.child_by_field_name("name")
        for fld in ("superclass", "interfaces"):
            part = node.child_by_field_name(fld)
            for t in _walk(part, frozenset({"type_identifier", "scoped_type_identifier", "generic_type"}), lang) \
                    if part is not None else ():
                base = _strip(text(t))
                if base and name is not None:
                    bases.append(Base(text(name), _line(name), base))
        ext = next((c for c in node.named_children if c.type == "extends_interfaces"), None)
        for t in _walk(ext, frozenset({"type_identifier", "scoped_type_identifier", "generic_type"}), lang) \
                if ext is not None else ():
            base = _strip(text(t))
            if base and name is not None:
                bases.append(Base(text(name), _line(name), base))
    return imports, bases


# --- JavaScript / TypeScript -------------------------------------------------------------------


def _source(node: Node) -> str:
    src = node.child_by_field_name("source")
    return text(src).strip("\"'`") if src is not None else ""


def _require(value: Node | None) -> str | None:
    if value is None or value.type != "call_expression":
        return None
    if text(value.child_by_field_name("function")) != "require":
        return None
    args = value.child_by_field_name("arguments")
    first = args.named_children[0] if args is not None and args.named_children else None
    return text(first).strip("\"'`") if first is not None and first.type == "string" else None


def javascript(root: Node, lang: str) -> tuple[list[Import], list[Base]]:
    imports: list[Import] = []
    bases: list[Base] = []
    kinds = frozenset({"import_statement", "export_statement", "variable_declarator", "class_declaration",
                       "abstract_class_declaration", "class"})
    for node in _walk(root, kinds, lang):
        if node.type == "import_statement":
            src = _source(node)
            clause = next((c for c in node.named_children if c.type == "import_clause"), None)
            for c in clause.named_children if clause is not None else ():
                if c.type == "identifier":
                    imports.append(Import(text(c), src, "default"))
                elif c.type == "namespace_import":
                    imports.append(Import(text(c.named_children[-1]), src, ""))
                elif c.type == "named_imports":
                    for spec in c.named_children:
                        if spec.type == "import_specifier":
                            name = text(spec.child_by_field_name("name"))
                            alias = spec.child_by_field_name("alias")
                            imports.append(Import(text(alias) if alias is not None else name, src, name))
        elif node.type == "export_statement":
            src = _source(node)
            clause = next((c for c in node.named_children if c.type == "export_clause"), None)
            decl = node.child_by_field_name("declaration")
            if clause is not None:
                for spec in clause.named_children:
                    if spec.type == "export_specifier":
                        name = text(spec.child_by_field_name("name"))
                        alias = spec.child_by_field_name("alias")
                        imports.append(Import(text(alias) if alias is not None else name, src, name))
            elif src:
                ns = next((c for c in node.named_children if c.type == "namespace_export"), None)
                imports.append(Import(text(ns.named_children[-1]) if ns is not None else "*", src, ""))
            elif any(c.type == "default" for c in node.children):
                value = decl or node.child_by_field_name("value")
                target = value.child_by_field_name("name") if value is not None and value.type != "identifier" \
                    else value
                if target is not None and target.type in ("identifier", "type_identifier"):
                    imports.append(Import("default", "", text(target)))
            if decl is not None:
                sub_i, sub_b = javascript(decl, lang)
                imports.extend(sub_i)
                bases.extend(sub_b)
        elif node.type == "variable_declarator":
            src = _require(node.child_by_field_name("value"))
            pattern = node.child_by_field_name("name")
            if src is not None and pattern is not None:
                if pattern.type == "identifier":
                    imports.append(Import(text(pattern), src, ""))
                elif pattern.type == "object_pattern":
                    for p in pattern.named_children:
                        if p.type == "shorthand_property_identifier_pattern":
                            imports.append(Import(text(p), src, text(p)))
                        elif p.type == "pair_pattern":
                            imports.append(Import(text(p.child_by_field_name("value")), src,
                                                  text(p.child_by_field_name("key"))))
            value = node.child_by_field_name("value")
            if value is not None and value.type == "class":
                sub_i, sub_b = javascript(value, lang)
                bases.extend(sub_b)
        else:
            name = node.child_by_field_name("name")
            heritage = next((c for c in node.named_children if c.type == "class_heritage"), None)
            for clause in heritage.named_children if heritage is not None else ():
                targets = [clause.child_by_field_name("value")] if clause.type == "extends_clause" \
                    else clause.named_children
                for t in targets:
                    base = dotted(t, frozenset()) if t is not None and t.type != "generic_type" \
                        else _strip(text(t))
                    if base and name is not None:
                        bases.append(Base(text(name), _line(name), _strip(base) or base))
                if clause.type in ("identifier", "member_expression"):  # JS: `class A extends B` without a clause node
                    base = dotted(clause, frozenset())
                    if base and name is not None:
                        bases.append(Base(text(name), _line(name), base))
            body = node.child_by_field_name("body")
            if body is not None:
                sub_i, sub_b = javascript(body, lang)
                imports.extend(sub_i)
                bases.extend(sub_b)
    return imports, bases


# --- Rust --------------------------------------------------------------------------------------


def _rust_use(node: Node, prefix: str, out: list[Import]) -> None:
    t = node.type
    if t in ("identifier", "crate", "super", "self", "metavariable"):
        name = text(node)
        if name == "self":  # `use a::b::{self}` binds b
            if prefix:
                out.append(Import(prefix.rsplit("::", 1)[-1], prefix, ""))
            return
        full = f"{prefix}::{name}" if prefix else name
        module, _, last = full.rpartition("::")
        out.append(Import(last, module, last))
    elif t == "scoped_identifier":
        full = f"{prefix}::{text(node)}" if prefix else text(node)
        module, _, last = full.rpartition("::")
        out.append(Import(last, module, last))
    elif t == "use_as_clause":
        path = text(node.child_by_field_name("path"))
        full = f"{prefix}::{path}" if prefix else path
        module, _, last = full.rpartition("::")
        out.append(Import(text(node.child_by_field_name("alias")), module, last))
    elif t == "use_wildcard":
        inner = next((c for c in node.named_children), None)
        path = text(inner) if inner is not None else ""
        out.append(Import("*", f"{prefix}::{path}" if prefix and path else (path or prefix), ""))
    elif t == "scoped_use_list":
        path = node.child_by_field_name("path")
        sub = f"{prefix}::{text(path)}" if prefix and path is not None else (text(path) if path is not None else prefix)
        lst = node.child_by_field_name("list")
        for item in lst.named_children if lst is not None else ():
            _rust_use(item, sub, out)
    elif t == "use_list":
        for item in node.named_children:
            _rust_use(item, prefix, out)


def rust(root: Node, lang: str) -> tuple[list[Import], list[Base]]:
    imports: list[Import] = []
    bases: list[Base] = []
    for node in _walk(root, frozenset({"use_declaration", "trait_item", "mod_item"}), lang):
        if node.type == "use_declaration":
            arg = node.child_by_field_name("argument")
            if arg is not None:
                _rust_use(arg, "", imports)
        elif node.type == "mod_item":
            # An inline module's imports count for the whole file, except its `use super::*`.
            body = node.child_by_field_name("body")
            if body is not None:
                sub_i, sub_b = rust(body, lang)
                imports.extend(i for i in sub_i if not (i.alias == "*" and i.module in ("super", "self")))
                bases.extend(sub_b)
        else:
            name = node.child_by_field_name("name")
            bounds = node.child_by_field_name("bounds")
            for t in bounds.named_children if bounds is not None else ():
                base = _strip(text(t))
                if base and name is not None:
                    bases.append(Base(text(name), _line(name), base))
    return imports, bases


IMPORT_READERS = {"python": python, "go": go, "java": java, "javascript": javascript,
                  "typescript": javascript, "tsx": javascript, "rust": rust}
