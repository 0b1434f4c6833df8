"""Batches without false negatives from the call graph.

With in-batch negatives every other positive in a batch is treated as wrong
for a query. When two pairs are related — one calls the other, they share a
callee, they sit in the same file or class, or they have the same positive —
that is often false. Each pair gets a set of *tokens* (its key, its file
group, its related keys and class tokens); two pairs conflict when their
token sets intersect, and `RelatedBatchSampler` never puts conflicting pairs
in one batch. The plain sampler (`filter_related = false`) is the ablation.
"""

from __future__ import annotations

import random
from typing import Iterator, Sequence

from codequarry.train.pairs import Pair, code_hash, norm_query


def pair_tokens(p: Pair) -> frozenset[str]:
    toks = {f"k:{p.key}", f"c:{code_hash(p.positive)}", f"q:{norm_query(p.query)}"}
    if p.group:
        toks.add(f"g:{p.group}")
    toks.update(f"k:{r}" if ":class:" not in r else f"cls:{r}" for r in p.related)
    return frozenset(toks)


def conflicts(a: frozenset[str], b: frozenset[str]) -> bool:
    return not a.isdisjoint(b)


class RelatedBatchSampler:
    """Yields lists of indices; no two indices in a batch have intersecting tokens.

    Greedy first fit over a shuffled order with a bounded number of open
    batches; a pair that fits none of them opens a new one. Full batches are
    emitted as soon as they fill; leftovers at the end are emitted if they
    hold at least `min_last` pairs (the loss needs ≥ 2 for a negative).
    """

    def __init__(self, tokens: Sequence[frozenset[str]], batch_size: int, *, seed: int = 0,
                 max_open: int = 64, min_last: int = 2) -> None:
        self.tokens = list(tokens)
        self.batch_size = batch_size
        self.seed = seed
        self.max_open = max_open
        self.min_last = min_last
        self.epoch = 0
        self.stats = {"batches": 0, "deferred": 0, "dropped": 0}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(len(self.tokens)))
        random.Random(f"{self.seed}:{self.epoch}").shuffle(order)
        open_batches: list[tuple[list[int], set[str]]] = []
        for i in order:
            toks = self.tokens[i]
            for members, used in open_batches:
                if used.isdisjoint(toks):
                    members.append(i)
                    used.update(toks)
                    break
            else:
                if len(open_batches) >= self.max_open:
                    # Too many half-full batches: flush the fullest to keep memory and order bounded.
                    open_batches.sort(key=lambda b: -len(b[0]))
                    members, _ = open_batches.pop(0)
                    if len(members) >= self.min_last:
                        self.stats["batches"] += 1
                        yield members
                    else:
                        self.stats["dropped"] += len(members)
                open_batches.append(([i], set(toks)))
                self.stats["deferred"] += 1
            full = [b for b in open_batches if len(b[0]) >= self.batch_size]
            for b in full:
                open_batches.remove(b)
                self.stats["batches"] += 1
                yield b[0]
        for members, _ in sorted(open_batches, key=lambda b: -len(b[0])):
            if len(members) >= self.min_last:
                self.stats["batches"] += 1
                yield members
            else:
                self.stats["dropped"] += len(members)

    def __len__(self) -> int:
        return max(1, -(-len(self.tokens) // self.batch_size))


class PlainBatchSampler:
    """Shuffled consecutive batches: the baseline with no false-negative filtering."""

    def __init__(self, n: int, batch_size: int, *, seed: int = 0, min_last: int = 2) -> None:
        self.n, self.batch_size, self.seed, self.min_last = n, batch_size, seed, min_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(self.n))
        random.Random(f"{self.seed}:{self.epoch}").shuffle(order)
        for start in range(0, self.n, self.batch_size):
            batch = order[start:start + self.batch_size]
            if len(batch) >= self.min_last:
                yield batch

    def __len__(self) -> int:
        return max(1, -(-self.n // self.batch_size))


def batch_conflicts(batches: Sequence[Sequence[int]], tokens: Sequence[frozenset[str]]) -> dict:
    """How many batches / related index pairs a batching puts together (to measure the filter)."""
    bad_batches, bad_pairs = 0, 0
    for b in batches:
        n = sum(1 for x in range(len(b)) for y in range(x + 1, len(b)) if conflicts(tokens[b[x]], tokens[b[y]]))
        bad_pairs += n
        bad_batches += n > 0
    return {"batches": len(batches), "batches_with_related": bad_batches, "related_pairs_in_batch": bad_pairs}
