"""An organisation store held open for a server's life: `quarry org mcp` and `quarry org serve` share it.

The store is opened once (as `quarry org search` opens it, so a missing store
is the same one-line error before anything serves) and the query encoder is
loaded once. One MilvusClient must not be used from several threads at once
(Milvus Lite's client is one connection to its local server process), while
both servers answer on worker threads: every call into the store, and the
query encoding with it, runs under one lock. Searches are therefore
serialised; the threads around them read, validate and answer in parallel.

A Milvus Lite file is held by one process at a time: while a server holds it,
`quarry org index` on the same file fails to open it (one line); stop the
server to re-index, or use a Milvus cluster URI, which many processes share.
"""

from __future__ import annotations

import os
import threading


class WarmOrgStore:
    def __init__(self, store_uri: str, encoder=None) -> None:
        from codequarry.scale.command import _open

        self.store = _open(store_uri)  # IndexMissingError for a missing Lite file; creates nothing
        self.uri = str(self.store.uri)
        # What a client compares: the real path of a Lite file, a cluster URI as given.
        self.real_uri = self.uri if "://" in self.uri else os.path.realpath(self.uri)
        self.lock = threading.Lock()  # the one MilvusClient, the encoder and the counter
        self.searches = 0
        self._encoder = encoder  # tests hand one in

    @property
    def model(self) -> str | None:
        return self.store.model

    def _encoder_for(self, mode: str):
        if mode == "lexical" or self.store.model is None:
            return None  # org_search needs none (or reports the empty store itself)
        if self._encoder is None:
            from codequarry.embed.encoder import load_encoder

            self._encoder = load_encoder(self.store.model)
        return self._encoder

    def warm_up(self) -> None:
        """Load the model now, so the first request does not pay for it."""
        with self.lock:
            self._encoder_for("dense")

    def search(self, query: str, k: int = 10, mode: str = "hybrid", *, repos=(), langs=(), kinds=(),
               path: str | None = None) -> list:
        """`org_search` on the held store: a list of OrgResult, or the same QuarryError it raises."""
        from codequarry.scale.search import org_search

        with self.lock:
            self.searches += 1
            return org_search(self.store, query, k, mode, repos=repos, langs=langs, kinds=kinds, path=path,
                              encoder=self._encoder_for(mode))

    def repositories(self) -> dict[str, dict]:
        """What `quarry org list --json` prints: name -> {path, chunks, indexed_at}."""
        with self.lock:
            return self.store.repositories()

    def close(self) -> None:
        with self.lock:
            self.store.close()
