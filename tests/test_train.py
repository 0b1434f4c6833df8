"""Training pipeline smoke tests: tiny data, a tiny random BERT, 2 steps — seconds, not minutes."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from codequarry.train.config import from_dict, load_config, parse_override
from codequarry.train.mining import NearDuplicates, dedupe, doc_query, is_trivial, strip_doc
from codequarry.train.pairs import Pair, cosqa_pairs, read_pairs, write_pairs
from codequarry.train.sampler import PlainBatchSampler, RelatedBatchSampler, batch_conflicts, conflicts, pair_tokens

@pytest.fixture(scope="module", autouse=True)
def _own_cache(tmp_path_factory):
    """Embedding caches of these tiny models stay in a temporary folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("QUARRY_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


WORDS = ("def return self value list file path read write open close parse json string number add sum "
         "sort key dict item index find search query code python check if is a the of to in for").split()


# -- pure functions ---------------------------------------------------------------------------------
def test_doc_query_takes_first_sentence_and_drops_tags_and_leading_identifier():
    assert doc_query("Return the sum of the list.\n\n:param xs: numbers", "total") == "Return the sum of the list"
    assert doc_query("ReadFile reads the named file and returns its contents.", "ReadFile") == \
        "reads the named file and returns its contents"
    assert doc_query("Returns {@code true} if the list is empty. More text.", "isEmpty") == \
        "Returns true if the list is empty"
    assert doc_query("@param x the value", "f") is None
    assert doc_query("TODO: fix", "f") is None
    assert doc_query("Sum.", "f") is None  # too short


def test_trivial_pairs_are_detected():
    assert is_trivial("get user name", "getUserName")
    assert is_trivial("Calls parse_json_file on it", "parse_json_file")
    assert not is_trivial("reads the named file and returns its contents", "ReadFile")


def test_strip_doc_removes_comments_and_docstrings_keeps_decorators():
    py = 'def f(a: int) -> int:\n    """Add one.\n\n    More.\n    """\n    return a + 1\n'
    assert strip_doc(py, "python") == "def f(a: int) -> int:\n    return a + 1"
    java = "    /**\n     * Adds one.\n     */\n    @Override\n    public int f(int a) {\n        return a + 1;\n    }"
    assert strip_doc(java, "java") == "@Override\npublic int f(int a) {\n    return a + 1;\n}"
    rust = "/// Adds one.\n#[inline]\nfn f(a: u32) -> u32 {\n    a + 1\n}"
    assert strip_doc(rust, "rust") == "#[inline]\nfn f(a: u32) -> u32 {\n    a + 1\n}"
    ruby = "# Adds one\ndef f(a)\n  a + 1\nend"
    assert strip_doc(ruby, "ruby") == "def f(a)\n  a + 1\nend"


def test_near_duplicates_and_generic_queries_are_dropped():
    body = "def f(a, b):\n    total = a + b\n    for i in range(10):\n        total += i * a - b\n    return total\n"
    near = NearDuplicates()
    assert not near.seen(body)
    assert near.seen(body.replace("return total", "return  total"))
    pairs = [Pair(f"compute thing number {i}", body + f"# v{i}\n" if i < 2 else body.replace("f(", f"g{i}(") + "x = 1\n" * i,
                  "python", "mined", "r") for i in range(4)]
    kept = dedupe(pairs, blocked_codes=[])
    assert len(kept) < len(pairs)
    generic = [Pair("Returns the value", f"def v{i}(self):\n    return self._v{i} * {i}\n", "python", "mined", "r")
               for i in range(5)]
    assert dedupe(generic, max_query_repeats=3) == []


def test_config_loading_and_overrides(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[train]\nlr = 5e-5\n[loss]\nname = "gist"\nmatryoshka = true\n')
    cfg = load_config(path, {"train.batch_size": 8})
    assert cfg.name == "r" and cfg.train.lr == 5e-5 and cfg.train.batch_size == 8 and cfg.loss.name == "gist"
    assert parse_override("train.lr=1e-4") == ("train.lr", 1e-4)
    with pytest.raises(Exception):
        from_dict({"train": {"learning_rate": 1}})


def test_a_recipe_value_of_the_wrong_type_is_a_user_error():
    from codequarry.errors import UserInputError

    with pytest.raises(UserInputError, match="data.hard_negatives_per_pair must be an integer, not 'abc'"):
        from_dict({"data": {"hard_negatives_per_pair": "abc"}})
    with pytest.raises(UserInputError, match="train.epochs must be a number"):
        from_dict({"train": {"epochs": "three"}})
    with pytest.raises(UserInputError, match="lora.enabled must be true or false"):
        from_dict({"lora": {"enabled": 1}})
    with pytest.raises(UserInputError, match="train.batch_size must be an integer, not True"):
        from_dict({"train": {"batch_size": True}})
    cfg = from_dict({"train": {"epochs": 3, "lr": 1}})
    assert cfg.train.epochs == 3.0 and isinstance(cfg.train.epochs, float) and cfg.train.lr == 1.0


def test_shipped_recipes_parse():
    root = Path(__file__).resolve().parents[1] / "configs" / "train"
    recipes = sorted(root.glob("*.toml"))
    assert recipes, "no recipes in configs/train"
    for path in recipes:
        load_config(path)


# -- the call-graph sampler: a property test ----------------------------------------------------------------
def _random_pairs(rng: random.Random, n: int) -> list[Pair]:
    pairs = []
    for i in range(n):
        file = f"f{rng.randrange(max(2, n // 6))}"
        related = [f"r#{rng.randrange(n)}" for _ in range(rng.randrange(4))]
        if rng.random() < 0.3:
            related.append(f"r:class:C{rng.randrange(5)}")
        pairs.append(Pair(f"query {i} {rng.choice(WORDS)}", f"code {i} {rng.randrange(n * 2)}", "python", "mined", "r",
                          key=f"r#{i}", group=f"r:{file}", related=related))
    return pairs


@pytest.mark.parametrize("seed", range(25))
def test_related_sampler_never_batches_related_items(seed):
    rng = random.Random(seed)
    pairs = _random_pairs(rng, rng.randrange(20, 200))
    tokens = [pair_tokens(p) for p in pairs]
    bs = rng.choice([2, 4, 8, 16])
    sampler = RelatedBatchSampler(tokens, bs, seed=seed, max_open=rng.choice([2, 8, 64]))
    batches = list(sampler)
    seen = [i for b in batches for i in b]
    assert len(seen) == len(set(seen)), "an item was used twice in one epoch"
    assert len(seen) + sampler.stats["dropped"] == len(pairs)
    for b in batches:
        assert 2 <= len(b) <= bs
        for x in range(len(b)):
            for y in range(x + 1, len(b)):
                assert not conflicts(tokens[b[x]], tokens[b[y]]), (pairs[b[x]], pairs[b[y]])
    assert batch_conflicts(batches, tokens)["related_pairs_in_batch"] == 0


def test_callers_callees_and_file_siblings_conflict():
    a = Pair("q a", "code a", "go", "mined", "r", key="r#1", group="r:a.go", related=["r#2"])
    b = Pair("q b", "code b", "go", "mined", "r", key="r#2", group="r:b.go")
    c = Pair("q c", "code c", "go", "mined", "r", key="r#3", group="r:a.go")
    d = Pair("q d", "code d", "go", "mined", "r", key="r#4", group="r:d.go")
    ta, tb, tc, td = map(pair_tokens, (a, b, c, d))
    assert conflicts(ta, tb) and conflicts(ta, tc) and not conflicts(tb, td) and not conflicts(ta, td)
    assert len(list(PlainBatchSampler(4, 2))) == 2


# -- CoSQA pairs never touch the test split ----------------------------------------------------------------
def _tiny_beir(root: Path, n_docs: int = 24, n_queries: int = 6) -> Path:
    rng = random.Random(3)
    (root / "qrels").mkdir(parents=True)
    docs = [f"def fn{i}(x):\n    return {' '.join(rng.choice(WORDS) for _ in range(8))}" for i in range(n_docs)]
    with open(root / "corpus.jsonl", "w") as fh:
        for i, d in enumerate(docs):
            fh.write(json.dumps({"_id": f"c{i}", "title": "", "text": d}) + "\n")
    for split, off in (("dev", 0), ("test", n_queries)):
        with open(root / f"queries.{split}.jsonl", "w") as fq, open(root / "qrels" / f"{split}.tsv", "w") as fr:
            fr.write("query-id\tcorpus-id\tscore\n")
            for j in range(n_queries):
                qid = f"{split}-{j}"
                fq.write(json.dumps({"_id": qid, "text": f"python {docs[off + j].split('return ')[1]}"}) + "\n")
                fr.write(f"{qid}\tc{off + j}\t1\n")
    (root / "original").mkdir()
    labelled = [{"idx": "l0", "doc": "python brand new query", "code": "def z():\n    return 1", "label": 1},
                {"idx": "l1", "doc": "leaky", "code": docs[n_queries], "label": 1},  # a test positive
                {"idx": "l2", "doc": "negative", "code": "def y(): pass", "label": 0}]
    (root / "original" / "cosqa-dev.json").write_text(json.dumps(labelled))
    return root


def test_cosqa_pairs_exclude_test_queries_and_positives(tmp_path):
    root = _tiny_beir(tmp_path / "beir")
    pairs, block, info = cosqa_pairs(root, holdout=2)
    test_codes = {json.loads(l)["text"] for l in open(root / "corpus.jsonl")}  # noqa: E741
    test_ids = {l.split("\t")[1] for l in open(root / "qrels" / "test.tsv").read().splitlines()[1:]}  # noqa: E741
    corpus = {json.loads(l)["_id"]: json.loads(l)["text"] for l in open(root / "corpus.jsonl")}  # noqa: E741
    assert test_codes
    train = [p for p in pairs if p.split == "train"]
    assert not any(p.positive in {corpus[i] for i in test_ids} for p in train)
    assert {p.source for p in train} == {"cosqa-dev", "cosqa-labelled"}
    assert sum(p.split == "holdout" for p in pairs) == 2
    assert info["dropped"].get("labelled-overlaps-test-or-holdout") == 1



def test_holdout_is_trained_on_only_in_a_final_refit(tmp_path):
    from codequarry.train.config import DataConfig
    from codequarry.train.run import select_pairs

    pairs, _, _ = cosqa_pairs(_tiny_beir(tmp_path / "beir"), holdout=2)
    held = {p.qualname for p in pairs if p.split == "holdout"}
    chosen, _ = select_pairs(pairs, DataConfig(per_language={"*": 0}))
    assert held and not held & {p.qualname for p in chosen if p.source == "cosqa-dev"}
    refit, _ = select_pairs(pairs, DataConfig(per_language={"*": 0}, include_holdout=True))
    assert held <= {p.qualname for p in refit if p.source == "cosqa-dev"}
    assert len(refit) == len(chosen) + len(held)

# -- the whole pipeline on a tiny random BERT ----------------------------------------------------------------
def _tiny_model(folder: Path) -> Path:
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    hf = folder / "hf"
    hf.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS)), *"abcdefghijklmnopqrstuvwxyz0123456789",
             *"(){}[]:.,=+-*_\"'#", *[f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]]
    (hf / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    BertTokenizerFast.from_pretrained(str(hf)).save_pretrained(str(hf))  # reads vocab.txt
    import torch

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(dict.fromkeys(vocab)), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)).save_pretrained(str(hf))
    word = models.Transformer(str(hf), max_seq_length=64)
    st = SentenceTransformer(modules=[word, models.Pooling(32, "mean"), models.Normalize()], device="cpu")
    st.save(str(folder / "st"))
    return folder / "st"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from codequarry.train.run import train

    tmp = tmp_path_factory.mktemp("train")
    base = _tiny_model(tmp / "model")
    beir = _tiny_beir(tmp / "beir")
    rng = random.Random(0)
    pairs = []
    for i in range(16):
        words = [rng.choice(WORDS) for _ in range(6)]
        pairs.append(Pair(" ".join(words[:4]), f"def f{i}(x):\n    return {' '.join(words)}", "python", "mined",
                          f"repo{i % 3}", file=f"m{i % 5}.py", qualname=f"f{i}", key=f"repo{i % 3}#{i}",
                          group=f"repo{i % 3}:m{i % 5}.py", related=[f"repo{i % 3}#{(i + 1) % 16}"]))
    write_pairs(pairs, tmp / "pairs" / "pairs.jsonl")
    cfg = from_dict({
        "name": "smoke", "out_dir": str(tmp / "runs"),
        "model": {"base": str(base), "max_seq_length": 32, "query_max_length": 16, "eval_max_seq_length": 32},
        "data": {"pairs": str(tmp / "pairs"), "per_language": {"*": -1}, "cosqa": False},
        "loss": {"name": "mnrl", "matryoshka": True, "matryoshka_dims": [32, 16]},
        "lora": {"r": 4, "alpha": 8, "target_modules": ["query", "value", "dense"]},
        "train": {"batch_size": 4, "max_steps": 2, "lr": 1e-3, "warmup_ratio": 0.0, "threads": 1},
        "eval": {"dataset": str(beir), "splits": ["dev", "test"], "matryoshka_dims": [32, 16]},
    })
    info = train(cfg, log=lambda m: None)
    return info, base, tmp


def test_a_model_a_recipe_names_that_cannot_load_is_one_line_exit_6(tiny_run, tmp_path):
    from click.testing import CliRunner

    from codequarry.cli import main

    info, base, tmp = tiny_run
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"""
[model]
base = "{base}"
[data]
pairs = "{tmp / 'pairs'}"
per_language = {{ "*" = -1 }}
cosqa = false
[train]
max_steps = 1
[eval]
before = false
after = false
""")
    for override in ("model.base=\"/nope/model\"", "loss.name=\"gist\"", "data.negatives_model=\"/nope/model\""):
        extra = ["--set", "loss.guide=\"/nope/model\""] if "gist" in override else []
        if "negatives" in override:
            extra = ["--set", "data.hard_negatives=\"corpus\"", "--set", "data.hard_negative_pool=3"]
        result = CliRunner().invoke(main, ["train", str(recipe), "--set", override, *extra,
                                           "--out", str(tmp_path / "runs")])
        assert result.exit_code == 6, (override, result.output)
        assert "cannot load model '/nope/model'" in result.output and "Traceback" not in result.output


def test_pipeline_logs_real_finite_losses(tiny_run):
    info, _, _ = tiny_run
    rows = [json.loads(l) for l in Path(info["log"]).read_text().splitlines()]  # noqa: E741
    assert len(rows) == 2 and [r["step"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in rows)
    assert all(r["pairs_per_s"] > 0 and r["lr"] > 0 for r in rows)
    assert rows[1]["time"] >= rows[0]["time"]
    assert Path(info["plot"]).stat().st_size > 1000


def test_training_info_has_provenance_and_evaluation(tiny_run):
    info, _, _ = tiny_run
    saved = json.loads((Path(info["run_dir"]) / "training_info.json").read_text())
    for key in ("config", "data", "git_commit", "hardware", "started", "finished", "eval_before", "eval"):
        assert key in saved, key
    assert len(saved["data"]["pairs_sha256"]) == 64
    assert saved["batching"]["related_pairs_in_batch"] == 0
    assert set(saved["eval"]["matryoshka"]["test"]) == {"32", "16"}
    assert 0.0 <= saved["eval"]["test"]["ndcg@10"] <= 1.0


def test_adapter_saves_loads_and_matches_merged_model(tiny_run, tmp_path, monkeypatch):
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from codequarry.embed.adapter import is_adapter_folder, merged_folder
    from codequarry.train.lora import load_adapter_model

    info, base, _ = tiny_run
    adapter = Path(info["adapter"])
    assert is_adapter_folder(adapter)
    assert (adapter / "adapter_model.safetensors").stat().st_size < 1_000_000
    loaded = load_adapter_model(adapter)
    merged = SentenceTransformer(info["merged_model"], device="cpu")
    base_model = SentenceTransformer(str(base), device="cpu")
    texts = ["def add(a, b): return a + b", "python sort a list"]
    a, b, c = (m.encode(texts, normalize_embeddings=True) for m in (loaded, merged, base_model))
    assert np.allclose(a, b, atol=1e-5)
    # The inference-side merge (numpy, no peft) gives the same model, once, reused after.
    monkeypatch.setenv("QUARRY_CACHE_DIR", str(tmp_path / "cache"))
    folder = merged_folder(adapter)
    assert merged_folder(adapter) == folder and (folder / "modules.json").is_file()
    light = SentenceTransformer(str(folder), device="cpu")
    assert np.allclose(light.encode(texts, normalize_embeddings=True), b, atol=1e-5)
    assert not np.allclose(a, c, atol=1e-5), "training changed nothing"


def test_a_broken_adapter_is_one_model_error(tiny_run, tmp_path, monkeypatch):
    import shutil

    from codequarry.embed.adapter import merged_folder
    from codequarry.errors import ModelUnavailableError

    info, _, _ = tiny_run
    monkeypatch.setenv("QUARRY_CACHE_DIR", str(tmp_path / "cache"))
    broken = tmp_path / "broken"
    shutil.copytree(info["adapter"], broken)
    (broken / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelUnavailableError, match="cannot merge the adapter"):
        merged_folder(broken)
    assert not list((tmp_path / "cache" / "adapters").iterdir())  # nothing half-written is left


def test_merged_model_resolves_as_a_model_folder(tiny_run):
    from codequarry.embed.presets import resolve_model

    info, _, _ = tiny_run
    preset = resolve_model(info["merged_model"])
    assert preset.offline and Path(preset.source).is_dir()


def test_read_pairs_roundtrip(tmp_path):
    p = Pair("q", "def f(): pass", "python", "mined", "r", related=["r#1"])
    sha = write_pairs([p], tmp_path / "pairs.jsonl")
    assert len(sha) == 64 and read_pairs(tmp_path)[0] == p


def test_hard_negatives_come_from_the_corpus_and_never_from_test(tmp_path):
    from codequarry.train.evaluate import ModelEncoder
    from codequarry.train.negatives import corpus_hard_negatives
    from codequarry.train.run import train

    base = _tiny_model(tmp_path / "model")
    beir = _tiny_beir(tmp_path / "beir", n_docs=40, n_queries=6)
    corpus = {json.loads(l)["_id"]: json.loads(l)["text"] for l in open(beir / "corpus.jsonl")}  # noqa: E741
    test_ids = {l.split("\t")[1] for l in open(beir / "qrels" / "test.tsv").read().splitlines()[1:]}  # noqa: E741
    # The query repeats its code, so even a random model ranks the positive first and negatives exist.
    pairs = [Pair(corpus[f"c{i}"], corpus[f"c{i}"], "python", "cosqa-dev", "cosqa",
                  file=f"corpus:c{i}", key=f"cosqa:c{i}", group=f"cosqa:c{i}") for i in range(12, 20)]
    from sentence_transformers import SentenceTransformer

    from codequarry.train.evaluate import weights_fingerprint

    st = SentenceTransformer(str(base), device="cpu")
    enc = ModelEncoder(st, f"tiny-base-{weights_fingerprint(st)}", 32)
    negs, stats = corpus_hard_negatives(pairs, enc, dataset=str(beir), holdout=set(), pool=3)
    assert negs and stats["with_negative"] == len(negs), stats
    for i, texts in negs.items():
        assert len(texts) == 1 and texts[0] != pairs[i].positive
        assert texts[0] not in {corpus[c] for c in test_ids}
    two, stats2 = corpus_hard_negatives(pairs, enc, dataset=str(beir), holdout=set(), pool=3, per_pair=2)
    assert two and all(len(set(t)) == 2 and pairs[i].positive not in t for i, t in two.items())
    assert stats2["with_negative"] + stats2["too_few_eligible"] == len(pairs)
    write_pairs(pairs, tmp_path / "pairs" / "pairs.jsonl")
    cfg = from_dict({
        "name": "hn", "out_dir": str(tmp_path / "runs"),
        "model": {"base": str(base), "max_seq_length": 32, "query_max_length": 16, "eval_max_seq_length": 32},
        "data": {"pairs": str(tmp_path / "pairs"), "hard_negatives": "corpus", "hard_negative_pool": 3,
                 "hard_negatives_per_pair": 2, "negatives_model": str(base)},
        "loss": {"name": "cached_gist", "guide": str(base), "mini_batch_size": 2, "matryoshka": True,
                 "matryoshka_dims": [32, 16]},
        "lora": {"r": 2, "alpha": 4, "target_modules": ["query", "value"]},
        "train": {"batch_size": 4, "max_steps": 2, "threads": 1},
        "eval": {"dataset": str(beir), "before": False, "after": False},
    })
    info = train(cfg, log=lambda m: None)
    rows = [json.loads(l) for l in Path(info["log"]).read_text().splitlines()]  # noqa: E741
    assert rows and all(r["columns"] == 4 and math.isfinite(r["loss"]) for r in rows)
