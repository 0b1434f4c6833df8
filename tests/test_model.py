"""The one test that loads the packaged all-MiniLM-L6-v2 for real."""

import numpy as np
import pytest

from codequarry.embed import load_encoder
from codequarry.indexer import index_repository
from codequarry.search.searcher import Searcher


@pytest.mark.model
def test_packaged_minilm_indexes_and_answers_in_words(sample_repo):
    enc = load_encoder("minilm")
    assert enc.dim == 384
    q = enc.encode_queries(["read a file"])
    p = enc.encode_passages(["def read_file(path):\n    return open(path).read()", "class Color(Enum): RED = 1"])
    assert q.shape == (1, 384) and np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert (p @ q.T)[0, 0] > (p @ q.T)[1, 0]

    stats = index_repository(sample_repo, encoder=enc)
    # Every chunk is embedded: the sample has no container long enough to leave pieces to the lexical leg.
    assert stats.model == "minilm" and stats.embedded == stats.chunks and stats.lexical_only == 0
    results = Searcher.open(sample_repo, encoder=enc).search("give failed uploads another go", k=2, mode="dense")
    assert "retry_failed_uploads" in [r.chunk.name for r in results]
    assert results[0].score > 0.4


@pytest.mark.model
def test_shipped_adapter_preset_loads_offline_on_both_backends_and_changes_the_vectors():
    tuned, base = load_encoder("quarry-code-minilm", backend="torch"), load_encoder("minilm", backend="torch")
    texts = ["def read_file(path):\n    return open(path).read()"]
    vt, vb = tuned.encode_passages(texts), base.encode_passages(texts)
    assert vt.shape == (1, 384) and abs(float(np.linalg.norm(vt)) - 1.0) < 1e-5
    # Same base, LoRA merged on top: close to MiniLM but not the same model.
    assert 0.5 < float((vt @ vb.T)[0, 0]) < 0.999
    q = tuned.encode_queries(["python read a file into a string", "sort a list of dicts by key"])
    assert (q @ vt.T)[0, 0] > (q @ vt.T)[1, 0]
    # The adapter is merged in the cache, so ONNX runs it like any model: same vectors, no torch at search.
    onnx = load_encoder("quarry-code-minilm", backend="onnx")
    assert float((onnx.encode_passages(texts) @ vt.T)[0, 0]) >= 0.999
    assert np.allclose(onnx.encode_queries(["python read a file into a string"]), q[:1], atol=2e-3)


def test_an_unreachable_hub_is_one_error_at_once_not_a_minute_of_retries(monkeypatch):
    import socket
    import time

    from codequarry.embed.st_backend import hub_unreachable
    from codequarry.errors import ModelUnavailableError

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused at once
    port = closed.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    try:
        assert "cannot be reached" in hub_unreachable("someone/not-cached-model")
        start = time.monotonic()
        with pytest.raises(ModelUnavailableError, match="cannot be reached.*offline preset"):
            load_encoder("someone/not-cached-model", backend="torch")
        assert time.monotonic() - start < 20
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the user's own choice: the library reads its cache
        assert hub_unreachable("someone/not-cached-model") is None
    finally:
        closed.close()


@pytest.mark.model
def test_a_rechunk_that_needs_no_vector_exits_cleanly_while_the_model_loads(sample_repo):
    # Every file is parsed again (a new chunker), so the model starts loading beside the parse; no
    # text changed, so nothing is embedded and the run ends while the load may still be in flight.
    import os
    import sqlite3
    import subprocess
    import sys

    index_repository(sample_repo, model="minilm")
    for _ in range(3):  # the race is lost often, not always
        conn = sqlite3.connect(sample_repo / ".quarry" / "index.db")
        with conn:
            conn.execute("UPDATE meta SET value = 'old' WHERE key = 'chunker_version'")
        conn.close()
        done = subprocess.run([sys.executable, "-m", "codequarry.cli", "index", str(sample_repo), "--json"],
                              capture_output=True, text=True, env={**os.environ, "QUARRY_NO_SERVER": "1"})
        assert done.returncode == 0, done.stderr
        assert '"embedded": 0' in done.stdout
