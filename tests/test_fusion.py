import pytest

from codequarry.search.fusion import FusionWeights, convex, fuse, minmax, rrf, top
from codequarry.search.tokens import is_identifier_query, split_identifier, tokenize


def test_split_identifier():
    assert split_identifier("parseHTTPHeader") == ["parse", "http", "header"]
    assert split_identifier("read_file_v2") == ["read", "file", "v", "2"]
    assert tokenize("HnswIndex::build") == ["hnsw", "index", "hnswindex", "build"]


def test_identifier_queries():
    for q in ("parseHTTPHeader", "Store.open", "read_file", "HnswIndex::build", "open()"):
        assert is_identifier_query(q), q
    for q in ("read a file", "how to retry uploads", "json"):
        assert not is_identifier_query(q), q


def test_minmax_and_convex():
    assert minmax({1: 2.0, 2: 4.0}) == {1: 0.0, 2: 1.0}
    assert minmax({1: 3.0}) == {1: 1.0}
    fused = convex({1: 0.9, 2: 0.1}, {2: 10.0, 3: 5.0}, lexical_share=0.25)
    # Min-max puts each leg's weakest candidate at 0, like a candidate the leg missed.
    assert fused == {1: 0.75, 2: 0.25, 3: 0.0}


def test_rrf_rewards_agreement():
    fused = rrf({1: 0.9, 2: 0.8}, {2: 5.0, 3: 1.0})
    assert top(fused, 1)[0][0] == 2


def test_exact_name_boost_and_lone_word_identifiers():
    dense = {1: 0.9, 2: 0.6, 3: 0.1}
    lexical = {1: 1.0, 2: 0.9, 3: 0.1}
    names = {1: ("urljoin", "urljoin"), 2: ("urlsplit", "urlsplit"), 3: ("quote", "quote")}
    w = FusionWeights()
    # "urlsplit" is one lower-case word, but a candidate bears that name: it is an identifier.
    assert top(fuse("urlsplit", dense, lexical, names, w), 1)[0][0] == 2
    # Without names (a BEIR corpus) it stays a word query and the legs decide.
    assert top(fuse("urlsplit", dense, lexical, None, w), 1)[0][0] == 1
    assert top(fuse("SplitResult.geturl", dense, lexical, {1: ("geturl", "SplitResult.geturl"), 2: ("x", "x"), 3: ("y", "y")}, w), 1)[0][0] == 1


def test_lexical_mode_is_on_the_hybrid_scale_with_the_exact_name_boost():
    from codequarry.search.fusion import fuse_lexical

    lexical = {1: 12.0, 2: 8.0, 3: 2.0}
    names = {1: ("open_file", "open_file"), 2: ("urlsplit", "urlsplit"), 3: ("x", "x")}
    assert fuse_lexical("open a file", lexical, names) == {1: 1.0, 2: 0.6, 3: 0.0}
    w = FusionWeights(qualname_bonus=0.0)
    boosted = fuse_lexical("urlsplit", lexical, names, w)
    assert top(boosted, 1)[0][0] == 2 and boosted[2] == 0.6 + w.exact_name_boost


def test_qualname_bonus_prefers_the_definition_named_exactly():
    from codequarry.search.fusion import fuse_lexical

    lexical = {1: 10.0, 2: 9.5, 3: 0.0}
    names = {1: ("Glob", "IOFS.Glob"), 2: ("Glob", "Glob"), 3: ("glob", "glob")}
    assert top(fuse_lexical("Glob", lexical, names, FusionWeights(qualname_bonus=0.0)), 1)[0][0] == 1
    assert top(fuse_lexical("Glob", lexical, names, FusionWeights(qualname_bonus=0.2)), 1)[0][0] == 2


def test_code_words_inside_a_query_in_words():
    from codequarry.search.fusion import code_words, fuse_lexical

    assert code_words("the ChoiceLoader class") == ["ChoiceLoader"]
    assert code_words("JsonFormatter formatBatch, please") == ["JsonFormatter", "formatBatch"]
    assert code_words("how are templates loaded") == []
    lexical = {1: 10.0, 2: 9.0, 3: 0.0}
    names = {1: ("load", "Loader.load"), 2: ("ChoiceLoader", "ChoiceLoader"), 3: ("x", "x")}
    assert top(fuse_lexical("the ChoiceLoader class", lexical, names, FusionWeights()), 1)[0][0] == 1
    assert top(fuse_lexical("the ChoiceLoader class", lexical, names, FusionWeights(embedded_name_boost=0.3)),
               1)[0][0] == 2


def test_qualname_bonus_half_for_a_name_in_the_right_case():
    from codequarry.search.fusion import fuse_lexical

    lexical = {1: 10.0, 2: 9.5, 3: 0.0}
    names = {1: ("json", "context.json"), 2: ("JSON", "context.JSON"), 3: ("x", "x")}
    assert top(fuse_lexical("Context.JSON", lexical, names, FusionWeights(qualname_bonus=0.2)), 1)[0][0] == 2


def test_an_unembedded_candidate_is_scored_by_its_lexical_score_alone():
    from codequarry.search.fusion import convex

    dense = {1: 0.9, 2: 0.1}
    lexical = {1: 1.0, 2: 2.0, 3: 5.0}
    plain = convex(dense, lexical, 0.25)
    assert plain[3] == pytest.approx(0.25)  # best lexical hit, but it has no vector: loses the dense share
    waiting = convex(dense, lexical, 0.25, unembedded={3})
    assert waiting[3] == pytest.approx(1.0) and waiting[1] == plain[1]
