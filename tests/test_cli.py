import json

from conftest import run_cli

JSON_KEYS = {"file", "name", "qualname", "kind", "language", "line_start", "line_end", "score", "code"}


def test_index_and_search_json_from_a_subdirectory(sample_repo):
    out = run_cli("index", str(sample_repo), "--model", "hash", "--json")
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert stats["files_parsed"] == 5 and stats["chunks"] > 0 and "seconds" in stats and "skipped" in stats

    res = run_cli("search", "retry", "failed", "uploads", "--json", "-k", "3", cwd=sample_repo / "net")
    assert res.returncode == 0, res.stderr
    results = json.loads(res.stdout)
    assert len(results) == 3 and JSON_KEYS <= set(results[0])
    assert results[0]["file"] == "store.py" and results[0]["qualname"] == "UploadStore.retry_failed_uploads"

    human = run_cli("search", "ParseHTTPHeader", "--repo", str(sample_repo))
    assert human.returncode == 0 and "net/http_client.go:" in human.stdout and "ParseHTTPHeader" in human.stdout


def test_user_errors_are_one_line_with_exit_codes(tmp_path, sample_repo):
    missing = run_cli("index", str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stderr.startswith("quarry: error:") and "Traceback" not in missing.stderr
    no_index = run_cli("search", "x", "--repo", str(sample_repo))
    assert no_index.returncode == 3 and "quarry index" in no_index.stderr and len(no_index.stderr.splitlines()) == 1
    (sample_repo / ".quarry").mkdir()
    (sample_repo / ".quarry" / "index.db").write_bytes(b"\x00garbage" * 64)
    corrupt = run_cli("search", "x", "--repo", str(sample_repo))
    assert corrupt.returncode == 5 and "Traceback" not in corrupt.stderr


def test_unknown_hub_model_names_the_offline_preset(sample_repo):
    out = run_cli("index", str(sample_repo), "--model", "no-such-org/no-such-model",
                  env={"HF_HUB_OFFLINE": "1"})
    assert out.returncode == 6, out.stderr
    assert "--model minilm" in out.stderr and "Traceback" not in out.stderr


def test_slots_side_by_side(sample_repo):
    assert run_cli("index", str(sample_repo), "--model", "hash").returncode == 0
    create = run_cli("slot", "create", "second", "--model", "hash", "--repo", str(sample_repo))
    assert create.returncode == 0, create.stderr
    listing = json.loads(run_cli("slot", "list", "--json", "--repo", str(sample_repo)).stdout)
    assert [(s["name"], s["default"]) for s in listing] == [("default", True), ("second", False)]
    empty = run_cli("search", "upload", "--slot", "second", "--repo", str(sample_repo))
    assert empty.returncode == 2 and "quarry index --slot second" in empty.stderr
    assert run_cli("index", str(sample_repo), "--slot", "second", "--json").returncode == 0
    res = run_cli("search", "retry failed uploads", "--slot", "second", "--json", "--repo", str(sample_repo))
    assert json.loads(res.stdout)[0]["name"] == "retry_failed_uploads"
    assert run_cli("slot", "promote", "second", "--repo", str(sample_repo)).returncode == 0
    assert run_cli("slot", "remove", "second", "--repo", str(sample_repo)).returncode == 2
    assert run_cli("slot", "remove", "default", "--repo", str(sample_repo)).returncode == 0
    listing = json.loads(run_cli("slot", "list", "--json", "--repo", str(sample_repo)).stdout)
    assert [(s["name"], s["default"]) for s in listing] == [("second", True)]


def test_slot_create_from_a_subdirectory_uses_the_existing_index(sample_repo):
    assert run_cli("index", str(sample_repo), "--model", "hash").returncode == 0
    assert run_cli("slot", "create", "other", "--model", "hash", cwd=sample_repo / "net").returncode == 0
    assert not (sample_repo / "net" / ".quarry").exists()
    listing = json.loads(run_cli("slot", "list", "--json", cwd=sample_repo).stdout)
    assert [s["name"] for s in listing] == ["default", "other"]


def test_models_lists_presets_and_marks_the_default():
    out = run_cli("models", env={"QUARRY_MODEL": ""})
    marked = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("*")]
    assert out.returncode == 0 and marked == ["minilm"] and "quarry-code-minilm" in out.stdout
    chosen = run_cli("models", env={"QUARRY_MODEL": "quarry-code-minilm"})
    assert [line.split()[1] for line in chosen.stdout.splitlines() if line.startswith("*")] == ["quarry-code-minilm"]
