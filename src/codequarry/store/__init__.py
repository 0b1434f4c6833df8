"""Store stage: one SQLite database per index (chunks, call edges, lexical index,
embedding cache, slots) plus one FAISS file per slot for dense search."""

from codequarry.store.db import IndexDB

__all__ = ["IndexDB"]
