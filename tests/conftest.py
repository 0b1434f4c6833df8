import os
import subprocess
import sys
from pathlib import Path

import pytest

# Tests never touch the user's cache or a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("QUARRY_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("QUARRY_INDEX_DIR", raising=False)
    monkeypatch.delenv("QUARRY_MODEL", raising=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The session's cache folder for module-scoped model fixtures, which run before `_isolated_cache`:
    the same folder, set by hand, so the ONNX export made once serves every model test."""
    folder = tmp_path_factory.getbasetemp() / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUARRY_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def fp32(cache):
    """The packaged MiniLM on ONNX Runtime fp32: the reference the other runtimes are held to."""
    from codequarry.embed import load_encoder

    return load_encoder("minilm", backend="onnx")


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return root


SAMPLE_REPO = {
    "store.py": '''"""Persistence for uploads."""

MAX_RETRIES = 5


class UploadStore:
    """Keeps uploaded blobs on disk."""

    def open(self, path):
        """Open the store at path."""
        return open(path, "rb")

    def retry_failed_uploads(self, queue):
        """Retry every upload that failed, up to MAX_RETRIES times."""
        for item in queue:
            self.upload(item)

    def upload(self, item):
        return item
''',
    "net/http_client.go": '''package net

// ParseHTTPHeader splits a raw header line into its name and value.
func ParseHTTPHeader(line string) (string, string) {
\treturn line, ""
}
''',
    "web/app.js": '''// Render the login form and wire its submit button.
function renderLoginForm(root) {
  const form = document.createElement("form");
  root.appendChild(form);
  return form;
}
''',
    "tests/test_store.py": '''def test_open():
    assert UploadStore().open("x")
''',
    "README.md": "# Demo\n\nA demo repository for tests.\n\n## Uploads\n\nFailed uploads are retried.\n",
}


@pytest.fixture
def sample_repo(tmp_path) -> Path:
    return write_tree(tmp_path / "repo", SAMPLE_REPO)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "codequarry.cli", *args], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=120,
    )


# An organisation of three repositories cut from SAMPLE_REPO: Python, Go, JavaScript.
ORG_REPOS = {
    "alpha": {f: SAMPLE_REPO[f] for f in ("store.py", "tests/test_store.py")},
    "beta": {"net/http_client.go": SAMPLE_REPO["net/http_client.go"]},
    "gamma": {f: SAMPLE_REPO[f] for f in ("web/app.js", "README.md")},
}


@pytest.fixture(scope="module")
def org_store(tmp_path_factory) -> dict:
    """ORG_REPOS indexed by `quarry org index --model hash` (its own local Ray runtime) into a Milvus Lite
    store, once per module: {"root", "store", "chunks": {repo: chunks}}. Skips without the `scale` extra.

    The index runs in its own process: Milvus Lite serves a file from a thread of the process that opened
    it and holds the file's lock until that process exits, so a store opened here could not be opened
    by the servers the tests start in other processes."""
    import json

    for module in ("ray", "pymilvus", "milvus_lite"):
        pytest.importorskip(module, reason="the 'scale' extra is not installed: pip install 'codequarry[scale]'")
    root = tmp_path_factory.mktemp("org")
    paths = [str(write_tree(root / name, files)) for name, files in ORG_REPOS.items()]
    store = str(root / "store" / "org.db")
    env = {"QUARRY_CACHE_DIR": str(root / "cache"), "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    result = run_cli("org", "index", *paths, "--store", store, "--model", "hash", "--json", env=env)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    return {"root": root, "store": store, "chunks": {r["name"]: r["chunks"] for r in stats["repos"]}}


def load_bench(name: str):
    """A script under bench/ as a module (`load_bench("semble_compare")`), registered in sys.modules
    under its name: dataclasses look their module up while the class is built."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def mcp_session(args: list[str], env: dict[str, str], body, cwd: Path | None = None):
    """`await body(session)` against `python -m codequarry.cli *args` serving MCP over stdio, driven by
    the MCP SDK's own client (the `mcp` extra must be installed)."""
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "codequarry.cli", *args], env=env,
                                   cwd=str(cwd) if cwd is not None else None)

    async def run():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await body(session)

    return anyio.run(run)


def tool_text(result) -> str:
    """The text parts of an MCP tool result, joined."""
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def ray_runtime(num_cpus: int):
    """A local Ray runtime with `num_cpus` slots, quiet and with a small object store, for a module's
    scale tests (`yield from ray_runtime(n)` in a fixture); shut down after them."""
    import ray

    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level="WARNING",
             object_store_memory=100 * 1024 * 1024)
    try:
        yield ray
    finally:
        ray.shutdown()
