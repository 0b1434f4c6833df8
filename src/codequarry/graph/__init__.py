"""The call graph: call edges resolved to definitions at index time, and the queries over them.

    update_graph(db, repo)            indexer.py, in its final transaction (update.py)
    callers(NAME) / callees(NAME)     EdgeGroup per definition NAME matches (query.py)
    impact(NAME, depth)               transitive callers, tests flagged
    trace(A, B)                       shortest call paths
    status()                          what the index holds, whether it is behind the files (status.py)

NAME is a qualname (`Store.open`, `Store::open`), a bare name (every
definition of it) or `file:line`. Heavy work (tree-sitter) happens only in
update.py; the queries read SQLite.
"""

