"""Pairs mined from code indexed by `quarry index`: doc comment → the definition without it.

For every function/method chunk with a doc comment: the query is the
comment's first sentence (markup, tags and a leading repeat of the
identifier removed), the positive is the chunk's code with the doc comment
(or Python docstring) cut out. Dropped: trivial pairs (the query only
restates the identifier), generic queries shared by many definitions, exact
and near-duplicate code (MinHash over token 3-grams), anything matching a
CoSQA test positive, and code the doc text is still visible in.

Relations for the sampler come from the index itself: call edges
(`calls(chunk_id, callee)`, resolved by name inside the repository) and
containment (same file, same class).
"""

from __future__ import annotations

import re
import textwrap
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from codequarry.train.pairs import Pair, code_hash, norm_query

MINED_KINDS = frozenset({"function", "method", "constructor", "macro"})
MIN_WORDS, MAX_WORDS = 3, 40
MAX_POSITIVE_CHARS = 2000
# A callee name defined more often than this in one repository is too generic to mean an edge.
MAX_NAME_DEFS = 8
MAX_CALLERS = 40
MAX_RELATED = 64

_STOP = frozenset("a an the of to in for on and or is are be by with this that it its from as at given "
                  "return returns get gets set sets if".split())
_BAD_START = ("todo", "fixme", "xxx", "deprecated", "copyright", "license", "see ", "inheritdoc", "{@inheritdoc",
              "@", "internal", "private", "noqa", "type:", "pylint", "-*-", "!", "#", "//", "safety", "note",
              "hack", "example", "unsafe", "panics", "test")
_TAG_LINE = re.compile(r"^\s*(@\w+|:(param|type|return|returns|rtype|raises|arg|var)\b|(args|arguments|returns|"
                       r"raises|yields|parameters|example|examples|note|notes)\s*:?\s*$|#+\s)", re.I)
_INLINE = [
    (re.compile(r"\\(?:brief|short|rst|endrst|details)\b\s*"), ""),  # doxygen / fmt markers
    (re.compile(r"\\[a-z]+\s+(\S+)"), r"\1"),  # \c name, \p arg, \ref X
    (re.compile(r"\{@(?:code|link|linkplain|literal|value)\s+([^}]*)\}"), r"\1"),
    (re.compile(r"</?\w+[^>]*>"), " "),  # html tags in javadoc / phpdoc
    (re.compile(r"\[`?([^\]`]+)`?\]\([^)]*\)"), r"\1"),  # markdown links
    (re.compile(r"\[`([^\]`]+)`\]"), r"\1"),  # rustdoc intra links
    (re.compile(r"`+([^`]*)`+"), r"\1"),
    (re.compile(r":\w+:`~?([^`]*)`"), r"\1"),  # sphinx roles
    (re.compile(r"\*\*?([^*]+)\*\*?"), r"\1"),
    (re.compile(r"\s+"), " "),
]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'`])|(?<=[.!?])$")
_IDENT_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def identifier_words(name: str) -> list[str]:
    return [w.lower() for w in _IDENT_WORDS.findall(name)]


def doc_query(doc: str, name: str) -> str | None:
    """The first sentence of a doc comment as a query, or None when it is unusable."""
    para: list[str] = []
    for line in doc.strip().splitlines():
        if not line.strip():
            if para:
                break
            continue
        if _TAG_LINE.match(line):
            break
        para.append(line.strip())
    text = " ".join(para)
    for pattern, repl in _INLINE:
        text = pattern.sub(repl, text)
    text = text.strip()
    first = _SENTENCE_END.split(text, maxsplit=1)[0].strip() if text else ""
    first = first.rstrip(".:;, ")
    # Go and others open with the identifier: "ReadFile reads the named file" → "reads the named file".
    words = first.split()
    if words and words[0].strip("`'\"*()") in (name, name.split(".")[-1]):
        words = words[1:]
    elif len(words) > 1 and words[0].lower() in ("a", "an", "the") and words[1].strip("`'\"*()") == name:
        words = words[2:]
    first = " ".join(words)
    if not (MIN_WORDS <= len(words) <= MAX_WORDS):
        return None
    low = first.lower()
    if low.startswith(_BAD_START) or not re.search(r"[a-z]{3}", low):
        return None
    if sum(ch.isalpha() or ch == " " for ch in first) < 0.8 * len(first):
        return None  # mostly symbols: a formula, a signature, a code sample
    return first


def is_trivial(query: str, name: str) -> bool:
    """True when the query says little beyond the identifier itself."""
    name_words = set(identifier_words(name))
    content = [w for w in norm_query(query).split() if w not in _STOP]
    if not content or set(content) <= name_words:
        return True
    multiword = len(identifier_words(name)) > 1 and len(name) >= 6
    return multiword and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", query) is not None


_PY_DOC = re.compile(
    r"^(?P<head>.*?:[ \t]*(?:#[^\n]*)?\n)(?P<ind>[ \t]*)[rRuUbB]{0,2}(?P<q>\"\"\"|'''|\"|')(?P<body>.*?)(?P=q)[ \t]*\n?",
    re.S,
)


def strip_doc(code: str, language: str) -> str:
    """The definition without its leading doc comment (and without a Python docstring)."""
    lines = code.split("\n")
    kept: list[str] = []
    i, in_block = 0, False
    hash_comments = language in ("python", "ruby", "bash", "shell")
    while i < len(lines):
        s = lines[i].strip()
        if in_block:
            in_block = "*/" not in s
            i += 1
            continue
        if not s or s.startswith(("//", "*/")) or (s.startswith("*") and not s.startswith("*=")):
            i += 1
            continue
        if s.startswith("/*"):
            in_block = "*/" not in s[2:]
            i += 1
            continue
        if hash_comments and s.startswith("#"):
            i += 1
            continue
        if s.startswith(("@", "#[", "#![")) or (language in ("csharp", "php") and s.startswith(("[", "#["))):
            kept.append(lines[i])  # decorators / attributes / annotations stay
            i += 1
            continue
        break
    rest = "\n".join(kept + lines[i:])
    if language == "python":
        m = _PY_DOC.match(rest)
        if m and m.group("head").count("\n") <= 12:
            rest = m.group("head") + rest[m.end():]
    return textwrap.dedent(rest).strip("\n")


def _leaks(query: str, positive: str) -> bool:
    """The doc text survived the cut (a comment inside the body, a docstring we missed)."""
    words = norm_query(query).split()
    if len(words) < 4:
        return False
    return " ".join(words[:5]) in norm_query(positive)


# -- near duplicates ----------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+|[^\w\s]")
_PRIME = np.uint64((1 << 61) - 1)
_PERMS = 64
_BANDS = 8


def _perm_params(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(1, (1 << 31) - 1, _PERMS, dtype=np.uint64),
            rng.integers(0, (1 << 31) - 1, _PERMS, dtype=np.uint64))


def minhash(code: str, params=None) -> np.ndarray:
    a, b = params or _perm_params()
    toks = _TOKEN.findall(code)
    grams = {zlib.crc32(" ".join(toks[i:i + 3]).encode("utf-8", "surrogatepass")) for i in range(max(1, len(toks) - 2))}
    x = np.fromiter(grams, dtype=np.uint64)
    return ((x[:, None] * a[None, :] + b[None, :]) % _PRIME).min(axis=0)


class NearDuplicates:
    """MinHash-LSH: `seen(code)` is True when a code with estimated Jaccard ≥ threshold was added."""

    def __init__(self, threshold: float = 0.8) -> None:
        self.threshold = threshold
        self.params = _perm_params()
        self.buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
        self.sigs: list[np.ndarray] = []

    def seen(self, code: str, add: bool = True) -> bool:
        sig = minhash(code, self.params)
        rows = _PERMS // _BANDS
        keys = [(band, sig[band * rows:(band + 1) * rows].tobytes()) for band in range(_BANDS)]
        for key in keys:
            for other in self.buckets.get(key, ()):
                if float(np.mean(self.sigs[other] == sig)) >= self.threshold:
                    return True
        if add:
            self.sigs.append(sig)
            for key in keys:
                self.buckets[key].append(len(self.sigs) - 1)
        return False


# -- from an index ----------------------------------------------------------------------------------
def index_source(root: Path, index_dir: Path):
    """`quarry index` on a fetched source with the hashing encoder: chunks and call edges, no model time."""
    from codequarry.embed.encoder import HashingEncoder
    from codequarry.indexer import index_repository

    return index_repository(Path(root), index_dir=Path(index_dir), encoder=HashingEncoder(64))


def mine_index(index_dir: Path, *, repo: str, version: str, stats: Counter | None = None) -> list[Pair]:
    """Candidate pairs (before de-duplication) of one indexed repository, with call-graph relations."""
    from codequarry.store.db import IndexDB

    stats = stats if stats is not None else Counter()
    db = IndexDB(Path(index_dir), readonly=True)
    try:
        chunks = dict(db.iter_chunks())
        calls: dict[int, list[str]] = defaultdict(list)
        for cid, callee in db.conn.execute("SELECT chunk_id, callee FROM calls"):
            calls[cid].append(callee)
    finally:
        db.close()
    defs_by_name: dict[str, list[int]] = defaultdict(list)
    callers_of: dict[str, list[int]] = defaultdict(list)
    for cid, c in chunks.items():
        if c.kind in MINED_KINDS and c.parent != c.qualname:
            defs_by_name[c.name].append(cid)
        for callee in calls.get(cid, ()):
            callers_of[callee].append(cid)

    def key(cid: int) -> str:
        # Stable across re-indexing (row ids are not): the definition's file and first line.
        c = chunks[cid]
        return f"{repo}#{c.file}:{c.line_start}"

    out: list[Pair] = []
    for cid, c in chunks.items():
        if c.kind not in MINED_KINDS:
            continue
        stats["definitions"] += 1
        if c.parent == c.qualname:  # a window of a definition too long for one chunk
            stats["skip_windowed"] += 1
            continue
        if not c.doc.strip():
            stats["skip_no_doc"] += 1
            continue
        query = doc_query(c.doc, c.name)
        if query is None:
            stats["skip_unusable_doc"] += 1
            continue
        if is_trivial(query, c.name):
            stats["skip_trivial"] += 1
            continue
        positive = strip_doc(c.code, c.language)
        body_lines = [x for x in positive.splitlines() if x.strip()]
        if len(body_lines) < 2 or len(positive) < 40 or len(positive) > MAX_POSITIVE_CHARS:
            stats["skip_size"] += 1
            continue
        if _leaks(query, positive):
            stats["skip_doc_left_in_code"] += 1
            continue
        related: set[str] = set()
        for callee in calls.get(cid, ()):
            targets = defs_by_name.get(callee, ())
            if len(targets) <= MAX_NAME_DEFS:
                related.update(key(t) for t in targets if t != cid)
        callers = callers_of.get(c.name, ())
        if len(defs_by_name.get(c.name, ())) <= MAX_NAME_DEFS and len(callers) <= MAX_CALLERS:
            related.update(key(t) for t in callers if t != cid)
        owner = c.qualname.rsplit("::" if "::" in c.qualname else ".", 1)[0] if c.qualname != c.name else ""
        if owner:
            related.add(f"{repo}:class:{owner}")
        stats["candidates"] += 1
        out.append(Pair(query, positive, c.language, "mined", repo, file=c.file, qualname=c.qualname,
                        kind=c.kind, version=version, key=key(cid), group=f"{repo}:{c.file}",
                        related=sorted(related)[:MAX_RELATED]))
    return out


def dedupe(pairs: list[Pair], *, blocked_codes: list[str] = (), stats: Counter | None = None,
           max_query_repeats: int = 3) -> list[Pair]:
    """Drop generic queries, exact and near-duplicate code, and code near a blocked (test) positive."""
    stats = stats if stats is not None else Counter()
    qcount = Counter(norm_query(p.query) for p in pairs)
    near = NearDuplicates()
    blocked_hashes = set()
    for code in blocked_codes:
        near.seen(code)
        blocked_hashes.add(code_hash(code))
    seen_codes: set[str] = set()
    seen_queries: set[str] = set()
    out = []
    for p in pairs:
        q = norm_query(p.query)
        if qcount[q] > max_query_repeats:
            stats["drop_generic_query"] += 1
            continue
        h = code_hash(p.positive)
        if h in blocked_hashes:
            stats["drop_matches_test"] += 1
            continue
        if h in seen_codes or q in seen_queries:
            stats["drop_exact_duplicate"] += 1
            continue
        if near.seen(p.positive):
            stats["drop_near_duplicate"] += 1
            continue
        seen_codes.add(h)
        seen_queries.add(q)
        out.append(p)
    return out
