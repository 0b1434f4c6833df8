"""`quarry mcp`: driven through the MCP SDK's own client over stdio, on a tiny repo indexed with the hash encoder."""

import json
import os
from pathlib import Path

import anyio
import pytest

from codequarry.agents.mcp_server import read_lines
from codequarry.errors import UserInputError
from codequarry.indexer import index_repository
from conftest import mcp_session, tool_text

mcp = pytest.importorskip("mcp")

SRC = str(Path(__file__).resolve().parents[1] / "src")
TOOLS = {"search", "callers", "callees", "impact", "trace", "gather", "read", "status"}


@pytest.fixture
def indexed(sample_repo):
    index_repository(sample_repo, model="hash")
    return sample_repo


def _session(repo: Path, body):
    return mcp_session(["mcp", "--repo", str(repo)],
                       {"PYTHONPATH": SRC, "QUARRY_CACHE_DIR": os.environ["QUARRY_CACHE_DIR"], "QUARRY_NO_SERVER": "1"},
                       body, cwd=repo)


def test_lists_read_only_tools_with_descriptions(indexed):
    async def body(session):
        return (await session.list_tools()).tools

    tools = _session(indexed, body)
    assert {t.name for t in tools} == TOOLS
    for t in tools:
        assert len(t.description) > 60, t.name  # written for an agent, not a stub
        assert t.annotations.read_only_hint is True


def test_calls_every_tool(indexed):
    calls = {
        "search": {"query": "retry failed uploads", "k": 3},
        "callers": {"name": "UploadStore.upload"},
        "callees": {"name": "store.py:16"},
        "impact": {"name": "UploadStore", "depth": 2},
        "trace": {"source": "retry_failed_uploads", "target": "UploadStore.upload"},
        "gather": {"query": "retry failed uploads", "tokens": 300},
        "read": {"path": "store.py", "start": 13, "end": 16},
        "status": {},
    }

    async def body(session):
        return {name: await session.call_tool(name, args) for name, args in calls.items()}

    got = _session(indexed, body)
    for name, result in got.items():
        assert not result.is_error, (name, tool_text(result))
    search = tool_text(got["search"])
    assert search.splitlines()[0].startswith("store.py:13-16  UploadStore.retry_failed_uploads  (method")
    # Compact: each hit is a header and a short snippet, never its whole code (the method's last
    # line, `self.upload(item)`, is past the snippet).
    assert "self.upload(item)" not in search and "return open(path" not in search, search
    assert all(len(line) < 200 for line in search.splitlines())
    assert "store.py:16  UploadStore.retry_failed_uploads  [resolved" in tool_text(got["callers"])
    assert "self.upload -> store.py:18 UploadStore.upload" in tool_text(got["callees"])
    assert "tests/test_store.py:1  test_open" in tool_text(got["impact"]) and "[test]" in tool_text(got["impact"])
    assert "-> store.py:16 calls UploadStore.upload" in tool_text(got["trace"])
    gathered = tool_text(got["gather"])  # the method comes inside its class, shown once
    assert "## store.py:6-19 `UploadStore` (class" in gathered and gathered.count("def retry_failed_uploads") == 1
    assert tool_text(got["read"]).splitlines()[1:] == [
        "13      def retry_failed_uploads(self, queue):",
        '14          """Retry every upload that failed, up to MAX_RETRIES times."""',
        "15          for item in queue:",
        "16              self.upload(item)",
    ]
    assert json.loads(tool_text(got["status"]))["files"] == 5


def test_errors_come_back_as_tool_errors_and_the_server_keeps_serving(indexed, tmp_path):
    (tmp_path / "secret.txt").write_text("outside\n")
    (indexed / "escape.py").symlink_to(tmp_path / "secret.txt")

    async def body(session):
        out = {
            "unknown": await session.call_tool("callers", {"name": "no_such_function_anywhere"}),
            "dotdot": await session.call_tool("read", {"path": "../secret.txt"}),
            "absolute": await session.call_tool("read", {"path": str(tmp_path / "secret.txt")}),
            "symlink": await session.call_tool("read", {"path": "escape.py"}),
            "bad_mode": await session.call_tool("search", {"query": "x", "mode": "psychic"}),
        }
        out["after"] = await session.call_tool("search", {"query": "upload", "k": 1})
        return out

    got = _session(indexed, body)
    for name in ("unknown", "dotdot", "absolute", "symlink", "bad_mode"):
        assert got[name].is_error, name
    assert "no definition named 'no_such_function_anywhere'" in tool_text(got["unknown"])
    assert "outside the repository" in tool_text(got["dotdot"])
    assert "relative to the repository" in tool_text(got["absolute"])
    assert "symlink" in tool_text(got["symlink"])
    assert "unknown mode 'psychic'" in tool_text(got["bad_mode"])
    assert not got["after"].is_error and "store.py" in tool_text(got["after"])


def test_missing_index_is_a_tool_error_not_a_crash(tmp_path):
    async def body(session):
        first = await session.call_tool("search", {"query": "anything"})
        second = await session.call_tool("status", {})
        return first, second

    first, second = _session(tmp_path, body)
    assert first.is_error and "no codequarry index" in tool_text(first)
    assert second.is_error


def test_read_lines_confined(tmp_path):
    (tmp_path / "a.py").write_text("one\ntwo\nthree\n")
    assert read_lines(tmp_path, "a.py", 2, 9).splitlines() == ["a.py:2-3 (of 3 lines)", "2  two", "3  three"]
    for bad in ("../a.py", "/etc/passwd", "sub/../../x", "~/x"):
        with pytest.raises(UserInputError):
            read_lines(tmp_path, bad)


def test_a_running_server_sees_a_new_index_generation(indexed):
    async def body(session):
        before = tool_text(await session.call_tool("search", {"query": "brand_new_helper", "k": 3, "mode": "lexical"}))
        (indexed / "extra.py").write_text("def brand_new_helper():\n    return 42\n")
        await anyio.to_thread.run_sync(lambda: index_repository(indexed, model="hash"))
        after = tool_text(await session.call_tool("search", {"query": "brand_new_helper", "k": 3, "mode": "lexical"}))
        return before, after

    before, after = _session(indexed, body)
    assert "extra.py" not in before
    assert after.splitlines()[0].startswith("extra.py:1-2  brand_new_helper")
