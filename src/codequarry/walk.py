"""Walk a repository: which files are worth indexing.

Honours .gitignore files at every level (pathspec's gitwildmatch), skips VCS,
vendored and generated folders, binaries, minified and oversized files, and
never follows a symlink, so every file is yielded once, under its real path.
A tree that changes while it is walked costs the entries that changed, never
the run. Skips are counted with their reason so `quarry index --json` can
report them.
"""

from __future__ import annotations

import errno
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR, S_ISREG

import pathspec

from codequarry.errors import UserInputError

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
    try:
        return (d / "pyvenv.cfg").is_file()
    except OSError:  # a folder we may not look into is no virtualenv we can skip by
        return False


def _load_ignore(d: Path) -> pathspec.PathSpec | None:
    gi = d / ".gitignore"
    try:
        # Like git, never through a symlink (nor a fifo, which would block the read).
        if not S_ISREG(gi.lstat().st_mode):
            return None
        lines = gi.read_text("utf-8", errors="replace").splitlines()
    except (OSError, ValueError):
        return None
    return _compile(lines)


def _compile(lines: list[str]) -> pathspec.PathSpec:
    """A spec from gitignore lines, dropping the ones that are not valid patterns (as git does)."""
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except Exception:  # pathspec raises its own errors and re.error; one bad line must not cost the rest
        return pathspec.GitIgnoreSpec.from_lines([line for line in lines if _valid_pattern(line)])


def _valid_pattern(line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except Exception:
        return False
    return True


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

    Symlinks are never followed: one pointing inside the repository names a
    file or folder the walk reaches at its real path (so nothing is indexed
    twice or under a link's name), one pointing outside is out of scope, and
    a dangling or looping one points nowhere. Each is counted as a skip.
    Entries deleted or replaced while the walk runs are skipped as "vanished".
    """
    # realpath, not Path.resolve(): resolve raises RuntimeError on a symlink loop.
    repo = Path(os.path.realpath(repo))
    report = report if report is not None else WalkReport()
    visited: set[tuple[int, int]] = set()
    check_options(max_bytes, exclude)
    # Each entry: (folder, its path relative to repo, the specs in force there);
    # a spec matches paths relative to the folder it was found in.
    base = [("", pathspec.GitIgnoreSpec.from_lines(exclude))] if exclude else []
    stack: list[tuple[Path, str, list[tuple[str, pathspec.PathSpec]]]] = [(repo, "", base)]
    while stack:
        d, rel_d, specs = stack.pop()
        try:
            st = d.lstat()
        except OSError as exc:
            report.skipped[_reason(exc)] += 1
            continue
        if not S_ISDIR(st.st_mode):  # replaced by a file or a link since it was listed
            report.skipped["vanished"] += 1
            continue
        if (st.st_dev, st.st_ino) in visited:  # a bind mount showing a folder twice
            continue
        visited.add((st.st_dev, st.st_ino))
        spec = _load_ignore(d)
        if spec is not None:
            specs = [*specs, (rel_d, spec)]
        try:
            with os.scandir(d) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            report.skipped[_reason(exc)] += 1
            continue
        subdirs = []
        for e in entries:
            rel = f"{rel_d}/{e.name}" if rel_d else e.name
            try:
                is_link = e.is_symlink()
                is_dir = not is_link and e.is_dir(follow_symlinks=False)
                is_file = not is_link and not is_dir and e.is_file(follow_symlinks=False)
            except OSError as exc:
                report.skipped[_reason(exc)] += 1
                continue
            # Ignore rules first: an ignored entry is not even looked at (git sees a link as a file).
            if _ignored(rel, is_dir, specs):
                if not is_dir:
                    report.skipped["ignored"] += 1
                continue
            if is_link:
                report.skipped[_link_reason(e.path, repo)] += 1
                continue
            if is_dir:
                if e.name in SKIP_DIRS or _is_venv(Path(e.path)):
                    continue
                subdirs.append((Path(e.path), rel))
                continue
            if not is_file:  # sockets, fifos, devices
                continue
            report.seen += 1
            if not accept(rel):
                report.skipped["unsupported type"] += 1
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError as exc:
                report.skipped[_reason(exc)] += 1
                continue
            if not S_ISREG(st.st_mode):  # replaced by a folder or a link since it was listed
                report.skipped["vanished"] += 1
                continue
            if st.st_size > max_bytes:
                report.skipped["too large"] += 1
                continue
            yield SourceFile(Path(e.path), rel, st.st_size, st.st_mtime_ns)
        for sd, rel in reversed(subdirs):
            stack.append((sd, rel, specs))


def check_options(max_bytes: int, exclude: tuple[str, ...] = ()) -> None:
    """Refuse walk options that cannot be meant: a size limit below one byte would skip every file."""
    if not isinstance(max_bytes, int) or max_bytes < 1:
        raise UserInputError(f"--max-bytes must be a positive number of bytes, not {max_bytes}")
    bad = [p for p in exclude if not _valid_pattern(p)]
    if bad:
        raise UserInputError(f"invalid --exclude pattern '{bad[0]}' (gitignore syntax)")


def _reason(exc: OSError) -> str:
    """Skip reason for an entry that could not be looked at: gone (or swapped for a link) or unreadable."""
    return "vanished" if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError)) \
        or exc.errno == errno.ELOOP else "unreadable"


def _link_reason(path: str, repo: Path) -> str:
    try:
        os.stat(path)  # follows the link: ELOOP for a loop, ENOENT when dangling
    except OSError:
        return "broken symlink"
    target = Path(os.path.realpath(path))
    return "symlink inside repository" if target.is_relative_to(repo) else "symlink outside repository"


def _ignored(rel: str, is_dir: bool, specs) -> bool:
    for base, spec in specs:
        sub = rel[len(base) + 1 :] if base else rel
        if spec.match_file(sub + "/" if is_dir else sub):
            return True
    return False


def read_source(path: Path) -> tuple[str | None, str | None]:
    """Return (text, None) or (None, reason) — reasons end up in the skip report.

    A file deleted, or replaced by a folder, a symlink or a fifo since the walk
    listed it is "vanished": it is neither followed nor waited on.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return None, _reason(exc)
    try:
        if not S_ISREG(os.fstat(fd).st_mode):
            return None, "vanished"
        chunks = []
        while block := os.read(fd, 1 << 20):
            chunks.append(block)
        data = b"".join(chunks)
    except OSError as exc:
        return None, _reason(exc)
    finally:
        os.close(fd)
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
