"""Which ChunkStore a `--store` value names: the one place `quarry org` turns a URI into a store.

- `http://`, `https://`, `tcp://`, `grpc://`, `unix:` — a Milvus cluster (store/milvus.py);
- a path ending in `.db` — an embedded Milvus Lite file (the default, ~/.quarry/org.db);
- a path ending in `.sqlite` — SQLite + FAISS on this machine (store/local.py), no Milvus needed.
"""

from __future__ import annotations

from pathlib import Path

from codequarry.errors import UserInputError
from codequarry.store.base import ChunkStore

KINDS = "a Milvus URI (http://host:19530), a Milvus Lite file (*.db) or a local SQLite store (*.sqlite)"


def store_kind(uri: str) -> str:
    """'milvus' or 'local' for a --store value, or a one-line error naming the accepted forms."""
    from codequarry.store.local import is_local
    from codequarry.store.milvus import is_remote

    uri = str(uri)
    if is_remote(uri) or uri.endswith(".db"):
        return "milvus"
    if is_local(uri):
        return "local"
    raise UserInputError(f"--store '{uri}' is not {KINDS}")


def normalise(uri: str) -> str:
    """A remote URI as given; a file path with `~` expanded."""
    from codequarry.store.milvus import is_remote

    uri = str(uri)
    return uri if is_remote(uri) else str(Path(uri).expanduser())


def open_store(uri: str, *, create: bool = True) -> ChunkStore:
    """The store at `uri`; `create=False` (searches, listings) refuses to make one that is not there."""
    if store_kind(uri) == "local":
        from codequarry.store.local import LocalStore

        return LocalStore(normalise(uri), create=create)
    from codequarry.store.milvus import MilvusStore

    return MilvusStore(normalise(uri), create=create)
