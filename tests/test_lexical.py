"""The lexical leg: one FTS5 column per field, identifier stems, and indexes from before fields
migrated transparently (005_lexical_fields, then a rebuild from the chunks)."""

import sqlite3

import pytest

from codequarry.domain import Chunk
from codequarry.indexer import index_repository
from codequarry.search import lexical
from codequarry.search.searcher import Searcher
from codequarry.search.tokens import stem, tokenize
from codequarry.store.db import IndexDB
from conftest import write_tree


def chunk(file, name, qualname=None, code="", kind="function", doc="", signature=""):
    return Chunk(file=file, language="python", kind=kind, name=name, qualname=qualname or name, line_start=1,
                 line_end=3, code=code, doc=doc, signature=signature)


def table(chunks):
    conn = sqlite3.connect(":memory:")
    lexical.create_table(conn)
    lexical.insert_rows(conn, [(i, lexical.lexical_row(c)) for i, c in enumerate(chunks, 1)])
    return conn


def test_stems_meet_across_forms():
    for group in (("parse", "parses", "parsed", "parsing", "parser", "parsers"),
                  ("handle", "handler", "handled", "handling"), ("query", "queries"), ("cookie", "cookies"),
                  ("embed", "embedding", "embedded", "embeds"), ("session", "sessions"), ("retry", "retried")):
        assert len({stem(w) for w in group}) == 1, group
    for keep in ("string", "class", "status", "id", "v2", "http"):
        assert stem(keep) == keep
    # `parse_config` and `parseConfig` share their whole-identifier token too.
    assert "parseconfig" in tokenize("parse_config") and "parseconfig" in tokenize("parseConfig")


def test_row_has_the_six_fields():
    c = chunk("src/app/config_loader.py", "ConfigParser", "loader.ConfigParser", code="class ConfigParser: pass",
              kind="class", doc="Reads settings files.", signature="class ConfigParser:")
    row = dict(zip(lexical.COLUMNS, lexical.lexical_row(c)))
    assert row["name"].split() == ["config", "pars", "configpars"]  # whole identifiers are stemmed alike
    assert row["qualname"].split() == ["load", "config", "pars", "configpars"]
    assert row["path"].split() == ["src", "app", "config", "load", "configload"]
    assert row["doc"].split() == ["read", "set", "fil"]
    assert "py" not in row["path"].split()  # the extension is not a word of the path
    window = Chunk(file="a/b.py", language="python", kind="window", name="b", qualname="a/b.py", line_start=1,
                   line_end=2, code="x = 1")
    assert lexical.lexical_row(window)[:2] == ("", "")  # a file window has no name of its own


def test_identifier_stems_find_every_spelling():
    conn = table([chunk("a.py", "ConfigParser", kind="class"), chunk("b.py", "parse_config"),
                  chunk("c.js", "parseConfig"), chunk("d.py", "render_page")])
    found = {r for r, _ in lexical.search(conn, "parse config", 10)}
    assert found == {1, 2, 3}
    assert lexical.search(conn, "parsing configs", 10)[0][0] in (1, 2, 3)


def test_a_name_outweighs_a_mention_and_the_path_counts():
    conn = table([
        chunk("util.py", "helper", code="def helper():\n    return redirect_later()  # redirect"),
        chunk("core.py", "follow_redirect", code="def follow_redirect(r):\n    return r"),
        chunk("net/sessions.py", "send", code="def send(self, req):\n    return req"),
    ])
    assert lexical.search(conn, "follow redirect", 3)[0][0] == 2
    assert lexical.search(conn, "session send", 3)[0][0] == 3  # `sessions` only in the path
    off = lexical.FieldWeights(path=0.0)
    hits = dict(lexical.search(conn, "sessions", 3, weights=off))
    assert 3 not in hits or hits[3] == 0.0


def test_old_index_is_migrated_and_its_lexical_rows_rebuilt(tmp_path):
    repo = write_tree(tmp_path / "repo", {
        "cfg.py": "class ConfigParser:\n    def read(self, path):\n        return open(path).read()\n",
        "web.py": "def render_page(tpl):\n    return tpl.format()\n",
    })
    index_repository(repo, model="hash")
    db_path = repo / ".quarry" / "index.db"
    # Make it what an index written before fields looked like: two columns, unstemmed, no 005.
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TABLE lexical")
    conn.execute("CREATE VIRTUAL TABLE lexical USING fts5(names, body, tokenize = \"unicode61 tokenchars '_'\")")
    conn.execute("INSERT INTO lexical (rowid, names, body) SELECT id, name, code FROM chunks")
    conn.execute("DELETE FROM _migrations WHERE name = '005_lexical_fields'")
    conn.execute("DELETE FROM meta WHERE key = 'lexical_version'")
    conn.commit()
    conn.close()
    s = Searcher.open(repo)
    try:
        top = s.search("parse config", k=1, mode="lexical")[0].chunk
        assert top.qualname == "ConfigParser"
        cols = [r[1] for r in s.db.conn.execute("PRAGMA table_info(lexical)")]
        assert cols == list(lexical.COLUMNS)
        assert s.db.get_meta("lexical_version") == lexical.LEXICAL_VERSION
        rows = s.db.conn.execute("SELECT count(*) FROM lexical").fetchone()[0]
        assert rows == s.db.chunk_count()
    finally:
        s.close()
    # An incremental index after the migration keeps working on the new table.
    (repo / "web.py").write_text("def render_page(tpl):\n    return tpl.format()\n\n\ndef parse_headers(raw):\n    return raw\n")
    index_repository(repo, model="hash")
    s = Searcher.open(repo)
    try:
        assert s.search("parsing headers", k=1, mode="lexical")[0].chunk.name == "parse_headers"
    finally:
        s.close()


def test_a_new_lexical_version_rebuilds_once(tmp_path, monkeypatch):
    repo = write_tree(tmp_path / "repo", {"a.py": "def fetch_rows(db):\n    return db.rows()\n"})
    index_repository(repo, model="hash")
    db = IndexDB(repo / ".quarry")
    db.conn.execute("DELETE FROM lexical")  # rows of some other version
    db.close()
    monkeypatch.setattr(lexical, "LEXICAL_VERSION", "test-next")
    db = IndexDB(repo / ".quarry")
    try:
        assert db.get_meta("lexical_version") == "test-next"
        assert db.conn.execute("SELECT count(*) FROM lexical").fetchone()[0] == db.chunk_count() > 0
    finally:
        db.close()


def test_a_forced_run_recreates_the_lexical_table_with_its_fields(sample_repo):
    """`--force` drops and recreates the lexical table: it must come back with every field, or the
    run's own inserts fail."""
    from codequarry.indexer import index_repository
    from codequarry.search.lexical import COLUMNS
    from codequarry.search.searcher import Searcher

    index_repository(sample_repo, model="hash")
    index_repository(sample_repo, model="hash", force=True)
    s = Searcher.open(sample_repo)
    try:
        cols = [r[1] for r in s.db.conn.execute("PRAGMA table_info(lexical)")]
        assert tuple(cols) == COLUMNS
        hits = s.search("retry failed uploads", 3, "lexical")
        assert hits and hits[0].chunk.qualname == "UploadStore.retry_failed_uploads"
    finally:
        s.close()
