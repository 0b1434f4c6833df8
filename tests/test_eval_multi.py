"""A folder of repository fixtures (FIXTURE_FORMAT.md): `repos:` paths, file-level gold with grades,
per-fixture / per-language / per-category macro-averages, and the `quarry eval FOLDER` command."""

import json

import pytest

from codequarry.domain import Chunk
from codequarry.errors import UserInputError
from codequarry.eval.fixture import FixtureQuery, Gold, load_fixture, load_fixtures, resolve_repository
from codequarry.eval.metrics import ndcg_at
from codequarry.eval.systems import expand_systems
from conftest import run_cli

ALPHA = {
    "src/alpha/session.py": '''"""Sessions keep cookies and follow redirects."""


class Session:
    def resolve_redirects(self, response):
        """Follow each redirect the server sends until a final response."""
        while response.is_redirect:
            response = self.send(response.next)
        return response

    def send(self, request):
        return request
''',
    "src/alpha/cookies.py": '''def merge_cookies(jar, cookies):
    """Add cookies to the jar, replacing ones with the same name."""
    for c in cookies:
        jar[c.name] = c
    return jar
''',
    "docs/redirects.md": "# Redirects\n\nThe session follows redirects for you.\n",
}
BETA = {
    "lib/router.js": '''// Match a request path against the registered routes.
function matchRoute(routes, path) {
  return routes.find((r) => r.pattern.test(path));
}

function addRoute(routes, pattern, handler) {
  routes.push({ pattern, handler });
}
''',
    "lib/static.js": '''// Serve files from a folder, with caching headers.
function serveStatic(root) {
  return (req, res) => res.sendFile(root + req.path);
}
''',
}


def fixture(name, language, split, queries):
    return {"name": name, "language": language, "split": split,
            "repository": {"path": f"repos:{name}", "source": {"registry": "pypi", "package": name}},
            "queries": queries}


ALPHA_Q = [
    {"id": "a1", "query": "follow redirects until the final response", "category": "semantic",
     "gold": [{"file": "src/alpha/session.py", "name": "Session.resolve_redirects", "grade": 2},
              {"file": "docs/redirects.md", "grade": 1}]},
    {"id": "a2", "query": "merge_cookies", "category": "symbol",
     "gold": [{"file": "src/alpha/cookies.py", "name": "merge_cookies", "grade": 2}]},
    {"id": "a3", "query": "where do sessions keep cookies", "category": "architecture",
     "gold": [{"file": "src/alpha/cookies.py", "grade": 2}, {"file": "src/alpha/session.py", "grade": 1}]},
]
BETA_Q = [
    {"id": "b1", "query": "match a request path against routes", "category": "semantic",
     "gold": [{"file": "lib/router.js", "name": "matchRoute", "grade": 2}]},
    {"id": "b2", "query": "serveStatic", "category": "symbol",
     "gold": [{"file": "lib/static.js", "name": "serveStatic", "grade": 2}]},
]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    repos = tmp_path / "repos"
    for name, files in (("alpha", ALPHA), ("beta", BETA)):
        for rel, text in files.items():
            (repos / name / rel).parent.mkdir(parents=True, exist_ok=True)
            (repos / name / rel).write_text(text)
    monkeypatch.setenv("QUARRY_REPOS_DIR", str(repos))
    fx = tmp_path / "fixtures"
    fx.mkdir()
    (fx / "alpha.json").write_text(json.dumps(fixture("alpha", "python", "dev", ALPHA_Q)))
    (fx / "beta.json").write_text(json.dumps(fixture("beta", "javascript", "dev", BETA_Q)))
    (fx / "gamma.json").write_text(json.dumps(fixture("gamma", "go", "test", [
        {"id": "g1", "query": "x", "gold": [{"file": "x.go", "name": "X"}]}])))
    return fx


def chunk(file, qualname):
    return Chunk(file=file, language="python", kind="function", name=qualname.rsplit(".", 1)[-1],
                 qualname=qualname, line_start=1, line_end=2, code="")


def test_file_level_gold_and_grades():
    q = FixtureQuery("q", "x", (Gold("a.py", "f", grade=2), Gold("b.md", None, grade=1), Gold("a.py", None, grade=1)))
    assert q.qrels == {"g0": 2}  # only named golds judge definitions
    assert q.file_qrels == {"a.py": 2, "b.md": 1}  # a file's best grade
    hits = [chunk("c.py", "z"), chunk("b.md", "Intro"), chunk("c.py", "y"), chunk("a.py", "g"), chunk("a.py", "f")]
    files = q.judge_files(hits)
    assert files == ["c.py", "b.md", "a.py"]  # each file at the rank of its best chunk
    assert q.judge(hits) == ["r0", "r1", "r2", "r3", "g0"]  # a file-only gold never matches a chunk
    # Graded: the grade-2 file at rank 3 and the grade-1 file at rank 2, against the ideal 2-then-1.
    from math import log2

    expected = (1 / log2(3) + 2 / log2(4)) / (2 + 1 / log2(3))
    assert ndcg_at(files, q.file_qrels) == pytest.approx(expected)


def test_repos_paths_resolve_under_quarry_repos_dir(folder, tmp_path, monkeypatch):
    fx = load_fixture(folder / "alpha.json")
    assert fx.language == "python" and fx.split == "dev" and {q.split for q in fx.queries} == {"dev"}
    repo, info = resolve_repository(fx)
    assert repo == tmp_path / "repos" / "alpha" and info["source_package"]["package"] == "alpha"
    with pytest.raises(UserInputError, match="gamma does not exist; fetch it with bench/fetch_repos.py"):
        resolve_repository(load_fixture(folder / "gamma.json"))
    monkeypatch.delenv("QUARRY_REPOS_DIR")
    from pathlib import Path

    project = Path(__file__).resolve().parents[1]
    with pytest.raises(UserInputError, match=f"{project}/build/repos/alpha does not exist"):
        resolve_repository(fx)  # the default: <project>/build/repos


def test_folder_is_every_fixture_and_bad_folders_are_user_errors(folder, tmp_path):
    assert [f.name for f in load_fixtures(folder)] == ["alpha", "beta", "gamma"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserInputError, match="no fixture files"):
        load_fixtures(empty)
    (empty / "a.json").write_text(json.dumps(fixture("alpha", "python", "dev", ALPHA_Q)))
    (empty / "b.json").write_text(json.dumps(fixture("alpha", "python", "dev", ALPHA_Q)))
    with pytest.raises(UserInputError, match="two fixtures are named 'alpha'"):
        load_fixtures(empty)


def test_multi_fixture_macro_averages(folder, tmp_path):
    from codequarry.eval.multi import evaluate_fixtures

    ev = evaluate_fixtures(load_fixtures(folder), expand_systems(("lexical", "hybrid"), ("hash",), ()),
                           path=folder, split="dev")
    d = ev.details
    assert ev.primary_metric == "fixtures-dev_lexical_file_ndcg@10"
    assert d["dataset"]["fixtures"] == ["alpha", "beta"] and d["dataset"]["skipped_fixtures"] == ["gamma"]
    lex = d["systems"][0]
    per = lex["by_fixture"]
    assert set(per) == {"alpha", "beta"} and per["alpha"]["language"] == "python"
    assert per["alpha"]["queries"] == 3 and per["alpha"]["definition_queries"] == 2  # a3 is file-level only
    # Macro: the mean of the two repositories' means, whatever their query counts.
    for m in ("file_ndcg@10", "recall@1", "ndcg@10"):
        assert lex["metrics"][m] == pytest.approx((per["alpha"]["metrics"][m] + per["beta"]["metrics"][m]) / 2), m
    assert set(lex["by_language"]) == {"python", "javascript"}
    assert lex["by_language"]["python"]["file_ndcg@10"] == pytest.approx(per["alpha"]["metrics"]["file_ndcg@10"])
    cats = lex["by_category"]
    assert set(cats) == {"semantic", "symbol", "architecture"}
    assert cats["architecture"]["repositories"] == 1 and cats["semantic"]["repositories"] == 2
    # BM25 puts each symbol's definition first.
    assert cats["symbol"]["recall@1"] == 1.0 and cats["symbol"]["file_ndcg@10"] == 1.0
    assert ev.metrics["fixtures-dev_hybrid_file_ndcg@10"] == d["systems"][1]["metrics"]["file_ndcg@10"]
    alpha = d["fixtures"][0]["systems"][0]["per_query"]
    a3 = next(r for r in alpha if r["id"] == "a3")
    assert a3["first_hit"] is None and a3["file_first_hit"] is not None and "ndcg@10" not in a3


def test_folder_split_without_queries_is_a_user_error(folder):
    from codequarry.eval.multi import evaluate_fixtures

    with pytest.raises(UserInputError, match="no fixture has queries in split 'test'"):
        evaluate_fixtures([f for f in load_fixtures(folder) if f.name != "gamma"],
                          expand_systems(("lexical",), ("hash",), ()), path=folder, split="test")


def test_eval_command_on_a_folder(folder, tmp_path):
    env = {"QUARRY_REPOS_DIR": str(tmp_path / "repos"), "QUARRY_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    r = run_cli("eval", str(folder), "--split", "dev", "--mode", "lexical", "--model", "hash", "--json",
                "--no-plots", "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["primary_metric"] == "fixtures-dev_lexical_file_ndcg@10"
    assert "fixtures-dev_lexical_recall@5" in data["metrics"]
    assert set(data["systems"][0]["by_fixture"]) == {"alpha", "beta"}
    r = run_cli("eval", str(folder), "--split", "dev", "--mode", "lexical", "--model", "hash", "--no-plots",
                "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr
    for text in ("file nDCG@10", "by repository", "by language", "by category", "alpha", "javascript"):
        assert text in r.stdout, text
    md = (out / "fixtures-dev.md").read_text()
    assert "Macro-averaged over 2 repositories" in md and "### file nDCG@10 / R@1 / R@5 by category" in md
    r = run_cli("eval", str(folder), "--split", "test", "--mode", "lexical", "--model", "hash", env=env)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "does not exist" in r.stderr
