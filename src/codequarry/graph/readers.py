"""Per-language readers of call sites: what is called, on what, and what the file says about its type.

Each reader holds two tree-sitter queries (call nodes; binding nodes:
parameters, variables, fields) and small functions that read one node.
Bindings give the resolver two things: a bare name bound inside the calling
function is local (`callback()` is a parameter, not the repository's
`callback` function), and a receiver variable may have a declared or
constructed type (`store: Store`, `Store s`, `s := &Store{}`,
`let s = Store::new()`), so `s.open()` can resolve to `Store.open`.
"""

from __future__ import annotations

import re

from tree_sitter import Node, Query, QueryCursor

from codequarry.chunk.specs.base import first_of

from .facts import BARE, NEW, SELF, SUPER, UNKNOWN, Site, dotted, text, type_name

_SELF_ALIAS = "@self"  # a Go method's receiver variable
_UNTYPED = "?"  # a local variable whose type the file does not say


def _strip_generics(name: str) -> str:
    """`Store<T>` → `Store`; an array or slice (`Store[]`, `[]*Store`, `[Store; 4]`) is no class: ''."""
    name = name.strip()
    if name.endswith("]") and re.search(r"\[\s*\]$", name) or name.startswith(("[", "&[", "&mut [")):
        return ""
    return re.sub(r"<.*>|\[.*\]", "", name).strip()


class _Scopes:
    """Bindings per function node and fields per class, filled from the binding query."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.functions: dict[int, dict[str, str]] = {}
        self.fields: dict[object, dict[str, str]] = {}

    def function_of(self, node: Node, *, skip_self: bool = False) -> Node | None:
        n = node.parent if skip_self else node
        while n is not None:
            if n.type in self.reader.functions:
                return n
            if n.type in self.reader.classes:
                return None
            n = n.parent
        return None

    def bind(self, at: Node, name: str, type_: str = "", *, skip_self: bool = False) -> None:
        fn = self.function_of(at, skip_self=skip_self)
        if fn is None or not name:
            return
        have = self.functions.setdefault(fn.id, {})
        if type_ or name not in have:
            have[name] = type_

    def field(self, key: object, name: str, type_: str) -> None:
        if key is not None and name and (type_ or name not in self.fields.get(key, {})):
            self.fields.setdefault(key, {})[name] = type_

    def lookup(self, node: Node, name: str) -> str | None:
        """The binding of `name` seen from `node`: innermost function first, then outer ones."""
        n = node
        while n is not None:
            if n.type in self.reader.functions:
                got = self.functions.get(n.id, {}).get(name)
                if got is not None:
                    return got
            n = n.parent
        return None


class Reader:
    calls_query = ""
    binds_query = ""
    functions: frozenset[str] = frozenset()
    classes: frozenset[str] = frozenset()
    self_words: frozenset[str] = frozenset({"self", "this", "Self"})
    implicit_this = False  # Java: a bare field name is a field of the enclosing class

    def __init__(self, language) -> None:
        self.language = language
        self.q_calls = Query(language, self.calls_query)
        self.q_binds = Query(language, self.binds_query) if self.binds_query else None

    # -- per language ----------------------------------------------------------------------------
    def call(self, node: Node) -> tuple[Node, str] | None:
        """(name node, receiver) of a call node."""
        raise NotImplementedError

    def bind(self, capture: str, node: Node, scopes: _Scopes) -> None:
        raise NotImplementedError

    def class_key(self, node: Node) -> object:
        """The class whose fields `self.x` reads, seen from `node` (a node id or a type name)."""
        n = node
        while n is not None:
            if n.type in self.classes:
                return n.id
            n = n.parent
        return None

    # -- shared ----------------------------------------------------------------------------------
    def receiver(self, node: Node | None) -> str:
        got = dotted(node, self.self_words)
        return got if got is not None else UNKNOWN

    def sites(self, root: Node) -> list[Site]:
        scopes = _Scopes(self)
        if self.q_binds is not None:
            found = QueryCursor(self.q_binds).captures(root)
            for node, capture in sorted(((n, c) for c, ns in found.items() for n in ns),
                                        key=lambda x: (x[0].start_byte, x[1])):
                self.bind(capture, node, scopes)
        out: list[Site] = []
        # In reading order: tree-sitter returns nested captures in an order that varies from run to run.
        for node in sorted(QueryCursor(self.q_calls).captures(root).get("call", ()), key=lambda n: n.start_byte):
            got = self.call(node)
            if got is None:
                continue
            name_node, receiver = got
            name = text(name_node)
            if not name:
                continue
            rtype, local = "", False
            if receiver == BARE:
                local = scopes.lookup(node, name) is not None
            elif receiver not in (SELF, SUPER, NEW, UNKNOWN):
                receiver, rtype = self._typed(node, receiver, scopes)
            out.append(Site(name_node.start_point[0] + 1, name, receiver, rtype, local))
        return out

    def _typed(self, node: Node, receiver: str, scopes: _Scopes) -> tuple[str, str]:
        head, _, rest = receiver.partition(".")
        if head == SELF:
            key = self.class_key(node)
            if rest and "." not in rest:
                return receiver, scopes.fields.get(key, {}).get(rest, "")
            return receiver, ""
        bound = scopes.lookup(node, head)
        if bound == _SELF_ALIAS:
            return self._typed(node, SELF + ("." + rest if rest else ""), scopes) if rest else (SELF, "")
        if bound is not None:
            return receiver, (bound or _UNTYPED) if not rest else _UNTYPED
        if self.implicit_this and not rest:
            got = scopes.fields.get(self.class_key(node), {}).get(head)
            if got is not None:
                return receiver, got or _UNTYPED
        return receiver, ""


def _names_in(node: Node | None, types=frozenset({"identifier", "shorthand_property_identifier_pattern"})):
    """Identifiers a pattern binds (`a, (b, c)`, `{x, y}`), skipping default values and types."""
    out: list[str] = []
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if n.type in types:
            out.append(text(n))
            continue
        for i, child in enumerate(n.children):
            if n.field_name_for_child(i) not in ("value", "type", "right", "default"):
                stack.append(child)
    return out


# --- Python ------------------------------------------------------------------------------------


class PythonReader(Reader):
    calls_query = "(call) @call"
    binds_query = """
        (parameters) @params (lambda_parameters) @params (assignment) @assign
        (for_statement left: (_) @target) (for_in_clause left: (_) @target)
        (as_pattern alias: (_) @target) (named_expression name: (_) @target)
        (function_definition name: (identifier) @def) (class_definition name: (identifier) @def)
    """
    functions = frozenset({"function_definition", "lambda"})
    classes = frozenset({"class_definition"})
    self_words = frozenset({"self", "cls"})

    def call(self, node):
        fn = node.child_by_field_name("function")
        if fn is None:
            return None
        if fn.type == "identifier":
            return fn, BARE
        if fn.type == "attribute":
            name = fn.child_by_field_name("attribute")
            return (name, self.receiver(fn.child_by_field_name("object"))) if name is not None else None
        return None

    def bind(self, capture, node, scopes):
        if capture == "params":
            for p in node.named_children:
                if p.type == "identifier":
                    scopes.bind(node, text(p))
                elif p.type in ("typed_parameter", "typed_default_parameter", "default_parameter"):
                    name = p.child_by_field_name("name") or first_of(p, {"identifier"})
                    scopes.bind(node, text(name), type_name(text(p.child_by_field_name("type"))))
                elif p.type in ("list_splat_pattern", "dictionary_splat_pattern"):
                    scopes.bind(node, text(first_of(p, {"identifier"})))
        elif capture == "assign":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            declared = type_name(text(node.child_by_field_name("type")))
            type_ = declared or self._constructed(right, node, scopes)
            if left is not None and left.type == "identifier":
                if scopes.function_of(node) is None:  # a class attribute
                    scopes.field(self.class_key(node), text(left), type_)
                else:
                    scopes.bind(node, text(left), type_)
            elif left is not None and left.type == "attribute":
                if dotted(left.child_by_field_name("object"), self.self_words) == SELF:
                    scopes.field(self.class_key(node), text(left.child_by_field_name("attribute")), type_)
            else:
                for name in _names_in(left):
                    scopes.bind(node, name)
        elif capture == "target":
            for name in _names_in(node):
                scopes.bind(node, name)
        elif capture == "def":
            scopes.bind(node.parent, text(node), skip_self=True)

    def _constructed(self, right: Node | None, at: Node, scopes: _Scopes) -> str:
        """`Store(...)` or `mod.Store(...)` → its name; a typed parameter → its type."""
        if right is None:
            return ""
        if right.type == "call":
            fn = dotted(right.child_by_field_name("function"), self.self_words)
            if fn and fn.rsplit(".", 1)[-1][:1].isupper():
                return fn
        if right.type == "identifier":
            got = scopes.lookup(at, text(right))
            return got if got and got not in (_UNTYPED, _SELF_ALIAS) else ""
        return ""


# --- Go ----------------------------------------------------------------------------------------


class GoReader(Reader):
    calls_query = "(call_expression) @call"
    binds_query = """
        (parameter_declaration) @param (variadic_parameter_declaration) @param
        (method_declaration receiver: (parameter_list (parameter_declaration) @recv))
        (short_var_declaration) @short (var_spec) @var (range_clause left: (_) @target)
        (type_spec name: (type_identifier) @sname type: (struct_type) @struct)
    """
    functions = frozenset({"function_declaration", "method_declaration", "func_literal"})

    def call(self, node):
        fn = node.child_by_field_name("function")
        if fn is None:
            return None
        if fn.type == "identifier":
            return fn, BARE
        if fn.type == "selector_expression":
            return fn.child_by_field_name("field"), self.receiver(fn.child_by_field_name("operand"))
        return None

    @staticmethod
    def _type(node: Node | None) -> str:
        return type_name(_strip_generics(text(node)))

    def bind(self, capture, node, scopes):
        if capture == "recv":
            for name in node.children_by_field_name("name"):
                scopes.bind(node, text(name), _SELF_ALIAS)
        elif capture == "param":
            if node.parent is not None and node.parent.parent is not None \
                    and node.parent.parent.type == "method_declaration" \
                    and node.parent == node.parent.parent.child_by_field_name("receiver"):
                return  # the receiver: bound by @recv
            type_ = self._type(node.child_by_field_name("type"))
            for name in node.children_by_field_name("name"):
                scopes.bind(node, text(name), type_)
        elif capture == "var":
            type_ = self._type(node.child_by_field_name("type"))
            for name in node.children_by_field_name("name"):
                scopes.bind(node, text(name), type_)
        elif capture == "short":
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            values = right.named_children if right is not None else []
            for i, name in enumerate(left.named_children if left is not None else []):
                scopes.bind(node, text(name), self._constructed(values[i]) if i < len(values) else "")
        elif capture == "target":
            for name in _names_in(node):
                scopes.bind(node, name)
        elif capture == "struct":
            owner = text(node.prev_named_sibling) if node.prev_named_sibling is not None else ""
            body = first_of(node, {"field_declaration_list"})
            for f in body.named_children if body is not None else []:
                if f.type == "field_declaration":
                    type_ = self._type(f.child_by_field_name("type"))
                    for name in f.children_by_field_name("name"):
                        scopes.field(owner, text(name), type_)

    def _constructed(self, value: Node) -> str:
        """`&Store{}`, `Store{}`, `NewStore()` / `pkg.NewStore()` (the Go constructor convention)."""
        if value.type == "unary_expression":
            value = value.child_by_field_name("operand") or value
        if value.type == "composite_literal":
            return self._type(value.child_by_field_name("type"))
        if value.type == "call_expression":
            fn = dotted(value.child_by_field_name("function"))
            if fn:
                head, _, last = fn.rpartition(".")
                if last.startswith("New") and len(last) > 3 and last[3].isupper():
                    return f"{head}.{last[3:]}" if head else last[3:]
        return ""

    def class_key(self, node):
        n = node
        while n is not None and n.type != "method_declaration":
            n = n.parent
        if n is None:
            return None
        found = first_of(n.child_by_field_name("receiver"), {"type_identifier"})
        return text(found) if found is not None else None


# --- Java --------------------------------------------------------------------------------------


class JavaReader(Reader):
    calls_query = "(method_invocation) @call (object_creation_expression) @call"
    binds_query = """
        (formal_parameter) @param (spread_parameter) @param (catch_formal_parameter) @param
        (local_variable_declaration) @local (field_declaration) @field
        (enhanced_for_statement) @for (lambda_expression parameters: (_) @lambda)
    """
    functions = frozenset({"method_declaration", "constructor_declaration", "lambda_expression",
                           "compact_constructor_declaration"})
    classes = frozenset({"class_declaration", "enum_declaration", "record_declaration",
                         "interface_declaration"})
    implicit_this = True

    def call(self, node):
        if node.type == "object_creation_expression":
            t = node.child_by_field_name("type")
            name = first_of(t, {"type_identifier"}) if t is not None and t.type != "scoped_type_identifier" \
                else (t.child_by_field_name("name") if t is not None else None)
            return (name, NEW) if name is not None else None
        name = node.child_by_field_name("name")
        obj = node.child_by_field_name("object")
        if name is None:
            return None
        return name, (BARE if obj is None else self.receiver(obj))

    @staticmethod
    def _type(node: Node | None) -> str:
        return type_name(_strip_generics(text(node)))

    def bind(self, capture, node, scopes):
        if capture == "param":
            type_ = self._type(node.child_by_field_name("type"))
            name = node.child_by_field_name("name") or first_of(node, {"identifier"})
            scopes.bind(node, text(name), type_)
        elif capture in ("local", "field", "for"):
            declared = self._type(node.child_by_field_name("type"))
            declarators = [d for d in node.named_children if d.type == "variable_declarator"]
            if capture == "for":
                declarators = [node]
            for d in declarators:
                name = text(d.child_by_field_name("name"))
                type_ = declared
                value = d.child_by_field_name("value")
                if (not type_) and value is not None and value.type == "object_creation_expression":
                    type_ = self._type(value.child_by_field_name("type"))
                if capture == "field":
                    scopes.field(self.class_key(node), name, type_)
                else:
                    scopes.bind(node, name, type_)
        elif capture == "lambda":
            for name in _names_in(node):
                scopes.bind(node.parent, name)


# --- JavaScript / TypeScript -------------------------------------------------------------------


class JsReader(Reader):
    calls_query = "(call_expression) @call (new_expression) @call"
    binds_query = """
        (formal_parameters) @params (variable_declarator) @decl
        (function_declaration name: (identifier) @def)
        (for_in_statement left: (_) @target) (catch_clause parameter: (_) @target)
        (arrow_function parameter: (identifier) @target)
    """
    typescript = False
    functions = frozenset({"function_declaration", "function_expression", "arrow_function",
                           "method_definition", "generator_function_declaration", "function",
                           "generator_function"})
    classes = frozenset({"class_declaration", "class", "abstract_class_declaration"})

    def __init__(self, language) -> None:
        if self.typescript:
            self.binds_query += " (public_field_definition) @field"
        else:
            self.binds_query += " (field_definition) @field"
        super().__init__(language)

    def call(self, node):
        if node.type == "new_expression":
            ctor = node.child_by_field_name("constructor")
            if ctor is None:
                return None
            if ctor.type == "member_expression":
                return ctor.child_by_field_name("property"), NEW
            return (ctor, NEW) if ctor.type == "identifier" else None
        fn = node.child_by_field_name("function")
        if fn is None:
            return None
        if fn.type == "identifier":
            return fn, BARE
        if fn.type == "member_expression":
            prop = fn.child_by_field_name("property")
            return (prop, self.receiver(fn.child_by_field_name("object"))) if prop is not None else None
        return None

    @staticmethod
    def _annotation(node: Node) -> str:
        ann = next((c for c in node.named_children if c.type == "type_annotation"), None)
        if ann is None:
            ann = node.child_by_field_name("type")
        return type_name(_strip_generics(text(ann).lstrip(":"))) if ann is not None else ""

    def _constructed(self, value: Node | None) -> str:
        if value is not None and value.type == "new_expression":
            return type_name(text(value.child_by_field_name("constructor")))
        return ""

    def bind(self, capture, node, scopes):
        if capture == "params":
            for p in node.named_children:
                if p.type == "identifier":
                    scopes.bind(node, text(p))
                elif p.type in ("required_parameter", "optional_parameter"):
                    pattern = p.child_by_field_name("pattern")
                    type_ = self._annotation(p)
                    for name in _names_in(pattern):
                        scopes.bind(node, name, type_)
                    if any(c.type == "accessibility_modifier" for c in p.children):  # constructor(private s: S)
                        scopes.field(self.class_key(node), text(pattern), type_)
                else:
                    for name in _names_in(p):
                        scopes.bind(node, name)
        elif capture == "decl":
            value = node.child_by_field_name("value")
            if value is not None and value.type == "call_expression" \
                    and text(value.child_by_field_name("function")) == "require":
                return  # an import
            type_ = self._annotation(node) or self._constructed(value)
            for name in _names_in(node.child_by_field_name("name")):
                scopes.bind(node, name, type_)
        elif capture == "def":
            scopes.bind(node.parent, text(node), skip_self=True)
        elif capture == "target":
            for name in _names_in(node):
                scopes.bind(node, name)
        elif capture == "field":
            name = node.child_by_field_name("name") or node.child_by_field_name("property")
            type_ = self._annotation(node) or self._constructed(node.child_by_field_name("value"))
            scopes.field(self.class_key(node), text(name), type_)


class TsReader(JsReader):
    typescript = True


# --- Rust --------------------------------------------------------------------------------------

_RUST_CTORS = re.compile(r"^(new|default|with_\w+|from_\w+|open|create|build)$")


class RustReader(Reader):
    calls_query = "(call_expression) @call"
    binds_query = """
        (parameter) @param (let_declaration) @let (closure_parameters) @closure
        (for_expression pattern: (_) @target) (struct_item) @struct
    """
    functions = frozenset({"function_item", "closure_expression"})

    def call(self, node):
        fn = node.child_by_field_name("function")
        if fn is not None and fn.type == "generic_function":
            fn = fn.child_by_field_name("function")
        if fn is None:
            return None
        if fn.type == "identifier":
            return fn, BARE
        if fn.type == "field_expression":
            return fn.child_by_field_name("field"), self.receiver(fn.child_by_field_name("value"))
        if fn.type == "scoped_identifier":
            path = fn.child_by_field_name("path")
            return fn.child_by_field_name("name"), (self.receiver(path) if path is not None else BARE)
        return None

    @staticmethod
    def _type(node: Node | None) -> str:
        return type_name(_strip_generics(text(node)))

    def _constructed(self, value: Node | None) -> str:
        if value is None:
            return ""
        if value.type == "try_expression":
            value = value.named_children[0] if value.named_children else None
            if value is None:
                return ""
        if value.type == "struct_expression":
            return self._type(value.child_by_field_name("name"))
        if value.type == "call_expression":
            fn = value.child_by_field_name("function")
            if fn is not None and fn.type == "scoped_identifier":
                path = dotted(fn.child_by_field_name("path"), frozenset())
                name = text(fn.child_by_field_name("name"))
                if path and _RUST_CTORS.match(name) and path.rsplit(".", 1)[-1][:1].isupper():
                    return path
        return ""

    def bind(self, capture, node, scopes):
        if capture == "param":
            type_ = self._type(node.child_by_field_name("type"))
            for name in _names_in(node.child_by_field_name("pattern")):
                scopes.bind(node, name, type_)
        elif capture == "let":
            type_ = self._type(node.child_by_field_name("type")) or self._constructed(node.child_by_field_name("value"))
            for name in _names_in(node.child_by_field_name("pattern")):
                scopes.bind(node, name, type_)
        elif capture in ("closure", "target"):
            for name in _names_in(node):
                scopes.bind(node if capture == "target" else node.parent, name)
        elif capture == "struct":
            owner = text(node.child_by_field_name("name"))
            body = node.child_by_field_name("body")
            for f in body.named_children if body is not None else []:
                if f.type == "field_declaration":
                    scopes.field(owner, text(f.child_by_field_name("name")), self._type(f.child_by_field_name("type")))

    def class_key(self, node):
        n = node
        while n is not None and n.type != "impl_item":
            n = n.parent
        if n is None:
            return None
        return type_name(_strip_generics(text(n.child_by_field_name("type")))).rsplit(".", 1)[-1] or None


_KINDS: dict[str, type[Reader]] = {
    "python": PythonReader, "go": GoReader, "java": JavaReader, "javascript": JsReader,
    "typescript": TsReader, "tsx": TsReader, "rust": RustReader,
}
_made: dict[str, Reader] = {}


def reader_for(lang: str) -> Reader | None:
    """The reader of `lang`, its queries compiled on first use; None for a language without one."""
    reader = _made.get(lang)
    if reader is None and lang in _KINDS:
        from codequarry.chunk.languages import parser_for

        reader = _made[lang] = _KINDS[lang](parser_for(lang).language)
    return reader
