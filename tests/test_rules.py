from dataclasses import replace

import pytest

from codequarry.domain import Chunk
from codequarry.search.rules import (
    NO_RULES, QueryInfo, apply_rules, is_declaration_path, is_doc, is_shim_path, is_test_path, is_vendor_path,
)


def chunk(file, kind="function", name="f"):
    return Chunk(file=file, language="python", kind=kind, name=name, qualname=name, line_start=1, line_end=2, code="x")


def test_test_paths():
    for p in ("tests/test_x.py", "pkg/tests/helpers.py", "src/x_test.go", "web/app.spec.ts", "test_top.py"):
        assert is_test_path(p), p
    for p in ("src/testing_utils_not.py", "contest.py", "src/attest.py"):
        assert not is_test_path(p), p


def test_each_rule_moves_only_what_it_names():
    chunks = {1: chunk("src/a.py"), 2: chunk("src/a.py", kind="window"), 3: chunk("tests/test_a.py"),
              4: chunk("examples/demo.py"), 5: chunk("pkg/_compat.py")}
    base = {i: 1.0 for i in chunks}
    assert apply_rules(base, chunks, NO_RULES) == base
    boosted = apply_rules(base, chunks, replace(NO_RULES, definition_boost=0.2))
    assert boosted[1] == 1.2 and boosted[2] == 1.0
    demoted = apply_rules(base, chunks, replace(NO_RULES, test_penalty=0.3, example_penalty=0.2, shim_penalty=0.1))
    assert (demoted[1], demoted[3], demoted[4], demoted[5]) == (1.0, 0.7, 0.8, 0.9)


def test_file_coherence_favours_files_with_several_candidates():
    chunks = {1: chunk("a.py"), 2: chunk("a.py"), 3: chunk("b.py")}
    scores = {1: 0.5, 2: 0.5, 3: 0.6}
    out = apply_rules(scores, chunks, replace(NO_RULES, file_coherence=0.5))
    assert out[1] > out[3]


def doc(file, language="markdown"):
    return Chunk(file=file, language=language, kind="section", name="Intro", qualname="Intro", line_start=1,
                 line_end=2, code="text")


def test_path_and_doc_classes():
    assert is_shim_path("requests/compat.py") and is_shim_path("pkg/legacy/api.py") and is_shim_path("lib/v1/x.go")
    assert not is_shim_path("src/compatible_types.py")
    assert is_vendor_path("src/vendor/x.go") and is_vendor_path("third_party/a.c") and not is_vendor_path("src/vendors.py")
    assert is_declaration_path("types/index.d.ts") and not is_declaration_path("src/index.ts")
    assert is_doc(doc("docs/guide.md")) and is_doc(doc("README.rst", "text")) and is_doc(doc("CLAUDE.md"))
    assert is_doc(chunk("AGENTS.md")) and not is_doc(chunk("src/readme_parser.py"))


def test_penalties_step_aside_when_the_query_asks_for_that_kind_of_file():
    chunks = {1: chunk("src/a.py"), 2: chunk("tests/test_a.py"), 3: chunk("examples/demo.py"),
              4: chunk("pkg/compat.py"), 5: chunk("vendor/lib.py"), 6: chunk("types/a.d.ts")}
    base = {i: 1.0 for i in chunks}
    w = replace(NO_RULES, test_penalty=0.3, example_penalty=0.3, shim_penalty=0.3, vendor_penalty=0.3,
                declaration_penalty=0.3)
    plain = apply_rules(base, chunks, w, QueryInfo.of("open the store", False))
    assert plain[1] == 1.0 and all(plain[i] == pytest.approx(0.7) for i in (2, 3, 4, 5, 6))
    asks = apply_rules(base, chunks, w, QueryInfo.of("tests for the legacy example store", False))
    assert asks[2] == asks[3] == asks[4] == 1.0 and asks[5] == pytest.approx(0.7)


def test_docs_yield_to_code_by_query_type():
    chunks = {1: chunk("src/a.py"), 2: doc("README.md")}
    base = {1: 0.9, 2: 1.0}
    w = replace(NO_RULES, doc_penalty_words=0.2, doc_penalty_identifier=0.5)
    words = apply_rules(base, chunks, w, QueryInfo.of("open the store", False))
    ident = apply_rules(base, chunks, w, QueryInfo.of("Store.open", True))
    asks = apply_rules(base, chunks, w, QueryInfo.of("where is the store documented", False))
    assert words[2] == pytest.approx(0.8) and ident[2] == pytest.approx(0.5) and asks[2] == 1.0
    assert words[1] == ident[1] == 0.9


def test_name_and_path_matches_use_stems():
    chunks = {1: chunk("src/x.py", name="ConfigParser"), 2: chunk("src/x.py", name="render"),
              3: chunk("src/sessions.py", name="send"), 4: chunk("src/x.py", kind="window", name="x")}
    base = {i: 0.5 for i in chunks}
    q = QueryInfo.of("parse the config", False)
    out = apply_rules(base, chunks, replace(NO_RULES, name_match=0.2), q)
    assert out[1] == pytest.approx(0.7) and out[2] == out[3] == out[4] == 0.5
    out = apply_rules(base, chunks, replace(NO_RULES, path_match=0.2), QueryInfo.of("session send", False))
    assert out[3] == pytest.approx(0.6) and out[1] == 0.5  # half the query's words are in the path


def test_coherence_counts_a_files_best_few():
    chunks = {1: chunk("a.py"), 2: chunk("a.py"), 3: chunk("a.py"), 4: chunk("a.py"), 5: chunk("b.py")}
    scores = {1: 0.4, 2: 0.4, 3: 0.4, 4: 0.4, 5: 0.9}
    out = apply_rules(scores, chunks, replace(NO_RULES, file_coherence=0.5, coherence_depth=2))
    # a.py: evidence 0.8 (its best two) against b.py's 0.9.
    assert out[1] == pytest.approx(0.4 + 0.5 * 0.8 / 0.9) and out[5] == pytest.approx(1.4)


def test_a_doc_section_drops_below_the_code_it_names():
    code = Chunk(file="src/sessions.py", language="python", kind="method", name="resolve_redirects",
                 qualname="Session.resolve_redirects", line_start=1, line_end=9, code="def resolve_redirects(): ...")
    other = chunk("src/other.py", name="helper")
    section = Chunk(file="docs/redirects.md", language="markdown", kind="section", name="Redirects",
                    qualname="Redirects", line_start=1, line_end=4, code="Call `resolve_redirects` to follow them.")
    unrelated = Chunk(file="README.md", language="markdown", kind="section", name="Intro", qualname="Intro",
                      line_start=1, line_end=2, code="An HTTP library.")
    chunks = {1: code, 2: other, 3: section, 4: unrelated}
    scores = {1: 0.5, 2: 0.6, 3: 0.9, 4: 0.8}
    out = apply_rules(scores, chunks, replace(NO_RULES, doc_defers=1.0), QueryInfo.of("follow redirects", False))
    assert out[3] < out[1] and out[3] > 0.49 and out[4] == 0.8 and out[2] == 0.6
    asks = apply_rules(scores, chunks, replace(NO_RULES, doc_defers=1.0), QueryInfo.of("redirects docs", False))
    assert asks[3] == 0.9


def test_container_discount_only_touches_containers():
    chunks = {1: chunk("a.py", kind="class"), 2: chunk("a.py", kind="method"), 3: chunk("a.py", kind="window")}
    out = apply_rules({i: 1.0 for i in chunks}, chunks, replace(NO_RULES, definition_boost=0.2, container_discount=0.15))
    assert out[1] == pytest.approx(1.05) and out[2] == pytest.approx(1.2) and out[3] == 1.0
