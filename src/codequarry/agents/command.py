"""`quarry gather | mcp | watch`: click commands, registered by cli.py.

Each parses its options, calls one function of codequarry.agents, and
renders the result. The MCP server and watch mode need the `agents` extra
(mcp, watchfiles); without it they say so in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from codequarry.terminal import printable
from codequarry.options import index_dir_option as _index_dir_option
from codequarry.options import repo_option as _repo_option


@click.command("gather")
@click.argument("query", nargs=-1, required=True)
@click.option("--tokens", type=click.IntRange(min=1), default=4000, show_default=True,
              help="Budget, estimated as characters / 4.")
@click.option("--seeds", type=click.IntRange(min=1), default=8, show_default=True,
              help="Search results to start from before following calls.")
@click.option("--slot", help="Search this slot (default: the promoted one).")
@_repo_option
@_index_dir_option
@click.option("--json", "as_json", is_flag=True, help="JSON object with the items and their code.")
def gather_command(query, tokens, seeds, slot, repo, index_dir, as_json) -> None:
    """The code to read for QUERY: search hits plus what they call and what calls them, within --tokens."""
    from codequarry.agents.gather import gather

    result = gather(" ".join(query), tokens, seeds=seeds, repo=repo, index_dir=index_dir, slot=slot)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    click.echo(printable(result.to_markdown()), nl=False)  # quoted code must not drive the terminal


@click.command("mcp")
@click.option("--print-config", is_flag=True, help="Print the MCP client configuration for this repository.")
@_repo_option
@_index_dir_option
def mcp_command(print_config, repo, index_dir) -> None:
    """Serve the read-only code tools to an AI agent over MCP (stdio)."""
    if print_config:
        from codequarry.agents.mcp_config import client_config

        click.echo(client_config(repo, index_dir), nl=False)
        return
    from codequarry.agents.mcp_server import serve

    serve(repo=repo, index_dir=index_dir)


@click.command("watch")
@click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=".")
@click.option("--debounce", "debounce_ms", type=click.IntRange(min=10), default=300, show_default=True,
              help="Wait this many ms of quiet before re-indexing (a checkout's burst is one run).")
@click.option("--model", envvar="QUARRY_MODEL", help="Model for the first index (later runs use the slot's).")
@_index_dir_option
@click.option("--json", "as_json", is_flag=True, help="One JSON line per re-index run.")
def watch_command(path, debounce_ms, model, index_dir, as_json) -> None:
    """Keep the index of PATH fresh: re-index what changed, as it changes (Ctrl-C stops)."""
    from codequarry.agents.watch import watch

    def report(run) -> None:
        if as_json:
            click.echo(json.dumps(run.to_json()), nl=True)
            return
        if run.error:
            click.echo(f"quarry: error: {run.error}", err=True)
            return
        s = run.stats
        if not run.changed:  # the first run, before watching
            click.echo(f"indexed {s.files_seen} files in {run.seconds:.2f}s: {s.files_parsed} parsed, "
                       f"{s.chunks} chunks; watching for changes")
            return
        click.echo(f"re-indexed {len(run.changed)} changed path(s) in {run.seconds:.2f}s: "
                   f"{s.files_parsed} parsed, {s.files_removed} removed, {s.chunks_new} new chunks")

    if not as_json:
        click.echo(f"watching {Path(path).resolve()} (Ctrl-C to stop)", err=True)
    try:
        watch(path, index_dir=index_dir, model=model, debounce_ms=debounce_ms, on_run=report)
    except KeyboardInterrupt:
        pass
