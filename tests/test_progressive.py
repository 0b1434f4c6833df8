"""Progressive indexing: searchable after the lexical phase, vectors committed batch by batch."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from codequarry import indexer
from codequarry.embed.encoder import HashingEncoder
from codequarry.errors import UserInputError
from codequarry.indexer import index_repository
from codequarry.search.searcher import Searcher
from codequarry.store import vectors
from codequarry.store.db import IndexDB
from conftest import run_cli


def _extra(repo, n=60):
    (repo / "extra.py").write_text("".join(f"def extra_{i}(x):\n    return x * {i}\n\n" for i in range(n)))


@pytest.fixture
def small_batches(monkeypatch):
    # Batches of 8 and a new vector file after every batch, so a tiny repository has several.
    monkeypatch.setattr(indexer, "EMBED_BATCH", 8)
    monkeypatch.setattr(indexer, "PUBLISH_SECONDS", 0.0)


def test_search_between_phases_is_lexical_and_says_incomplete(sample_repo, small_batches):
    _extra(sample_repo)
    seen = []

    class Watching(HashingEncoder):
        def encode_passages(self, texts, progress=None):
            # Another reader's view (a fresh Searcher) at the start of each batch.
            s = Searcher.open(sample_repo)
            hits = s.search("retry failed uploads", k=5)
            top = hits[0]
            seen.append((s.coverage(), top.chunk.name, set(top.sources), [r.chunk.name for r in hits]))
            s.close()
            return super().encode_passages(texts, progress)

    stats = index_repository(sample_repo, encoder=Watching())
    total = stats.chunks
    assert len(seen) == -(-stats.embedded // 8) >= 5
    # Before any vector: every chunk searchable, lexical only, and the slot says so.
    assert seen[0][:3] == ((0, total), "retry_failed_uploads", {"lexical"})
    # While embedding: the slot covers the batches committed so far, never all of them.
    covered = [c for (c, _t), *_ in seen]
    assert covered == sorted(covered) and 0 < covered[2] < total and covered[2] >= 16
    assert all("retry_failed_uploads" in names for *_, names in seen)
    done = Searcher.open(sample_repo)
    assert done.coverage() == (total, total)
    assert "dense" in done.search("retry failed uploads", k=1)[0].sources


def test_hybrid_search_mid_embedding_uses_the_vectors_it_has(sample_repo, small_batches):
    _extra(sample_repo)
    mid = []

    class Watching(HashingEncoder):
        calls = 0

        def encode_passages(self, texts, progress=None):
            Watching.calls += 1
            if Watching.calls == 4:
                s = Searcher.open(sample_repo)
                embedded, total = s.coverage()
                mid.append((embedded, total, faiss_count(s)))
                hits = s.search("extra", k=50)
                mid.append(sum("dense" in r.sources for r in hits))
                s.close()
            return super().encode_passages(texts, progress)

    index_repository(sample_repo, encoder=Watching())
    (embedded, total, in_file), dense_hits = mid
    assert embedded == in_file < total  # the slot's count is what its vector file holds
    assert dense_hits > 0  # the embedded part takes part in the hybrid ranking already


def faiss_count(searcher) -> int:
    return searcher.index.ntotal


KILL_SCRIPT = r"""
import sys, time
from codequarry import indexer
from codequarry.embed.encoder import HashingEncoder
from codequarry.indexer import index_repository

indexer.EMBED_BATCH, indexer.PUBLISH_SECONDS = 8, 0.0

class Slow(HashingEncoder):
    calls = 0
    def encode_passages(self, texts, progress=None):
        Slow.calls += 1
        print(Slow.calls, flush=True)
        if Slow.calls == 4:
            time.sleep(60)  # killed here, three batches committed
        return super().encode_passages(texts, progress)

index_repository(sys.argv[1], encoder=Slow())
"""


def _state(folder):
    """Chunk identity → (text hash, vector in the slot's file), and the slot's coverage."""
    db = IndexDB(folder)
    slot = db.slot("default")
    index = vectors.read(vectors.vector_path(folder, "default", slot["generation"]), slot["checksum"])
    rows = db.conn.execute("SELECT c.id, f.path, c.qualname, c.line_start, c.text_hash FROM chunks c "
                           "JOIN files f ON f.id = c.file_id").fetchall()
    out = {}
    for cid, path, qualname, line, th in rows:
        try:
            vec = index.reconstruct(cid)
        except RuntimeError:
            vec = None
        out[(path, qualname, line)] = (th, None if vec is None else tuple(np.round(vec, 5)))
    embedded = slot["embedded"]
    db.close()
    return out, embedded


def test_kill_between_batches_keeps_them_and_the_rerun_embeds_only_the_rest(sample_repo, tmp_path, small_batches):
    _extra(sample_repo)
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(sample_repo)], stdout=subprocess.PIPE, text=True)
    while proc.stdout.readline().strip() != "4":
        assert proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    folder = sample_repo / ".quarry"
    state, embedded = _state(folder)
    assert embedded == 24  # three batches of 8, each committed with its vector file
    assert sum(v is not None for _h, v in state.values()) == 24
    s = Searcher.open(sample_repo)
    assert s.coverage() == (24, len(state))
    assert s.search("extra_7", k=1, mode="lexical")[0].chunk.name == "extra_7"  # all chunks searchable
    s.close()

    calls = []

    class Counting(HashingEncoder):
        def encode_passages(self, texts, progress=None):
            calls.append(len(texts))
            return super().encode_passages(texts, progress)

    distinct = len({h for h, _v in state.values()})
    rerun = index_repository(sample_repo, encoder=Counting())
    # (less the README's sections, which get no vector: embed/select.py)
    assert rerun.files_parsed == 0 and rerun.embedded == sum(calls) == distinct - 24 - rerun.lexical_only

    # The final state is the one a one-shot index of the same tree gets.
    final, embedded = _state(folder)
    assert embedded is None
    oneshot = index_repository(sample_repo, model="hash", index_dir=tmp_path / "oneshot")
    assert oneshot.embedded == distinct - oneshot.lexical_only
    fresh, fresh_embedded = _state(tmp_path / "oneshot")
    assert fresh_embedded is None and final == fresh
    a = [(r.chunk.file, r.chunk.qualname) for r in Searcher.open(sample_repo).search("multiply extra", k=10)]
    b = [(r.chunk.file, r.chunk.qualname)
         for r in Searcher.open(sample_repo, index_dir=tmp_path / "oneshot").search("multiply extra", k=10)]
    assert a == b


def test_cli_search_reports_completeness(sample_repo, small_batches):
    # A run stopped after the lexical phase (the model fails on its first batch): searchable, incomplete.
    class Failing(HashingEncoder):
        def encode_passages(self, texts, progress=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index_repository(sample_repo, encoder=Failing())
    env = {"QUARRY_NO_SERVER": "1"}
    listed = run_cli("search", "retry", "failed", "uploads", "--json", cwd=sample_repo, env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)  # still a list, as before
    assert rows[0]["name"] == "retry_failed_uploads"
    assert "quarry: note: vectors for 0 of" in listed.stderr and "lexical" in listed.stderr
    obj = json.loads(run_cli("search", "retry", "--json-object", cwd=sample_repo, env=env).stdout)
    assert obj["complete"] is False and obj["vectors"] == 0 and obj["chunks"] > 0 and obj["results"]
    human = run_cli("search", "retry", cwd=sample_repo, env=env)
    assert human.returncode == 0 and "results are lexical" in human.stderr and "store.py:" in human.stdout

    assert run_cli("index", "--model", "hash", str(sample_repo), "--json").returncode == 0
    obj = json.loads(run_cli("search", "retry", "--json-object", cwd=sample_repo, env=env).stdout)
    assert obj["complete"] is True and obj["vectors"] == obj["chunks"]
    assert "note" not in run_cli("search", "retry", cwd=sample_repo, env=env).stderr


def test_index_background_returns_after_the_lexical_phase(sample_repo):
    _extra(sample_repo, 200)
    out = run_cli("index", "--model", "hash", "--background", "--json", str(sample_repo))
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert stats["pending"] > 0 and stats["embedded"] == 0 and stats["chunks"] > 200
    assert "embedding" in out.stderr and "background.log" in out.stderr
    deadline = time.time() + 60
    while True:  # the detached run finishes on its own
        conn = sqlite3.connect(sample_repo / ".quarry" / "index.db")
        embedded = conn.execute("SELECT embedded FROM slots").fetchone()[0]
        conn.close()
        if embedded is None or time.time() > deadline:
            break
        time.sleep(0.2)
    assert embedded is None, (sample_repo / ".quarry" / "background.log").read_text()
    s = Searcher.open(sample_repo)
    assert s.coverage() == (stats["chunks"], stats["chunks"])
    while True:  # the detached run may still hold the lock for a moment after its last commit
        try:
            again = index_repository(sample_repo, model="hash")
            break
        except UserInputError:
            assert time.time() < deadline
            time.sleep(0.2)
    assert again.embedded == 0 and again.files_parsed == 0


def test_a_warm_server_picks_up_each_committed_batch(sample_repo, small_batches):
    from codequarry.serve.search_request import SearchRequest
    from codequarry.serve.server import WarmIndex

    _extra(sample_repo)
    index_repository(sample_repo, model="hash", background=False)  # an index the server can open
    (sample_repo / "more.py").write_text("".join(f"def more_{i}(y):\n    return y - {i}\n\n" for i in range(40)))
    warm = WarmIndex(sample_repo / ".quarry", encoder=HashingEncoder())
    answers = []

    class Watching(HashingEncoder):
        def encode_passages(self, texts, progress=None):
            r = warm.search(SearchRequest("more_7", k=3))
            answers.append((r["complete"], r["vectors"], r["chunks"], r["results"][0]["name"]))
            return super().encode_passages(texts, progress)

    index_repository(sample_repo, encoder=Watching())
    final = warm.search(SearchRequest("more_7", k=3))
    assert len(answers) == 5  # 40 new chunk texts, batches of 8
    assert all(not complete and name == "more_7" for complete, _v, _c, name in answers)
    vectors_seen = [v for _c, v, _t, _n in answers]
    assert vectors_seen == sorted(vectors_seen) and vectors_seen[0] < vectors_seen[-1] < answers[0][2]
    assert (final["complete"], final["vectors"]) == (True, final["chunks"])
    warm.close()


def test_a_run_with_nothing_to_embed_needs_no_model(sample_repo):
    # The slot's model is not loadable here (vectors came from elsewhere); removing a file needs none.
    index_repository(sample_repo, encoder=HashingEncoder(name="not-here"))
    (sample_repo / "web" / "app.js").unlink()
    stats = index_repository(sample_repo)
    assert stats.files_removed == 1 and stats.embedded == 0
    s = Searcher.open(sample_repo, encoder=HashingEncoder(name="not-here"))
    assert s.coverage() == (stats.chunks, stats.chunks)


def test_mid_embedding_the_best_lexical_hit_keeps_its_place(sample_repo, small_batches):
    """A chunk without a vector yet is ranked by its lexical score alone: it must not sink below
    chunks that merely happen to be embedded already."""
    _extra(sample_repo)
    tops = []

    class Watching(HashingEncoder):
        def encode_passages(self, texts, progress=None):
            s = Searcher.open(sample_repo)
            embedded, total = s.coverage()
            if 0 < embedded < total:
                tops.append(s.search("retry failed uploads", k=1)[0].chunk.name)
            s.close()
            return super().encode_passages(texts, progress)

    index_repository(sample_repo, encoder=Watching())
    assert len(tops) >= 3
    assert set(tops) == {"retry_failed_uploads"}, tops


def test_background_with_a_preset_commits_the_lexical_phase_without_loading_the_model(sample_repo, monkeypatch):
    from codequarry import indexer

    def no_model(*args, **kwargs):
        raise AssertionError("the lexical phase of --background must not load the model")

    monkeypatch.setattr(indexer, "_load_encoder", no_model)
    stats = index_repository(sample_repo, model="minilm", background=True, spawn=False)
    assert stats.pending == stats.chunks - stats.lexical_only > 0 and stats.embedded == 0
    conn = sqlite3.connect(sample_repo / ".quarry" / "index.db")
    try:
        assert conn.execute("SELECT model, dim, embedded FROM slots").fetchone() == ("minilm", 384, 0)
    finally:
        conn.close()
    results = Searcher.open(sample_repo).search("retry", k=3, mode="lexical")
    assert results  # searchable at once


def test_a_run_with_nothing_to_parse_or_embed_never_loads_the_model(sample_repo, monkeypatch):
    from codequarry import indexer

    index_repository(sample_repo, model="hash")
    loads = []
    real = indexer._load_encoder
    monkeypatch.setattr(indexer, "_load_encoder", lambda *a: loads.append(a) or real(*a))
    assert index_repository(sample_repo).files_parsed == 0
    assert loads == []
    (sample_repo / "store.py").write_text((sample_repo / "store.py").read_text() + "\n\ndef more():\n    return 2\n")
    assert index_repository(sample_repo).embedded >= 1 and len(loads) == 1


def test_a_first_lexical_phase_writes_no_vector_file_and_loads_neither_numpy_nor_faiss(sample_repo):
    # What the first search waits for: the lexical phase alone, in a process of its own.
    code = ("import sys\nfrom codequarry.indexer import index_repository\n"
            "s = index_repository(sys.argv[1], model='hash', background=True, spawn=False)\n"
            "print(s.pending, 'numpy' in sys.modules, 'faiss' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code, str(sample_repo)], capture_output=True, text=True, check=True)
    pending, numpy_loaded, faiss_loaded = out.stdout.split()
    assert int(pending) > 0 and (numpy_loaded, faiss_loaded) == ("False", "False")
    assert not list((sample_repo / ".quarry").glob("*.faiss"))
    s = Searcher.open(sample_repo)
    total = s.db.chunk_count()
    top = s.search("retry failed uploads", k=3)[0]  # hybrid, the default: lexical until vectors exist
    assert (s.coverage(), top.chunk.name, set(top.sources)) == ((0, total), "retry_failed_uploads", {"lexical"})
    s.close()
    # The next run embeds and publishes the slot's first vector file.
    assert index_repository(sample_repo).embedded == int(pending)
    done = Searcher.open(sample_repo)
    assert done.slot["generation"] == 1 and done.coverage() == (total, total)
    assert "dense" in done.search("retry failed uploads", k=1)[0].sources


def test_status_and_slot_list_say_how_many_chunks_have_vectors_until_embedding_is_done(sample_repo):
    index_repository(sample_repo, model="hash", background=True, spawn=False)  # the embedder never ran
    total = IndexDB(sample_repo / ".quarry").chunk_count()
    st = json.loads(run_cli("status", "--json", "--no-walk", cwd=sample_repo).stdout)
    assert st["slots"][0]["vectors"] == 0 and st["chunks"] == total
    note = f"vectors for 0 of {total:,} chunks ('quarry index' embeds the rest)"
    assert note in run_cli("status", "--no-walk", cwd=sample_repo).stdout
    assert note in run_cli("slot", "list", cwd=sample_repo).stdout
    index_repository(sample_repo)
    st = json.loads(run_cli("status", "--json", "--no-walk", cwd=sample_repo).stdout)
    assert st["slots"][0]["vectors"] == total
    assert "vectors for" not in run_cli("slot", "list", cwd=sample_repo).stdout
