"""`quarry mcp`: the read-only code tools over the Model Context Protocol (stdio).

Every tool calls the function the matching CLI command calls (Searcher.search,
graph.query.callers/callees/impact/trace, graph.status.status, agents.gather)
and renders its domain objects compactly: `file:line`, name, signature and a
short snippet, full code only when asked, because every byte lands in the
agent's context. A QuarryError (unknown name, missing index, path outside the
repository) comes back as an MCP tool error carrying its one-line message;
the server keeps serving.

One Searcher stays open between calls (the model loads once); it follows new
index generations by itself, so `quarry watch` or `quarry index` runs are
seen by the next call.
"""

from __future__ import annotations

import json
import os
import threading
from functools import wraps
from pathlib import Path

from codequarry.errors import QuarryError, UserInputError, require

SNIPPET_LINES = 3
MAX_READ_LINES = 400

INSTRUCTIONS = (
    "codequarry indexes this repository for semantic code search and holds its call graph. "
    "Start with `search` (natural language or an identifier) or `gather` (a whole task's context "
    "within a token budget); follow calls with `callers`, `callees`, `impact` and `trace`; read exact "
    "lines with `read`. Results are `file:line` plus a short snippet; pass full_code=true or use `read` "
    "for the code. NAME arguments take a qualname (`Store.open`), a bare name, or `file:line`."
)


class _Session:
    """The repository the server answers for, and its warm Searcher."""

    def __init__(self, repo: Path | None, index_dir: Path | None) -> None:
        self.repo, self.index_dir = repo, index_dir
        self._searcher = None
        self.lock = threading.Lock()  # tools run on worker threads; one SQLite connection

    def searcher(self):
        if self._searcher is None:
            from codequarry.search.searcher import Searcher

            self._searcher = Searcher.open(self.repo, index_dir=self.index_dir)
        return self._searcher

    def root(self) -> Path:
        """The repository root the index was built from (what `read` is confined to)."""
        from codequarry.graph.query import opened

        with opened(self.repo, self.index_dir) as db:
            recorded = db.get_meta("repo_root")
            return Path(recorded) if recorded else db.folder.parent


def _tool_errors(fn):
    """QuarryError -> an MCP tool error with its message (the SDK hides other exceptions' text)."""
    from mcp.server.mcpserver.exceptions import ToolError

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except QuarryError as exc:
            raise ToolError(exc.format_message()) from exc

    return wrapper


def _snippet(code: str, lines: int = SNIPPET_LINES) -> str:
    body = [ln for ln in code.splitlines() if ln.strip()][:lines]
    return "\n".join("    " + ln.strip()[:160] for ln in body)


def _sym(s) -> str:
    sig = f"  {s.signature.strip()[:160]}" if s.signature else ""
    return f"{s.file}:{s.line}  {s.qualname}  ({s.kind}){sig}"


def format_search(results, full_code: bool, repos: list[str] | None = None) -> str:
    """Each hit as `file:line-end  qualname  (kind, score)  signature` plus a snippet (or its code);
    with `repos` (one name per result, as org search gives them) the location reads `repo:file:line`."""
    if not results:
        return "no results"
    out = []
    for i, r in enumerate(results):
        c = r.chunk
        where = f"{repos[i]}:" if repos else ""
        sig = f"  {c.signature.strip()[:160]}" if c.signature else ""
        out.append(f"{where}{c.file}:{c.line_start}-{c.line_end}  {c.qualname or c.name}  "
                   f"({c.kind}, {r.score:.3f}){sig}")
        out.append(f"```{c.language}\n{c.code.rstrip()}\n```" if full_code else _snippet(c.code))
    return "\n".join(out)


def format_edges(groups, direction: str) -> str:
    out = []
    for g in groups:
        out.append(_sym(g.symbol))
        if not g.edges:
            out.append("  (none)")
        for e in g.edges:
            tag = f"[{e.status} {e.confidence:.2f} {e.how}]"
            if direction == "callers":
                out.append(f"  {e.caller.file}:{e.line}  {e.caller.qualname}  {tag}")
            else:
                where = f"{e.target.location} {e.target.qualname}" if e.target else "-"
                called = f"{e.receiver}.{e.callee}" if e.receiver not in ("", "?") else e.callee
                out.append(f"  {g.symbol.file}:{e.line}  {called} -> {where}  {tag}")
    return "\n".join(out)


def format_impact(results) -> str:
    out = []
    for r in results:
        out.append(f"impact of {_sym(r.symbol)}")
        for n in r.nodes:
            mark = " [test]" if n.test else ""
            out.append(f"  depth {n.depth}  {n.symbol.location}  {n.symbol.qualname}  "
                       f"(calls {n.via.qualname} at line {n.line}, {n.confidence:.2f}){mark}")
        if not r.nodes:
            out.append("  no callers found")
        out.append(f"  tests reaching it: {len(r.tests)}")
    return "\n".join(out)


def format_trace(paths, source: str, target: str) -> str:
    if not paths:
        return f"no call path from {source} to {target}"
    out = []
    for i, p in enumerate(paths, 1):
        out.append(f"path {i} ({'certain' if p.certain else 'through ambiguous calls'}, {p.confidence:.2f}):")
        out.append(f"  {p.steps[0].location}  {p.steps[0].qualname}")
        for step, before, line in zip(p.steps[1:], p.steps, p.lines):
            out.append(f"  -> {before.file}:{line} calls {step.qualname} ({step.location})")
    return "\n".join(out)


def read_lines(root: Path, path: str, start: int = 1, end: int | None = None) -> str:
    """Lines start..end of a file inside `root`, numbered; refuses anything that leads outside it."""
    if not path or os.path.isabs(path) or path.startswith("~"):
        raise UserInputError(f"give a path relative to the repository, not '{path}'")
    parts = Path(path).parts
    if ".." in parts:
        raise UserInputError(f"'{path}' leads outside the repository ('..' is refused)")
    real_root = Path(os.path.realpath(root))
    target = real_root / path
    real = Path(os.path.realpath(target))
    if not real.is_relative_to(real_root):  # a symlink pointing out
        raise UserInputError(f"'{path}' leads outside the repository (a symlink)")
    if not real.is_file():
        raise UserInputError(f"no file '{path}' in the repository")
    if start < 1:
        raise UserInputError("start must be at least 1")
    end = end if end is not None else start + MAX_READ_LINES - 1
    if end < start:
        raise UserInputError("end must not be before start")
    end = min(end, start + MAX_READ_LINES - 1)
    with open(real, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    if start > len(lines):
        raise UserInputError(f"'{path}' has only {len(lines)} lines")
    chosen = lines[start - 1:end]
    width = len(str(start + len(chosen) - 1))
    head = f"{path}:{start}-{start + len(chosen) - 1} (of {len(lines)} lines)"
    return head + "\n" + "\n".join(f"{n:>{width}}  {text}" for n, text in enumerate(chosen, start))


def read_only_server(instructions: str):
    """(an MCPServer named codequarry, a decorator registering a function as a read-only tool).

    The tool is named after the function (a trailing `_` dropped), described by its docstring, and
    answers a QuarryError as a tool error carrying its one line (`quarry org mcp` registers its tools
    the same way)."""
    require("mcp", "agents")
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    from codequarry import __version__

    server = MCPServer("codequarry", instructions=instructions, version=__version__, log_level="WARNING")
    ro = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

    def tool(fn):
        server.add_tool(_tool_errors(fn), name=fn.__name__.rstrip("_"), description=fn.__doc__, annotations=ro,
                        structured_output=False)
        return fn

    return server, tool


def build_server(repo: Path | None = None, index_dir: Path | None = None):
    """The MCPServer with the read-only tools registered; `serve` runs it over stdio."""
    session = _Session(repo, index_dir)
    server, tool = read_only_server(INSTRUCTIONS)

    @tool
    def search(query: str, k: int = 10, mode: str = "hybrid", language: str | None = None,
               kind: str | None = None, path: str | None = None, full_code: bool = False) -> str:
        """Find code in this repository by meaning or by identifier. `query` is natural language
        ("where are failed uploads retried") or a name ("retry_failed_uploads"). Returns the k best
        definitions as `file:line-end  qualname  (kind, score)  signature` plus a 3-line snippet;
        full_code=true returns whole bodies. Filters: language ("python"), kind ("function", "class",
        "method"), path (a glob such as "src/*.py"). mode: hybrid (default), dense or lexical."""
        with session.lock:
            s = session.searcher()
            results = s.search(query, k, mode, langs=[language] if language else (),
                               kinds=[kind] if kind else (), path=path)
            warn = "".join(f"warning: {w}\n" for w in s.warnings)
        return warn + format_search(results, full_code)

    @tool
    def callers(name: str) -> str:
        """Who calls NAME. NAME is a qualname ("UploadStore.upload"), a bare name (every definition of
        it, one group each) or "file:line". Lists each call site as `file:line  caller` with how the
        call was resolved and its confidence (ambiguous calls included, marked)."""
        from codequarry.graph.query import callers as query

        return format_edges(query(name, repo=session.repo, index_dir=session.index_dir), "callers")

    @tool
    def callees(name: str) -> str:
        """What NAME calls: each call site `file:line  callee -> definition file:line`, or `-` when the
        callee is outside the repository or unknown (the tag says why). NAME as for `callers`."""
        from codequarry.graph.query import callees as query

        return format_edges(query(name, repo=session.repo, index_dir=session.index_dir), "callees")

    @tool
    def impact(name: str, depth: int = 3) -> str:
        """What a change to NAME may break: its callers, their callers, ... up to `depth` calls away,
        nearest first, with the tests that reach NAME flagged [test]. Use before editing a function."""
        from codequarry.graph.query import impact as query

        return format_impact(query(name, depth, repo=session.repo, index_dir=session.index_dir))

    @tool
    def trace(source: str, target: str) -> str:
        """The shortest call path(s) from SOURCE to TARGET (both NAMEs as for `callers`): how one
        piece of code reaches another."""
        from codequarry.graph.query import trace as query

        return format_trace(query(source, target, repo=session.repo, index_dir=session.index_dir), source, target)

    @tool
    def gather(query: str, tokens: int = 4000) -> str:
        """Everything worth reading for a task, in one call: the definitions search finds for `query`,
        plus what they call and what calls them (ranked), without duplicates, in file order, cut to
        `tokens` (estimated as characters/4). Returns Markdown with full code."""
        from codequarry.agents.gather import gather as run

        with session.lock:
            return run(query, tokens, searcher=session.searcher()).to_markdown()

    @tool
    def read(path: str, start: int = 1, end: int | None = None) -> str:
        """Lines start..end (1-based, inclusive; at most 400) of a file in this repository, numbered.
        `path` is relative to the repository root, as other tools print it."""
        return read_lines(session.root(), path, start, end)

    @tool
    def status() -> str:
        """What the index holds (files, chunks per language, call edges, last run) and whether it is
        behind the working tree (new, changed, deleted files)."""
        from codequarry.graph.status import status as query

        return json.dumps(query(repo=session.repo, index_dir=session.index_dir).to_json())

    return server


def serve(repo: Path | None = None, index_dir: Path | None = None) -> None:
    build_server(repo, index_dir).run("stdio")
