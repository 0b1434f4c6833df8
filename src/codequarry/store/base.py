"""The storage seam: what the search stage needs from a store holding many repositories.

A store keeps chunks with their vectors, grouped by repository, and answers
three kinds of reads: dense top-k, lexical top-k (both under the same
filters), and fetch by id. Ranking (fusion, rules) stays above the seam in
codequarry.search, so every store ranks the same way.

Ids are strings chosen by the caller (`chunk_id`): stable across runs for an
unchanged chunk, so an incremental run can tell what it already holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

import numpy as np

from codequarry.domain import Chunk, content_hash


@dataclass(frozen=True, slots=True)
class StoreFilter:
    """Conjunction of filters; an empty tuple (or None) means "any"."""

    repos: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    path: str | None = None  # a glob on the repo-relative path, as `quarry search --path`


@dataclass(frozen=True, slots=True)
class StoredChunk:
    id: str
    repo: str
    chunk: Chunk
    text_hash: str  # content_hash of the text that was embedded: equal hash, equal vector


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """One chunk on its way into a store, with its vector."""

    id: str
    repo: str
    chunk: Chunk
    text_hash: str
    vector: np.ndarray


@dataclass(frozen=True, slots=True)
class FileState:
    """What a store remembers of one indexed file, so a re-run reads and chunks only changed files:
    equal size and mtime mean unchanged; otherwise an equal content hash does."""

    path: str  # repo-relative, as Chunk.file
    size: int
    mtime_ns: int
    hash: str  # content_hash of the file's text


def chunk_id(repo: str, chunk: Chunk, text_hash: str) -> str:
    """Stable id: the same chunk at the same place in the same repository keeps its id across runs."""
    key = "\x1f".join((repo, chunk.file, chunk.kind, chunk.qualname, str(chunk.line_start), str(chunk.line_end),
                       text_hash))
    return content_hash(key)


class ChunkStore(Protocol):
    """What `quarry org` reads and writes. Milvus implements it (store/milvus.py), and so do SQLite
    plus FAISS (store/local.py); store/open.py picks one from the store's URI."""

    model: str | None  # the embedding model the stored vectors come from (None: empty store)
    dim: int | None

    def bind(self, model: str, dim: int) -> None:
        """Fix the store's model and dimension (first write), or raise IndexMismatchError."""

    def add(self, rows: Sequence[ChunkRow]) -> int: ...

    def delete(self, ids: Iterable[str]) -> int: ...

    def delete_repository(self, repo: str) -> int:
        """Remove every chunk of `repo`; other repositories are untouched. Returns chunks removed."""

    def stored_hashes(self, repo: str) -> dict[str, str]:
        """id → text_hash of every chunk stored for `repo`: what an incremental run keeps."""

    def stored_chunks(self, repo: str) -> dict[str, tuple[str, str]]:
        """id → (file, text_hash) of every chunk stored for `repo`: which of them an unchanged file keeps."""

    def file_states(self, repo: str) -> dict[str, FileState]:
        """path → the state recorded for each file of `repo` by its last completed run."""

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]: ...

    def dense(self, vector: np.ndarray, k: int, where: StoreFilter) -> dict[str, float]: ...

    def lexical(self, query: str, k: int, where: StoreFilter) -> dict[str, float]: ...

    def fetch(self, ids: Iterable[str]) -> dict[str, StoredChunk]: ...

    def repositories(self) -> dict[str, dict]:
        """repo → its record (path, chunks, indexed_at)."""

    def set_repository(self, repo: str, path: str, chunks: int, *, files: Sequence[FileState] = (),
                       gone: Iterable[str] = (), parser: str = "") -> None:
        """Record `repo` (its record also names the `parser` its chunks came from), upsert the states
        of `files` and forget those of the paths in `gone`. Called after the repository's chunks are
        written, so a recorded state never claims chunks the store does not hold."""

    def close(self) -> None: ...
