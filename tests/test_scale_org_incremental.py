"""`quarry org index` re-runs on both stores: a real local Ray runtime, SQLite + FAISS and Milvus Lite.

A re-run reads and chunks only files whose size/mtime (then content) changed, and a file gone from a
repository takes its chunks with it. Each store gets its own org (tests build on each other, in order).
"""

import json
import os

import pytest

pytest.importorskip("ray", reason="the 'scale' extra (ray) is not installed: pip install 'codequarry[scale]'")

from click.testing import CliRunner  # noqa: E402

from codequarry.cli import main  # noqa: E402
from codequarry.scale.index import index_organisation  # noqa: E402
from codequarry.store.open import open_store  # noqa: E402
from conftest import ray_runtime, write_tree  # noqa: E402

pytestmark = pytest.mark.scale

ALPHA = {
    "store.py": 'class UploadStore:\n    def retry_failed_uploads(self, queue):\n'
                '        """Retry every failed upload."""\n        return queue\n',
    "util/paths.py": 'def normalise_path(path):\n    """Collapse slashes in a path."""\n    return path\n',
    "util/old.py": 'def legacy_checksum(data):\n    """The old checksum nobody calls."""\n    return 0\n',
}
BETA = {
    "net/retry.go": 'package net\n\n// RetryRequest sends the request again.\nfunc RetryRequest(n int) int {\n'
                    '\treturn n + 1\n}\n',
}


def _stores():
    out = ["sqlite"]
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401

        out.append("db")
    except ImportError:
        pass
    return out


@pytest.fixture(scope="module")
def ray_local():
    yield from ray_runtime(2)


@pytest.fixture(scope="module", params=_stores())
def org(request, tmp_path_factory, ray_local):
    root = tmp_path_factory.mktemp(f"org-{request.param}")
    repos = {"alpha": write_tree(root / "alpha", ALPHA), "beta": write_tree(root / "beta", BETA)}
    return {"repos": repos, "store": str(root / "store" / f"org.{request.param}")}


def _index(org, *names, **kw):
    stats = index_organisation([org["repos"][n] for n in names], org["store"], model="hash", workers=1, **kw)
    return stats, {r.name: r for r in stats.repos}


def _files(org, repo):
    store = open_store(org["store"], create=False)
    try:
        return sorted({f for f, _ in store.stored_chunks(repo).values()}), store.file_states(repo)
    finally:
        store.close()


def _search(org, *args):
    result = CliRunner().invoke(main, ["org", "search", *args, "--store", org["store"], "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_first_run_parses_every_file_and_search_names_repositories(org):
    result = CliRunner().invoke(main, ["org", "index", str(org["repos"]["alpha"]), str(org["repos"]["beta"]),
                                       "--store", org["store"], "--model", "hash", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    by = {r["name"]: r for r in stats["repos"]}
    assert (by["alpha"]["files_parsed"], by["beta"]["files_parsed"]) == (3, 1)
    assert stats["files_parsed"] == 4 and stats["embedded"] + stats["reused"] == stats["chunks"] > 0
    listed = json.loads(CliRunner().invoke(main, ["org", "list", "--store", org["store"], "--json"]).output)
    assert {n: rec["chunks"] for n, rec in listed.items()} == {n: r["chunks"] for n, r in by.items()}
    files, states = _files(org, "alpha")
    assert files == sorted(states) == ["store.py", "util/old.py", "util/paths.py"]
    hits = _search(org, "retry", "failed", "upload")
    assert {h["repo"] for h in hits} == {"alpha", "beta"}
    assert {h["repo"] for h in _search(org, "retry", "--repo", "beta")} == {"beta"}
    assert _search(org, "normalise_path", "--path", "util/*.py", "--mode", "lexical")[0]["name"] == "normalise_path"


def test_rerun_with_nothing_changed_parses_no_file(org):
    before = _index(org, "alpha", "beta")[0]
    stats, by = _index(org, "alpha", "beta")
    assert stats.files_parsed == 0 and stats.files_unchanged == 4
    assert (stats.embedded, stats.reused, stats.removed) == (0, 0, 0)
    assert stats.kept == stats.chunks == before.chunks
    assert {r.name: r.chunks for r in before.repos} == {n: r.chunks for n, r in by.items()}


def test_touched_file_is_hashed_not_chunked(org):
    p = org["repos"]["alpha"] / "util/paths.py"
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    stats, by = _index(org, "alpha")
    assert (by["alpha"].files_parsed, by["alpha"].files_unchanged, stats.embedded) == (0, 3, 0)
    assert _files(org, "alpha")[1]["util/paths.py"].mtime_ns == st.st_mtime_ns + 5_000_000_000


def test_edit_of_one_file_reparses_exactly_that_file(org):
    beta_before = _files(org, "beta")
    p = org["repos"]["alpha"] / "util/paths.py"
    p.write_text(ALPHA["util/paths.py"].replace("return path", "return path.replace('//', '/')"))
    stats, by = _index(org, "alpha", "beta")
    assert (by["alpha"].files_parsed, by["beta"].files_parsed) == (1, 0)
    assert stats.embedded == 1 and by["alpha"].removed == 1
    assert _files(org, "beta") == beta_before
    assert "replace" in _search(org, "normalise_path", "--repo", "alpha")[0]["code"]


def test_deleted_file_takes_its_chunks_with_it(org):
    assert _search(org, "legacy_checksum", "--mode", "lexical")[0]["name"] == "legacy_checksum"
    (org["repos"]["alpha"] / "util/old.py").unlink()
    stats, by = _index(org, "alpha")
    assert (by["alpha"].files_parsed, by["alpha"].files_removed, by["alpha"].removed) == (0, 1, 1)
    files, states = _files(org, "alpha")
    assert files == sorted(states) == ["store.py", "util/paths.py"]
    assert all(h["file"] != "util/old.py" for h in _search(org, "legacy", "checksum"))
    store = open_store(org["store"], create=False)
    try:
        assert store.repositories()["alpha"]["chunks"] == len(store.stored_hashes("alpha")) == by["alpha"].chunks
    finally:
        store.close()


def test_force_reparses_everything_and_keeps_states(org):
    stats, by = _index(org, "alpha", force=True)
    assert by["alpha"].files_parsed == 2 and stats.removed == 0
    again, _ = _index(org, "alpha")
    assert again.files_parsed == 0


def test_run_killed_before_recording_states_rereads_the_file(org, monkeypatch):
    """File states are written last: a run that dies after writing a file's chunks re-reads that file."""
    from codequarry.store.local import LocalStore
    from codequarry.store.milvus import MilvusStore

    def die(*args, **kwargs):
        raise RuntimeError("killed before the states")

    p = org["repos"]["alpha"] / "store.py"
    p.write_text(p.read_text() + "\n\ndef purge_uploads(queue):\n    return []\n")
    with monkeypatch.context() as m:
        m.setattr(LocalStore, "set_repository", die)
        m.setattr(MilvusStore, "set_repository", die)
        with pytest.raises(RuntimeError, match="killed before the states"):
            _index(org, "alpha")
    stats, by = _index(org, "alpha")
    assert by["alpha"].files_parsed == 1 and stats.embedded == 0  # re-read, but its chunks were already in
    files, states = _files(org, "alpha")
    assert states["store.py"].size == p.stat().st_size
    assert _search(org, "purge_uploads", "--repo", "alpha")[0]["name"] == "purge_uploads"
    again, _ = _index(org, "alpha")
    assert again.files_parsed == 0
