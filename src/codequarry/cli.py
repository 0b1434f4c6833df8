"""The `quarry` command. Thin: parse options, call the pipeline, render.

Heavy modules (faiss, torch, tree-sitter) are imported inside the commands
that need them, so `quarry --help` and a warm search start fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from codequarry import __version__

from codequarry.options import index_dir_option as _index_dir_option
from codequarry.options import repo_option as _repo_option


class _QuarryGroup(click.Group):
    """Every command's last line of defence: a damaged database or a full disk met anywhere (a slot
    command, a graph query) is the same one-line error `quarry index` gives, not a traceback."""

    def invoke(self, ctx):
        import sqlite3

        try:
            return super().invoke(ctx)
        except (sqlite3.DatabaseError, OSError) as exc:
            from codequarry.locate import INDEX_FOLDER
            from codequarry.store.db import storage_error

            err = storage_error(exc, Path(ctx.params.get("index_dir") or INDEX_FOLDER))
            if err is exc:
                raise
            raise err from exc


@click.group(cls=_QuarryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="quarry")
def main() -> None:
    """codequarry: semantic code search for people and AI agents."""


@main.command()
@click.argument("path", type=click.Path(path_type=Path), default=".")
@click.option("--model", envvar="QUARRY_MODEL", help="Model preset, hub id or local folder (default: minilm).")
@click.option("--slot", help="Index into this slot (default: the promoted one).")
@click.option("--force", is_flag=True, help="Re-chunk and re-embed everything.")
@click.option("--max-bytes", type=int, default=1_000_000, show_default=True, help="Skip files larger than this.")
@click.option("--exclude", multiple=True, help="Extra gitignore-style pattern to skip (repeatable).")
@_index_dir_option
@click.option("--wait/--background", default=True, show_default=True,
              help="Block until every vector is embedded, or return once the index is searchable "
                   "(lexically) and embed in a detached process.")
@click.option("--json", "as_json", is_flag=True, help="Print statistics as JSON.")
def index(path: Path, model, slot, force, max_bytes, exclude, index_dir, wait, as_json) -> None:
    """Index (or incrementally update) the repository at PATH."""
    from codequarry.indexer import index_repository

    stats = index_repository(path, model=model, slot=slot, force=force, index_dir=index_dir,
                             progress=not as_json, max_bytes=max_bytes, exclude=exclude, background=not wait)
    for note in stats.repaired:  # damage found and rebuilt: worth knowing even when all went well
        click.echo(f"quarry: repaired: {note}", err=True)
    if stats.pending:
        click.echo(f"quarry: note: searchable now (lexical); embedding {stats.pending:,} chunk texts in the "
                   f"background (log: {Path(stats.index_dir) / 'background.log'})", err=True)
    if as_json:
        click.echo(json.dumps(stats.to_json(), indent=2))
        return
    from codequarry.render import print_stats

    print_stats(stats)


@main.command()
@click.argument("query", nargs=-1, required=True)
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Number of results.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default="hybrid", show_default=True)
@click.option("--lang", "langs", multiple=True, help="Only this language (repeatable).")
@click.option("--kind", "kinds", multiple=True, help="Only this kind: function, method, class, … (repeatable).")
@click.option("--path", "path_glob", help="Only files matching this glob, e.g. 'src/*.py'.")
@click.option("--slot", help="Search this slot (default: the promoted one).")
@_repo_option
@_index_dir_option
@click.option("--files", "by_file", is_flag=True, help="Ranked files, each with its best definitions.")
@click.option("--json", "as_json", is_flag=True, help="JSON list of results, best first.")
@click.option("--json-object", "as_object", is_flag=True,
              help='JSON object: {"complete", "vectors", "chunks", "results"} (complete is false while '
                   "'quarry index' is still embedding; with --files, \"files\" instead of \"results\").")
def search(query, k, mode, langs, kinds, path_glob, slot, repo, index_dir, by_file, as_json, as_object) -> None:
    """Search the index for QUERY (words or an identifier)."""
    from codequarry.search.files import CHUNK_DEPTH, rank_files

    text = " ".join(query)
    # --files ranks files by their best chunk, so it asks for enough chunks to fill k files.
    depth = max(k, CHUNK_DEPTH) if by_file else k
    request = {"query": text, "k": depth, "mode": mode, "langs": list(langs), "kinds": list(kinds),
               "path": path_glob, "slot": slot}
    results = _search_via_server(repo, index_dir, request)
    if results is None:
        from codequarry.search.searcher import Searcher

        searcher = Searcher.open(repo, slot=slot, index_dir=index_dir)
        for w in searcher.warnings:
            click.echo(f"quarry: warning: {w}", err=True)
        results = searcher.search(text, depth, mode, langs=langs, kinds=kinds, path=path_glob)
        embedded, chunks = searcher.coverage()
    else:
        embedded, chunks = _coverage(repo, index_dir, slot)
    complete = embedded >= chunks
    if not complete and mode != "lexical":  # on stderr, so the JSON list on stdout stays as it was
        why = "no vectors yet; results are lexical" if not embedded else "results are partly lexical"
        click.echo(f"quarry: note: vectors for {embedded:,} of {chunks:,} chunks; {why} "
                   "('quarry index' is still embedding or was stopped)", err=True)
    files = rank_files(results, k) if by_file else None
    rows = [f.to_json() for f in files] if files is not None else [r.to_json() for r in results]
    if as_object:
        click.echo(json.dumps({"complete": complete, "vectors": embedded, "chunks": chunks,
                               "files" if by_file else "results": rows}, indent=2))
        return
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if by_file:
        from codequarry.render import print_files

        print_files(files)
        return
    from codequarry.render import print_results

    print_results(results, text)


def _coverage(repo, index_dir, slot) -> tuple[int, int]:
    """(chunks with vectors, chunks) of the slot a warm server answered from."""
    from codequarry.locate import locate_index_dir
    from codequarry.store.db import IndexDB

    db = IndexDB(locate_index_dir(repo, index_dir))
    try:
        return db.coverage(db.slot(slot or db.default_slot()))
    finally:
        db.close()


def _search_via_server(repo, index_dir, request: dict):
    """Results from a warm `quarry serve` for this index, or None to search in-process."""
    import os

    if os.environ.get("QUARRY_NO_SERVER"):
        return None
    from codequarry.errors import IndexMissingError
    from codequarry.locate import locate_index_dir
    from codequarry.serve.client import results_from_json, try_search

    try:
        folder = locate_index_dir(repo, index_dir)
    except IndexMissingError:
        return None  # the in-process path raises it with the same message
    warn = lambda w: click.echo(f"quarry: warning: {w}", err=True)  # noqa: E731
    rows = try_search(folder, request, on_warning=warn)
    return None if rows is None else results_from_json(rows)


@main.group()
def slot() -> None:
    """Side-by-side indexes of one repository, one per model."""


def _open_db(repo, index_dir, create=False):
    from codequarry.errors import IndexMissingError
    from codequarry.locate import index_dir_for, locate_index_dir
    from codequarry.store.db import IndexDB

    try:
        return IndexDB(locate_index_dir(repo, index_dir))
    except IndexMissingError:
        # `slot create` before the first index: start one where the user points.
        if not create:
            raise
        return IndexDB(index_dir_for(Path(repo or ".").resolve(), index_dir), create=True)


@slot.command("create")
@click.argument("name")
@click.option("--model", required=True, help="Model preset, hub id or local folder.")
@click.option("--dim", type=int, default=None,
              help="Keep only the first DIM dimensions (Matryoshka-trained models): smaller, faster index.")
@_repo_option
@_index_dir_option
def slot_create(name, model, dim, repo, index_dir) -> None:
    """Create slot NAME using MODEL; fill it with 'quarry index --slot NAME'."""
    from codequarry.embed.presets import resolve_model

    db = _open_db(repo, index_dir, create=True)
    db.create_slot(name, resolve_model(model).name, truncate_dim=dim)
    click.echo(f"created slot '{name}' ({resolve_model(model).name}); run: quarry index --slot {name}")


@slot.command("list")
@_repo_option
@_index_dir_option
@click.option("--json", "as_json", is_flag=True)
def slot_list(repo, index_dir, as_json) -> None:
    """List slots; the promoted one is marked with *."""
    db = _open_db(repo, index_dir)
    slots = db.slots()
    current = db.chunks_generation
    for s in slots:
        s["stale"] = s["chunks_generation"] != current
    if as_json:
        click.echo(json.dumps(slots, indent=2))
        return
    from codequarry.render import fresh_slot_state
    from codequarry.terminal import printable_line

    for s in slots:
        mark = "*" if s["default"] else " "
        state = "stale: run quarry index --slot " + s["name"] if s["stale"] else fresh_slot_state(*db.coverage(s))
        dim = f"{s['truncate_dim']}/{s['dim']}" if s["truncate_dim"] else s["dim"]
        click.echo(printable_line(f"{mark} {s['name']:<16} {s['model']:<24} dim={dim}  {state}"))


@slot.command("promote")
@click.argument("name")
@_repo_option
@_index_dir_option
def slot_promote(name, repo, index_dir) -> None:
    """Make NAME the slot searches use by default (atomic)."""
    _open_db(repo, index_dir).promote(name)
    click.echo(f"slot '{name}' is now the default")


@slot.command("remove")
@click.argument("name")
@_repo_option
@_index_dir_option
def slot_remove(name, repo, index_dir) -> None:
    """Remove slot NAME and its vectors (not the promoted slot)."""
    from codequarry.store import vectors
    from codequarry.errors import UserInputError

    db = _open_db(repo, index_dir)
    if db.slot(name) is None:
        raise UserInputError(f"no slot named '{name}'")
    if db.default_slot() == name:
        raise UserInputError(f"slot '{name}' is the default; promote another slot first")
    with db.transaction():
        db.conn.execute("DELETE FROM slots WHERE name = ?", (name,))
    vectors.remove_stale(db.folder, name, keep_generation=-1)
    click.echo(f"removed slot '{name}'")


@main.command()
def models() -> None:
    """List model presets."""
    from codequarry.embed.presets import PRESETS, resolve_model

    default = resolve_model(None).name  # QUARRY_MODEL, else the built-in default
    width = max(len(p.name) for p in PRESETS.values()) + 2
    for p in PRESETS.values():
        mark = "*" if p.name == default else " "
        click.echo(f"{mark} {p.name:<{width}} dim={p.dim:<5} {'offline' if p.offline else 'hub':<8} {p.description}"
                   f" [{p.source}]")


def _register_commands() -> None:
    # Feature commands live next to their feature; each module keeps its heavy imports lazy.
    import importlib

    for module, attr in (
        ("codequarry.eval.command", "eval_command"),
        ("codequarry.serve.command", "serve_command"),
        ("codequarry.train.command", "train_data_command"),
        ("codequarry.train.command", "train_command"),
        ("codequarry.graph.command", "callers_command"),
        ("codequarry.graph.command", "callees_command"),
        ("codequarry.graph.command", "impact_command"),
        ("codequarry.graph.command", "trace_command"),
        ("codequarry.graph.command", "status_command"),
        ("codequarry.agents.command", "gather_command"),
        ("codequarry.agents.command", "mcp_command"),
        ("codequarry.agents.command", "watch_command"),
        ("codequarry.scale.command", "org_group"),
    ):
        main.add_command(getattr(importlib.import_module(module), attr))


_register_commands()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
