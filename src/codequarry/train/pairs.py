"""Training pairs: the record, its provenance, CoSQA pairs, and the pair-set files.

A pair set is a folder with `pairs.jsonl` (one Pair per line, provenance
included) and `manifest.json` (counts per language/source/split, the sha256
of pairs.jsonl, of every input and of the fetched archives). Everything is
deterministic given the inputs and the seed.

CoSQA (BEIR layout, see /work/shared/datasets/cosqa/README.md):

* dev queries → their judged positives, split by query into `train` and a
  fixed `holdout` part (never trained on; recipes are chosen on it);
* the positive pairs of `original/cosqa-dev.json`;
* anything whose query or code equals (whitespace-insensitively) a test
  query, a test positive, a holdout query or a holdout positive is dropped.
  The test split is never read for anything but this exclusion.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from codequarry.errors import UserInputError

PAIRS_FILE = "pairs.jsonl"
MANIFEST_FILE = "manifest.json"
# Dev queries held out of training for choosing a recipe honestly.
COSQA_HOLDOUT = 150


@dataclass
class Pair:
    query: str
    positive: str
    language: str
    source: str  # cosqa-dev | cosqa-labelled | mined
    repo: str  # repository (package) it came from; CoSQA: "cosqa"
    file: str = ""
    qualname: str = ""
    kind: str = ""
    version: str = ""  # package version / dataset commit
    split: str = "train"  # train | holdout (CoSQA dev) | eval (mined, held-out repositories)
    key: str = ""  # the item's identity for the sampler (chunk or corpus id)
    group: str = ""  # items sharing a group are siblings (same file): never in one batch
    related: list[str] = field(default_factory=list)  # keys of callers/callees
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = hashlib.blake2b(
                f"{self.source}\x00{self.query}\x00{self.positive}".encode("utf-8", "surrogatepass"), digest_size=8
            ).hexdigest()
        if not self.key:
            self.key = self.id

    def to_json(self) -> dict:
        return asdict(self)


def norm_code(code: str) -> str:
    """Whitespace-free form: what counts as 'the same code' for de-duplication."""
    return re.sub(r"\s+", "", code)


def norm_query(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def code_hash(code: str) -> str:
    return hashlib.blake2b(norm_code(code).encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


# -- files ------------------------------------------------------------------------------------
def write_pairs(pairs: Iterable[Pair], path: Path) -> str:
    """Write JSONL (sorted keys, stable order) and return its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with open(path, "w", encoding="utf-8") as fh:
        for p in pairs:
            line = json.dumps(p.to_json(), ensure_ascii=False, sort_keys=True) + "\n"
            fh.write(line)
            h.update(line.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def read_pairs(path: str | Path) -> list[Pair]:
    path = Path(path)
    if path.is_dir():
        path = path / PAIRS_FILE
    if not path.is_file():
        raise UserInputError(f"no pair set at {path}; build one with 'quarry train-data'")
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    out.append(Pair(**json.loads(line)))
                except (json.JSONDecodeError, TypeError) as exc:
                    raise UserInputError(f"{path}:{n}: not a pair record ({exc})") from exc
    return out


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def summarize(pairs: list[Pair]) -> dict:
    by = Counter((p.language, p.source, p.split) for p in pairs)
    langs: dict[str, dict] = {}
    for (lang, source, split), n in sorted(by.items()):
        langs.setdefault(lang, {}).setdefault(split, {})[source] = n
    repos = Counter((p.language, p.repo, p.split) for p in pairs)
    return {
        "pairs": len(pairs),
        "by_language": langs,
        "by_repo": [{"language": l, "repo": r, "split": s, "pairs": n} for (l, r, s), n in sorted(repos.items())],
    }


# -- CoSQA ------------------------------------------------------------------------------------
def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _read_qrels(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[2].strip().lstrip("-").replace(".", "").isdigit() and float(parts[2]) > 0:
                out.setdefault(parts[0], []).append(parts[1])
    return out


def cosqa_holdout_ids(dev_qids: list[str], n: int = COSQA_HOLDOUT, seed: int = 13) -> set[str]:
    """A fixed, seeded choice of dev query ids that training never sees."""
    rng = random.Random(seed)
    ids = sorted(dev_qids)
    rng.shuffle(ids)
    return set(ids[:n])


@dataclass
class CosqaExclusions:
    """What must never be trained on: test (and holdout) queries and positives."""

    queries: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)  # code_hash of positives

    def blocks(self, query: str, code: str) -> bool:
        return norm_query(query) in self.queries or code_hash(code) in self.codes


def cosqa_pairs(root: str | Path, *, holdout: int = COSQA_HOLDOUT, seed: int = 13) -> tuple[list[Pair], CosqaExclusions, dict]:
    """(pairs, exclusions, info). Pairs are dev-train, dev-holdout (split='holdout') and labelled positives."""
    root = Path(root)
    if not (root / "corpus.jsonl").is_file():
        raise UserInputError(f"{root}: not a BEIR folder (no corpus.jsonl)")
    corpus = {str(r["_id"]): ((r.get("title") or "") + "\n" + (r.get("text") or "")).strip("\n")
              for r in _read_jsonl(root / "corpus.jsonl")}
    dev_q = {str(r["_id"]): r["text"] for r in _read_jsonl(root / "queries.dev.jsonl")}
    test_q = {str(r["_id"]): r["text"] for r in _read_jsonl(root / "queries.test.jsonl")}
    dev_rel = _read_qrels(root / "qrels" / "dev.tsv")
    test_rel = _read_qrels(root / "qrels" / "test.tsv")
    held = cosqa_holdout_ids([q for q in dev_q if q in dev_rel], holdout, seed)

    test_block = CosqaExclusions(
        {norm_query(t) for q, t in test_q.items() if q in test_rel},
        {code_hash(corpus[c]) for cs in test_rel.values() for c in cs},
    )
    block = CosqaExclusions(
        test_block.queries | {norm_query(dev_q[q]) for q in held},
        test_block.codes | {code_hash(corpus[c]) for q in held for c in dev_rel[q]},
    )
    dropped = Counter()
    pairs: list[Pair] = []
    for qid, text in dev_q.items():
        for cid in dev_rel.get(qid, []):
            split = "holdout" if qid in held else "train"
            if split == "train" and block.blocks(text, corpus[cid]):
                dropped["dev-overlaps-test-or-holdout"] += 1
                continue
            pairs.append(Pair(text, corpus[cid], "python", "cosqa-dev", "cosqa", file=f"corpus:{cid}",
                              qualname=qid, version="CoCLR@14ebcac", split=split, key=f"cosqa:{cid}",
                              group=f"cosqa:{cid}"))
    labelled = root / "original" / "cosqa-dev.json"
    n_labelled = 0
    if labelled.is_file():
        seen = {(norm_query(p.query), code_hash(p.positive)) for p in pairs}
        for row in json.loads(labelled.read_text(encoding="utf-8")):
            if int(row.get("label", 0)) != 1:
                continue
            n_labelled += 1
            q, code = row["doc"], row["code"]
            if block.blocks(q, code):
                dropped["labelled-overlaps-test-or-holdout"] += 1
                continue
            if (norm_query(q), code_hash(code)) in seen:
                dropped["labelled-duplicate"] += 1
                continue
            seen.add((norm_query(q), code_hash(code)))
            ch = code_hash(code)
            pairs.append(Pair(q, code, "python", "cosqa-labelled", "cosqa", file="original/cosqa-dev.json",
                              qualname=str(row.get("idx", "")), version="CoCLR@14ebcac", key=f"cosqa-code:{ch}",
                              group=f"cosqa-code:{ch}"))
    # The same corpus function as positive of two queries: one key, so they never share a batch.
    by_code: dict[str, str] = {}
    for p in pairs:
        p.key = by_code.setdefault(code_hash(p.positive), p.key)
        p.group = p.key
    info = {
        "dev_queries": len(dev_q), "holdout_queries": len(held), "labelled_positive": n_labelled,
        "dropped": dict(dropped), "test_queries_excluded": len(test_block.queries),
        "test_positives_excluded": len(test_block.codes),
    }
    return pairs, block, info


def iter_split(pairs: Iterable[Pair], split: str) -> Iterator[Pair]:
    return (p for p in pairs if p.split == split)
