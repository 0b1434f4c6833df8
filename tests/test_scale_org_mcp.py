"""`quarry org mcp`: org search driven through the MCP SDK's own client over stdio, on a real Milvus Lite store
built once by `quarry org index` (local Ray runtime, hash encoder)."""

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from codequarry.cli import main
from conftest import mcp_session, tool_text

pytest.importorskip("mcp")
pytest.importorskip("pymilvus", reason="the 'scale' extra is not installed: pip install 'codequarry[scale]'")
pytest.importorskip("milvus_lite", reason="the 'scale' extra is not installed: pip install 'codequarry[scale]'")

pytestmark = pytest.mark.scale

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _session(store: str, body):
    return mcp_session(["org", "mcp", "--store", store],
                       {"PYTHONPATH": SRC, "QUARRY_CACHE_DIR": os.environ["QUARRY_CACHE_DIR"], "PATH": os.environ["PATH"]},
                       body)


def test_tools_calls_and_errors_in_one_session(org_store):
    """One server process for every call (each start opens the store): listing, searching with each filter,
    the repository list, then bad calls that come back as tool errors while the server keeps serving."""
    calls = {
        "all": {"query": "retry failed uploads", "k": 20},
        "exact": {"query": "ParseHTTPHeader", "k": 1},
        "beta_only": {"query": "retry failed uploads header", "k": 5, "repo": ["beta"]},
        "two_repos": {"query": "login form header", "k": 10, "repo": ["beta", "gamma"]},
        "go": {"query": "header", "language": "go"},
        "methods": {"query": "upload", "kind": "method"},
        "path": {"query": "login", "path": "web/*.js", "mode": "lexical"},
        "full": {"query": "renderLoginForm", "k": 1, "full_code": True},
        "unknown_repo": {"query": "x", "repo": ["nope"]},
        "bad_k": {"query": "x", "k": 0},
        "bad_mode": {"query": "x", "mode": "psychic"},
        "bad_lang": {"query": "x", "language": "klingon"},
        "after": {"query": "upload", "k": 1},
    }

    async def body(session):
        tools = (await session.list_tools()).tools
        got = {name: await session.call_tool("org_search", args) for name, args in calls.items()}
        got["repositories"] = await session.call_tool("org_repositories", {})
        return tools, got

    tools, got = _session(org_store["store"], body)
    assert {t.name for t in tools} == {"org_search", "org_repositories"}
    for t in tools:
        assert len(t.description) > 60 and t.annotations.read_only_hint is True, t.name

    for name in ("all", "exact", "beta_only", "two_repos", "go", "methods", "path", "full", "after", "repositories"):
        assert not got[name].is_error, (name, tool_text(got[name]))
    first = tool_text(got["all"]).splitlines()[0]
    assert first.startswith("alpha:store.py:13-16  UploadStore.retry_failed_uploads  (method"), first
    heads = [ln for ln in tool_text(got["all"]).splitlines() if not ln.startswith("    ")]
    assert {h.split(":")[0] for h in heads} == {"alpha", "beta", "gamma"}  # each result names its repository
    assert "self.upload(item)" not in tool_text(got["all"])  # snippets, not whole bodies
    assert tool_text(got["exact"]).startswith("beta:net/http_client.go:3-6  ParseHTTPHeader  (function")
    assert all(h.startswith("beta:") for h in _heads(got["beta_only"]))
    assert {h.split(":")[0] for h in _heads(got["two_repos"])} == {"beta", "gamma"}
    assert _heads(got["go"]) and all(h.startswith("beta:net/http_client.go") for h in _heads(got["go"]))
    assert _heads(got["methods"]) and all("(method," in h for h in _heads(got["methods"]))
    assert _heads(got["path"]) == [h for h in _heads(got["path"]) if h.startswith("gamma:web/app.js:")] != []
    assert "root.appendChild(form);" in tool_text(got["full"])  # full_code returns the body

    listed = json.loads(tool_text(got["repositories"]))
    assert listed["model"] == "hash"
    assert {n: r["chunks"] for n, r in listed["repositories"].items()} == org_store["chunks"]
    assert {Path(r["path"]).name for r in listed["repositories"].values()} == {"alpha", "beta", "gamma"}

    for name, message in (("unknown_repo", "no repository named 'nope'"), ("bad_k", "at least 1"),
                          ("bad_mode", "unknown mode 'psychic'"), ("bad_lang", "klingon")):
        assert got[name].is_error, name
        text = tool_text(got[name])
        assert message in text and "\n" not in text.strip() and "Traceback" not in text, (name, text)
    assert "alpha, beta, gamma" in tool_text(got["unknown_repo"])  # says what it could have been


def _heads(result) -> list[str]:
    return [ln for ln in tool_text(result).splitlines() if ln and not ln.startswith("    ")]


def test_missing_store_is_one_line_and_creates_nothing(tmp_path):
    missing = tmp_path / "nowhere" / "org.db"
    result = CliRunner().invoke(main, ["org", "mcp", "--store", str(missing)])
    assert result.exit_code == 3, result.output
    assert result.output.strip().count("\n") == 0 and "no store at" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not missing.parent.exists()
