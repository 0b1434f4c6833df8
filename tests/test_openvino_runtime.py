"""OpenVINO as the runtime of the ONNX export, on the real packaged MiniLM.

The export is made once per test session into the session's cache (see test_onnx_backend.py);
these tests run it on OpenVINO and hold the vectors to ONNX Runtime's and sentence-transformers'.
"""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from codequarry.embed import load_encoder
from codequarry.errors import MissingExtraError, ModelUnavailableError, UserInputError

from tests.model_texts import MODEL_TEXTS as TEXTS

pytest.importorskip("openvino")
pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def ov(cache, fp32):
    return load_encoder("minilm", backend="openvino")


def _verdict(encoder):
    (found,) = encoder.path.parent.glob(f"openvino-*-{encoder.path.stem}.json")
    return found


def test_openvino_reproduces_onnx_runtime_and_sentence_transformers(ov, fp32, cache):
    assert ov.engine in ("openvino bf16", "openvino f32") and fp32.engine == "onnxruntime fp32"
    assert (ov.name, ov.dim, ov.max_tokens) == (fp32.name, fp32.dim, fp32.max_tokens)
    got, want = ov.encode_passages(TEXTS), fp32.encode_passages(TEXTS)
    assert got.dtype == np.float32 and np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got * want).sum(axis=1)
    # bf16 measured min 0.99994 over 600 dev code texts; a wrong graph or input mapping is far below.
    assert cos.min() >= 0.9995, cos
    reference = load_encoder("minilm", backend="torch").encode_passages(TEXTS)
    assert (got * reference).sum(axis=1).min() >= 0.999
    q = ["read a json config file"]
    assert float((ov.encode_queries(q) * fp32.encode_queries(q)).sum()) >= 0.9995


def test_the_first_load_checks_against_onnx_runtime_once_and_remembers(ov):
    verdict = json.loads(_verdict(ov).read_text())
    assert verdict["engine"] == ov.engine and verdict["cosine_min"] >= 0.9999
    assert (ov.path.parent / "openvino-cache").is_dir()  # compiled kernels, for a fast next start


def test_a_failed_check_refuses_openvino_and_auto_falls_back(ov, monkeypatch, capsys):
    path = _verdict(ov)
    kept = path.read_text()
    try:
        path.write_text(json.dumps({"engine": ov.engine, "cosine_min": 0.93}))
        with pytest.raises(ModelUnavailableError, match=r"does not reproduce the model \(cosine 0.93000\)"):
            load_encoder("minilm", backend="openvino")
        monkeypatch.delenv("QUARRY_BACKEND", raising=False)
        fallback = load_encoder("minilm")
        assert fallback.engine == "onnxruntime fp32"
        assert "using ONNX Runtime" in capsys.readouterr().err
    finally:
        path.write_text(kept)
    assert load_encoder("minilm").engine == ov.engine  # auto prefers OpenVINO when it passes


def test_an_unreadable_verdict_is_checked_again(ov):
    path = _verdict(ov)
    kept = path.read_text()
    try:
        path.write_text("{half a file")
        again = load_encoder("minilm", backend="openvino")
        assert again.engine == ov.engine
        assert json.loads(path.read_text())["cosine_min"] >= 0.9999
    finally:
        path.write_text(kept)


def test_without_openvino_auto_uses_onnx_runtime_and_asking_for_it_names_the_extra(fp32, monkeypatch):
    monkeypatch.delenv("QUARRY_BACKEND", raising=False)
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now fails
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    assert load_encoder("minilm").engine == "onnxruntime fp32"
    with pytest.raises(MissingExtraError, match=r"pip install 'codequarry\[openvino\]'"):
        load_encoder("minilm", backend="openvino")


def test_variant_presets_stay_on_onnx_runtime(cache):
    with pytest.raises(UserInputError, match="runs only on ONNX Runtime"):
        load_encoder("minilm-int8", backend="openvino")


def test_a_cache_folder_it_cannot_use_only_costs_start_up(ov, monkeypatch, tmp_path):
    from codequarry.embed.openvino_runtime import OpenVinoRun

    # A file where the kernel cache folder should be: compiling with that cache fails.
    export = tmp_path / "model.fp32.onnx"
    export.symlink_to(ov.path)
    (tmp_path / "openvino-cache").write_text("not a folder")
    runner = OpenVinoRun(export, 1)
    feeds = {"input_ids": np.array([[101, 2129, 102]]), "attention_mask": np.ones((1, 3), np.int64),
             "token_type_ids": np.zeros((1, 3), np.int64)}
    assert runner.run(feeds).shape == (1, 3, ov.dim)


def test_queries_from_several_threads_at_once_match_one_at_a_time(ov):
    queries = [f"parse the {w} header" for w in ("http", "mime", "cookie", "cache", "range", "auth")]
    alone = {q: ov.encode_queries([q]) for q in queries}
    got, errors = {}, []

    def work(q):
        try:
            for _ in range(5):
                got[q] = ov.encode_queries([q])
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(q,)) for q in queries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for q in queries:
        assert np.allclose(got[q], alone[q], atol=1e-6)


def test_openvino_is_imported_without_its_usage_telemetry(ov, cache):
    # `import openvino` alone would send a Google Analytics event from a forked process (opt-out
    # telemetry of its model converter); a code search tool must neither phone home nor fork here.
    code = (
        "import os, sys\n"
        "forks = []\n"
        "real = os.fork\n"
        "os.fork = lambda: (forks.append(1), real())[1]\n"
        "from codequarry.embed import load_encoder\n"
        "e = load_encoder('minilm', backend='openvino'); e.encode_queries(['open a file'])\n"
        "print(e.engine.split()[0], len(forks), 'openvino_telemetry' in sys.modules,\n"
        "      'openvino.tools.ovc' in sys.modules)\n"
    )
    env = {**os.environ, "QUARRY_CACHE_DIR": str(cache)}
    env.pop("CI", None)  # the telemetry stays quiet in CI on its own; test what a user's machine does
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["openvino", "0", "False", "False"], out.stderr
