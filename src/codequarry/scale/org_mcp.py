"""`quarry org mcp`: organisation search over the Model Context Protocol (stdio).

Two read-only tools, registered the way `quarry mcp` registers its own
(agents/mcp_server.read_only_server: a QuarryError comes back as a tool error
with its one line and the server keeps serving): `org_search` calls
scale.search.org_search, `org_repositories` answers what `quarry org list`
shows. The store stays open for the server's life (scale/warm.py holds it,
under one lock, since the SDK runs tools on worker threads).
"""

from __future__ import annotations

import json

INSTRUCTIONS = (
    "codequarry holds an organisation's repositories in one search index. Use `org_search` with natural "
    "language or an identifier to find code across all of them; every result is `repo:file:line`. Narrow "
    "with `repo` (names from `org_repositories`), `language`, `kind` or `path`."
)


def build_org_server(warm):
    """The MCPServer with the org tools over `warm` (a scale.warm.WarmOrgStore)."""
    from codequarry.agents.mcp_server import format_search, read_only_server

    server, tool = read_only_server(INSTRUCTIONS)

    @tool
    def org_search(query: str, k: int = 10, mode: str = "hybrid", repo: list[str] | None = None,
                   language: str | None = None, kind: str | None = None, path: str | None = None,
                   full_code: bool = False) -> str:
        """Find code across every repository of the organisation by meaning or by identifier. `query` is
        natural language ("where are failed uploads retried") or a name ("retry_failed_uploads"). Returns
        the k best definitions as `repo:file:line-end  qualname  (kind, score)  signature` plus a 3-line
        snippet; full_code=true returns whole bodies. Filters: repo (a list of repository names, see
        org_repositories), language ("python"), kind ("function", "class", "method"), path (a glob such
        as "src/*.py", relative to each repository). mode: hybrid (default), dense or lexical."""
        results = warm.search(query, k, mode, repos=tuple(repo or ()), langs=[language] if language else (),
                              kinds=[kind] if kind else (), path=path)
        return format_search([r.result for r in results], full_code, repos=[r.repo for r in results])

    @tool
    def org_repositories() -> str:
        """The repositories in the organisation's index, as JSON: name -> {path (where it was indexed
        from), chunks, indexed_at (Unix time)}. Use the names as org_search's `repo` filter."""
        return json.dumps({"model": warm.model, "repositories": warm.repositories()})

    return server


def serve_org(store_uri: str) -> None:
    """Open the store (a missing one is a one-line error before anything serves), then serve over stdio."""
    from codequarry.errors import require
    from codequarry.scale.warm import WarmOrgStore

    require("mcp", "agents")  # before the store is opened: a missing extra is said first
    warm = WarmOrgStore(store_uri)
    try:
        build_org_server(warm).run("stdio")
    finally:
        warm.close()
