"""ONNX backend pieces that need no model: layout parsing, pooling, missing extras."""

import json
import sys

import numpy as np
import pytest

from codequarry.embed import onnx_backend as ob
from codequarry.embed.presets import Preset
from codequarry.errors import MissingExtraError, ModelUnavailableError

ST = "sentence_transformers.models."


def _folder(tmp_path, modules, pooling=None, st_cfg=None):
    d = tmp_path / "m"
    d.mkdir()
    (d / "model.safetensors").write_bytes(b"w")
    (d / "tokenizer.json").write_text("{}")
    (d / "modules.json").write_text(json.dumps(
        [{"idx": i, "name": str(i), "path": p, "type": ST + t} for i, (t, p) in enumerate(modules)]))
    if pooling is not None:
        (d / "1_Pooling").mkdir()
        (d / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    if st_cfg is not None:
        (d / "sentence_bert_config.json").write_text(json.dumps(st_cfg))
    return d


def test_layout_reads_pooling_normalize_and_window(tmp_path):
    d = _folder(tmp_path, [("Transformer", ""), ("Pooling", "1_Pooling"), ("Normalize", "2_Normalize")],
                {"word_embedding_dimension": 8, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False},
                {"max_seq_length": 128, "do_lower_case": True})
    lay = ob.read_layout(d)
    assert (lay.pooling, lay.normalize, lay.max_seq_length, lay.do_lower_case) == ("cls", True, 128, True)


@pytest.mark.parametrize("modules,pooling,match", [
    ([("Transformer", ""), ("Pooling", "1_Pooling"), ("Dense", "2_Dense")],
     {"pooling_mode_mean_tokens": True}, "cannot reproduce module"),
    ([("Transformer", ""), ("Pooling", "1_Pooling")],
     {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True}, "cannot reproduce the pooling"),
    ([("Transformer", ""), ("Pooling", "1_Pooling")],
     {"pooling_mode_weightedmean_tokens": True}, "cannot reproduce the pooling"),
])
def test_layouts_we_cannot_reproduce_are_refused(tmp_path, modules, pooling, match):
    with pytest.raises(ModelUnavailableError, match=match):
        ob.read_layout(_folder(tmp_path, modules, pooling))


def test_missing_files_are_refused(tmp_path):
    with pytest.raises(ModelUnavailableError, match="no model.safetensors"):
        ob.read_layout(tmp_path)


def test_pooling_modes_ignore_padding():
    hidden = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]]], np.float32)
    mask = np.array([[1, 1, 0]])
    assert np.allclose(ob._pool(hidden, mask, "mean"), [[2.0, 3.0]])
    assert np.allclose(ob._pool(hidden, mask, "max"), [[3.0, 4.0]])
    assert np.allclose(ob._pool(hidden, mask, "cls"), [[1.0, 2.0]])
    assert np.allclose(ob._pool(hidden, mask, "mean_sqrt_len"), [[4.0 / np.sqrt(2), 6.0 / np.sqrt(2)]])


def test_pad_builds_masks():
    ids, mask = ob._pad([[101, 7, 102], [101, 102]], pad_id=0)
    assert ids.tolist() == [[101, 7, 102], [101, 102, 0]] and mask.tolist() == [[1, 1, 1], [1, 1, 0]]


def test_missing_onnxruntime_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(MissingExtraError, match=r"codequarry\[fast\]"):
        ob.OnnxEncoder(Preset("x", str(tmp_path), 8, 16))


def test_weights_digest_is_remembered(tmp_path):
    w = tmp_path / "model.safetensors"
    w.write_bytes(b"abc")
    first = ob.weights_digest(w)
    assert first == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    memo = json.loads((ob.cache_root() / "digests.json").read_text())
    assert first in memo.values()
    w.write_bytes(b"abcd")  # new size: a new digest, never the remembered one
    assert ob.weights_digest(w) != first


def test_unwritable_cache_is_one_line(tmp_path, monkeypatch):
    d = _folder(tmp_path, [("Transformer", ""), ("Pooling", "1_Pooling")], {"pooling_mode_mean_tokens": True})
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("QUARRY_CACHE_DIR", str(blocker))
    with pytest.raises(ModelUnavailableError, match="cannot write the ONNX export") as err:
        ob.ensure_export("m", ob.read_layout(d))
    assert "\n" not in err.value.format_message()


def test_one_line_flattens_messages():
    assert ob.one_line(ValueError("bad\n  thing\n")) == "ValueError: bad thing"
    assert ob.one_line(KeyError()) == "KeyError"


def test_malformed_model_files_are_one_line(tmp_path):
    d = _folder(tmp_path, [("Transformer", ""), ("Pooling", "1_Pooling")], {"pooling_mode_mean_tokens": True})
    (d / "modules.json").write_text("{not json")
    with pytest.raises(ModelUnavailableError, match="cannot read the model files"):
        ob.read_layout(d)
