"""`quarry serve`: the click command. Registered by cli.py; heavy imports happen inside."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("serve")
@click.option("--repo", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Repository root (default: the indexed repository containing the current directory).")
@click.option("--index-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="QUARRY_INDEX_DIR", help="Where the index lives (default: <repo>/.quarry).")
@click.option("--slot", help="Slot to load up front (default: the promoted one); others load on first use.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--idle-timeout", "idle_minutes", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Exit after this many minutes without a request (0: never).")
def serve_command(repo, index_dir, slot, port, host, idle_minutes) -> None:
    """Keep the model and index loaded; 'quarry search' then answers in milliseconds.

    Listens on HOST:PORT (loopback by default) and writes <index-dir>/server.json,
    which searches use to find it; stop it with Ctrl-C.
    """
    from codequarry.errors import IndexMissingError
    from codequarry.locate import locate_index_dir

    folder = locate_index_dir(repo, index_dir)
    if not (folder / "index.db").exists():
        raise IndexMissingError(f"no codequarry index in {folder}; run 'quarry index' first")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"quarry: warning: listening on {host}: anyone who can reach it and has the token "
                   "in server.json can read the indexed code", err=True)
    from codequarry.serve.server import run_server

    # run_server refuses a folder a verified server already serves, before loading anything.
    run_server(folder, slot=slot, host=host, port=port, idle_minutes=idle_minutes,
               announce=lambda line: click.echo(f"quarry: {line}", err=True))
