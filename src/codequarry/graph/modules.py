"""Which files of the repository a module name refers to, per language.

Every function answers with repository paths; an empty answer means the
module is not in the repository (the standard library, a dependency), and
the resolver then calls the edge external rather than guessing.

- Python: a file's dotted name counts from its nearest folder that is not a
  package (no `__init__.py`), so `src/pkg/store.py` is `pkg.store`; relative
  imports count from the importing file's package. Folders without
  `__init__.py` (namespace packages) match by their full dotted path suffix
  of two or more parts.
- JavaScript/TypeScript: relative specifiers with the usual extensions and
  `index` files (`./x.js` written for `x.ts` too); `@/` and `~/` try `src/`
  and the root; package names are external.
- Go: the import path minus the `go.mod` module path is a folder; without
  go.mod, a path whose host part has a dot matches a folder by suffix.
- Java: `com.x.Store` is a file ending `com/x/Store.java`; `com.x` a folder.
- Rust: `crate::`/`self::`/`super::` paths from the importing file's module
  (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`); a first segment naming a
  crate folder of the workspace (`crates/foo/src`) continues there.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from functools import lru_cache

_JS_EXTS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")


class ModuleMap:
    def __init__(self, files: dict[str, str], go_module: str = "") -> None:
        """`files`: repository path → language, every indexed file."""
        self.files = files
        self.go_module = go_module.strip("/")
        self.dirs: dict[str, list[str]] = defaultdict(list)
        for path in files:
            self.dirs[posixpath.dirname(path)].append(path)
        self._py: dict[str, list[str]] | None = None
        self._py_suffix: dict[str, list[str]] | None = None
        self.python_module = lru_cache(maxsize=None)(self._python_module)
        self.js_module = lru_cache(maxsize=None)(self._js_module)
        self.go_package = lru_cache(maxsize=None)(self._go_package)
        self.java_path = lru_cache(maxsize=None)(self._java_path)

    def same_dir(self, path: str, lang: str | None = None) -> list[str]:
        """Files in the folder of `path` (Go's package, Java's package), in `lang`."""
        return [p for p in self.dirs.get(posixpath.dirname(path), ())
                if lang is None or _family(self.files[p]) == _family(lang)]

    # -- Python ----------------------------------------------------------------------------------
    def _python_names(self) -> None:
        packages = {posixpath.dirname(p) for p, lang in self.files.items()
                    if lang == "python" and re.search(r"(^|/)__init__\.pyi?$", p)}
        self._py, self._py_suffix = defaultdict(list), defaultdict(list)
        for path, lang in self.files.items():
            if lang != "python":
                continue
            parts = re.sub(r"\.pyi?$", "", path).split("/")
            if parts[-1] == "__init__":
                parts.pop()
            own = [] if path.endswith(("__init__.py", "__init__.pyi")) else parts[-1:]
            folder, names = posixpath.dirname(path), []
            while folder and folder in packages:  # climb while the folder is a package
                names.insert(0, posixpath.basename(folder))
                folder = posixpath.dirname(folder)
            dotted_name = ".".join(names + own)
            if dotted_name:
                self._py[dotted_name].append(path)
            for k in range(len(parts) - 1):  # namespace packages: suffixes of two parts or more
                self._py_suffix[".".join(parts[k:])].append(path)

    def _python_module(self, importer: str, module: str) -> tuple[str, ...]:
        if module.startswith("."):
            dots = len(module) - len(module.lstrip("."))
            base = posixpath.dirname(importer)
            for _ in range(dots - 1):
                base = posixpath.dirname(base)
            rest = module[dots:].replace(".", "/")
            stem = posixpath.join(base, rest) if rest else base
            found = [p for p in (f"{stem}.py", f"{stem}.pyi", posixpath.join(stem, "__init__.py"))
                     if p.lstrip("/") in self.files]
            return tuple(p.lstrip("/") for p in found)
        if self._py is None:
            self._python_names()
        got = self._py.get(module)
        if not got and "." in module:
            got = self._py_suffix.get(module)
        return tuple(_nearest(importer, got or ()))

    # -- JavaScript / TypeScript -----------------------------------------------------------------
    def _js_module(self, importer: str, spec: str) -> tuple[str, ...]:
        if spec.startswith("."):
            bases = [posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))]
        elif spec.startswith(("@/", "~/")):
            bases = [posixpath.join("src", spec[2:]), spec[2:]]
        else:
            return ()
        for base in bases:
            base = base.lstrip("./") if base.startswith("./") else base
            stems = [base]
            if re.search(r"\.[mc]?jsx?$", base):  # TypeScript ESM writes './x.js' for x.ts
                stems.append(re.sub(r"\.[mc]?jsx?$", "", base))
            for stem in stems:
                for cand in [stem, *(stem + e for e in _JS_EXTS), *(f"{stem}/index{e}" for e in _JS_EXTS)]:
                    if cand in self.files:
                        return (cand,)
        return ()

    # -- Go --------------------------------------------------------------------------------------
    def _go_package(self, path: str) -> tuple[str, ...]:
        folder = None
        if self.go_module:  # go.mod says which paths are this module's
            if path == self.go_module or path.startswith(self.go_module + "/"):
                folder = path[len(self.go_module):].strip("/")
        elif "." in path.split("/", 1)[0]:
            parts = path.split("/")
            for k in range(1, len(parts)):
                cand = "/".join(parts[k:])
                if any(self.files[p] == "go" for p in self.dirs.get(cand, ())):
                    folder = cand
                    break
        if folder is None:
            return ()
        return tuple(p for p in self.dirs.get(folder, ()) if self.files[p] == "go")

    # -- Java ------------------------------------------------------------------------------------
    def _java_path(self, dotted: str) -> tuple[tuple[str, ...], bool]:
        """(files, is_class): the file of class `a.b.C`, else the files of package `a.b`."""
        as_file = dotted.replace(".", "/") + ".java"
        files = [p for p, lang in self.files.items() if lang == "java" and (p == as_file or p.endswith("/" + as_file))]
        if files:
            return tuple(files), True
        folder = dotted.replace(".", "/")
        dirs = [d for d in self.dirs if d == folder or d.endswith("/" + folder)]
        return tuple(p for d in dirs for p in self.dirs[d] if self.files[p] == "java"), False

    # -- Rust ------------------------------------------------------------------------------------
    @staticmethod
    def rust_crate(path: str) -> tuple[str, list[str]]:
        """(crate root folder, module path) of a Rust file: `crates/x/src/a/mod.rs` → ('crates/x/src', ['a'])."""
        parts = path.split("/")
        if "src" in parts:
            i = len(parts) - 1 - parts[::-1].index("src")
            root, rest = "/".join(parts[: i + 1]), parts[i + 1:]
        else:
            root, rest = "/".join(parts[:-1]), parts[-1:]
        rest[-1] = re.sub(r"\.rs$", "", rest[-1])
        if rest[-1] == "mod" or (len(rest) == 1 and rest[0] in ("lib", "main")):
            rest.pop()
        return root, rest

    def rust_crates(self) -> dict[str, str]:
        """Crate folder name (with '-' as '_') → its crate root, for the workspace's crates."""
        out: dict[str, str] = {}
        for path, lang in self.files.items():
            if lang == "rust":
                root, _ = self.rust_crate(path)
                if root.endswith("src"):
                    name = posixpath.basename(posixpath.dirname(root)) or ""
                    if name:
                        out.setdefault(name.replace("-", "_"), root)
        return out


def _family(lang: str) -> str:
    return {"tsx": "typescript", "javascript": "typescript"}.get(lang, lang)


def _nearest(importer: str, paths) -> list[str]:
    """Of several files with one module name, the ones sharing the longest folder prefix with the importer."""
    paths = list(paths)
    if len(paths) <= 1:
        return paths
    score = {p: len(posixpath.commonpath([importer, p])) if importer else 0 for p in paths}
    best = max(score.values())
    return [p for p in paths if score[p] == best]
