"""--lang / --kind are checked where every search passes (Searcher.search), the warm server included."""

import sqlite3

import pytest

from codequarry.chunk import languages
from codequarry.errors import UserInputError
from codequarry.indexer import index_repository
from codequarry.search.filters import check_filters, known_kinds, known_languages
from codequarry.search.searcher import Searcher
from conftest import run_cli


@pytest.fixture
def searcher(sample_repo):
    index_repository(sample_repo, model="hash")
    s = Searcher.open(sample_repo)
    yield s
    s.close()


@pytest.mark.parametrize("langs, kinds, message", [
    (["Python"], [], "unknown language 'Python' (did you mean 'python'?); languages: asciidoc, "),
    (["py"], [], "(did you mean 'python'?)"),
    (["golang"], [], "(did you mean 'go'?)"),
    (["cobol"], [], "unknown language 'cobol'; languages:"),
    ([], ["Method"], "unknown kind 'Method' (did you mean 'method'?); kinds: class,"),
    ([], ["fn"], "(did you mean 'function'?)"),
    ([], ["klass"], "(did you mean 'class'?)"),
])
def test_unknown_language_or_kind_is_refused_with_a_suggestion(searcher, langs, kinds, message):
    with pytest.raises(UserInputError) as info:
        searcher.search("upload", 5, "lexical", langs=langs, kinds=kinds)
    assert message in info.value.format_message()


def test_valid_filters_still_filter(searcher):
    hits = searcher.search("upload", 20, "lexical", langs=["python"], kinds=["method"])
    assert hits and {(r.chunk.language, r.chunk.kind) for r in hits} == {("python", "method")}
    assert searcher.search("upload", 5, "lexical", langs=["sql"]) == []  # known, just absent: no error


def test_a_value_the_index_holds_is_accepted_even_if_unknown_here(sample_repo):
    index_repository(sample_repo, model="hash")
    with sqlite3.connect(sample_repo / ".quarry" / "index.db") as conn:  # as a newer chunker would have written
        conn.execute("UPDATE chunks SET language = 'kotlin', kind = 'object' WHERE language = 'go'")
    s = Searcher.open(sample_repo)
    try:
        hits = s.search("ParseHTTPHeader", 5, "lexical", langs=["kotlin"], kinds=["object"])
        assert hits and hits[0].chunk.language == "kotlin"
        with pytest.raises(UserInputError, match="languages: .*kotlin"):
            s.search("x", 5, "lexical", langs=["Kotlin"])
    finally:
        s.close()


def test_languages_come_from_the_language_tables():
    assert set(languages.EXTENSIONS.values()) | set(languages.FILENAMES.values()) | {"text"} <= known_languages()
    assert {"function", "method", "class", "window", "section", "table"} <= known_kinds()
    check_filters(sorted(known_languages()), sorted(known_kinds()))  # every valid value passes


def test_cli_and_warm_server_refuse_a_bad_filter_in_one_line(sample_repo):
    from codequarry.serve.client import try_search
    from codequarry.serve.server import start_server
    import threading

    index_repository(sample_repo, model="hash")
    out = run_cli("search", "upload", "--lang", "Python", "--repo", str(sample_repo), env={"QUARRY_NO_SERVER": "1"})
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "did you mean 'python'" in out.stderr
    srv = start_server(sample_repo / ".quarry", host="127.0.0.1", port=0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with pytest.raises(UserInputError, match="unknown kind 'Function'"):
            try_search(sample_repo / ".quarry", {"query": "upload", "k": 5, "mode": "lexical", "kinds": ["Function"]})
    finally:
        srv.shutdown()
        thread.join(timeout=5)
        srv.remove_server_file()
        srv.server_close()
        srv.warm.close()
