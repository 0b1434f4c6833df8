"""Named, append-only schema migrations. Never edit one that has shipped: add another."""

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_initial",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            language TEXT,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            language TEXT NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            qualname TEXT NOT NULL,
            signature TEXT NOT NULL,
            doc TEXT NOT NULL,
            parent TEXT NOT NULL,
            line_start INTEGER NOT NULL,
            line_end INTEGER NOT NULL,
            code TEXT NOT NULL,
            text_hash TEXT NOT NULL
        );
        CREATE INDEX chunks_file ON chunks(file_id);
        CREATE INDEX chunks_name ON chunks(name COLLATE NOCASE);
        CREATE TABLE calls (
            chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            callee TEXT NOT NULL
        );
        CREATE INDEX calls_chunk ON calls(chunk_id);
        CREATE INDEX calls_callee ON calls(callee);
        -- rowid = chunks.id; text is pre-tokenised (identifier-split) by search.tokens.
        CREATE VIRTUAL TABLE lexical USING fts5(names, body, tokenize = "unicode61 tokenchars '_'");
        CREATE TABLE embeddings (
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (model, text_hash)
        ) WITHOUT ROWID;
        CREATE TABLE slots (
            name TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            dim INTEGER,
            generation INTEGER NOT NULL DEFAULT 0,
            chunks_generation INTEGER NOT NULL DEFAULT -1,
            created TEXT NOT NULL
        );
        """,
    ),
    (
        "002_slot_truncate_dim",
        """
        -- Matryoshka: a slot may keep only the first N dimensions of its model's vectors.
        ALTER TABLE slots ADD COLUMN truncate_dim INTEGER;
        """,
    ),
    (
        "003_staged_files",
        """
        -- Files parsed by a running index, waiting for its final transaction; never searched.
        CREATE TABLE staged (
            path TEXT PRIMARY KEY,
            language TEXT,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            hash TEXT NOT NULL,
            chunks TEXT NOT NULL
        );
        """,
    ),
    (
        "004_staging_moves_out",
        """
        -- Staging now lives in a scratch database next to the index (store/db.py), deleted after
        -- each run, so the index file keeps no free pages; the table 003 made is no longer used.
        DROP TABLE staged;
        """,
    ),
    (
        "005_lexical_fields",
        """
        -- The lexical leg gets one column per field (search/lexical.py COLUMNS) so each is weighed
        -- on its own. Rows are tokenised in Python, so IndexDB refills the new table from the
        -- chunks right after this migration (meta lexical_version), with no re-embedding.
        DROP TABLE lexical;
        CREATE VIRTUAL TABLE lexical USING fts5(name, qualname, path, signature, doc, body,
                                                tokenize = "unicode61 tokenchars '_'");
        DELETE FROM meta WHERE key = 'lexical_version';
        """,
    ),
]
