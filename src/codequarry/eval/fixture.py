"""Repository fixtures: queries with gold definitions over a real code base.

A fixture is one JSON file::

    {
      "name": "stdlib-3.11",
      "repository": {"path": "stdlib:3.11", "version": "3.11.7",
                     "files": ["json/decoder.py", "shutil.py", ...], "tree_hash": "<sha256>"},
      "queries": [
        {"id": "shutil-copymode", "query": "copy a file's permission bits", "category": "behaviour",
         "split": "dev", "gold": [{"file": "shutil.py", "name": "copymode", "lines": [290, 330]}]}
      ]
    }

`repository.path` is a folder relative to the fixture file, an absolute
folder, or `stdlib:X.Y` — the running interpreter's standard library, which
must be Python X.Y (`version` pins the exact release the gold was written
against; another patch release only warns). With `files`, the harness copies
exactly those files into the cache and indexes the copy, so runs are fast
and nothing is written into the real tree. `commit` (for git folders) and
`tree_hash` (sha256 of the selected files) are checked and warn on drift.

`repository.path` may also be `repos:<name>`: a third-party repository
fetched by `bench/fetch_repos.py` into `$QUARRY_REPOS_DIR/<name>` (default
`<project>/build/repos/<name>`). Such fixtures (one per repository, see
FIXTURE_FORMAT.md) carry the repository's main `language` and a `split`
that every query without its own inherits.

A gold `name` is the definition's qualname (`TemporaryDirectory.cleanup`,
`urlsplit`). A result matches a gold when the files are equal and the name
equals the result's qualname, or its `parent` (a window of a long
definition). `--strict` also requires the result's lines to overlap the
gold's `lines` when the gold has them. Each gold counts once: a second
result matching an already-found gold is not relevant. A gold without a
`name` is a relevant file only: it counts for the file-level metrics
(files ranked by their best chunk, relevance = the gold's `grade`) and not
for the definition-level ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from codequarry.errors import UserInputError
from codequarry.eval.cache import cache_dir, slug

# The stdlib fixture's categories, then the repository fixtures' (FIXTURE_FORMAT.md).
STDLIB_CATEGORIES = ("identifier", "behaviour", "conceptual", "negation")
REPOSITORY_CATEGORIES = ("architecture", "semantic", "symbol")
CATEGORIES = STDLIB_CATEGORIES + REPOSITORY_CATEGORIES
SPLITS = ("dev", "test")
REPOS_PREFIX = "repos:"


@dataclass(frozen=True)
class Gold:
    file: str
    name: str | None  # None: a relevant file, not a definition
    lines: tuple[int, int] | None = None
    grade: int = 1

    def matches(self, chunk, strict: bool = False) -> bool:
        if self.name is None or chunk.file != self.file:
            return False
        # A window of a long definition keeps the definition's name and has it as parent.
        window = chunk.parent == self.name and chunk.name == self.name.rsplit(".", 1)[-1]
        if chunk.qualname != self.name and not window:
            return False
        if strict and self.lines is not None:
            return chunk.line_start <= self.lines[1] and chunk.line_end >= self.lines[0]
        return True


@dataclass(frozen=True)
class FixtureQuery:
    id: str
    text: str
    gold: tuple[Gold, ...]
    category: str | None = None
    split: str | None = None
    language: str | None = None  # the repository's main language, when the fixture names one

    @property
    def qrels(self) -> dict[str, int]:
        """Definition-level judgements: the golds with a name (empty when the answer is files only)."""
        return {f"g{j}": g.grade for j, g in enumerate(self.gold) if g.name is not None}

    @property
    def file_qrels(self) -> dict[str, int]:
        """File-level judgements: every gold's file, at its best grade."""
        out: dict[str, int] = {}
        for g in self.gold:
            out[g.file] = max(out.get(g.file, 0), g.grade)
        return out

    @staticmethod
    def judge_files(chunks) -> list[str]:
        """Result chunks → the files they come from, each at the rank of its best chunk."""
        return list(dict.fromkeys(c.file for c in chunks))

    def judge(self, chunks, strict: bool = False) -> list[str]:
        """Result chunks → ids for the metrics: `gJ` for the first hit on gold J, else unique `rN`."""
        used: set[int] = set()
        out = []
        for n, chunk in enumerate(chunks):
            hit = next((j for j, g in enumerate(self.gold) if j not in used and g.matches(chunk, strict)), None)
            if hit is None:
                out.append(f"r{n}")
            else:
                used.add(hit)
                out.append(f"g{hit}")
        return out


@dataclass
class Fixture:
    path: Path
    name: str
    repository: dict
    queries: list[FixtureQuery]
    hash: str
    description: str = ""
    language: str | None = None
    split: str | None = None  # the whole repository's split (repository fixtures)
    warnings: list[str] = field(default_factory=list)

    def select(self, split: str | None = None, limit: int | None = None) -> list[FixtureQuery]:
        qs = [q for q in self.queries if split is None or q.split == split]
        return qs[:limit] if limit is not None else qs

    def describe(self, split: str | None, n_queries: int) -> dict:
        return {
            "kind": "fixture", "name": self.name, "split": split or "all", "path": str(self.path),
            "hash": self.hash, "queries": n_queries, "repository": self.repository,
        }


def _fail(path: Path, msg: str) -> UserInputError:
    return UserInputError(f"{path}: {msg}")


def load_fixture(path: str | Path) -> Fixture:
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserInputError(f"no such fixture file: {path}")
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("repository"), dict):
        raise _fail(path, "needs an object with 'repository' ({'path': ...}) and 'queries'")
    repo = data["repository"]
    if not isinstance(repo.get("path"), str) or not repo["path"]:
        raise _fail(path, "'repository.path' must be a folder or 'stdlib:X.Y'")
    if "files" in repo and not (isinstance(repo["files"], list) and all(isinstance(f, str) for f in repo["files"])):
        raise _fail(path, "'repository.files' must be a list of relative paths")
    fx_split = data.get("split")
    if fx_split is not None and fx_split not in SPLITS:
        raise _fail(path, f"split must be 'dev' or 'test', not {fx_split!r}")
    language = data.get("language")
    if language is not None and not isinstance(language, str):
        raise _fail(path, "'language' must be a string")
    items = data.get("queries")
    if not isinstance(items, list) or not items:
        raise _fail(path, "'queries' must be a non-empty list")
    queries: list[FixtureQuery] = []
    seen: set[str] = set()
    for n, q in enumerate(items):
        where = f"query #{n + 1}"
        if not isinstance(q, dict):
            raise _fail(path, f"{where} is not an object")
        qid = str(q.get("id") or f"q{n + 1}")
        if qid in seen:
            raise _fail(path, f"duplicate query id '{qid}'")
        seen.add(qid)
        text = q.get("query")
        if not isinstance(text, str) or not text.strip():
            raise _fail(path, f"{where} ({qid}) has no 'query' text")
        split = q.get("split", fx_split)
        if split is not None and split not in SPLITS:
            raise _fail(path, f"{qid}: split must be 'dev' or 'test', not {split!r}")
        category = q.get("category")
        if category is not None and not isinstance(category, str):
            raise _fail(path, f"{qid}: category must be a string")
        golds = q.get("gold")
        if not isinstance(golds, list) or not golds:
            raise _fail(path, f"{qid}: 'gold' must be a non-empty list of {{'file', 'name'}}")
        gold = []
        for g in golds:
            if not isinstance(g, dict) or not isinstance(g.get("file"), str) or not g["file"]:
                raise _fail(path, f"{qid}: every gold needs a 'file' string")
            name = g.get("name")
            if name is not None and not (isinstance(name, str) and name):
                raise _fail(path, f"{qid}: a gold 'name' must be a non-empty string (or left out for a file)")
            grade = g.get("grade", 1)
            if not isinstance(grade, int) or isinstance(grade, bool) or grade < 1:
                raise _fail(path, f"{qid}: gold 'grade' must be a whole number >= 1")
            lines = g.get("lines")
            if lines is not None:
                if not (isinstance(lines, list) and len(lines) == 2 and all(isinstance(x, int) for x in lines)
                        and 1 <= lines[0] <= lines[1]):
                    raise _fail(path, f"{qid}: gold 'lines' must be [start, end] with 1 <= start <= end")
                lines = (lines[0], lines[1])
            gold.append(Gold(g["file"].replace("\\", "/").removeprefix("./"), name, lines, grade))
        queries.append(FixtureQuery(qid, text.strip(), tuple(gold), category, split, language))
    return Fixture(
        path=path.resolve(), name=str(data.get("name") or path.stem), repository=repo, queries=queries,
        hash=hashlib.sha256(raw).hexdigest()[:16], description=str(data.get("description", "")),
        language=language, split=fx_split,
    )


def load_fixtures(path: str | Path) -> list[Fixture]:
    """A fixture file, or a folder: every `*.json` fixture in it, by name."""
    p = Path(path).expanduser()
    if p.is_dir():
        files = sorted(p.glob("*.json"))
        if not files:
            raise UserInputError(f"{p}: no fixture files (*.json) in this folder")
        fixtures = [load_fixture(f) for f in files]
        names = [fx.name for fx in fixtures]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise UserInputError(f"{p}: two fixtures are named '{dup[0]}'")
        return fixtures
    return [load_fixture(p)]


# -- the repository ---------------------------------------------------------------------------


def stdlib_root(spec: str, pinned: str | None) -> tuple[Path, list[str]]:
    """`stdlib:X.Y` → (this interpreter's stdlib folder, warnings); wrong X.Y is an error."""
    want = spec.split(":", 1)[1].strip()
    have = f"{sys.version_info.major}.{sys.version_info.minor}"
    if want != have:
        raise UserInputError(
            f"fixture needs the Python {want} standard library; this interpreter is Python {have}"
        )
    warnings = []
    exact = ".".join(str(x) for x in sys.version_info[:3])
    if pinned and pinned != exact:
        warnings.append(f"fixture was written against Python {pinned}; this is {exact} (gold lines may shift)")
    return Path(sysconfig.get_paths()["stdlib"]), warnings


def repos_root() -> Path:
    """Where `repos:<name>` repositories live: $QUARRY_REPOS_DIR, else <project>/build/repos."""
    env = os.environ.get("QUARRY_REPOS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    from codequarry.eval.beir import _checkout_root

    project = _checkout_root() or Path.cwd()
    return project / "build" / "repos"


def tree_hash(root: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode())
        h.update(b"\x00")
        h.update((root / rel).read_bytes())
    return h.hexdigest()


def _git_head(folder: Path) -> str | None:
    try:
        r = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def resolve_repository(fx: Fixture, *, cache: Path | None = None) -> tuple[Path, dict]:
    """The folder to index, and provenance for the results (warnings in fx.warnings)."""
    spec = fx.repository
    raw = spec["path"]
    info: dict = {"spec": raw}
    if raw.startswith("stdlib:"):
        source, warns = stdlib_root(raw, spec.get("version"))
        fx.warnings.extend(warns)
        info["python"] = ".".join(str(x) for x in sys.version_info[:3])
    elif raw.startswith(REPOS_PREFIX):
        name = raw[len(REPOS_PREFIX):].strip()
        if not name or "/" in name or name in (".", ".."):
            raise UserInputError(f"{fx.path}: 'repository.path' {raw!r} must be 'repos:<folder name>'")
        source = repos_root() / name
        if not source.is_dir():
            raise UserInputError(
                f"{fx.path}: repository {source} does not exist; fetch it with bench/fetch_repos.py "
                f"(or set QUARRY_REPOS_DIR)"
            )
        if spec.get("source"):
            info["source_package"] = spec["source"]
        if spec.get("tree_hash"):
            info["tree_hash_pinned"] = spec["tree_hash"]
    else:
        p = Path(raw).expanduser()
        source = (p if p.is_absolute() else fx.path.parent / p).resolve()
        if not source.is_dir():
            raise UserInputError(f"{fx.path}: repository folder {source} does not exist")
        head = _git_head(source)
        info["commit"] = head
        if spec.get("commit") and head and not head.startswith(spec["commit"]):
            fx.warnings.append(f"fixture was written against commit {spec['commit']}; repository is at {head[:12]}")
    info["source"] = str(source)
    files = spec.get("files")
    if not files:
        return source, info
    missing = [f for f in files if not (source / f).is_file()]
    if missing:
        raise UserInputError(f"{fx.path}: repository files not found under {source}: {', '.join(missing[:5])}")
    digest = tree_hash(source, files)
    info["tree_hash"] = digest
    if spec.get("tree_hash") and spec["tree_hash"] != digest:
        fx.warnings.append("the pinned files differ from the ones the fixture was written against (tree_hash)")
    root = Path(cache) if cache is not None else cache_dir() / "fixtures" / "repos"
    dest = root / f"{slug(fx.name)}-{digest[:12]}"
    if not (dest / ".quarry-eval-complete").is_file():
        tmp = root / f".{dest.name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for rel in files:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, tmp / rel)
        (tmp / ".quarry-eval-complete").write_text(digest)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    info["copy"] = str(dest)
    return dest, info


def check_gold_files(fx: Fixture, repo: Path) -> None:
    bad = sorted({g.file for q in fx.queries for g in q.gold if not (repo / g.file).is_file()})
    if bad:
        raise UserInputError(f"{fx.path}: gold files not in the repository: {', '.join(bad[:5])}")


def missing_golds(fx: Fixture, chunks) -> list[tuple[str, Gold]]:
    """(query id, gold) for every gold no chunk matches (names only, not lines)."""
    by_file: dict[str, list] = {}
    for c in chunks:
        by_file.setdefault(c.file, []).append(c)
    out = []
    for q in fx.queries:
        for g in q.gold:
            if g.name is not None and not any(g.matches(c) for c in by_file.get(g.file, ())):
                out.append((q.id, g))
    return out


def default_index_dir(fx: Fixture, repo: Path) -> Path:
    key = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:12]
    return cache_dir() / "fixtures" / "index" / f"{slug(fx.name)}-{key}"
