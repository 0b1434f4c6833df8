"""BEIR loading, the three modes over a tiny set, the evaluator contract, and CoSQA's lexical leg."""

import json
import os
from pathlib import Path

import pytest

from codequarry.embed.encoder import HashingEncoder
from codequarry.errors import UserInputError
from codequarry.eval.beir import load_beir, resolve_dataset
from codequarry.eval.evaluators import evaluate_beir
from codequarry.eval.systems import expand_systems

CORPUS = {
    "c0": "def read_json_file(path):\n    with open(path) as fh:\n        return json.load(fh)",
    "c1": "def write_csv_rows(path, rows):\n    writer = csv.writer(open(path, 'w'))\n    writer.writerows(rows)",
    "c2": "def http_get(url):\n    return urllib.request.urlopen(url).read()",
    "c3": "def sort_dict_by_value(d):\n    return sorted(d.items(), key=lambda kv: kv[1])",
    "c4": "def reverse_string(s):\n    return s[::-1]",
    "c5": "def flatten_list(nested):\n    return [x for sub in nested for x in sub]",
}
QUERIES = {
    "test": {"t1": "read a json file", "t2": "sort dictionary by value", "t3": "reverse a string"},
    "dev": {"d1": "write rows to csv", "d2": "flatten nested list"},
}
QRELS = {
    "test": {"t1": {"c0": 1}, "t2": {"c3": 1}, "t3": {"c4": 1}},
    "dev": {"d1": {"c1": 1}, "d2": {"c5": 1}},
}


def make_beir(root: Path, *, title: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(exist_ok=True)
    with open(root / "corpus.jsonl", "w") as fh:
        for cid, text in CORPUS.items():
            fh.write(json.dumps({"_id": cid, "title": title, "text": text}) + "\n")
    for split, qs in QUERIES.items():
        with open(root / f"queries.{split}.jsonl", "w") as fh:
            for qid, text in qs.items():
                fh.write(json.dumps({"_id": qid, "text": text, "metadata": {"category": "words"}}) + "\n")
        with open(root / "qrels" / f"{split}.tsv", "w") as fh:
            fh.write("query-id\tcorpus-id\tscore\n")
            for qid, judged in QRELS[split].items():
                for cid, s in judged.items():
                    fh.write(f"{qid}\t{cid}\t{s}\n")
    return root


@pytest.fixture
def tiny(tmp_path):
    return make_beir(tmp_path / "tiny")


def hash_factory(model):
    return HashingEncoder(256)


def test_load_splits_and_limit(tiny):
    ds = load_beir(str(tiny), "test")
    assert ds.name == "tiny" and ds.prefix == "tiny-test"
    assert list(ds.queries) == ["t1", "t2", "t3"] and len(ds.corpus_ids) == 6
    assert ds.qrels["t2"] == {"c3": 1}
    assert len(ds.hash) == 16
    assert list(load_beir(str(tiny), "test", limit=2).queries) == ["t1", "t2"]
    assert list(load_beir(str(tiny), "dev").queries) == ["d1", "d2"]


def test_dataset_name_resolves_through_env(tiny, monkeypatch):
    monkeypatch.setenv("QUARRY_DATASETS", str(tiny.parent))
    assert resolve_dataset("tiny") == tiny.resolve()
    with pytest.raises(UserInputError, match="not found"):
        resolve_dataset("nosuchset")


def test_user_errors(tiny, tmp_path):
    with pytest.raises(UserInputError, match="no split 'train'"):
        load_beir(str(tiny), "train")
    with pytest.raises(UserInputError, match="not a BEIR folder"):
        load_beir(str(tmp_path), "test")
    bad = make_beir(tmp_path / "bad")
    (bad / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nt1\tc99\t1\n")
    with pytest.raises(UserInputError, match="not in the corpus"):
        load_beir(str(bad), "test")
    (bad / "corpus.jsonl").write_text("{not json\n")
    with pytest.raises(UserInputError, match="not JSON"):
        load_beir(str(bad), "test")


def test_evaluator_contract_and_modes(tiny):
    ds = load_beir(str(tiny), "test")
    systems = expand_systems((), ("hash",), ())
    ev = evaluate_beir(ds, systems, encoder_factory=hash_factory)
    d = ev.as_dict()
    assert d["primary_metric"] == "tiny-test_lexical_ndcg@10" == ev.primary_metric
    for mode in ("lexical", "dense", "hybrid"):
        assert f"tiny-test_{mode}_ndcg@10" in d and f"tiny-test_{mode}_recall@100" in d
        assert f"tiny-test_{mode}_latency_p50_ms" in d
    # The tiny set is easy: every mode finds every answer first.
    for mode in ("lexical", "dense", "hybrid"):
        assert d[f"tiny-test_{mode}_recall@1"] == 1.0, mode
    s = ev.details["systems"]
    assert [x["label"] for x in s] == ["lexical", "dense", "hybrid"]
    assert s[2]["config"]["fusion"]["method"] == "convex"
    assert s[0]["by_category"]["words"]["queries"] == 3
    assert s[1]["per_query"][0]["first_hit"] == 1
    assert ev.details["dataset"]["hash"] == ds.hash


def test_embeddings_are_cached_by_model_and_corpus(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("QUARRY_CACHE_DIR", str(tmp_path / "own-cache"))
    calls = []

    class Counting(HashingEncoder):
        def encode_passages(self, texts, progress=None):
            calls.append(len(texts))
            return super().encode_passages(texts, progress)

    ds = load_beir(str(tiny), "test")
    systems = expand_systems(("dense",), ("hash",), ())
    first = evaluate_beir(ds, systems, encoder_factory=lambda m: Counting(256))
    second = evaluate_beir(ds, systems, encoder_factory=lambda m: Counting(256))
    assert calls == [6]
    assert first.details["systems"][0]["embedding"]["cache_hit"] is False
    assert second.details["systems"][0]["embedding"]["cache_hit"] is True
    assert first.metrics["tiny-test_dense_ndcg@10"] == second.metrics["tiny-test_dense_ndcg@10"]
    assert list((tmp_path / "own-cache" / "embeddings").glob("hash-*.npy"))
    # A changed corpus is embedded again.
    changed = make_beir(tmp_path / "tiny2", title="T")
    evaluate_beir(load_beir(str(changed), "test"), systems, encoder_factory=lambda m: Counting(256))
    assert calls == [6, 6]


def test_rrf_and_weighted_systems(tiny):
    from dataclasses import replace

    from codequarry.eval.systems import System, label_systems
    from codequarry.search.fusion import FusionWeights

    ds = load_beir(str(tiny), "test")
    systems = label_systems([
        System("hybrid", "hash", fusion="rrf"),
        replace(System("hybrid", "hash", weights=FusionWeights(lexical_words_flat=0.0)), label="w0"),
    ])
    ev = evaluate_beir(ds, systems, encoder_factory=hash_factory)
    assert [s["label"] for s in ev.details["systems"]] == ["rrf", "w0"]
    assert ev.details["systems"][0]["config"]["fusion"] == "rrf"
    # A BEIR corpus has no names: lexical_words_flat=0 is the dense ranking.
    dense = evaluate_beir(ds, expand_systems(("dense",), ("hash",), ()), encoder_factory=hash_factory)
    assert ev.metrics["tiny-test_w0_ndcg@10"] == dense.metrics["tiny-test_dense_ndcg@10"]


COSQA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cosqa"


def test_cosqa_lexical_leg_matches_pytrec_eval_and_the_reference():
    """The full CoSQA dev split through the shipped BM25 leg (about a second), cross-checked.
    (Dev, not test: the lexical leg is tuned on dev, and test numbers are reported once, never watched.)"""
    if not (COSQA / "corpus.jsonl").exists() and os.environ.get("QUARRY_DATASETS"):
        root = Path(os.environ["QUARRY_DATASETS"]) / "cosqa"
    else:
        root = COSQA
    assert (root / "corpus.jsonl").exists(), f"CoSQA is expected at {root} (shared/datasets/cosqa)"
    from codequarry.eval.beir import LexicalCorpus, collect_candidates
    from test_eval_metrics import pytrec_scores

    ds = load_beir(str(root), "dev")
    assert len(ds.corpus_ids) == 6267 and len(ds.queries) == 500
    ev = evaluate_beir(ds, expand_systems(("lexical",), (), ()))
    m = ev.details["systems"][0]["metrics"]
    # README reference for the shipped lexical leg (identifier-split, stemmed BM25) on CoSQA dev.
    assert m["ndcg@10"] == pytest.approx(0.381, abs=0.005)
    assert m["mrr@10"] == pytest.approx(0.327, abs=0.005)
    assert m["recall@10"] == pytest.approx(0.554, abs=0.005)
    # Same run, scored by pytrec_eval. BM25 scores are converted to distinct ranks first so
    # both sides see the same order (trec_eval would reorder tied scores by doc id).
    cands = collect_candidates(ds, LexicalCorpus(ds.corpus_texts), None)
    from codequarry.eval.metrics import rank

    run = {}
    for qid, c in cands.items():
        ranked = rank(c.lexical, 100)
        run[qid] = {ds.corpus_ids[r]: float(100 - i) for i, r in enumerate(ranked)}
    theirs = pytrec_scores(run, ds.qrels)
    for name in ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100"):
        mean = sum(theirs[q][name] for q in ds.qrels) / len(ds.qrels)
        assert m[name] == pytest.approx(mean, abs=1e-9), name
