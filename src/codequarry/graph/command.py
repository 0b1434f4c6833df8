"""`quarry callers | callees | impact | trace | status`: click commands, registered by cli.py.

Each parses its options, calls one function of codequarry.graph, and renders
the result: `file:line` for people, `--json` for agents.
"""

from __future__ import annotations

import json

import click

from codequarry.terminal import printable_line
from codequarry.options import index_dir_option as _index_dir_option
from codequarry.options import repo_option as _repo_option
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _say(line: str) -> None:
    """Human output quotes names and paths from indexed files: never let them drive the terminal."""
    click.echo(printable_line(line))


def _render_groups(groups, as_json: bool, empty: str, edge_line) -> None:
    """callers and callees: one group per matched definition, its edges below it (`edge_line(g, e)`)."""
    if as_json:
        _echo_json([g.to_json() for g in groups])
        return
    for g in groups:
        s = g.symbol
        _say(f"{s.qualname}  {s.location}  ({s.kind})")
        if not g.edges:
            _say(f"  {empty}")
        for e in g.edges:
            _say(f"  {edge_line(g, e)}")


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2))


def _edge_tag(e) -> str:
    return f"[{e.status} {e.confidence:.2f} {e.how}]"


def _called(e) -> str:
    return f"{e.receiver}.{e.callee}" if e.receiver not in ("", "?") else e.callee


@click.command("callers")
@click.argument("name")
@_repo_option
@_index_dir_option
@_json_option
def callers_command(name, repo, index_dir, as_json) -> None:
    """Who calls NAME (a qualname, a bare name, or file:line)."""
    from codequarry.graph.query import callers

    groups = callers(name, repo=repo, index_dir=index_dir)
    _render_groups(groups, as_json, "no callers found",
                   lambda g, e: f"{e.caller.file}:{e.line}  {e.caller.qualname}  {_called(e)}  {_edge_tag(e)}")


@click.command("callees")
@click.argument("name")
@click.option("--resolved", "only_resolved", is_flag=True, help="Only edges resolved to a definition.")
@_repo_option
@_index_dir_option
@_json_option
def callees_command(name, only_resolved, repo, index_dir, as_json) -> None:
    """What NAME calls, with where each call goes (or why it is not resolved)."""
    from codequarry.graph.query import callees

    groups = callees(name, repo=repo, index_dir=index_dir)
    if only_resolved:
        from codequarry.graph.model import EdgeGroup

        groups = tuple(EdgeGroup(g.symbol, tuple(e for e in g.edges if e.status == "resolved")) for g in groups)
    _render_groups(groups, as_json, "calls nothing",
                   lambda g, e: f"{g.symbol.file}:{e.line}  {_called(e)} -> "
                                f"{f'{e.target.location} {e.target.qualname}' if e.target else '-'}  {_edge_tag(e)}")


@click.command("impact")
@click.argument("name")
@click.option("--depth", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many calls away to follow callers.")
@click.option("--ambiguous", "include_ambiguous", is_flag=True,
              help="Also follow ambiguous edges (calls that may reach NAME).")
@_repo_option
@_index_dir_option
@_json_option
def impact_command(name, depth, include_ambiguous, repo, index_dir, as_json) -> None:
    """What a change to NAME may break: its callers, theirs, ... DEPTH deep; tests flagged."""
    from codequarry.graph.query import impact

    results = impact(name, depth, include_ambiguous=include_ambiguous, repo=repo, index_dir=index_dir)
    if as_json:
        _echo_json([r.to_json() for r in results])
        return
    for r in results:
        s = r.symbol
        _say(f"impact of {s.qualname}  {s.location}  (depth {r.depth})")
        if not r.nodes:
            _say("  no callers found")
        for n in r.nodes:
            mark = "  [test]" if n.test else ""
            _say(f"  {n.depth}  {n.symbol.location}  {n.symbol.qualname}  "
                       f"calls {n.via.qualname} at {n.symbol.file}:{n.line}  ({n.confidence:.2f}){mark}")
        tests = r.tests
        _say(f"  tests reaching it: {len(tests)}" + (
            "" if not tests else "  " + ", ".join(f"{t.symbol.location} {t.symbol.qualname}" for t in tests[:10])))


@click.command("trace")
@click.argument("source")
@click.argument("target")
@_repo_option
@_index_dir_option
@_json_option
def trace_command(source, target, repo, index_dir, as_json) -> None:
    """The shortest call paths from SOURCE to TARGET."""
    from codequarry.graph.query import trace

    paths = trace(source, target, repo=repo, index_dir=index_dir)
    if as_json:
        _echo_json([p.to_json() for p in paths])
        return
    if not paths:
        _say(f"no call path from {source} to {target}")
        return
    for i, p in enumerate(paths, 1):
        state = "certain" if p.certain else "through ambiguous calls"
        _say(f"path {i} ({len(p.steps) - 1} calls, {state}, confidence {p.confidence:.2f}):")
        _say(f"  {p.steps[0].location}  {p.steps[0].qualname}")
        for step, before, line in zip(p.steps[1:], p.steps, p.lines):
            _say(f"  -> {before.file}:{line} calls {step.qualname}  ({step.location})")


@click.command("status")
@click.option("--no-walk", is_flag=True, help="Skip the stat walk that compares the index with the files.")
@_repo_option
@_index_dir_option
@_json_option
def status_command(no_walk, repo, index_dir, as_json) -> None:
    """What the index holds and whether it is behind the working tree."""
    from codequarry.graph.status import status

    st = status(repo=repo, index_dir=index_dir, walk_tree=not no_walk)
    if as_json:
        _echo_json(st.to_json())
        return
    langs = ", ".join(f"{lang} {n}" for lang, n in st.chunks_by_language)
    _say(f"repository  {st.repo}")
    _say(f"index       {st.index_dir}  ({st.index_bytes / 1e6:.1f} MB)")
    _say(f"files       {st.files}")
    _say(f"chunks      {st.chunks}  ({langs})")
    from codequarry.render import fresh_slot_state

    for s in st.slots:
        mark = "*" if s.default else " "
        state = "stale" if s.stale else fresh_slot_state(s.vectors, st.chunks)
        _say(f"slot      {mark} {s.name}  {s.model}  dim={s.dim}  {state}")
    _say(f"last run    {st.last_run or 'unknown'}")
    _say("call edges  " + (", ".join(f"{k} {v}" for k, v in st.edges) or "none"))
    if no_walk:
        return
    if not st.behind:
        _say("up to date with the working tree")
        return
    _say(f"behind the working tree: {len(st.new_files)} new, {len(st.changed_files)} changed, "
               f"{len(st.deleted_files)} deleted; run 'quarry index'")
    for label, paths in (("new", st.new_files), ("changed", st.changed_files), ("deleted", st.deleted_files)):
        for p in paths[:10]:
            _say(f"  {label:<8}{p}")
