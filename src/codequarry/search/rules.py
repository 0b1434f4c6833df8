"""Ranking rules applied after fusion, each a pure function of the candidates.

A rule stays enabled only while it shows a measured gain on dev data
(bench/ranking_ablation.py: CoSQA dev, the stdlib fixture's dev half and the
repository fixtures' dev repositories); RuleWeights' defaults are those
measurements' outcome, and a weight of 0 turns a rule off.

Scores here are fused scores (each leg min-max normalised, so roughly [0, 1.5]);
every rule adds or subtracts a constant share of that scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from codequarry.domain import Chunk
from codequarry.search.tokens import STOPWORDS, split_identifier, stem, tokenize

DEFINITION_KINDS = frozenset(
    {"function", "method", "class", "struct", "enum", "interface", "trait", "impl", "type", "macro", "constant",
     "table", "view", "index", "trigger", "module", "protocol", "object", "record", "typeclass", "instance"}
)
CONTAINER_KINDS = frozenset({"class", "struct", "interface", "trait", "impl", "module", "protocol", "object",
                             "record", "enum", "typeclass", "instance"})
_TEST_PATH = re.compile(
    r"(^|/)(tests?|testing|__tests__|__mocks__|spec|specs|test_?data|testdata|fixtures)(/|$)"
    r"|(^|/)(test_[^/]*|[^/]*_tests?\.[a-z]+|[^/]*\.(test|spec)\.[a-z]+|[^/]*Tests?\.[a-z]+|[^/]*_spec\.[a-z]+|conftest\.py)$"
)
_EXAMPLE_PATH = re.compile(r"(^|/)(examples?|samples?|demos?|benchmarks?|bench|tutorials?|docs?|cookbook)(/|$)")
_SHIM_PATH = re.compile(r"(^|/)(compat|_compat|compatibility|shims?|legacy|deprecated|backports?|polyfills?|v1)([/._-]|$)")
_VENDOR_PATH = re.compile(r"(^|/)(vendor|vendored|_vendor|third_party|thirdparty|3rdparty|extern|external|deps)(/|$)")
_DECLARATION_PATH = re.compile(r"\.d\.[cm]?ts$")
DOC_LANGUAGES = frozenset({"markdown", "rst", "text", "asciidoc", "org"})
_DOC_EXT = frozenset({".md", ".markdown", ".rst", ".txt", ".adoc", ".asciidoc", ".org", ".rdoc", ".pod", ".textile"})
_DOC_NAMES = re.compile(r"^(readme|changelog|changes|history|news|license|licence|contributing|authors|notice|"
                        r"copying|install|upgrading|migration|security|code_of_conduct|agents|claude)\b", re.I)

# Query words that ask for the kind of file a rule would otherwise push down.
_ASKS_TESTS = frozenset({"test", "tests", "testing", "spec", "specs", "fixture", "fixtures", "mock", "mocks"})
_ASKS_EXAMPLES = frozenset({"example", "examples", "demo", "demos", "sample", "samples", "tutorial", "benchmark"})
_ASKS_SHIMS = frozenset({"compat", "compatibility", "legacy", "deprecated", "shim", "shims", "backport", "polyfill"})
_ASKS_DOCS = frozenset({"doc", "docs", "documentation", "documented", "readme", "guide", "changelog", "license",
                        "tutorial", "manual", "faq", "install", "installation", "contributing"})


@dataclass(frozen=True, slots=True)
class RuleWeights:
    """Defaults chosen on dev data by bench/ranking_tune.py; bench/ranking_ablation.py measures each."""

    # Added to a definition (function, class, …) over a window or a doc section.
    definition_boost: float = 0.4
    # Taken back from containers (class, struct, interface, impl, …): their skeleton names the
    # topic, but the answer is usually one of their members. Off: no dev gain.
    container_discount: float = 0.0
    # Subtracted from chunks of tests, examples/docs folders, compat/legacy shims, vendored code and
    # TypeScript declaration files — unless the query asks for that kind of file. Examples, vendored
    # code and .d.ts are off: the dev repositories have (almost) none, so no gain was measurable.
    test_penalty: float = 0.5
    example_penalty: float = 0.0
    shim_penalty: float = 0.2
    vendor_penalty: float = 0.0
    declaration_penalty: float = 0.0
    # Subtracted from prose (Markdown, reStructuredText, text; README and friends) for a code
    # question: more for an identifier query than for one in words; never when the query asks for
    # docs. For identifier queries the exact-name boost already decides (no dev gain).
    doc_penalty_words: float = 0.3
    doc_penalty_identifier: float = 0.0
    # Added × the share of the query's words found in the chunk's name (stems: `parse config` ↔ ConfigParser).
    name_match: float = 0.5
    # Added × the share of the query's words found in the file's path (folders and stem).
    path_match: float = 0.2
    # Added × the file's evidence (sum of its best `coherence_depth` candidate scores, over the best
    # file's): a file holding several strong candidates is likelier the right place.
    file_coherence: float = 1.0
    coherence_depth: int = 3
    # 1: a doc section that names a code candidate (say `resolve_redirects`) ranks just below that
    # code, for a code question: the prose describes it, the code is the answer. Off: the doc
    # penalty already does it (no gain on top of it).
    doc_defers: float = 0.0


DEFAULT_RULES = RuleWeights()
NO_RULES = RuleWeights(**{f: 0.0 for f in RuleWeights.__dataclass_fields__ if f != "coherence_depth"})


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def is_example_path(path: str) -> bool:
    return bool(_EXAMPLE_PATH.search(path))


def is_shim_path(path: str) -> bool:
    return bool(_SHIM_PATH.search(path))


def is_vendor_path(path: str) -> bool:
    return bool(_VENDOR_PATH.search(path))


def is_declaration_path(path: str) -> bool:
    return bool(_DECLARATION_PATH.search(path))


def is_doc(chunk: Chunk) -> bool:
    """Prose, not code: Markdown/reST/text files and README-like files, whatever their extension."""
    if chunk.language in DOC_LANGUAGES:
        return True
    p = PurePosixPath(chunk.file)
    return p.suffix.lower() in _DOC_EXT or bool(_DOC_NAMES.match(p.name))


def query_words(query: str) -> frozenset[str]:
    """The query's content words, split and stemmed as the lexical leg sees them."""
    return frozenset(stem(t) for t in tokenize(query, keep_whole=False))


def _raw_words(query: str) -> frozenset[str]:
    return frozenset(t for t in tokenize(query, keep_whole=False, stopwords=frozenset()))


def _share(words: frozenset[str], text_tokens: frozenset[str]) -> float:
    return len(words & text_tokens) / len(words) if words else 0.0


def _name_tokens(chunk: Chunk) -> frozenset[str]:
    return frozenset(stem(p) for p in split_identifier(chunk.name) if p not in STOPWORDS)


def _path_tokens(path: str) -> frozenset[str]:
    p = PurePosixPath(path)
    return frozenset(stem(t) for part in (*p.parent.parts, p.stem) for t in split_identifier(part))


@dataclass(frozen=True, slots=True)
class QueryInfo:
    """What the rules need to know about a query, computed once."""

    identifier: bool
    words: frozenset[str]
    asks_tests: bool
    asks_examples: bool
    asks_shims: bool
    asks_docs: bool

    @classmethod
    def of(cls, query: str, identifier: bool) -> "QueryInfo":
        raw = _raw_words(query)
        return cls(identifier, query_words(query), bool(raw & _ASKS_TESTS), bool(raw & _ASKS_EXAMPLES),
                   bool(raw & _ASKS_SHIMS), bool(raw & _ASKS_DOCS))


def apply_rules(scores: dict[int, float], chunks: dict[int, Chunk], rules: RuleWeights = DEFAULT_RULES,
                query: QueryInfo | None = None) -> dict[int, float]:
    q = query or QueryInfo(False, frozenset(), False, False, False, False)
    doc_penalty = rules.doc_penalty_identifier if q.identifier else rules.doc_penalty_words
    out = dict(scores)
    path_cache: dict[str, float] = {}
    for i, s in scores.items():
        c = chunks.get(i)
        if c is None:
            continue
        if rules.definition_boost and c.kind in DEFINITION_KINDS:
            s += rules.definition_boost
        if rules.container_discount and c.kind in CONTAINER_KINDS:
            s -= rules.container_discount
        if rules.test_penalty and not q.asks_tests and is_test_path(c.file):
            s -= rules.test_penalty
        if rules.example_penalty and not q.asks_examples and is_example_path(c.file) and not is_doc(c):
            s -= rules.example_penalty
        if rules.shim_penalty and not q.asks_shims and is_shim_path(c.file):
            s -= rules.shim_penalty
        if rules.vendor_penalty and is_vendor_path(c.file):
            s -= rules.vendor_penalty
        if rules.declaration_penalty and is_declaration_path(c.file):
            s -= rules.declaration_penalty
        if doc_penalty and not q.asks_docs and is_doc(c):
            s -= doc_penalty
        if rules.name_match and q.words and c.kind != "window":
            s += rules.name_match * _share(_name_tokens(c), q.words) * _share(q.words, _name_tokens(c)) ** 0.5
        if rules.path_match and q.words:
            if c.file not in path_cache:
                path_cache[c.file] = _share(q.words, _path_tokens(c.file))
            s += rules.path_match * path_cache[c.file]
        out[i] = s
    if rules.doc_defers and not q.asks_docs:
        out = docs_defer_to_code(out, chunks)
    if rules.file_coherence:
        out = file_coherence(out, chunks, rules.file_coherence, rules.coherence_depth)
    return out


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


def docs_defer_to_code(scores: dict[int, float], chunks: dict[int, Chunk]) -> dict[int, float]:
    """Each doc chunk scoring above a code candidate it mentions by name drops just below the best such."""
    code_by_name: dict[str, float] = {}
    for i, s in scores.items():
        c = chunks.get(i)
        if c is not None and c.kind in DEFINITION_KINDS and not is_doc(c) and len(c.name) > 2:
            key = c.name.lower()
            code_by_name[key] = max(code_by_name.get(key, float("-inf")), s)
    if not code_by_name:
        return scores
    out = dict(scores)
    for i, s in scores.items():
        c = chunks.get(i)
        if c is None or not is_doc(c):
            continue
        named = [code_by_name[w] for w in {m.group(0).lower() for m in _WORD.finditer(c.code)} if w in code_by_name]
        below = [t for t in named if t < s]
        if below:
            out[i] = max(below) - 1e-6
    return out


def file_coherence(scores: dict[int, float], chunks: dict[int, Chunk], weight: float, depth: int = 3) -> dict[int, float]:
    """Add weight × (the file's evidence / the best file's), evidence = sum of its best `depth` scores."""
    per_file: dict[str, list[float]] = {}
    for i, s in scores.items():
        if i in chunks:
            per_file.setdefault(chunks[i].file, []).append(max(s, 0.0))
    evidence = {f: sum(sorted(v, reverse=True)[:depth]) for f, v in per_file.items()}
    best = max(evidence.values(), default=0.0) or 1.0
    return {i: s + (weight * evidence[chunks[i].file] / best if i in chunks else 0.0) for i, s in scores.items()}
