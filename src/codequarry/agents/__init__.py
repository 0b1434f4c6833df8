"""The agent half: context gathering, the MCP server, and watch mode.

    gather(QUERY, tokens)   search seeds expanded along the call graph, cut to a budget (gather.py)
    build_server(repo)      the read-only MCP tools over stdio (mcp_server.py; needs the `agents` extra)
    watch(repo)             debounced incremental re-index on file changes (watch.py; `agents` extra)
"""
