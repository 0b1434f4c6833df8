import pytest

from codequarry.errors import UserInputError
from codequarry.indexer import index_repository
from codequarry.search.searcher import Searcher


@pytest.fixture
def searcher(sample_repo):
    index_repository(sample_repo, model="hash")
    return Searcher.open(sample_repo)


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_identifier_query_finds_the_definition_first(searcher, mode):
    top = searcher.search("ParseHTTPHeader", k=3, mode=mode)[0].chunk
    assert (top.file, top.name, top.language) == ("net/http_client.go", "ParseHTTPHeader", "go")


def test_split_identifier_words_match(searcher):
    # "parse http header" only matches ParseHTTPHeader through identifier splitting.
    assert searcher.search("parse http header", k=1, mode="lexical")[0].chunk.name == "ParseHTTPHeader"


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_words_query(searcher, mode):
    top = searcher.search("retry failed uploads", k=3, mode=mode)[0].chunk
    assert top.qualname == "UploadStore.retry_failed_uploads"


def test_filters(searcher):
    assert {r.chunk.language for r in searcher.search("form header upload", k=20, langs=["go"])} == {"go"}
    assert {r.chunk.kind for r in searcher.search("upload", k=20, kinds=["method"])} == {"method"}
    assert {r.chunk.file for r in searcher.search("form", k=20, path="web/*")} == {"web/app.js"}
    assert searcher.search("upload", k=20, langs=["rust"]) == []


def test_results_are_ranked_and_k_is_respected(searcher):
    results = searcher.search("upload", k=2)
    assert len(results) == 2 and results[0].score >= results[1].score


def test_bad_search_input(searcher):
    with pytest.raises(UserInputError):
        searcher.search("   ")
    with pytest.raises(UserInputError):
        searcher.search("x", mode="fuzzy")


def test_windows_of_one_long_definition_show_once(sample_repo):
    body = "".join(f"    checksum_{i} = compute_checksum(blob, {i})\n" for i in range(120))
    (sample_repo / "long.py").write_text(f"def verify_blob(blob):\n{body}    return True\n")
    index_repository(sample_repo, model="hash")
    results = Searcher.open(sample_repo).search("compute checksum blob", k=5)
    keys = [(r.chunk.file, r.chunk.qualname) for r in results]
    assert keys[0] == ("long.py", "verify_blob")
    assert len(keys) == len(set(keys))


def test_lexical_mode_applies_the_ranking_rules(sample_repo):
    from dataclasses import replace

    from codequarry.search.rules import NO_RULES

    (sample_repo / "tests" / "fakes.py").write_text(
        'def retry_failed_uploads(queue):\n    """A fake: retry failed uploads, failed uploads retried."""\n'
        "    return retry_failed_uploads(queue)\n")
    index_repository(sample_repo, model="hash")
    s = Searcher.open(sample_repo)
    raw = s.search("retry failed uploads", k=3, mode="lexical", rule_weights=NO_RULES)
    ruled = s.search("retry failed uploads", k=3, mode="lexical", rule_weights=replace(NO_RULES, test_penalty=0.5))
    assert raw[0].chunk.file == "tests/fakes.py"  # BM25 alone likes the fake that repeats the words
    assert ruled[0].chunk.qualname == "UploadStore.retry_failed_uploads"
