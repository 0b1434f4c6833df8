"""`quarry org index | search | list | remove | mcp | serve`: many repositories in one store (registered by cli.py).

`--store` picks the store (store/open.py): a Milvus URI or a Milvus Lite `*.db` file (the default), or a
`*.sqlite` file for SQLite + FAISS on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import click

DEFAULT_STORE = "~/.quarry/org.db"

_store_option = click.option(
    "--store", "store_uri", envvar="QUARRY_ORG_STORE", default=DEFAULT_STORE, show_default=True,
    help="Milvus Lite file (*.db), Milvus cluster URI (http://host:19530; token from $MILVUS_TOKEN), "
         "or a local SQLite + FAISS store (*.sqlite).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _uri(store_uri: str) -> str:
    from codequarry.store.open import normalise

    return normalise(store_uri)


def _open(store_uri: str):
    from codequarry.store.open import open_store

    return open_store(store_uri, create=False)


@click.group("org")
def org_group() -> None:
    """An organisation's repositories in one store: index with Ray, search across them."""


@org_group.command("index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--list", "list_file", type=click.Path(path_type=Path, dir_okay=False),
              help="A file naming one repository path per line.")
@_store_option
@click.option("--address", envvar="RAY_ADDRESS", help="Ray cluster address (default: a local runtime for this run).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Embedding actors (each loads the model once); a local runtime also gets as many parse slots.")
@click.option("--model", envvar="QUARRY_MODEL", help="Model preset (default: the store's, else minilm).")
@click.option("--force", is_flag=True, help="Re-embed every chunk.")
@click.option("--max-bytes", type=int, default=1_000_000, show_default=True, help="Skip files larger than this.")
@click.option("--exclude", multiple=True, help="Extra gitignore-style pattern to skip (repeatable).")
@_json_option
def org_index(paths, list_file, store_uri, address, workers, model, force, max_bytes, exclude, as_json) -> None:
    """Index (or incrementally update) the repositories at PATHS into the store."""
    from codequarry.scale.index import index_organisation, print_progress, read_repo_list

    repos = list(paths) + (read_repo_list(list_file) if list_file else [])
    stats = index_organisation(repos, _uri(store_uri), model=model, address=address, workers=workers, force=force,
                               max_bytes=max_bytes, exclude=tuple(exclude),
                               on_repo=None if as_json else print_progress)
    if as_json:
        click.echo(json.dumps(stats.to_json(), indent=2))
        return
    from codequarry.terminal import printable_line

    click.echo(printable_line(
        f"indexed {len(stats.repos)} repositories into {stats.store} ({stats.model}) in {stats.seconds:.1f}s "
        f"with {stats.workers} worker(s): {stats.chunks} chunks, {stats.embedded} embedded, {stats.reused} reused, "
        f"{stats.kept} kept, {stats.removed} removed; {stats.files_parsed} files parsed, {stats.files_unchanged} "
        f"unchanged; {stats.chunks_per_second:.0f} chunks/s"))


@org_group.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Number of results.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default="hybrid", show_default=True)
@click.option("--repo", "repos", multiple=True, help="Only this repository (repeatable).")
@click.option("--lang", "langs", multiple=True, help="Only this language (repeatable).")
@click.option("--kind", "kinds", multiple=True, help="Only this kind: function, method, class, … (repeatable).")
@click.option("--path", "path_glob", help="Only files matching this glob, e.g. 'src/*.py'.")
@_store_option
@_json_option
def org_search_command(query, k, mode, repos, langs, kinds, path_glob, store_uri, as_json) -> None:
    """Search every repository in the store for QUERY; each result names its repository."""
    from codequarry.scale.search import org_search

    text = " ".join(query)
    store = _open(store_uri)
    try:
        results = org_search(store, text, k, mode, repos=repos, langs=langs, kinds=kinds, path=path_glob)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], indent=2))
        return
    from codequarry.terminal import printable_line

    if not results:
        click.echo("no results")
    for rank, r in enumerate(results, 1):
        c = r.result.chunk
        click.echo(printable_line(f"{rank:>2}. {r.repo}:{c.file}:{c.line_start}-{c.line_end}  {c.qualname}  "
                                  f"[{c.kind}, {c.language}]  {r.result.score:.3f}"))


@org_group.command("list")
@_store_option
@_json_option
def org_list(store_uri, as_json) -> None:
    """The repositories in the store, with their chunk counts."""
    store = _open(store_uri)
    try:
        repos = store.repositories()
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(repos, indent=2))
        return
    from codequarry.terminal import printable_line

    for name, rec in repos.items():
        click.echo(printable_line(f"{name:<24} {rec['chunks']:>8} chunks  {rec['path']}"))


@org_group.command("remove")
@click.argument("repo")
@_store_option
@_json_option
def org_remove(repo, store_uri, as_json) -> None:
    """Remove REPO's chunks from the store; other repositories are untouched."""
    from codequarry.errors import UserInputError

    store = _open(store_uri)
    try:
        known = store.repositories()
        if repo not in known:
            raise UserInputError(f"no repository named '{repo}' in the store (repositories: {', '.join(known) or 'none'})")
        removed = store.delete_repository(repo)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"repo": repo, "removed": removed}))
        return
    click.echo(f"removed {repo}: {removed} chunks")


# `quarry org mcp` and `quarry org serve` sit in this group rather than under `quarry mcp` / `quarry serve`:
# those serve one repository's index (found from --repo/--index-dir) with tools an org store cannot answer
# (callers, read, slots), while these take the same --store (and $QUARRY_ORG_STORE) as every org command.
@org_group.command("mcp")
@_store_option
def org_mcp(store_uri) -> None:
    """Serve org search to an AI agent over MCP (stdio): tools org_search and org_repositories."""
    from codequarry.scale.org_mcp import serve_org

    serve_org(store_uri)


@org_group.command("serve")
@_store_option
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Loopback address to listen on (127.0.0.1 or ::1).")
@click.option("--idle-timeout", "idle_minutes", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Exit after this many minutes without a request (0: never).")
def org_serve(store_uri, port, host, idle_minutes) -> None:
    """Keep the store open and answer POST /org/search with JSON on loopback (port and token in a server file)."""
    from codequarry.scale.org_http import run_org_server

    run_org_server(store_uri, host=host, port=port, idle_minutes=idle_minutes,
                   announce=lambda line: click.echo(f"quarry: {line}", err=True))
