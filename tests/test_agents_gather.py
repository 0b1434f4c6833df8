"""`quarry gather`: search seeds expanded along the call graph, de-duplicated, in reading order, within budget."""

import json

import pytest
from conftest import run_cli

from codequarry.agents.gather import HEADER_TOKENS, estimate_tokens, gather
from codequarry.errors import UserInputError
from codequarry.indexer import index_repository


@pytest.fixture
def indexed(sample_repo):
    index_repository(sample_repo, model="hash")
    return sample_repo


def test_one_seed_brings_what_it_calls(indexed):
    g = gather("retry failed uploads", 200, seeds=1, repo=indexed)
    around = lambda line: next(i for i in g.items if i.file == "store.py" and i.line <= line <= i.line_end)  # noqa: E731
    assert "search #1" in around(13).why
    # UploadStore.upload (line 18) comes over the call graph, alone or inside its class
    assert "called by UploadStore.retry_failed_uploads" in around(18).why
    assert "    def upload(self, item):\n        return item" in around(18).code
    assert [(i.file, i.line) for i in g.items] == sorted((i.file, i.line) for i in g.items)


def test_budget_dedup_and_reading_order(indexed):
    full = gather("retry failed uploads", 100_000, repo=indexed)
    assert full.left_out == 0
    assert full.tokens == sum(i.tokens for i in full.items)
    assert all(i.tokens == estimate_tokens(i.code) + HEADER_TOKENS for i in full.items)
    spans = [(i.file, i.line, i.line_end) for i in full.items]
    assert spans == sorted(spans)
    for a in spans:  # no line shown twice: the class replaced its methods
        assert not any(b != a and b[0] == a[0] and a[1] <= b[1] and b[2] <= a[2] for b in spans)
    assert "UploadStore" in {i.qualname for i in full.items}

    for budget in (60, 120, 200):
        g = gather("retry failed uploads", budget, repo=indexed)
        assert g.tokens <= budget and g.items
        assert g.left_out > 0


def test_best_seed_cut_when_alone_over_budget(indexed):
    g = gather("retry failed uploads", 25, repo=indexed)
    (item,) = g.items
    assert item.truncated and item.qualname == "UploadStore.retry_failed_uploads"
    assert item.code == "    def retry_failed_uploads(self, queue):" and g.tokens <= 25


def test_cli_markdown_json_and_errors(indexed):
    out = run_cli("gather", "retry", "failed", "uploads", "--tokens", "300", "--repo", str(indexed))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("# Context for: retry failed uploads\n")
    assert "```python\n" in out.stdout and "store.py:" in out.stdout

    out = run_cli("gather", "retry failed uploads", "--tokens", "300", "--json", "--repo", str(indexed))
    data = json.loads(out.stdout)
    assert data["budget"] == 300 and data["tokens"] <= 300
    assert set(data["items"][0]) == {"file", "line", "line_end", "qualname", "kind", "language", "signature",
                                     "score", "why", "tokens", "truncated", "code"}

    with pytest.raises(UserInputError):
        gather("   ", 100, repo=indexed)
    missing = run_cli("gather", "x", "--repo", str(indexed / "web"), "--index-dir", str(indexed / "nowhere"))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
