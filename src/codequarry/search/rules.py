"""Ranking rules applied after fusion, each a pure function of candidates.

A rule stays enabled only while it shows a measured gain on dev data
(bench/rules_ablation.py on the repository fixture's dev half and CoSQA dev);
the defaults in RuleWeights are those measurements' outcome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codequarry.domain import Chunk

DEFINITION_KINDS = frozenset(
    {"function", "method", "class", "struct", "enum", "interface", "trait", "impl", "type", "macro", "constant",
     "table", "view", "index", "trigger"}
)
_TEST_PATH = re.compile(r"(^|/)(tests?|testing|__tests__|spec|specs)(/|$)|(^|/)(test_[^/]*|[^/]*_test\.[a-z]+|[^/]*\.(test|spec)\.[a-z]+)$")
_EXAMPLE_PATH = re.compile(r"(^|/)(examples?|samples?|demos?|benchmarks?|bench|docs?)(/|$)")
_SHIM_PATH = re.compile(r"(^|/)(compat|_compat|shims?|legacy|deprecated)([/._]|$)")


@dataclass(frozen=True, slots=True)
class RuleWeights:
    # Additive terms on the fused score (fused scores lie in [0, ~1.5]). Measured on the
    # stdlib fixture dev half (bench/ranking_ablation.py, MiniLM, hybrid): definition_boost
    # 0.2 lifts nDCG@10 0.725 → 0.739 (0.710 → 0.718 with the "full" text format);
    # file_coherence moved it by -0.000..+0.007 depending on the text format — noise — so
    # it is off; the path penalties have no dev data with tests/examples/shims yet, so off.
    definition_boost: float = 0.2
    test_penalty: float = 0.0
    example_penalty: float = 0.0
    shim_penalty: float = 0.0
    # Added to every candidate from the file of the best candidate, scaled by rank of that file.
    file_coherence: float = 0.0


DEFAULT_RULES = RuleWeights()


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def apply_rules(scores: dict[int, float], chunks: dict[int, Chunk], rules: RuleWeights = DEFAULT_RULES) -> dict[int, float]:
    out = dict(scores)
    for i, s in scores.items():
        c = chunks.get(i)
        if c is None:
            continue
        if rules.definition_boost and c.kind in DEFINITION_KINDS:
            s += rules.definition_boost
        if rules.test_penalty and is_test_path(c.file):
            s -= rules.test_penalty
        if rules.example_penalty and _EXAMPLE_PATH.search(c.file):
            s -= rules.example_penalty
        if rules.shim_penalty and _SHIM_PATH.search(c.file):
            s -= rules.shim_penalty
        out[i] = s
    if rules.file_coherence:
        # Files holding several strong candidates are likelier the right place.
        per_file: dict[str, float] = {}
        for i, s in out.items():
            if i in chunks:
                per_file[chunks[i].file] = per_file.get(chunks[i].file, 0.0) + max(s, 0.0)
        best = max(per_file.values(), default=0.0) or 1.0
        for i in out:
            if i in chunks:
                out[i] += rules.file_coherence * per_file[chunks[i].file] / best
    return out
