from pathlib import Path

from codequarry.chunk import chunk_file

SCHEMA = Path(__file__).parent / "fixtures" / "chunk" / "schema.sql"


def test_create_statements_become_named_chunks():
    got = [(c.kind, c.name, c.qualname, c.line_start, c.line_end)
           for c in chunk_file("db/schema.sql", SCHEMA.read_text())]
    assert got == [
        ("table", "users", "public.users", 1, 6),  # the comment above is part of it
        ("index", "idx_users_email", "idx_users_email", 8, 8),
        ("view", "active_users", "active_users", 10, 11),
        ("trigger", "users_audit", "users_audit", 13, 15),
        ("window", "schema", "db/schema.sql", 17, 19),  # the INSERTs
    ]


def test_table_signature_doc_and_code():
    table = chunk_file("schema.sql", SCHEMA.read_text())[0]
    assert table.signature == "CREATE TABLE public.users"
    assert table.doc == "Users of the service."
    assert table.code.endswith(");")
    assert table.language == "sql"


def test_statements_the_grammar_rejects_fall_back_to_splitting():
    text = "\n".join([
        "CREATE TABLE `orders` (id INT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB;",
        "-- Keep totals in sync.",
        "CREATE TRIGGER orders_sync AFTER UPDATE ON orders",
        "FOR EACH ROW BEGIN",
        "  UPDATE totals SET n = CASE WHEN n > 9 THEN 0 ELSE n + 1 END;",
        "  DELETE FROM stale WHERE id = NEW.id;",
        "END;",
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_orders ON orders (id);",
        "CREATE OR REPLACE FUNCTION add(a integer, b integer) RETURNS integer AS $$",
        "  SELECT a + b;",
        "$$ LANGUAGE sql;",
        "CREATE MATERIALIZED VIEW \"Reports\".daily AS SELECT 1;",
        "CREATE INDEX ON orders (id);",
    ])
    got = [(c.kind, c.name, c.qualname, c.line_start, c.line_end) for c in chunk_file("m.sql", text)]
    assert got == [
        ("table", "orders", "orders", 1, 1),
        ("trigger", "orders_sync", "orders_sync", 2, 7),
        ("index", "ux_orders", "ux_orders", 8, 8),
        ("function", "add", "add", 9, 11),
        ("view", "daily", "Reports.daily", 12, 12),
    ]
    trigger = chunk_file("m.sql", text)[1]
    assert trigger.doc == "Keep totals in sync."


def test_sql_without_definitions_is_windows():
    text = "SELECT id, email\nFROM users\nWHERE active;\n"
    got = chunk_file("q.sql", text)
    assert [(c.kind, c.line_start, c.line_end) for c in got] == [("window", 1, 3)]
