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
    (
        "006_vector_checksums",
        """
        -- The slot's current FAISS file is checked against this digest on every load
        -- ('sha256:<hex>'; NULL for files written before it existed: the next run rewrites them).
        ALTER TABLE slots ADD COLUMN checksum TEXT;
        -- Cached vectors get the crc32 of their bytes, so a damaged row is embedded again instead of
        -- going into a new vector file, and move to a rowid table: in the WITHOUT ROWID table each
        -- vector over ~1 KB spilled into an overflow page of its own, mostly empty (about half of
        -- index.db was unused space). quarry_crc32 is registered by store/db.py.
        CREATE TABLE embeddings_006 (
            id INTEGER PRIMARY KEY,
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            vector BLOB NOT NULL,
            crc INTEGER,
            UNIQUE (model, text_hash)
        );
        INSERT INTO embeddings_006 (model, text_hash, vector, crc)
            SELECT model, text_hash, vector, quarry_crc32(vector) FROM embeddings ORDER BY model, text_hash;
        DROP TABLE embeddings;
        ALTER TABLE embeddings_006 RENAME TO embeddings;
        """,
    ),
    (
        "007_call_targets",
        """
        -- Call edges resolved to definitions (codequarry.graph). One row per candidate target of a
        -- call site group (caller chunk, callee name, receiver): resolved = one target, ambiguous =
        -- several rows, unresolved = one row without a target. A target deleted by a re-index sets
        -- target_id to NULL while the status still says resolved/ambiguous: that marks the group
        -- for re-resolution in the same run.
        CREATE TABLE call_targets (
            chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            callee TEXT NOT NULL,
            receiver TEXT NOT NULL,
            rtype TEXT NOT NULL,
            local INTEGER NOT NULL,
            line INTEGER NOT NULL,
            target_id INTEGER REFERENCES chunks(id) ON DELETE SET NULL,
            status TEXT NOT NULL,
            confidence REAL NOT NULL,
            how TEXT NOT NULL
        );
        CREATE INDEX call_targets_chunk ON call_targets(chunk_id);
        CREATE INDEX call_targets_target ON call_targets(target_id);
        CREATE INDEX call_targets_callee ON call_targets(callee);
        -- Names a file binds from elsewhere (imports, re-exports; alias '*' for a star import).
        CREATE TABLE imports (
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            alias TEXT NOT NULL,
            module TEXT NOT NULL,
            name TEXT NOT NULL
        );
        CREATE INDEX imports_file ON imports(file_id);
        CREATE TABLE class_bases (
            chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            base TEXT NOT NULL
        );
        CREATE INDEX class_bases_chunk ON class_bases(chunk_id);
        -- Files whose call sites, imports and bases are in the tables above.
        CREATE TABLE graph_files (file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE);
        -- Indexes written before this migration have no call sites to resolve: forgetting the
        -- chunker version makes the next 'quarry index' re-read every file (vectors are reused).
        DELETE FROM meta WHERE key = 'chunker_version';
        """,
    ),
    (
        "008_progressive",
        """
        -- Progressive indexing: a slot's vector file may cover only part of the chunks while
        -- 'quarry index' embeds batch by batch. embedded = how many chunks the file covers
        -- (NULL: all of them, as every slot written before this migration).
        ALTER TABLE slots ADD COLUMN embedded INTEGER;
        """,
    ),
]
