"""Walk a repository: which files are worth indexing.

Honours .gitignore files at every level (pathspec's gitwildmatch), skips VCS,
vendored and generated folders, binaries, minified and oversized files, and
never follows a symlink out of the repository or round a loop. Skips are
counted with their reason so `quarry index --json` can report them.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".quarry", "node_modules", "bower_components", "vendor",
        "third_party", "target", "dist", "build", "out", "__pycache__", ".mypy_cache",
        ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".venv", "venv", "env", ".env",
        ".idea", ".vscode", ".gradle", ".next", ".nuxt", "coverage", "site-packages",
    }
)
DEFAULT_MAX_BYTES = 1_000_000
# A line this long is not written by a person: minified or generated.
MINIFIED_LINE = 1_000


@dataclass(slots=True)
class WalkReport:
    seen: int = 0
    skipped: Counter = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path  # absolute
    rel: str  # repo-relative, POSIX
    size: int
    mtime_ns: int


def _is_venv(d: Path) -> bool:
    return (d / "pyvenv.cfg").is_file()


def _load_ignore(d: Path) -> pathspec.PathSpec | None:
    gi = d / ".gitignore"
    if not gi.is_file():
        return None
    try:
        lines = gi.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def looks_binary(head: bytes) -> bool:
    return b"\x00" in head


def looks_minified(text: str) -> bool:
    lines = text.splitlines()
    if not lines:
        return False
    longest = max(len(line) for line in lines)
    return longest > MINIFIED_LINE and len(text) / len(lines) > 300


def walk(
    repo: Path,
    *,
    accept=lambda rel: True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    report: WalkReport | None = None,
    exclude: tuple[str, ...] = (),
):
    """Yield SourceFile for each candidate file under `repo`, sorted per folder.

    `accept(rel)` decides by name (e.g. "is this a language we chunk");
    content checks (binary, minified) happen later, when the file is read.
    `exclude` holds extra gitignore-style patterns, relative to the root.
    """
    repo = repo.resolve()
    report = report if report is not None else WalkReport()
    visited: set[tuple[int, int]] = set()
    # Each entry: (folder relative to repo, its spec); a spec matches paths relative to its folder.
    base = [("", pathspec.GitIgnoreSpec.from_lines(exclude))] if exclude else []
    stack: list[tuple[Path, list[tuple[str, pathspec.PathSpec]]]] = [(repo, base)]
    while stack:
        d, specs = stack.pop()
        try:
            st = d.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in visited:
            continue
        visited.add((st.st_dev, st.st_ino))
        rel_d = d.relative_to(repo).as_posix() if d != repo else ""
        spec = _load_ignore(d)
        if spec is not None:
            specs = [*specs, (rel_d, spec)]
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            report.skipped["unreadable"] += 1
            continue
        subdirs = []
        for e in entries:
            rel = f"{rel_d}/{e.name}" if rel_d else e.name
            try:
                is_link = e.is_symlink()
                if is_link:
                    target = Path(e.path).resolve()
                    if not target.is_relative_to(repo):
                        report.skipped["symlink outside repository"] += 1
                        continue
                is_dir = e.is_dir()
            except OSError:
                report.skipped["unreadable"] += 1
                continue
            if _ignored(rel, is_dir, specs):
                if not is_dir:
                    report.skipped["ignored"] += 1
                continue
            if is_dir:
                if e.name in SKIP_DIRS or _is_venv(Path(e.path)):
                    continue
                subdirs.append(Path(e.path))
                continue
            if not e.is_file():
                continue
            report.seen += 1
            if not accept(rel):
                report.skipped["unsupported type"] += 1
                continue
            st = e.stat()
            if st.st_size > max_bytes:
                report.skipped["too large"] += 1
                continue
            if is_link:
                real = (st.st_dev, st.st_ino)
                if real in visited:
                    continue
                visited.add(real)
            yield SourceFile(Path(e.path), rel, st.st_size, st.st_mtime_ns)
        for sd in reversed(subdirs):
            stack.append((sd, specs))


def _ignored(rel: str, is_dir: bool, specs) -> bool:
    for base, spec in specs:
        sub = rel[len(base) + 1 :] if base else rel
        if spec.match_file(sub + "/" if is_dir else sub):
            return True
    return False


def read_source(path: Path) -> tuple[str | None, str | None]:
    """Return (text, None) or (None, reason) — reasons end up in the skip report."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, "unreadable"
    if looks_binary(data[:8192]):
        return None, "binary"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Latin-1 never fails; but a file that is not UTF-8 is rarely source we want.
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            return None, "undecodable"
    if text.startswith("\ufeff"):
        text = text[1:]
    if looks_minified(text):
        return None, "minified"
    return text, None
