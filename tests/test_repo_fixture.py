"""The repository fixture's tools: bench/fetch_repos.py and bench/check_fixtures.py.

No registry is reached here: the fetcher for `pypi` is replaced by one that
unpacks a tarball made in the test, so what is tested is the script's own
logic (root choice, exclusions, idempotence, hashes, failures).
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import check_fixtures  # noqa: E402
import fetch_repos  # noqa: E402


def _sdist(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as t:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def _fixture(folder: Path, name: str, source: dict, queries=None, **extra) -> Path:
    data = {"name": name, "language": "python", "split": "dev",
            "repository": {"path": f"repos:{name}", "source": source, **extra},
            "queries": queries or []}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


@pytest.fixture
def fake_pypi(tmp_path, monkeypatch):
    """A `pypi` fetcher that unpacks tmp_path/<package>.tar.gz; counts its calls."""
    calls = []

    def fetch(src, work):
        calls.append(src["package"])
        fetch_repos.unpack_archive(tmp_path / f"{src['package']}.tar.gz", work / "unpacked")
        return work / "unpacked"

    monkeypatch.setitem(fetch_repos.FETCHERS, "pypi", fetch)
    return calls


def _run(tmp_path, monkeypatch, *args) -> int:
    monkeypatch.setenv("QUARRY_REPOS_DIR", str(tmp_path / "repos"))
    return fetch_repos.main(["--fixtures", str(tmp_path / "fx"), "--out", str(tmp_path / "out.json"), *args])


def test_fetch_unpacks_single_top_folder_applies_exclude_and_is_idempotent(tmp_path, monkeypatch, fake_pypi, capsys):
    _sdist(tmp_path / "demo.tar.gz", {"demo-1.0/src/demo/core.py": "def run():\n    return 1\n",
                                      "demo-1.0/dist/demo.min.js": "x", "demo-1.0/README.md": "# demo\n"})
    (tmp_path / "fx").mkdir()
    fx = _fixture(tmp_path / "fx", "demo", {"registry": "pypi", "package": "demo", "version": "1.0",
                                            "exclude": ["dist"]})

    assert _run(tmp_path, monkeypatch) == 0
    repo = tmp_path / "repos" / "demo"
    assert sorted(fetch_repos.list_files(repo)) == ["README.md", "src/demo/core.py"]
    digest = json.loads(fx.read_text())["repository"]["tree_hash"]
    assert digest == fetch_repos.tree_hash(repo)[0]
    assert json.loads(fx.read_text())["name"] == "demo"  # the rest of the file is kept

    # A second run finds it present and fetches nothing.
    assert _run(tmp_path, monkeypatch) == 0
    assert fake_pypi == ["demo"]
    assert "present" in capsys.readouterr().out

    # A tree edited by hand no longer matches its marker: it is fetched again.
    (repo / "README.md").write_text("edited\n")
    assert _run(tmp_path, monkeypatch) == 0
    assert fake_pypi == ["demo", "demo"]
    assert (repo / "README.md").read_text() == "# demo\n"


def test_fetch_reports_a_changed_artefact_as_one_failure_line(tmp_path, monkeypatch, fake_pypi, capsys):
    _sdist(tmp_path / "demo.tar.gz", {"demo-1.0/a.py": "A = 1\n"})
    (tmp_path / "fx").mkdir()
    _fixture(tmp_path / "fx", "demo", {"registry": "pypi", "package": "demo", "version": "1.0"},
             tree_hash="0" * 64)
    _fixture(tmp_path / "fx", "broken", {"registry": "cran", "package": "x", "version": "1"})

    assert _run(tmp_path, monkeypatch) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(err) == 2
    assert any(line.startswith("fetch_repos: demo: tree hash") for line in err)
    assert any(line.startswith("fetch_repos: broken: source.registry") for line in err)
    report = json.loads((tmp_path / "out.json").read_text())
    assert len(report["failures"]) == 2


def test_fetch_org_extra_goes_to_the_org_folder_and_checks_its_pinned_hashes(tmp_path, monkeypatch, fake_pypi,
                                                                             capsys):
    _sdist(tmp_path / "demo.tar.gz", {"demo-1.0/a.py": "A = 1\n"})
    _sdist(tmp_path / "other.tar.gz", {"other-2.0/b.py": "B = 2\n"})
    (tmp_path / "fx").mkdir()
    _fixture(tmp_path / "fx", "fixture-only", {"registry": "pypi", "package": "demo", "version": "1.0"})
    monkeypatch.setattr(fetch_repos, "ORG_EXTRA", [
        {"name": "demo", "source": {"registry": "pypi", "package": "demo", "version": "1.0"}},
        {"name": "other", "source": {"registry": "pypi", "package": "other", "version": "2.0"},
         "tree_hash": "0" * 64},
    ])

    assert _run(tmp_path, monkeypatch, "--org") == 1
    # ORG_EXTRA only, under org/, and no fixture is read or written.
    assert fake_pypi == ["demo", "other"]
    assert fetch_repos.list_files(tmp_path / "repos" / "org" / "demo") == ["a.py"]
    assert not (tmp_path / "repos" / "fixture-only").exists()
    assert "tree_hash" not in (tmp_path / "fx" / "fixture-only.json").read_text()
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    assert err == [next(line for line in err if line.startswith("fetch_repos: other: tree hash"))]


def test_fetch_subdir_must_exist(tmp_path, monkeypatch, fake_pypi, capsys):
    _sdist(tmp_path / "demo.tar.gz", {"demo-1.0/a.py": "A = 1\n"})
    (tmp_path / "fx").mkdir()
    _fixture(tmp_path / "fx", "demo", {"registry": "pypi", "package": "demo", "version": "1.0", "subdir": "nope"})
    assert _run(tmp_path, monkeypatch) == 1
    assert "subdir 'nope' is not in the archive" in capsys.readouterr().err
    assert not (tmp_path / "repos" / "demo").exists()


GOOD_QUERY = {"id": "demo-01", "query": "run it", "category": "semantic", "split": "dev",
              "gold": [{"file": "src/demo/core.py", "name": "Runner.run", "grade": 2}]}


def _checked(tmp_path, monkeypatch, queries, files: dict[str, str]):
    repo = tmp_path / "repos" / "demo"
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (tmp_path / "fx").mkdir(exist_ok=True)
    fx = _fixture(tmp_path / "fx", "demo", {"registry": "pypi", "package": "demo", "version": "1.0"}, queries)
    monkeypatch.setenv("QUARRY_REPOS_DIR", str(tmp_path / "repos"))
    rc = check_fixtures.main([str(fx), "--out", str(tmp_path / "check.json")])
    return rc, json.loads((tmp_path / "check.json").read_text())


def test_check_finds_gold_names_among_chunk_qualnames(tmp_path, monkeypatch):
    code = "class Runner:\n    def run(self):\n        return 1\n"
    rc, report = _checked(tmp_path, monkeypatch, [GOOD_QUERY], {"src/demo/core.py": code})
    assert rc == 0, report["failures"]
    assert report["fixtures"][0]["names"] == 1

    bad = dict(GOOD_QUERY, gold=[{"file": "src/demo/core.py", "name": "Runner.walk", "grade": 2},
                                 {"file": "src/demo/missing.py", "grade": 1}])
    rc, report = _checked(tmp_path, monkeypatch, [bad], {"src/demo/core.py": code})
    assert rc == 1
    problems = report["failures"]
    assert any("has no definition 'Runner.walk'" in p and "Runner.run" in p for p in problems)
    assert any("gold file src/demo/missing.py is not in the repository" in p for p in problems)


def test_check_accepts_cpp_names_without_their_namespace(tmp_path, monkeypatch):
    code = "namespace store {\nclass Table {\n public:\n  int Get(int k);\n};\nint Table::Get(int k) { return k; }\n}\n"
    q = dict(GOOD_QUERY, gold=[{"file": "table.cc", "name": "Table::Get", "grade": 2}])
    rc, report = _checked(tmp_path, monkeypatch, [q], {"table.cc": code})
    assert rc == 0, report["failures"]
    assert report["fixtures"][0]["ns"] == 1


@pytest.mark.parametrize("change, message", [
    ({"category": "behaviour"}, "category must be one of"),
    ({"split": "test"}, "differs from the file's 'dev'"),
    ({"gold": [{"file": "a.py", "grade": 1}]}, "no gold with grade 2"),
    ({"gold": [{"file": "../a.py", "grade": 2}]}, "relative POSIX path"),
])
def test_check_format_rejects(change, message, tmp_path):
    data = {"name": "demo", "language": "python", "split": "dev",
            "repository": {"path": "repos:demo", "source": {"registry": "pypi", "package": "d", "version": "1"}},
            "queries": [dict(GOOD_QUERY, **change)]}
    problems = check_fixtures.check_format(tmp_path / "demo.json", data)
    assert any(message in p for p in problems), problems


def test_check_warns_but_does_not_fail_on_a_file_named_twice():
    q = dict(GOOD_QUERY, gold=[{"file": "a.py", "grade": 2}, {"file": "a.py", "name": "f", "grade": 1}])
    data = {"queries": [q]}
    assert check_fixtures.format_warnings(data) == ["demo-01: the same file twice in one query's gold"]
    assert check_fixtures.format_warnings({"queries": [GOOD_QUERY]}) == []


def test_committed_repository_fixtures_are_well_formed():
    files = sorted((BENCH / "fixtures" / "repos").glob("*.json"))
    assert files
    for path in files:
        data = json.loads(path.read_text())
        assert check_fixtures.check_format(path, data) == [], path.name
        # A file named twice (two definitions in it) is allowed: file-level metrics take its highest grade.


@pytest.mark.parametrize("package, version, folder", [
    ("golang-github-spf13-afero", "1.9.3-1", "golang-github-spf13-afero-1.9.3"),
    ("luarocks", "3.8.0+dfsg1-1", "luarocks-3.8.0+dfsg1"),
    ("initramfs-tools", "0.142+deb12u3", "initramfs-tools-0.142+deb12u3"),  # native: no revision
    ("foo", "1:2.0-3", "foo-2.0"),  # the epoch is not part of the folder
])
def test_debian_sources_unpack_where_apt_get_source_would(package, version, folder):
    assert fetch_repos.debian_source_folder(package, version) == folder


def test_source_keys_are_checked():
    with pytest.raises(fetch_repos.FetchError, match="source.dist"):
        fetch_repos.check_source({"registry": "npm", "package": "x", "version": "1", "dist": "wheel"})
    with pytest.raises(fetch_repos.FetchError, match="source.binary"):
        fetch_repos.check_source({"registry": "pypi", "package": "x", "version": "1", "binary": "y"})
    fetch_repos.check_source({"registry": "pypi", "package": "x", "version": "1", "dist": "wheel"})
