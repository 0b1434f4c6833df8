"""The Searcher: one open index slot, answering queries with either leg or both."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codequarry.domain import SearchResult
from codequarry.embed.encoder import Encoder, load_encoder, truncate
from codequarry.errors import UserInputError
from codequarry.locate import locate_index_dir
from codequarry.search import fusion, lexical, ranking, rules
from codequarry.store import vectors
from codequarry.store.db import IndexDB

MODES = ("hybrid", "dense", "lexical")
# Candidates each leg hands to fusion: enough that the other leg's picks are scored too.
CANDIDATES = 100


class Searcher:
    def __init__(self, db: IndexDB, slot: str, encoder: Encoder | None = None) -> None:
        self.db = db
        info = db.slot(slot)
        if info is None:
            names = ", ".join(s["name"] for s in db.slots()) or "none"
            raise UserInputError(f"no slot named '{slot}' (slots: {names})")
        if info["generation"] == 0:
            raise UserInputError(f"slot '{slot}' is empty; run 'quarry index --slot {slot}'")
        self.slot = info
        self._encoder = encoder
        self._index = None
        self.warnings: list[str] = []
        if info["chunks_generation"] != db.chunks_generation:
            self.warnings.append(
                f"slot '{slot}' is behind the chunk index; run 'quarry index --slot {slot}' to refresh its vectors"
            )

    @classmethod
    def open(cls, repo: Path | None = None, *, slot: str | None = None, index_dir: Path | None = None,
             encoder: Encoder | None = None) -> "Searcher":
        db = IndexDB(locate_index_dir(repo, index_dir))
        return cls(db, slot or db.default_slot(), encoder)

    @property
    def config(self) -> dict:
        return {"slot": self.slot["name"], "model": self.slot["model"], "dim": self.slot["truncate_dim"] or self.slot["dim"],
                "weights": fusion.DEFAULT_WEIGHTS, "rules": rules.DEFAULT_RULES}

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_encoder(self.slot["model"])
        return self._encoder

    @property
    def index(self):
        if self._index is None:
            self._index = vectors.read(vectors.vector_path(self.db.folder, self.slot["name"], self.slot["generation"]))
        return self._index

    def dense(self, query: str, n: int, allowed: np.ndarray | None) -> dict[int, float]:
        if self.index.ntotal == 0:
            return {}
        q = truncate(self.encoder.encode_queries([query]), self.slot["truncate_dim"])
        scores, ids = vectors.search(self.index, q, n, allowed)
        return {int(i): float(s) for i, s in zip(ids[0], scores[0]) if i >= 0}

    def lexical(self, query: str, n: int, allowed: np.ndarray | None) -> dict[int, float]:
        if allowed is None:
            return dict(lexical.search(self.db.conn, query, n))
        keep = set(allowed.tolist())
        hits = lexical.search(self.db.conn, query, max(n * 20, 2000))
        return dict([(i, s) for i, s in hits if i in keep][:n])

    def search(
        self, query: str, k: int = 10, mode: str = "hybrid", *, langs=(), kinds=(), path: str | None = None,
        weights: fusion.FusionWeights | None = None, rule_weights: rules.RuleWeights | None = None,
    ) -> list[SearchResult]:
        if mode not in MODES:
            raise UserInputError(f"unknown mode '{mode}' (choose from {', '.join(MODES)})")
        if not query.strip():
            raise UserInputError("empty query")
        if k < 1:
            raise UserInputError("-k must be at least 1")
        allowed = self.db.filter_ids(langs=tuple(langs), kinds=tuple(kinds), path_glob=path)
        dense, lex, chunks = self.candidates(query, max(CANDIDATES, k), mode, allowed)
        return ranking.rank(query, mode, dense, lex, chunks, k, weights=weights or fusion.DEFAULT_WEIGHTS,
                            rule_weights=rule_weights or rules.DEFAULT_RULES)

    def candidates(self, query: str, n: int, mode: str = "hybrid", allowed: np.ndarray | None = None,
                   ) -> tuple[dict[int, float], dict[int, float], dict]:
        """(dense scores, lexical scores, chunks by id) of the legs `mode` uses: what ranking.rank ranks."""
        dense = self.dense(query, n, allowed) if mode in ("dense", "hybrid") else {}
        lex = self.lexical(query, n, allowed) if mode in ("lexical", "hybrid") else {}
        return dense, lex, self.db.chunks_by_id(dense.keys() | lex.keys())

    def close(self) -> None:
        self.db.close()
