"""`quarry org` end to end: a real local Ray runtime and a Milvus Lite store, on three tiny repositories.

One Ray runtime and one store serve the whole module (starting them costs seconds); the tests run in
order and build on each other's store, as an organisation's index does over time.
"""

import json

import pytest

pytest.importorskip("ray", reason="the 'scale' extra (ray) is not installed: pip install 'codequarry[scale]'")
pytest.importorskip("pymilvus", reason="the 'scale' extra (pymilvus) is not installed: pip install 'codequarry[scale]'")
pytest.importorskip("milvus_lite", reason="the 'scale' extra (milvus-lite) is not installed")

from click.testing import CliRunner  # noqa: E402

from codequarry.cli import main  # noqa: E402
from codequarry.errors import UserInputError  # noqa: E402
from codequarry.scale.index import index_organisation  # noqa: E402
from codequarry.store.milvus import MilvusStore  # noqa: E402
from conftest import ray_runtime, write_tree  # noqa: E402

pytestmark = pytest.mark.scale

ALPHA = {
    "store.py": '''class UploadStore:
    """Keeps uploaded blobs on disk."""

    def retry_failed_uploads(self, queue):
        """Retry every upload that failed."""
        for item in queue:
            self.upload(item)

    def upload(self, item):
        return item
''',
    "util/paths.py": '''def normalise_path(path):
    """Collapse dots and slashes in a path."""
    return path.replace("//", "/")
''',
}
BETA = {
    "net/header.go": '''package net

// ParseHTTPHeader splits a raw header line into its name and value.
func ParseHTTPHeader(line string) (string, string) {
\treturn line, ""
}
''',
    "net/retry.go": '''package net

// RetryRequest sends the request again after a failed upload.
func RetryRequest(n int) int {
\treturn n + 1
}
''',
}
GAMMA = {"web/login.js": '''// Render the login form and wire its submit button.
function renderLoginForm(root) {
  return root;
}
'''}


@pytest.fixture(scope="module")
def ray_local():
    # Three CPU slots: two embedding actors plus one parse slot (see scale/index.py).
    yield from ray_runtime(3)


@pytest.fixture(scope="module")
def org(tmp_path_factory, ray_local):
    root = tmp_path_factory.mktemp("org")
    repos = {name: write_tree(root / name, files) for name, files in
             (("alpha", ALPHA), ("beta", BETA), ("gamma", GAMMA))}
    return {"root": root, "repos": repos, "store": str(root / "store" / "org.db")}


def _cli(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def _search(org, *args):
    result = _cli("org", "search", *args, "--store", org["store"], "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_index_three_repositories_with_two_workers(org):
    stats = index_organisation(list(org["repos"].values()), org["store"], model="hash", workers=2)
    by_name = {r.name: r for r in stats.repos}
    assert sorted(by_name) == ["alpha", "beta", "gamma"]
    assert stats.chunks == sum(r.chunks for r in stats.repos) > 0
    assert stats.embedded + stats.reused == stats.chunks and stats.kept == 0
    store = MilvusStore(org["store"])
    try:
        assert store.model == "hash"
        assert {n: store.count(n) for n in by_name} == {n: r.chunks for n, r in by_name.items()}
        assert {n: rec["chunks"] for n, rec in store.repositories().items()} == {n: r.chunks for n, r in by_name.items()}
    finally:
        store.close()


def test_search_across_repositories_names_each_repository(org):
    hits = _search(org, "retry", "failed", "upload")
    assert {h["repo"] for h in hits} >= {"alpha", "beta"}  # both repositories hold a retry
    top = hits[0]
    assert (top["repo"], top["file"]) in {("alpha", "store.py"), ("beta", "net/retry.go")}
    exact = _search(org, "ParseHTTPHeader")[0]
    assert (exact["repo"], exact["name"]) == ("beta", "ParseHTTPHeader")


def test_repo_lang_kind_and_path_filters(org):
    only_alpha = _search(org, "retry", "failed", "upload", "--repo", "alpha")
    assert only_alpha and {h["repo"] for h in only_alpha} == {"alpha"}
    two = _search(org, "retry", "login", "header", "--repo", "beta", "--repo", "gamma")
    assert {h["repo"] for h in two} == {"beta", "gamma"}
    go = _search(org, "retry", "upload", "--lang", "go")
    assert go and {h["language"] for h in go} == {"go"}
    methods = _search(org, "upload", "--kind", "method")
    assert methods and {h["kind"] for h in methods} == {"method"}
    util = _search(org, "path", "--path", "util/*.py", "--mode", "lexical")
    assert util and {h["file"] for h in util} == {"util/paths.py"}
    for mode in ("dense", "lexical"):
        assert {h["repo"] for h in _search(org, "login", "form", "--repo", "gamma", "--mode", mode)} == {"gamma"}


def test_human_output_names_repository_and_line(org):
    result = _cli("org", "search", "renderLoginForm", "--store", org["store"], "-k", "1")
    assert result.exit_code == 0
    assert result.output.startswith(" 1. gamma:web/login.js:1-4  renderLoginForm")


def test_unknown_repository_filter_is_a_one_line_error(org):
    result = CliRunner().invoke(main, ["org", "search", "x", "--repo", "nope", "--store", org["store"]])
    assert result.exit_code == 2
    assert "no repository named 'nope'" in result.output and "alpha, beta, gamma" in result.output


def test_reindex_one_repository_embeds_only_what_changed(org):
    alpha = org["repos"]["alpha"]
    store = MilvusStore(org["store"])
    beta_before = store.stored_hashes("beta")
    store.close()
    # Two new lines on top shift every chunk of store.py (same text, new place: its vector is copied),
    # and one function's body changes (only it is embedded).
    text = (alpha / "store.py").read_text()
    (alpha / "store.py").write_text("# uploads\n\n" + text)
    (alpha / "util/paths.py").write_text(ALPHA["util/paths.py"].replace('"//", "/"', '"\\\\\\\\", "/"'))
    stats = index_organisation([alpha], org["store"], workers=1)  # the store's model, unnamed
    (rs,) = stats.repos
    assert stats.model == "hash"
    assert rs.embedded == 1 and rs.reused == rs.chunks - 1 and rs.kept == 0
    assert rs.removed == rs.chunks  # the old places of every chunk
    again = index_organisation([alpha], org["store"], workers=1)
    assert (again.repos[0].kept, again.repos[0].embedded, again.repos[0].reused) == (rs.chunks, 0, 0)
    store = MilvusStore(org["store"])
    try:
        assert store.stored_hashes("beta") == beta_before  # other repositories untouched
        assert store.count("alpha") == rs.chunks
    finally:
        store.close()
    top = _search(org, "normalise_path", "--repo", "alpha")[0]
    assert top["line_start"] == 1 and "\\\\" in top["code"]


def test_force_re_embeds_one_repository_in_place(org):
    store = MilvusStore(org["store"])
    before = store.stored_hashes("beta")
    store.close()
    stats = index_organisation([org["repos"]["beta"]], org["store"], workers=1, force=True)
    assert (stats.embedded, stats.kept, stats.removed) == (len(before), 0, 0)
    store = MilvusStore(org["store"])
    try:
        assert store.stored_hashes("beta") == before and store.count("beta") == len(before)  # replaced, not doubled
    finally:
        store.close()


def test_store_of_another_model_is_refused_before_any_work(org):
    from codequarry.errors import IndexMismatchError

    with pytest.raises(IndexMismatchError, match="holds vectors of model 'hash'"):
        index_organisation([org["repos"]["gamma"]], org["store"], model="minilm")


def test_search_of_a_missing_store_creates_nothing(org):
    missing = org["root"] / "nowhere" / "org.db"
    result = CliRunner().invoke(main, ["org", "search", "x", "--store", str(missing)])
    assert result.exit_code == 3 and "no store at" in result.output
    assert not missing.parent.exists()


def test_too_many_workers_for_the_runtime_is_an_error_not_a_hang(org):
    with pytest.raises(UserInputError, match="--workers 5 needs 6"):
        index_organisation([org["repos"]["gamma"]], org["store"], workers=5)


def test_remove_one_repository_leaves_the_others(org):
    store = MilvusStore(org["store"])
    before = {n: store.count(n) for n in ("alpha", "beta")}
    store.close()
    result = _cli("org", "remove", "gamma", "--store", org["store"], "--json")
    assert result.exit_code == 0 and json.loads(result.output)["removed"] == 1
    listed = json.loads(_cli("org", "list", "--store", org["store"], "--json").output)
    assert sorted(listed) == ["alpha", "beta"]
    store = MilvusStore(org["store"])
    try:
        assert {n: store.count(n) for n in ("alpha", "beta")} == before and store.count("gamma") == 0
    finally:
        store.close()
    assert "gamma" not in {h["repo"] for h in _search(org, "render", "login", "form")}
