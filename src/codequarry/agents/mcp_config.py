"""`quarry mcp --print-config`: the snippets that register this repository's MCP server.

Stdlib only (no `mcp` needed to print them). The repository is written as an
absolute path so the client may start the server from any folder.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path


def server_command(repo: Path | None = None, index_dir: Path | None = None) -> tuple[str, list[str]]:
    """The command line a client runs: `quarry mcp --repo ROOT` (and --index-dir when given)."""
    from codequarry.locate import locate_index_dir

    folder = locate_index_dir(repo, index_dir)  # IndexMissingError when there is nothing to serve
    root = Path(repo).resolve() if repo else (folder.parent if index_dir is None else Path.cwd())
    args = ["mcp", "--repo", str(root)]
    if index_dir is not None:
        args += ["--index-dir", str(Path(index_dir).resolve())]
    return shutil.which("quarry") or "quarry", args


def client_config(repo: Path | None = None, index_dir: Path | None = None) -> str:
    command, args = server_command(repo, index_dir)
    entry = {"command": command, "args": args}
    toml_args = ", ".join(json.dumps(a) for a in args)
    return (
        "# Claude Code (run once; --scope project writes .mcp.json for the team):\n"
        f"claude mcp add codequarry -- {shlex.join([command, *args])}\n\n"
        "# Cursor: .cursor/mcp.json (project) or ~/.cursor/mcp.json\n"
        f"{json.dumps({'mcpServers': {'codequarry': entry}}, indent=2)}\n\n"
        "# Codex: ~/.codex/config.toml\n"
        "[mcp_servers.codequarry]\n"
        f"command = {json.dumps(command)}\n"
        f"args = [{toml_args}]\n"
    )
