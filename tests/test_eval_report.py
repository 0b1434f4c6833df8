"""Systems, reports, plots and the `quarry eval` command (hash encoder, tiny data)."""

import json

import pytest
from click.testing import CliRunner

from codequarry.errors import UserInputError
from codequarry.eval.command import eval_command
from codequarry.eval.systems import System, expand_systems
from test_eval_beir import make_beir


def test_expand_systems_order_labels_and_lexical_once():
    s = expand_systems((), (), ())
    assert [x.label for x in s] == ["lexical", "dense", "hybrid"]
    s = expand_systems(("dense", "lexical"), ("hash", "minilm"), ())
    assert [(x.mode, x.model) for x in s] == [("dense", "hash"), ("dense", "minilm"), ("lexical", "hash")]
    assert [x.label for x in s] == ["dense-hash", "dense-minilm", "lexical"]
    s = expand_systems(("hybrid",), ("hash",), ("a", "b"))
    assert [x.label for x in s] == ["hybrid-slot=a", "hybrid-slot=b"]
    with pytest.raises(UserInputError, match="unknown mode"):
        expand_systems(("fuzzy",), (), ())
    assert System("hybrid", fusion="rrf").config()["fusion"] == "rrf"


def test_model_labels_keep_the_run_name_of_training_outputs():
    from codequarry.eval.systems import short_model

    assert short_model("intfloat/e5-base-v2") == "e5-base-v2"
    assert short_model("build/train-runs/refit/adapter") == "refit/adapter"
    assert short_model("/x/runs/a/model") == "a/model"


@pytest.fixture
def evaluation(tmp_path):
    from codequarry.embed.encoder import HashingEncoder
    from codequarry.eval.beir import load_beir
    from codequarry.eval.evaluators import evaluate_beir

    ds = load_beir(str(make_beir(tmp_path / "tiny")), "test")
    return evaluate_beir(ds, expand_systems((), ("hash",), ()), encoder_factory=lambda m: HashingEncoder(256))


def test_markdown_has_every_metric_and_deltas(evaluation):
    from codequarry.eval.report import markdown, summary_markdown

    md = markdown(evaluation.details)
    for head in ("R@1", "R@5", "R@10", "R@20", "R@100", "MRR@10", "nDCG@10", "MAP@100", "p50 ms", "p95 ms", "q/s"):
        assert head in md
    dense = evaluation.details["systems"][1]["metrics"]["ndcg@10"]
    lexical = evaluation.details["systems"][0]["metrics"]["ndcg@10"]
    assert "against `lexical`" in md
    delta = dense - lexical
    assert ("±0" if abs(delta) < 5e-4 else f"{delta:+.3f}") in md
    assert "by category" in md
    table = summary_markdown([evaluation.details])
    assert table.count("\n") == 2 + 3 and "tiny test (3)" in table


def test_outputs_json_markdown_and_pngs(evaluation, tmp_path):
    from codequarry.eval.report import write_outputs

    paths = write_outputs(evaluation.details, evaluation.metrics, evaluation.primary_metric, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["primary_metric"] == "tiny-test_lexical_ndcg@10"
    assert data["metrics"]["tiny-test_hybrid_recall@10"] == 1.0
    assert data["codequarry"]["version"] and "git_commit" in data["codequarry"]
    assert data["dataset"]["hash"] and data["date"]
    assert data["systems"][1]["config"]["model"] == "hash"
    for key in ("recall_png", "metrics_png"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert paths[key].stat().st_size > 5000


def test_cli_json_and_files(tmp_path, monkeypatch):
    data = make_beir(tmp_path / "tiny")
    monkeypatch.setenv("QUARRY_DATASETS", str(tmp_path))
    out = tmp_path / "results"
    r = CliRunner().invoke(eval_command, ["tiny", "--model", "hash", "--mode", "lexical", "--mode", "hybrid",
                                          "--split", "dev", "--limit", "1", "--json", "--no-plots", "--out", str(out)])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["dataset"]["queries"] == 1 and payload["dataset"]["split"] == "dev"
    assert [s["label"] for s in payload["systems"]] == ["lexical", "hybrid"]
    assert (out / "tiny-dev.json").is_file() and (out / "tiny-dev.md").is_file()
    assert not list(out.glob("*.png"))
    r = CliRunner().invoke(eval_command, [str(data), "--model", "hash", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "nDCG@10" in r.stdout and "primary metric tiny-test_lexical_ndcg@10" in r.stdout
    assert (out / "tiny-test-recall.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["nosuchset"], "dataset 'nosuchset' not found"),
    (["tiny", "--slot", "a"], "--slot applies to repository fixtures"),
    (["missing.json"], "no such fixture file"),
])
def test_cli_user_errors_are_one_line(tmp_path, monkeypatch, args, message):
    make_beir(tmp_path / "tiny")
    monkeypatch.setenv("QUARRY_DATASETS", str(tmp_path))
    r = CliRunner().invoke(eval_command, [*args, "--model", "hash", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert f"quarry: error: {message}" in r.stderr and r.stderr.count("\n") == 1
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_command_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, codequarry.eval.command; "
            "print([m for m in ('torch', 'sentence_transformers', 'matplotlib', 'numpy', 'faiss') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_fixture_run(tmp_path):
    from test_eval_fixture import write_fixture

    fx = write_fixture(tmp_path)
    out = tmp_path / "o"
    r = CliRunner().invoke(eval_command, [str(fx), "--model", "hash", "--split", "dev", "--strict", "--json",
                                          "--out", str(out)])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["dataset"]["kind"] == "fixture" and payload["dataset"]["strict"] is True
    assert payload["primary_metric"] == "tiny-dev_lexical_ndcg@10"
    assert payload["systems"][0]["index"]["chunks"] > 0
    assert (out / "tiny-dev.md").read_text().count("slot hash") == 1
    assert (out / "tiny-dev-metrics.png").is_file()
    r = CliRunner().invoke(eval_command, [str(fx), "--model", "hash", "--out", str(out)])
    assert r.exit_code == 0 and "tiny" in r.stdout and "by category" not in r.stdout


def test_category_table_and_index_summary(tmp_path):
    from codequarry.eval.evaluators import evaluate_fixture
    from codequarry.eval.fixture import load_fixture
    from codequarry.eval.report import category_markdown, index_summary
    from test_eval_fixture import write_fixture

    fx = load_fixture(write_fixture(tmp_path))
    systems = expand_systems(("lexical", "dense"), ("hash",), ())
    cold = evaluate_fixture(fx, systems, reindex=True)
    warm = evaluate_fixture(fx, systems)
    table = category_markdown([cold.details])
    assert "| tiny all | behaviour | 2 |" in table and "dense nDCG@10" in table
    lines = index_summary([cold.details, warm.details])
    assert len(lines) == 2 and "cached index" not in lines[0] and "cached index" in lines[1]
    assert cold.details["systems"][0]["index"]["embedded"] > 0
    again = evaluate_fixture(fx, systems, reindex=True)  # cold again: everything embedded anew
    assert again.details["systems"][0]["index"]["embedded"] == cold.details["systems"][0]["index"]["embedded"]
