import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from codequarry.errors import CorruptIndexError, IndexMismatchError, IndexMissingError
from codequarry.indexer import index_repository
from codequarry.search.searcher import Searcher
from codequarry.store.db import IndexDB


def test_full_then_noop_then_one_file_edit(sample_repo):
    first = index_repository(sample_repo, model="hash")
    assert first.files_parsed == 5 and first.files_unchanged == 0
    assert first.chunks > 8 and first.lexical_only == 0 and first.embedded == first.chunks_new
    assert (sample_repo / ".quarry" / "index.db").exists()

    again = index_repository(sample_repo, model="hash")
    assert (again.files_parsed, again.embedded, again.files_unchanged) == (0, 0, 5)
    assert again.chunks == first.chunks

    src = sample_repo / "store.py"
    src.write_text(src.read_text().replace("return item", "return item.strip()"))
    edited = index_repository(sample_repo, model="hash")
    assert edited.files_parsed == 1
    # Only the edited method's text is new; the file's other chunks reuse their vectors.
    assert 1 <= edited.embedded < edited.chunks_new
    assert edited.reused >= edited.chunks_new - edited.embedded


def test_touch_without_change_embeds_nothing(sample_repo):
    index_repository(sample_repo, model="hash")
    os.utime(sample_repo / "store.py", ns=(1, 1))
    stats = index_repository(sample_repo, model="hash")
    assert stats.files_parsed == 0 and stats.embedded == 0 and stats.files_unchanged == 5


def test_deleted_and_ignored_files_leave_the_index(sample_repo):
    index_repository(sample_repo, model="hash")
    (sample_repo / "web" / "app.js").unlink()
    (sample_repo / ".gitignore").write_text("tests/\n")
    stats = index_repository(sample_repo, model="hash")
    assert stats.files_removed == 2
    s = Searcher.open(sample_repo)
    files = {r.chunk.file for r in s.search("render login form", k=50, mode="lexical")}
    assert "web/app.js" not in files and not any(f.startswith("tests/") for f in files)


def test_stats_report_skips_with_reasons(sample_repo):
    (sample_repo / "blob.py").write_bytes(b"\x00\x01\x02")
    (sample_repo / "huge.py").write_text("x = 1\n" * 400_000)
    (sample_repo / "package-lock.json").write_text("{}\n")
    (sample_repo / "notes.xyz").write_text("any text file is indexed\n")
    stats = index_repository(sample_repo, model="hash")
    assert stats.skipped == {"binary": 1, "too large": 1, "generated": 1}


def test_model_mismatch_is_refused(sample_repo):
    index_repository(sample_repo, model="hash")
    with pytest.raises(IndexMismatchError, match="built with model 'hash'"):
        index_repository(sample_repo, model="minilm")


def test_a_model_that_never_loaded_does_not_hold_the_slot(sample_repo, tmp_path):
    from codequarry.errors import ModelUnavailableError

    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "adapter_config.json").write_text("{}")
    (broken / "quarry-adapter.json").write_text('{"base": "minilm"}')
    with pytest.raises(ModelUnavailableError):
        index_repository(sample_repo, model=str(broken))
    assert index_repository(sample_repo, model="hash").model == "hash"  # no --force needed: nothing was built


def test_a_forced_rebuild_whose_model_fails_leaves_the_slot_as_it_was(sample_repo, tmp_path):
    from codequarry.errors import ModelUnavailableError

    index_repository(sample_repo, model="hash")
    before = [r.chunk.qualname for r in Searcher.open(sample_repo).search("upload", k=3, mode="dense")]
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "adapter_config.json").write_text("{}")
    (broken / "quarry-adapter.json").write_text('{"base": "minilm"}')
    with pytest.raises(ModelUnavailableError):
        index_repository(sample_repo, model=str(broken), force=True)
    slot = IndexDB(sample_repo / ".quarry").slot("default")
    assert slot["model"] == "hash" and slot["chunks_generation"] >= 0
    assert [r.chunk.qualname for r in Searcher.open(sample_repo).search("upload", k=3, mode="dense")] == before
    assert index_repository(sample_repo, model="hash").model == "hash"  # same model: no --force


def test_failed_run_leaves_previous_index_and_keeps_paid_embeddings(sample_repo, monkeypatch):
    from codequarry.embed.encoder import HashingEncoder

    index_repository(sample_repo, model="hash")
    before = [r.chunk.qualname for r in Searcher.open(sample_repo).search("upload", k=5, mode="lexical")]

    (sample_repo / "extra.py").write_text("".join(f"def extra_{i}():\n    return {i}\n\n" for i in range(600)))
    calls = []

    class Dying(HashingEncoder):
        def encode_passages(self, texts, progress=None):
            calls.append(len(texts))
            if len(calls) > 1:
                raise KeyboardInterrupt  # the user hits ^C in the second batch
            return super().encode_passages(texts, progress)

    with pytest.raises(KeyboardInterrupt):
        index_repository(sample_repo, encoder=Dying())
    # Parsed files waited in a scratch database until the lexical phase committed them; it is gone.
    assert not (sample_repo / ".quarry" / "staging.db").exists()
    s = Searcher.open(sample_repo)
    assert [r.chunk.qualname for r in s.search("upload", k=5, mode="lexical")] == before
    # Progressive indexing: the interrupt came while embedding, after the lexical phase committed.
    assert s.search("extra_7", k=1, mode="lexical")[0].chunk.file == "extra.py"
    resumed = index_repository(sample_repo, model="hash")
    assert resumed.files_parsed == 0 and resumed.embedded == 600 - 256  # only what the interrupt left
    assert resumed.reused >= 256  # the first batch was committed before the interrupt
    assert not (sample_repo / ".quarry" / "staging.db").exists()
    assert Searcher.open(sample_repo).search("extra_7", k=1, mode="lexical")[0].chunk.name == "extra_7"


KILL_SCRIPT = r"""
import sys, time
from codequarry.embed.encoder import HashingEncoder
from codequarry.indexer import index_repository

class Slow(HashingEncoder):
    def encode_passages(self, texts, progress=None):
        print("embedding", flush=True)
        time.sleep(0.5)
        return super().encode_passages(texts, progress)

index_repository(sys.argv[1], encoder=Slow())
"""


def test_kill_9_mid_index_leaves_previous_index_usable(sample_repo):
    index_repository(sample_repo, model="hash")
    (sample_repo / "extra.py").write_text("".join(f"def extra_{i}():\n    return {i}\n\n" for i in range(2000)))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(sample_repo)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "embedding"
    time.sleep(0.8)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    s = Searcher.open(sample_repo)
    assert s.search("retry failed uploads", k=1)[0].chunk.name == "retry_failed_uploads"
    stats = index_repository(sample_repo, model="hash")
    # The kill came while embedding, after the lexical phase had committed extra.py.
    assert stats.files_parsed == 0 and stats.reused > 0 and stats.embedded < 2000


def test_corrupt_and_foreign_indexes_are_refused(sample_repo, tmp_path):
    with pytest.raises(IndexMissingError):
        Searcher.open(sample_repo)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "index.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CorruptIndexError):
        IndexDB(garbage)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    sqlite3.connect(foreign / "index.db").execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(IndexMismatchError):
        IndexDB(foreign)


def test_an_index_from_before_staging_moved_out_still_opens(sample_repo):
    # Indexes written while staging was a table inside index.db carry migration 003 and the table.
    index_repository(sample_repo, model="hash")
    conn = sqlite3.connect(sample_repo / ".quarry" / "index.db")
    conn.execute("DELETE FROM _migrations WHERE name = '004_staging_moves_out'")
    conn.execute("INSERT OR IGNORE INTO _migrations VALUES ('003_staged_files', '2026-11-21T00:00:00+00:00')")
    conn.execute("CREATE TABLE staged (path TEXT PRIMARY KEY, language TEXT, size INTEGER NOT NULL, "
                 "mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL, chunks TEXT NOT NULL)")
    conn.commit()
    conn.close()
    assert index_repository(sample_repo, model="hash").chunks > 0
    tables = {r[0] for r in sqlite3.connect(sample_repo / ".quarry" / "index.db").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "staged" not in tables
    assert Searcher.open(sample_repo).search("upload", mode="lexical")


def test_missing_vector_file_is_a_clear_error(sample_repo):
    index_repository(sample_repo, model="hash")
    for p in (sample_repo / ".quarry").glob("vectors-*.faiss"):
        p.unlink()
    with pytest.raises(CorruptIndexError, match="missing; run 'quarry index --slot default'"):
        Searcher.open(sample_repo).search("upload", mode="dense")
    # A plain run rebuilds it from the embedding cache: nothing is embedded again.
    stats = index_repository(sample_repo, model="hash")
    assert stats.embedded == 0 and any("missing" in n for n in stats.repaired)
    assert Searcher.open(sample_repo).search("upload", mode="dense")


def test_truncated_slot_keeps_the_first_dims(sample_repo):
    from codequarry.store import vectors

    index_repository(sample_repo, model="hash")
    db = IndexDB(sample_repo / ".quarry")
    db.create_slot("small", "hash", truncate_dim=64)
    index_repository(sample_repo, slot="small")
    full = vectors.read(vectors.vector_path(db.folder, "default", db.slot("default")["generation"]))
    small = vectors.read(vectors.vector_path(db.folder, "small", db.slot("small")["generation"]))
    assert (full.d, small.d) == (256, 64) and small.ntotal == full.ntotal
    s = Searcher.open(sample_repo, slot="small")
    assert s.config["dim"] == 64
    # Dense scores are cosines of the truncated, renormalised vectors.
    from codequarry.embed.encoder import HashingEncoder, truncate

    enc = HashingEncoder()
    top = s.search("parse http header line", k=1, mode="dense")[0]
    q = truncate(enc.encode_queries(["parse http header line"]), 64)
    p = truncate(enc.encode_passages([f"{top.chunk.file} {top.chunk.kind} {top.chunk.qualname}\n{top.chunk.code}"]), 64)
    assert abs(float((q @ p.T)[0, 0]) - top.score) < 1e-5


def test_embedding_starts_after_the_lexical_phase_committed(tmp_path):
    # Progressive indexing: every chunk is searchable (lexically) before the first batch is embedded.
    from codequarry.embed.encoder import HashingEncoder

    repo = tmp_path / "many"
    for n in range(200):
        (repo / f"pkg{n % 10}").mkdir(parents=True, exist_ok=True)
        (repo / f"pkg{n % 10}" / f"mod{n}.py").write_text(
            "".join(f"def f{n}_{i}(x):\n    return x + {i}\n\n" for i in range(12)))
    seen_at_first_batch = []

    class Watching(HashingEncoder):
        def encode_passages(self, texts, progress=None):
            if not seen_at_first_batch:
                conn = sqlite3.connect(repo / ".quarry" / "index.db")  # what another process sees
                seen_at_first_batch.append(conn.execute("SELECT count(*) FROM chunks").fetchone()[0])
                seen_at_first_batch.append(not (repo / ".quarry" / "staging.db").exists())
                conn.close()
            return super().encode_passages(texts, progress)

    stats = index_repository(repo, encoder=Watching())
    assert stats.files_parsed == 200 and stats.embedded == stats.chunks == 2400
    assert seen_at_first_batch == [2400, True]


def _broken_model(tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir(exist_ok=True)
    (broken / "adapter_config.json").write_text("{}")
    (broken / "quarry-adapter.json").write_text('{"base": "minilm"}')
    return broken


def test_a_failed_first_run_leaves_no_slot_so_the_next_takes_the_default(sample_repo, tmp_path, monkeypatch):
    # `quarry index --model e5-base-v2 .` offline, then `quarry index .`: the second run used to
    # fail the same way for ever, the slot having been bound to the model that never loaded.
    from codequarry.errors import ModelUnavailableError

    with pytest.raises(ModelUnavailableError):
        index_repository(sample_repo, model=str(_broken_model(tmp_path)))
    assert IndexDB(sample_repo / ".quarry").slots() == []
    with pytest.raises(IndexMissingError, match="no vectors yet; run 'quarry index'"):
        Searcher.open(sample_repo)
    monkeypatch.setenv("QUARRY_MODEL", "hash")  # the default model, without loading minilm here
    stats = index_repository(sample_repo)
    assert (stats.slot, stats.model) == ("default", "hash")
    assert Searcher.open(sample_repo).search("retry failed uploads", k=1)[0].chunk.name == "retry_failed_uploads"


def test_a_slot_bound_to_a_model_that_does_not_load_names_the_way_out(sample_repo, tmp_path):
    from codequarry.errors import ModelUnavailableError

    # A slot bound to an unusable model but never built (what earlier versions left behind).
    broken = str(_broken_model(tmp_path).resolve())
    IndexDB(sample_repo / ".quarry", create=True).create_slot("default", broken)
    with pytest.raises(ModelUnavailableError, match=r"never built: 'quarry index --model minilm'"):
        index_repository(sample_repo)
    assert index_repository(sample_repo, model="hash").model == "hash"  # the way out works, no --force

    # A built slot whose model stops loading: search says how to rebuild it.
    db = IndexDB(sample_repo / ".quarry")
    db.conn.execute("UPDATE slots SET model = ? WHERE name = 'default'", (broken,))
    with pytest.raises(ModelUnavailableError, match=r"'quarry index --force --model minilm'"):
        Searcher.open(sample_repo).search("upload", mode="dense")


@pytest.mark.model
def test_a_bad_backend_setting_is_an_input_error_not_advice_to_rebuild(sample_repo, monkeypatch):
    from codequarry.errors import UserInputError

    index_repository(sample_repo, model="minilm")
    monkeypatch.setenv("QUARRY_BACKEND", "gpu")
    with pytest.raises(UserInputError) as got:
        Searcher.open(sample_repo).search("upload", mode="dense")
    assert got.value.format_message() == "unknown backend 'gpu' (QUARRY_BACKEND: auto, torch, onnx, openvino)"


def _cache_rows(repo) -> tuple[int, int]:
    conn = sqlite3.connect(repo / ".quarry" / "index.db")
    rows = conn.execute("SELECT count(*) FROM embeddings WHERE model = 'hash'").fetchone()[0]
    conn.close()
    from codequarry.embed.select import lexical_only

    db = IndexDB(repo / ".quarry")
    placed = db.placements()
    skip = lexical_only(placed)
    db.close()
    live = len({p.text_hash for i, p in placed if i not in skip})  # texts that need a vector
    return rows, live


def test_embedding_cache_keeps_only_what_live_chunks_use(sample_repo):
    index_repository(sample_repo, model="hash")
    src = sample_repo / "store.py"
    for n in range(3):  # three edit rounds, each changing every chunk of the file
        src.write_text(src.read_text().replace("upload", f"upload{n}").replace("Retry", f"Retry{n}"))
        index_repository(sample_repo, model="hash")
        rows, live = _cache_rows(sample_repo)
        assert rows == live
    (sample_repo / "web" / "app.js").unlink()
    index_repository(sample_repo, model="hash")
    assert _cache_rows(sample_repo)[0] == _cache_rows(sample_repo)[1]


def test_collection_spares_what_a_killed_run_paid_for(sample_repo):
    # A run that dies keeps its embeddings; the next (successful) run reuses them, then collects.
    from codequarry.embed.encoder import HashingEncoder

    index_repository(sample_repo, model="hash")
    (sample_repo / "extra.py").write_text("".join(f"def extra_{i}():\n    return {i}\n\n" for i in range(600)))

    class Dying(HashingEncoder):
        calls = 0

        def encode_passages(self, texts, progress=None):
            Dying.calls += 1
            if Dying.calls > 1:
                raise KeyboardInterrupt
            return super().encode_passages(texts, progress)

    with pytest.raises(KeyboardInterrupt):
        index_repository(sample_repo, encoder=Dying())
    rows, live = _cache_rows(sample_repo)
    # The lexical phase committed extra.py's 600 chunks; of their vectors, the first batch is kept.
    assert rows == live - 600 + 256
    stats = index_repository(sample_repo, model="hash")
    assert stats.reused >= 256 and stats.embedded == 600 - 256
    assert _cache_rows(sample_repo)[0] == _cache_rows(sample_repo)[1]


def test_a_long_lived_searcher_follows_index_runs(sample_repo):
    # An agent or plugin keeps one Searcher open while `quarry index` runs: it used to map the old
    # vectors' ids onto the new chunks (KeyError), or find its vector file removed.
    index_repository(sample_repo, model="hash")
    kept = Searcher.open(sample_repo)
    loaded_late = Searcher.open(sample_repo)  # vectors not loaded before the run below
    assert kept.search("retry failed uploads", k=1, mode="dense")[0].chunk.name == "retry_failed_uploads"
    (sample_repo / "store.py").unlink()
    (sample_repo / "queue.py").write_text("def retry_failed_jobs(queue):\n    return [j for j in queue]\n")
    index_repository(sample_repo, model="hash")
    for s in (kept, loaded_late):
        for mode in ("dense", "hybrid"):
            hits = s.search("retry failed jobs", k=5, mode=mode)
            assert hits[0].chunk.name == "retry_failed_jobs"
            assert all(h.chunk.file != "store.py" for h in hits)
        s.close()


def test_a_search_reads_one_commit_while_an_index_run_commits_another(sample_repo, monkeypatch):
    # The lexical hits used to come from one commit and the chunks from the next: a --force run
    # committing mid-search renumbers every chunk, and the search found none of its hits.
    index_repository(sample_repo, model="hash")
    s = Searcher.open(sample_repo)
    before = [(r.chunk.file, r.chunk.qualname) for r in s.search("retry failed uploads", k=3)]
    real_lexical = Searcher.lexical
    ran = []

    def lexical_then_commit(self, *args):
        hits = real_lexical(self, *args)
        if not ran:
            ran.append(index_repository(sample_repo, model="hash", force=True))
        return hits

    monkeypatch.setattr(Searcher, "lexical", lexical_then_commit)
    assert [(r.chunk.file, r.chunk.qualname) for r in s.search("retry failed uploads", k=3)] == before
    assert ran and ran[0].chunks_new > 0
    s.close()


def test_the_index_id_is_made_with_the_index_so_a_server_never_waits_for_a_running_index(tmp_path):
    # A first `quarry index` holds the write lock for its whole lexical phase; a server starting
    # meanwhile reads the index's id and must not need that lock to make one.
    IndexDB(tmp_path / "idx", create=True).close()
    holder = sqlite3.connect(tmp_path / "idx" / "index.db", timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        reader = IndexDB(tmp_path / "idx")
        reader.conn.execute("PRAGMA busy_timeout = 0")
        assert len(reader.index_id()) == 32
        reader.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
