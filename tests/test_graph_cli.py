"""`quarry callers | callees | impact | trace | status`: JSON shapes, human file:line output, errors."""

import json

import pytest
from conftest import run_cli

from codequarry.graph.query import callers, impact, trace
from codequarry.graph.status import status
from codequarry.indexer import index_repository


@pytest.fixture
def indexed(sample_repo):
    index_repository(sample_repo, model="hash")
    return sample_repo


def test_callers_and_callees_json_and_human(indexed):
    out = run_cli("callers", "UploadStore.upload", "--json", "--repo", str(indexed))
    assert out.returncode == 0, out.stderr
    (group,) = json.loads(out.stdout)
    assert group["symbol"]["qualname"] == "UploadStore.upload" and group["symbol"]["file"] == "store.py"
    (edge,) = group["edges"]
    assert edge["caller"]["qualname"] == "UploadStore.retry_failed_uploads"
    assert (edge["status"], edge["how"], edge["line"]) == ("resolved", "self", 16)
    assert set(edge) == {"caller", "callee", "receiver", "line", "status", "confidence", "how", "target"}

    human = run_cli("callees", "store.py:16", "--repo", str(indexed))  # file:line inside the method
    assert human.returncode == 0, human.stderr
    assert "UploadStore.retry_failed_uploads  store.py:13" in human.stdout
    assert "store.py:16  self.upload -> store.py:18 UploadStore.upload" in human.stdout


def test_impact_and_trace_json(indexed):
    out = run_cli("impact", "UploadStore", "--depth", "2", "--json", "--repo", str(indexed))
    assert out.returncode == 0, out.stderr
    (result,) = json.loads(out.stdout)
    assert result["depth"] == 2
    assert [(c["symbol"]["qualname"], c["depth"], c["test"]) for c in result["callers"]] == [("test_open", 1, True)]
    assert [t["file"] for t in result["tests"]] == ["tests/test_store.py"]

    out = run_cli("trace", "retry_failed_uploads", "UploadStore.upload", "--json", "--repo", str(indexed))
    (path,) = json.loads(out.stdout)
    assert [s["qualname"] for s in path["steps"]] == ["UploadStore.retry_failed_uploads", "UploadStore.upload"]
    assert path["lines"] == [16] and path["certain"] is True


def test_status_json_and_behind(indexed):
    out = run_cli("status", "--json", "--repo", str(indexed))
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    assert st["files"] == 5 and st["behind"] is False and st["last_run"]
    assert st["chunks"] == sum(st["chunks_by_language"].values()) and "python" in st["chunks_by_language"]
    assert [s["name"] for s in st["slots"]] == ["default"] and st["slots"][0]["stale"] is False
    assert st["index_bytes"] > 0 and st["edges"]["resolved"] >= 1

    (indexed / "store.py").write_text((indexed / "store.py").read_text() + "\n# edited\n")
    (indexed / "new.py").write_text("def fresh():\n    return 1\n")
    (indexed / "web" / "app.js").unlink()
    (indexed / "blob.py").write_bytes(b"\x00\x01")  # never indexable: not 'new'
    now = status(repo=indexed)
    assert now.behind
    assert (now.new_files, now.changed_files, now.deleted_files) == (("new.py",), ("store.py",), ("web/app.js",))
    human = run_cli("status", "--repo", str(indexed))
    assert "behind the working tree: 1 new, 1 changed, 1 deleted" in human.stdout
    index_repository(indexed, model="hash")
    assert not status(repo=indexed).behind


def test_errors_are_one_line_with_exit_codes(indexed, tmp_path):
    out = run_cli("callers", "UploadStor", "--repo", str(indexed))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "no definition named 'UploadStor'" in out.stderr and "UploadStore" in out.stderr
    out = run_cli("trace", "retry_failed_uploads", "nope.py:3", "--repo", str(indexed))
    assert out.returncode == 2 and "no indexed file 'nope.py'" in out.stderr and "Traceback" not in out.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    out = run_cli("status", "--repo", str(empty), env={"QUARRY_INDEX_DIR": ""})
    assert out.returncode == 3 and "quarry index" in out.stderr and "Traceback" not in out.stderr


def test_bare_names_give_one_group_per_definition(tmp_path):
    from conftest import write_tree

    repo = write_tree(tmp_path / "repo", {
        "a.py": "def load():\n    return 1\n\n\ndef go():\n    return load()\n",
        "b.py": "class Config:\n    def load(self):\n        return 2\n\n    def go(self):\n        return self.load()\n",
    })
    index_repository(repo, model="hash")
    groups = callers("load", repo=repo)
    assert [(g.symbol.qualname, g.symbol.file, [e.caller.qualname for e in g.edges]) for g in groups] == [
        ("load", "a.py", ["go"]), ("Config.load", "b.py", ["Config.go"])]
    assert [n.symbol.qualname for n in impact("load", 1, repo=repo)[0].nodes] == ["go"]
    assert trace("go", "Config.load", repo=repo)[0].steps[-1].file == "b.py"
    assert trace("load", "go", repo=repo) == ()  # no path against the call direction


def test_status_sees_the_files_the_indexer_takes(sample_repo):
    """Every text file is indexed (a plain-text NOTES, a Dockerfile); generated ones are not (a lockfile):
    status must agree with the indexer on both, or a fresh index reads as behind."""
    (sample_repo / "NOTES").write_text("Uploads are retried by the store.\n" * 3)
    (sample_repo / "Dockerfile").write_text("FROM python:3.11\nRUN pip install codequarry\n")
    (sample_repo / "package-lock.json").write_text('{"lockfileVersion": 3}\n')
    index_repository(sample_repo, model="hash")
    st = status(repo=sample_repo)
    assert (st.new_files, st.changed_files, st.deleted_files) == ((), (), ())
    assert not st.behind


def test_graph_output_escapes_terminal_controls_from_indexed_names(tmp_path):
    """A file name carrying an escape sequence is shown escaped, never sent to the terminal raw."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "evil\x1b]0;pwned\x07.py").write_text("def target():\n    return 1\n\n\ndef caller():\n    return target()\n")
    index_repository(repo, model="hash")
    out = run_cli("callers", "target", "--repo", str(repo))
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout
    assert "evil\\x1b]0;pwned\\x07.py" in out.stdout
