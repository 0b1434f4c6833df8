"""Resolve a call site to the definition it calls: pure functions over the repository's tables.

Order, as a reader of the code would look:

1. a name bound inside the calling function (parameter, variable, nested
   def) is local: unresolved, never matched to a namesake elsewhere;
2. the enclosing scope (Java: the class and its outer classes; Rust
   modules, TypeScript namespaces);
3. `self.x` / `this.x` / `Self::x` / a Go method's receiver: the enclosing
   class, then its bases (Python/Java/TS classes, Go embedded structs,
   Rust traits the type implements); `super.x`: the bases;
4. a receiver whose type the file declares (`store: Store`,
   `Store s`, `s := &Store{}`): that type's methods;
5. imported names followed to their module's file (re-exports and star
   imports followed too); a module outside the repository makes the edge
   unresolved (external), not a guess;
6. the same file; Go's and Java's same package;
7. a builtin of the language: unresolved;
8. a unique definition of that name in the repository (same language).

A call on a receiver of unknown type (`obj.save()`) is never resolved: every
method of that name is a candidate, and the edge is ambiguous. So is a bare
name defined more than once. Ambiguous edges keep up to MAX_CANDIDATES
candidates, each with its share of the confidence.
"""

from __future__ import annotations

import builtins
import posixpath

from .facts import BARE, NEW, SELF, SUPER, UNKNOWN, Import
from .model import AMBIGUOUS, RESOLVED, UNRESOLVED
from .modules import ModuleMap, _family
from .tables import CALLABLE, TYPES, Caller, Def, Outcome, Tables, callable_kinds

MAX_CANDIDATES = 8
MAX_DEPTH = 5  # base-class chains and re-export chains followed this far

# How sure each rule is that its target is the one called: set by hand; bench/edge_quality.py measures
# precision per rule on real code.
CONFIDENCE = {
    "scope": 0.95, "self": 0.95, "import": 0.95, "same-file": 0.9, "package": 0.9, "typed": 0.9,
    "static": 0.9, "base": 0.85, "super": 0.9, "star-import": 0.85, "module-path": 0.85,
    "unique": 0.6,
}
AMBIGUOUS_TOTAL = 0.5  # shared among an ambiguous edge's candidates

# Languages whose readers give receivers and imports (facts.py); others resolve by name.
READ = frozenset({"python", "go", "java", "javascript", "typescript", "tsx", "rust"})
# Languages where a bare call never has a receiver (C, shell): resolved like a bare name.
BARE_ONLY = frozenset({"c", "shell"})

_JS_GLOBALS = frozenset("""require setTimeout setInterval clearTimeout clearInterval setImmediate parseInt
parseFloat isNaN isFinite encodeURIComponent decodeURIComponent encodeURI decodeURI Number String Boolean
Array Object Symbol BigInt Promise Error TypeError RangeError SyntaxError Date RegExp Map Set WeakMap WeakSet
fetch alert structuredClone queueMicrotask URL URLSearchParams Buffer eval describe it test expect beforeEach
afterEach beforeAll afterAll Proxy Reflect Function Int8Array Uint8Array Float32Array Float64Array
ArrayBuffer DataView TextEncoder TextDecoder AbortController Headers Request Response Blob FormData
Event CustomEvent Worker import""".split())
_GO_BUILTINS = frozenset("""append cap clear close complex copy delete imag len make max min new panic print
println real recover string int int8 int16 int32 int64 uint uint8 uint16 uint32 uint64 uintptr float32
float64 byte rune bool error any complex64 complex128""".split())
_RUST_PRELUDE = frozenset("Some Ok Err drop Box Vec String Option Result Default".split())
_JAVA_LANG = frozenset("""Object String StringBuilder StringBuffer Integer Long Short Byte Double Float
Boolean Character Math Thread Runnable Exception RuntimeException Error Throwable IllegalArgumentException
IllegalStateException NullPointerException UnsupportedOperationException IndexOutOfBoundsException
ArrayList HashMap HashSet LinkedList LinkedHashMap TreeMap TreeSet ArrayDeque Optional List Map Set
Collection Iterable Iterator Collections Arrays Objects Class System Locale""".split())
BUILTINS = {
    "python": frozenset(dir(builtins)),
    "javascript": _JS_GLOBALS, "typescript": _JS_GLOBALS, "tsx": _JS_GLOBALS,
    "go": _GO_BUILTINS, "rust": _RUST_PRELUDE, "java": _JAVA_LANG,
}
# Languages where a module's imports are names it exports too (Python, JS/TS `export ... from`).
REEXPORTS = frozenset({"python", "javascript", "typescript", "tsx"})
PACKAGE = "<package>"  # the import alias under which a Java file's package declaration is kept
# Languages where a bare name inside a class reaches the class's members.
MEMBERS_IN_SCOPE = frozenset({"java"})


def _one(d: Def, how: str, conf: float | None = None) -> list[Outcome]:
    return [Outcome(d.id, RESOLVED, CONFIDENCE.get(how, 0.5) if conf is None else conf, how)]


def _none(how: str) -> list[Outcome]:
    return [Outcome(None, UNRESOLVED, 0.0, how)]


def _many(defs: list[Def], how: str) -> list[Outcome]:
    defs = list({d.id: d for d in defs}.values())
    if len(defs) > MAX_CANDIDATES:
        return [Outcome(None, AMBIGUOUS, 0.0, f"too many: {len(defs)} candidates")]
    share = AMBIGUOUS_TOTAL / len(defs)
    return [Outcome(d.id, AMBIGUOUS, share, how) for d in sorted(defs, key=lambda d: (d.file, d.line))]


class Resolver:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    # -- entry point -------------------------------------------------------------------------------
    def resolve(self, caller: Caller, name: str, receiver: str, rtype: str, local: bool) -> list[Outcome]:
        return self._resolve(caller, name, receiver, rtype, local) or _none("not found")

    def _resolve(self, caller: Caller, name: str, receiver: str, rtype: str, local: bool) -> list[Outcome]:
        lang = caller.language
        if lang not in READ:
            if lang in BARE_ONLY:
                return self._bare(caller, name, local=False)
            return self._by_name(caller, name)
        if receiver == BARE:
            return self._bare(caller, name, local)
        if receiver == SELF:
            return self._self(caller, name)
        if receiver == SUPER:
            return self._super(caller, name)
        if receiver == NEW:
            return self._new(caller, name)
        if receiver == UNKNOWN or rtype == "?":
            return self._unknown(caller, name)
        if rtype:
            return self._typed(caller, name, rtype)
        if receiver.startswith(SELF + "."):  # an attribute of self whose type the file does not say
            return self._unknown(caller, name)
        return self._qualified(caller, receiver.split("."), name)

    # -- bare names --------------------------------------------------------------------------------
    def _bare(self, caller: Caller, name: str, local: bool) -> list[Outcome]:
        if local:
            return _none("local")
        lang, file = caller.language, caller.file
        scoped = self._scope(caller, name)
        if scoped:
            return scoped
        found = self.t.top(file, name, callable_kinds(lang))
        if found is not None:
            return _one(found, "same-file")
        imp = self._import(file, name)
        if imp is not None:
            return self._via_import(caller, imp, [])
        for star in self._stars(file):
            got = self._follow(caller, star, [name])
            if got and got[0].target is not None:
                return [Outcome(o.target, o.status, min(o.confidence, CONFIDENCE["star-import"]), "star-import")
                        for o in got]
        if lang in ("go", "java"):
            same = self.t.in_files(self._package_files(file, lang), name)
            if lang == "java":
                same = [d for d in same if d.kind in TYPES]
            if len(same) == 1:
                return _one(same[0], "package")
            if same:
                return _many(same, "package")
        if name in BUILTINS.get(lang, ()):
            return _none("builtin")
        if lang in ("go", "java"):  # a bare name cannot come from another package without an import
            return _none("not found")
        return self._unique(caller, name, free=True)

    def _scope(self, caller: Caller, name: str) -> list[Outcome]:
        """Enclosing scopes: Java classes (and their bases), Rust modules, TypeScript namespaces.

        A class scope is skipped elsewhere: a bare name inside a Python, JS, Go or
        Rust method never means a method of its class.
        """
        if caller.language == "go":  # a Go qualname's prefix is a receiver type, never a scope
            return []
        parts = caller.qualname.split(caller.sep)
        for k in range(len(parts) - 1, 0, -1):
            prefix = caller.sep.join(parts[:k])
            here = self.t.at.get((caller.file, prefix), [])
            if any(d.kind in TYPES or d.kind == "impl" for d in here) or (caller.kind == "method" and
                                                                       k == len(parts) - 1):
                if caller.language in MEMBERS_IN_SCOPE and here:
                    got = self._member(next(d for d in here if d.kind != "impl") if any(
                        d.kind != "impl" for d in here) else here[0], name, "scope")
                    if got:
                        return got
                continue
            found = self.t.top(caller.file, f"{prefix}{caller.sep}{name}")
            if found is not None:
                return _one(found, "scope")
        return []

    # -- receivers ---------------------------------------------------------------------------------
    def _self(self, caller: Caller, name: str) -> list[Outcome]:
        owner = caller.owner
        if owner is None:
            return _none("self outside a class")
        cls = self._class(caller, owner)
        if cls is None:
            return _none("class not found")
        return self._member(cls, name, "self") or _none(f"not a method of {owner}")

    def _super(self, caller: Caller, name: str) -> list[Outcome]:
        owner = caller.owner
        cls = self._class(caller, owner) if owner else None
        if cls is None:
            return _none("super outside a class")
        for base in self._bases(cls):
            got = self._member(base, name, "super")
            if got:
                return got
        return _none("not a method of a known base")

    def _new(self, caller: Caller, name: str) -> list[Outcome]:
        got = self._type(caller, name)
        if isinstance(got, str):
            return _none(got)
        d, how, conf = got
        return _one(d, how, conf)

    def _typed(self, caller: Caller, name: str, rtype: str) -> list[Outcome]:
        got = self._type(caller, rtype)
        if isinstance(got, str):
            return _none(f"type {rtype}: {got}")
        cls, how, conf = got
        found = self._member(cls, name, "typed")
        if not found:
            return _none(f"not a method of {cls.qualname}")
        return [Outcome(o.target, o.status, min(o.confidence, conf), o.how) for o in found]

    def _qualified(self, caller: Caller, segs: list[str], name: str) -> list[Outcome]:
        file = caller.file
        for k in range(len(segs), 0, -1):  # Python binds dotted aliases: `import os.path`
            imp = self._import(file, ".".join(segs[:k]))
            if imp is not None:
                return self._via_import(caller, imp, segs[k:] + [name])
        head = segs[0]
        if caller.language == "rust":
            if head in ("std", "core", "alloc"):
                return _none("external")
            got = self._rust_path(caller, segs + [name])
            if got:
                return got
        got = self._type(caller, ".".join(segs))
        if not isinstance(got, str):
            cls, how, conf = got
            found = self._member(cls, name, "static")
            return [Outcome(o.target, o.status, min(o.confidence, conf), o.how) for o in found] \
                or _none(f"not a method of {cls.qualname}")
        if head in BUILTINS.get(caller.language, ()) or head in ("console", "Math", "JSON", "process",
                                                                   "window", "document", "System"):
            return _none("builtin")
        return self._unknown(caller, name)

    def _unknown(self, caller: Caller, name: str) -> list[Outcome]:
        """A receiver of unknown type: any method of that name might be meant."""
        fam = _family(caller.language)
        cands = [d for d in self.t.by_name.get(name, ()) if d.kind == "method" and _family(d.language) == fam]
        return _many(cands, "unknown receiver") if cands else _none("unknown receiver")

    def _by_name(self, caller: Caller, name: str) -> list[Outcome]:
        """Languages without a reader: the same file, else the unique definition, else candidates."""
        fam = _family(caller.language)
        cands = [d for d in self.t.by_name.get(name, ()) if d.kind in CALLABLE and _family(d.language) == fam]
        here = [d for d in cands if d.file == caller.file]
        if len(here) == 1:
            return _one(here[0], "same-file")
        if not cands:
            return _none("not found")
        return _many(here or cands, "name only")

    def _unique(self, caller: Caller, name: str, *, free: bool) -> list[Outcome]:
        fam = _family(caller.language)
        kinds = callable_kinds(caller.language)
        cands = [d for d in self.t.by_name.get(name, ())
                 if d.kind in kinds and _family(d.language) == fam and not (free and d.kind == "method")]
        if len(cands) == 1:
            return _one(cands[0], "unique")
        if cands:
            return _many(cands, "same name")
        return _none("not found")

    # -- classes and types -------------------------------------------------------------------------
    def _class(self, caller: Caller, qual: str) -> Def | None:
        here = [d for d in self.t.at.get((caller.file, qual), ()) if d.kind in TYPES or d.kind == "impl"]
        if here:
            return next((d for d in here if d.kind != "impl"), here[0])
        if caller.language in ("go", "rust"):  # methods and their type may live in different files
            return self._type_by_name(caller, qual)
        return None

    def _type_by_name(self, caller: Caller, name: str) -> Def | None:
        fam = _family(caller.language)
        cands = [d for d in self.t.by_qual.get(name, ()) if d.kind in TYPES and _family(d.language) == fam]
        if caller.language == "go":
            near = set(self.t.modules.same_dir(caller.file, "go"))
            cands = [d for d in cands if d.file in near] or cands
        if caller.language == "rust":
            root = ModuleMap.rust_crate(caller.file)[0]
            cands = [d for d in cands if ModuleMap.rust_crate(d.file)[0] == root] or cands
        return cands[0] if len(cands) == 1 else None

    def _type(self, caller: Caller, dotted: str) -> tuple[Def, str, float] | str:
        """The type `dotted` names in the caller's file, or why not ('external', 'not found', ...)."""
        segs = dotted.split(".")
        file, lang = caller.file, caller.language
        if len(segs) == 1:
            name = segs[0]
            found = self.t.top(file, name, TYPES) or next(
                (d for d in self.t.by_file.get(file, ()) if d.name == name and d.kind in TYPES), None)
            if found is not None:
                return found, "same-file", CONFIDENCE["same-file"]
        for k in range(len(segs), 0, -1):
            imp = self._import(file, ".".join(segs[:k]))
            if imp is not None:
                got = self._follow(caller, imp, segs[k:])
                if got is None:
                    return "external"
                types = [self.t.by_id[o.target] for o in got if o.target is not None
                         and self.t.by_id[o.target].kind in TYPES | {"function"}]
                if len(types) == 1:
                    return types[0], "import", CONFIDENCE["import"]
                return "not found"
        if len(segs) > 1 and lang == "rust":
            got = self._rust_path(caller, segs)
            if got and got[0].target is not None and got[0].status == RESOLVED:
                return self.t.by_id[got[0].target], "module-path", CONFIDENCE["module-path"]
        name = segs[-1]
        for star in self._stars(file):
            got = self._follow(caller, star, [name])
            if got and got[0].target is not None and self.t.by_id[got[0].target].kind in TYPES:
                return self.t.by_id[got[0].target], "star-import", CONFIDENCE["star-import"]
        if lang in ("go", "java"):
            same = [d for d in self.t.in_files(self._package_files(file, lang), name, TYPES)]
            if len(same) == 1:
                return same[0], "package", CONFIDENCE["package"]
        if len(segs) > 1 and lang == "go":
            return "external"  # a package-qualified type of a package not imported from the repository
        if name in BUILTINS.get(lang, ()):
            return "builtin"
        fam = _family(lang)
        cands = [d for d in self.t.by_name.get(name, ()) if d.kind in TYPES and _family(d.language) == fam]
        if lang == "rust" and len(cands) > 1:  # the struct and its impls share a name; prefer the type
            cands = [d for d in cands if d.kind != "impl"]
        if len(cands) == 1:
            return cands[0], "unique", CONFIDENCE["unique"]
        return "ambiguous" if cands else "not found"

    def _bases(self, cls: Def, depth: int = 0) -> list[Def]:
        if depth > MAX_DEPTH:
            return []
        texts = list(self.t.bases.get(cls.id, ()))
        if cls.language == "rust":
            texts += self.t.traits.get(cls.name, [])
        caller = Caller(cls.file, cls.language, cls.kind, cls.qualname, cls.sep)
        out = []
        for text in texts:
            got = self._type(caller, text)
            if not isinstance(got, str) and got[0].id != cls.id:
                out.append(got[0])
        return out

    def _member(self, cls: Def, name: str, how: str, depth: int = 0) -> list[Outcome]:
        """Method `name` of class `cls`, else of its bases (nearest first)."""
        want = f"{cls.qualname}{cls.sep}{name}"
        cands = [d for d in self.t.by_qual.get(want, ()) if d.kind in CALLABLE
                 and _family(d.language) == _family(cls.language)]
        here = [d for d in cands if d.file == cls.file]
        if cls.language == "go":
            near = set(self.t.modules.same_dir(cls.file, "go"))
            cands = [d for d in cands if d.file in near]
        elif cls.language == "rust":
            root = ModuleMap.rust_crate(cls.file)[0]
            cands = [d for d in cands if ModuleMap.rust_crate(d.file)[0] == root]
        else:
            cands = here
        if cands:
            first = min(cands, key=lambda d: (d.file != cls.file, d.line))
            return _one(first, how if depth == 0 else "base")
        if depth >= MAX_DEPTH:
            return []
        for base in self._bases(cls):
            got = self._member(base, name, how, depth + 1)
            if got:
                return [Outcome(o.target, o.status, min(o.confidence, CONFIDENCE["base"]), "base") for o in got]
        return []

    def _package_files(self, file: str, lang: str) -> list[str]:
        """Go: the files of the folder. Java: of every folder holding the file's package (main and test
        source roots share packages), known from its `package` declaration."""
        if lang == "java":
            pkg = self._import(file, PACKAGE)
            if pkg is not None and pkg.module:
                files, is_class = self.t.modules.java_path(pkg.module)
                if files and not is_class:
                    return list(files)
        return self.t.modules.same_dir(file, lang)

    # -- imports -----------------------------------------------------------------------------------
    def _import(self, file: str, alias: str) -> Import | None:
        return next((i for i in self.t.imports.get(file, ()) if i.alias == alias), None)

    def _stars(self, file: str) -> list[Import]:
        return [i for i in self.t.imports.get(file, ()) if i.alias == "*"]

    def _via_import(self, caller: Caller, imp: Import, path: list[str]) -> list[Outcome]:
        """What `path` (members after the alias; [] for the alias itself) names through `imp`."""
        if not path and not imp.name and caller.language != "rust":
            # A whole module called: CommonJS `const f = require('./f'); f()` calls its export.
            path = ["default"] if caller.language in ("javascript", "typescript", "tsx") else []
            if not path:
                return _none("module called")
            got = self._follow(caller, imp, path)
            if got is None:
                return _none("external")
            return got or self._follow(caller, imp, [imp.alias]) or _none("not found in module")
        got = self._follow(caller, imp, path)
        if got is None:
            return _none("external")
        if not got:
            return _none("not found in module")
        return got

    def _follow(self, caller: Caller, imp: Import, path: list[str], depth: int = 0) -> list[Outcome] | None:
        """Outcomes for `path` looked up through `imp`; None when the module is outside the repository."""
        lang = caller.language
        if lang == "rust":
            segs = [s for s in imp.module.split("::") if s] + ([imp.name] if imp.name else []) + path
            got = self._rust_path(caller, segs, from_import=True)
            return [Outcome(o.target, o.status, o.confidence if o.status != RESOLVED else CONFIDENCE["import"],
                            "import" if o.how == "module-path" else o.how) for o in got] if got else got
        files, member = self._module(caller, imp)
        if files is None:
            return None
        return self._lookup(caller, files, ([member] if member else []) + path, depth)

    def _module(self, caller: Caller, imp: Import) -> tuple[list[str] | None, str]:
        """(files of the module the import names, the member it picks in them)."""
        m, lang, file = self.t.modules, caller.language, caller.file
        if lang == "python":
            if imp.name:  # `from pkg import mod` may name a submodule
                sub = f"{imp.module}{'' if imp.module.endswith('.') else '.'}{imp.name}"
                files = m.python_module(file, sub)
                if files:
                    return list(files), ""
            files = m.python_module(file, imp.module) if imp.module else ()
            return (list(files), imp.name) if files else (None, "")
        if lang in ("javascript", "typescript", "tsx"):
            if not imp.module:
                return [file], imp.name
            files = m.js_module(file, imp.module)
            return (list(files), imp.name) if files else (None, "")
        if lang == "go":
            files = m.go_package(imp.module)
            return (list(files), imp.name) if files else (None, "")
        if lang == "java":
            full = f"{imp.module}.{imp.name}" if imp.name else imp.module
            files, is_class = m.java_path(full)
            if files and is_class:
                return list(files), imp.name
            if files:  # a package: the type is one of its files'
                return list(files), ""
            files, is_class = m.java_path(imp.module)
            if files and is_class:  # a static import of a member
                cls = posixpath.basename(files[0])[:-5]
                return list(files), f"{cls}.{imp.name}" if imp.name else cls
            return None, ""
        return None, ""

    def _lookup(self, caller: Caller, files: list[str], path: list[str], depth: int) -> list[Outcome]:
        """`path` (a name, maybe followed by members) among the top-level definitions of `files`."""
        if not path:
            return []
        head, rest = path[0], path[1:]
        if "." in head:  # Java static import: `Util.helper`
            parts = head.split(".")
            head, rest = parts[0], parts[1:] + rest
        found = self.t.in_files(files, head)
        if found:
            d = found[0]
            if not rest:
                return _one(d, "import") if len(found) == 1 else _many(found, "import")
            if d.kind in TYPES:
                return self._member(d, rest[0], "import") if len(rest) == 1 else []
            return []
        if depth >= MAX_DEPTH or caller.language not in REEXPORTS:
            return []
        # Re-exports and the module's own imports: `from .store import Store` in a package __init__.
        for f in files:
            for imp in self.t.imports.get(f, ()):
                if imp.alias == head:
                    sub = Caller(f, caller.language, "module", "", caller.sep)
                    got = self._follow(sub, imp, rest, depth + 1)
                    if got:
                        return got
        for f in files:
            for imp in self.t.imports.get(f, ()):
                if imp.alias == "*":
                    sub = Caller(f, caller.language, "module", "", caller.sep)
                    got = self._follow(sub, imp, path, depth + 1)
                    if got:
                        return got
        if caller.language == "python":  # `import pkg` then `pkg.sub.f()`: a submodule
            for f in files:
                if f.endswith("__init__.py"):
                    pkg = posixpath.dirname(f)
                    sub_files = [p for p in (f"{pkg}/{head}.py", f"{pkg}/{head}/__init__.py") if p in self.t.modules.files]
                    if sub_files:
                        return self._lookup(caller, sub_files, rest, depth + 1)
        return []

    # -- Rust paths --------------------------------------------------------------------------------
    def _rust_path(self, caller: Caller, segs: list[str], from_import: bool = False) -> list[Outcome] | None:
        """`crate::a::b::f`, `super::f`, `other_crate::x::T::new` → outcomes; None if outside the repo."""
        items = self.t.rust_items()
        root, mod = ModuleMap.rust_crate(caller.file)
        segs = [s for s in segs if s]
        if not segs:
            return []
        first = segs[0]
        starts: list[tuple[str, list[str], list[str]]] = []
        if first == "crate":
            starts.append((root, [], segs[1:]))
        elif first in ("self", SELF):
            starts.append((root, list(mod), segs[1:]))
        elif first == "super":
            up = list(mod)
            rest = segs
            while rest and rest[0] == "super":
                up = up[:-1]
                rest = rest[1:]
            starts.append((root, up, rest))
        else:
            crates = self.t.modules.rust_crates()
            if first in crates:
                starts.append((crates[first], [], segs[1:]))
            starts.append((root, list(mod), segs))  # a child module or an item of this module
            starts.append((root, [], segs))  # a module at the crate root
        for croot, base, rest in starts:
            got = self._rust_walk(croot, base, rest)
            if got:
                return got
        if first in ("crate", "self", "super"):
            return []
        return None if from_import else []

    def _rust_walk(self, root: str, base: list[str], rest: list[str]) -> list[Outcome]:
        items = self.t.rust_items()
        here = list(base)
        for i, seg in enumerate(rest):
            defs = items.get((root, tuple(here)), {}).get(seg, [])
            left = rest[i + 1:]
            types = [d for d in defs if d.kind in TYPES]
            if not left:
                callables = [d for d in defs if d.kind in CALLABLE]
                if len(callables) == 1:
                    return _one(callables[0], "module-path")
                if callables:
                    types = [d for d in callables if d.kind != "impl"]
                    return _one(types[0], "module-path") if len(types) == 1 else _many(callables, "module-path")
                return []
            if types and len(left) == 1:
                return self._member(types[0], left[0], "module-path")
            if (root, tuple(here + [seg])) in items:
                here.append(seg)
                continue
            return []
        return []
