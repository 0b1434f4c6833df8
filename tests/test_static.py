"""The static (Model2Vec) encoder, over a tiny StaticModel saved by the test.

Distilling the real `fast` model takes minutes (bench/speed.py measures it);
the wrapper is what these tests pin down: shapes, unit rows, determinism,
truncation, progress, and one-line errors.
"""

import sys

import numpy as np
import pytest

from codequarry.embed import load_encoder
from codequarry.embed.presets import PRESETS, Preset
from codequarry.errors import MissingExtraError, ModelUnavailableError

model2vec = pytest.importorskip("model2vec")


@pytest.fixture
def tiny(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "[PAD]": 1, "open": 2, "file": 3, "read": 4, "sort": 5, "list": 6, "value": 7}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    vectors = np.random.default_rng(0).normal(size=(len(vocab), 16)).astype(np.float32)
    model2vec.StaticModel(vectors, tok, normalize=True).save_pretrained(str(tmp_path / "tiny"))
    return Preset("tiny", f"model2vec:{tmp_path / 'tiny'}", 16, 64, offline=True)


def test_shapes_units_and_determinism(tiny):
    enc = load_encoder(tiny)
    assert type(enc).__name__ == "StaticEncoder" and (enc.name, enc.dim, enc.max_tokens) == ("tiny", 16, 64)
    texts = ["open file", "read file", "sort list by value", "open file"]
    v = enc.encode_passages(texts)
    assert v.dtype == np.float32 and v.shape == (4, 16)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.allclose(v[0], v[3]) and not np.allclose(v[0], v[1])
    assert np.allclose(enc.encode_queries(["open file"])[0], v[0])
    assert enc.encode_passages([]).shape == (0, 16)
    assert np.allclose(np.linalg.norm(enc.encode_passages(["zzz unknown"]), axis=1), 0.0)  # no known token


def test_own_loader_matches_model2vec(tiny):
    from codequarry.embed.static_backend import load_static

    folder = tiny.source.removeprefix("model2vec:")
    ours, theirs = load_static(folder), model2vec.StaticModel.from_pretrained(folder, force_download=False)
    texts = ["open file", "read the file value", "sort list", "zzz"]
    assert np.array_equal(ours.encode(texts), theirs.encode(texts))
    assert (ours.normalize, ours.max_length) == (theirs.normalize, theirs.max_length)


def test_progress_and_large_batches(tiny):
    enc = load_encoder(tiny)
    seen = []
    v = enc.encode_passages(["open file read"] * 5000, progress=seen.append)
    assert v.shape == (5000, 16) and sum(seen) == 5000 and len(seen) == 3


def test_truncation_at_max_tokens(tiny):
    enc = load_encoder(Preset("tiny2", tiny.source, 16, 2, offline=True))
    a, b = enc.encode_passages(["open file", "open file sort sort sort"])
    assert np.allclose(a, b)


def test_fast_preset_resolves_and_fails_in_one_line_without_distilling(monkeypatch):
    from codequarry.embed import static_backend

    assert PRESETS["fast"].source == "model2vec:minilm"
    # No distilled model in the test cache and no permission to distil: one clear error.
    with pytest.raises(ModelUnavailableError, match="no distilled static model for 'minilm'"):
        static_backend.static_folder(PRESETS["fast"], distill_if_missing=False)
    with pytest.raises(ModelUnavailableError, match="neither a folder nor a transformer preset"):
        load_encoder(Preset("bad", "model2vec:nope", 8, 8))
    monkeypatch.setitem(sys.modules, "model2vec", None)
    with pytest.raises(MissingExtraError, match=r"codequarry\[fast\]"):
        load_encoder("fast")
