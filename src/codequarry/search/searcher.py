"""The Searcher: one open index slot, answering queries with either leg or both."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codequarry.domain import SearchResult
from codequarry.embed.encoder import Encoder, load_encoder, truncate
from codequarry.errors import CorruptIndexError, IndexMissingError, MissingExtraError, ModelUnavailableError, UserInputError
from codequarry.locate import locate_index_dir
from codequarry.search import filters, fusion, lexical, ranking, rules
from codequarry.store import vectors
from codequarry.store.db import IndexDB, guarded, unusable_model_hint

MODES = ("hybrid", "dense", "lexical")


def check_query(query: str, k: int, mode: str) -> None:
    """The arguments every search takes, checked the same way for one repository and for `quarry org`."""
    if mode not in MODES:
        raise UserInputError(f"unknown mode '{mode}' (choose from {', '.join(MODES)})")
    if not query.strip():
        raise UserInputError("empty query")
    if k < 1:
        raise UserInputError("-k must be at least 1")


# Candidates each leg hands to fusion: enough that the other leg's picks are scored too.
CANDIDATES = 100


class Searcher:
    @guarded
    def __init__(self, db: IndexDB, slot: str, encoder: Encoder | None = None) -> None:
        self.db = db
        info = db.slot(slot)
        if info is None:
            names = ", ".join(s["name"] for s in db.slots()) or "none"
            if names == "none":  # a first index run that failed leaves no slot
                raise IndexMissingError("the index has no vectors yet; run 'quarry index'")
            raise UserInputError(f"no slot named '{slot}' (slots: {names})")
        if info["generation"] == 0 and info["embedded"] != 0:  # embedded 0: bound, its vectors on their way
            raise UserInputError(f"slot '{slot}' is empty; run 'quarry index --slot {slot}'")
        self.slot = info
        self._encoder = encoder
        self._index = None
        self._have = None  # (the FAISS index, the chunk ids it holds)
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
            try:
                self._encoder = load_encoder(self.slot["model"])
            except (ModelUnavailableError, MissingExtraError) as exc:  # the slot's model does not load here: say how to rebuild it
                raise type(exc)(f"{exc.format_message()}; {unusable_model_hint(self.slot)}") from exc
        return self._encoder

    @property
    def index(self):
        if self._index is None:
            try:
                self._index = self._read_vectors()
            except CorruptIndexError:
                # An index run may have committed a new generation and removed ours since we read the slot.
                if not self._follow():
                    raise
                self._index = self._read_vectors()
        return self._index

    def _read_vectors(self):
        return vectors.read(vectors.vector_path(self.db.folder, self.slot["name"], self.slot["generation"]),
                            self.slot["checksum"], slot=self.slot["name"])

    def _follow(self) -> bool:
        """Catch up with index runs committed since this Searcher read its slot (a long-lived one
        would otherwise map the old vectors' ids onto new chunks); True if the slot moved."""
        info = self.db.slot(self.slot["name"])
        if info is None or (info["generation"], info["checksum"]) == (self.slot["generation"], self.slot["checksum"]):
            return False
        if self._encoder is not None and self._encoder.name != info["model"]:
            self._encoder = None
        self.slot, self._index = info, None
        return True

    def dense(self, query: str, n: int, allowed: np.ndarray | None) -> dict[int, float]:
        if self.slot["embedded"] == 0 or self.index.ntotal == 0:
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

    @guarded
    def search(
        self, query: str, k: int = 10, mode: str = "hybrid", *, langs=(), kinds=(), path: str | None = None,
        weights: fusion.FusionWeights | None = None, rule_weights: rules.RuleWeights | None = None,
    ) -> list[SearchResult]:
        args = (query, k, mode, tuple(langs), tuple(kinds), path, weights, rule_weights)
        if self.db.conn.in_transaction:  # the caller holds a snapshot already (the warm server)
            return self._search(*args)
        # One read snapshot per search, so the slot, the chunks and the lexical hits all come from
        # one commit even while `quarry index` runs; a run that commits and removes the vector file
        # our snapshot names in between costs one retry on a fresh snapshot.
        for attempt in (0, 1):
            self.db.conn.execute("BEGIN")
            try:
                return self._search(*args)
            except CorruptIndexError:
                if attempt:
                    raise
            finally:
                if self.db.conn.in_transaction:
                    self.db.conn.execute("COMMIT")
        raise AssertionError("unreachable")

    def _search(self, query, k, mode, langs, kinds, path, weights, rule_weights) -> list[SearchResult]:
        check_query(query, k, mode)
        filters.check_filters(langs, kinds, self.db.conn)  # here, so the warm server checks them too
        self._follow()
        allowed = self.db.filter_ids(langs=tuple(langs), kinds=tuple(kinds), path_glob=path)
        dense, lex, chunks = self.candidates(query, max(CANDIDATES, k), mode, allowed)
        return ranking.rank(query, mode, dense, lex, chunks, k, weights=weights or fusion.DEFAULT_WEIGHTS,
                            rule_weights=rule_weights or rules.DEFAULT_RULES,
                            unembedded=self._unembedded(lex) if mode == "hybrid" else frozenset())

    def _unembedded(self, ids) -> frozenset[int]:
        """Which of `ids` have no vector: not embedded yet (`quarry index` still running), or left to
        the lexical leg for good (embed/select.py)."""
        if not ids:
            return frozenset()
        if self.slot["embedded"] == 0:  # no vectors yet: the file need not be read
            return frozenset(ids)
        if self._have is None or self._have[0] is not self.index:
            import faiss

            self._have = (self.index, frozenset(faiss.vector_to_array(self.index.id_map).tolist()))
        have = self._have[1]
        return frozenset(i for i in ids if i not in have)

    def candidates(self, query: str, n: int, mode: str = "hybrid", allowed: np.ndarray | None = None,
                   ) -> tuple[dict[int, float], dict[int, float], dict]:
        """(dense scores, lexical scores, chunks by id) of the legs `mode` uses: what ranking.rank ranks."""
        dense = self.dense(query, n, allowed) if mode in ("dense", "hybrid") else {}
        lex = self.lexical(query, n, allowed) if mode in ("lexical", "hybrid") else {}
        return dense, lex, self.db.chunks_by_id(dense.keys() | lex.keys())

    @guarded
    def coverage(self) -> tuple[int, int]:
        """(chunks with vectors, chunks): see `IndexDB.coverage`."""
        self._follow()
        return self.db.coverage(self.slot)

    def close(self) -> None:
        self.db.close()
