"""The repository as the resolver sees it: definitions, imports and bases, indexed by name and place.

Built from the index (update.load_tables); pure data, no SQL.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from .facts import Import
from .modules import ModuleMap

CALLABLE = frozenset({"function", "method", "class", "struct", "enum", "interface", "trait", "type", "macro"})
# Rust calls functions and tuple structs; a type alias, enum or trait named like the call is not it
# (`Ok(x)` is the prelude's, not an associated `type Ok = ()`).
_RUST_CALLABLE = frozenset({"function", "method", "struct"})


def callable_kinds(language: str) -> frozenset[str]:
    return _RUST_CALLABLE if language == "rust" else CALLABLE


TYPES = frozenset({"class", "struct", "enum", "interface", "trait", "type"})


@dataclass(frozen=True, slots=True)
class Def:
    id: int
    file: str
    language: str
    kind: str
    name: str
    qualname: str
    line: int

    @property
    def sep(self) -> str:
        return "::" if self.language in ("rust", "cpp") else "."

    @property
    def parts(self) -> list[str]:
        return self.qualname.split(self.sep)


@dataclass(frozen=True, slots=True)
class Caller:
    file: str
    language: str
    kind: str
    qualname: str
    sep: str

    @property
    def owner(self) -> str | None:
        """The class a method belongs to (its qualname without the last part)."""
        if self.kind == "method" and self.sep in self.qualname:
            return self.qualname.rsplit(self.sep, 1)[0]
        if self.kind in TYPES:
            return self.qualname
        return None


@dataclass(frozen=True, slots=True)
class Outcome:
    target: int | None
    status: str
    confidence: float
    how: str


class Tables:
    """The repository's definitions, imports and bases, indexed for the resolver."""

    def __init__(self, defs: list[Def], imports: dict[str, list[Import]], bases: dict[int, list[str]],
                 modules: ModuleMap) -> None:
        self.modules = modules
        self.imports = imports
        self.bases = bases
        self.by_id = {d.id: d for d in defs}
        self.by_name: dict[str, list[Def]] = defaultdict(list)
        self.by_file: dict[str, list[Def]] = defaultdict(list)
        self.by_qual: dict[str, list[Def]] = defaultdict(list)
        self.at: dict[tuple[str, str], list[Def]] = defaultdict(list)  # (file, qualname)
        for d in defs:
            self.by_name[d.name].append(d)
            self.by_file[d.file].append(d)
            self.by_qual[d.qualname].append(d)
            self.at[(d.file, d.qualname)].append(d)
        # Rust: a type's traits, from impl chunks named `Trait for Type`.
        self.traits = rust_traits([d.qualname for d in defs if d.language == "rust" and d.kind == "impl"])
        self._rust_items: dict[tuple[str, tuple[str, ...]], dict[str, list[Def]]] | None = None

    def top(self, file: str, name: str, kinds=CALLABLE) -> Def | None:
        return next((d for d in self.at.get((file, name), ()) if d.kind in kinds), None)

    def in_files(self, files, name: str, kinds=CALLABLE) -> list[Def]:
        return [d for f in files for d in self.at.get((f, name), ()) if d.kind in kinds]

    def rust_items(self) -> dict[tuple[str, tuple[str, ...]], dict[str, list[Def]]]:
        """(crate root, module path) → item name → definitions, inline `mod`s included."""
        if self._rust_items is None:
            self._rust_items = defaultdict(lambda: defaultdict(list))
            for d in self.by_id.values():
                if d.language != "rust" or d.kind in ("method", "impl"):
                    continue
                root, mod = ModuleMap.rust_crate(d.file)
                *inline, name = d.qualname.split("::")
                self._rust_items[(root, tuple(mod + inline))][name].append(d)
        return self._rust_items



def rust_traits(impl_quals: list[str]) -> dict[str, list[str]]:
    """Type → traits it implements, from impl chunk qualnames like `fmt::Display for Store`."""
    out: dict[str, list[str]] = defaultdict(list)
    for q in impl_quals:
        m = re.match(r"^(.+?) for (\w+)$", q.split("::")[-1] if " for " not in q else q)
        if m:
            trait = re.sub(r"<.*>", "", m.group(1)).replace("::", ".").strip()
            out[m.group(2)].append(trait)
    return out
