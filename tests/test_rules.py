from codequarry.domain import Chunk
from codequarry.search.rules import RuleWeights, apply_rules, is_test_path


def chunk(file, kind="function", name="f"):
    return Chunk(file=file, language="python", kind=kind, name=name, qualname=name, line_start=1, line_end=2, code="x")


def test_test_paths():
    for p in ("tests/test_x.py", "pkg/tests/helpers.py", "src/x_test.go", "web/app.spec.ts", "test_top.py"):
        assert is_test_path(p), p
    for p in ("src/testing_utils_not.py", "contest.py", "src/attest.py"):
        assert not is_test_path(p), p


def test_each_rule_moves_only_what_it_names():
    chunks = {1: chunk("src/a.py"), 2: chunk("src/a.py", kind="window"), 3: chunk("tests/test_a.py"),
              4: chunk("examples/demo.py"), 5: chunk("pkg/_compat.py")}
    base = {i: 1.0 for i in chunks}
    off = RuleWeights(definition_boost=0.0)
    assert apply_rules(base, chunks, off) == base
    boosted = apply_rules(base, chunks, RuleWeights(definition_boost=0.2))
    assert boosted[1] == 1.2 and boosted[2] == 1.0
    demoted = apply_rules(base, chunks, RuleWeights(definition_boost=0.0, test_penalty=0.3, example_penalty=0.2,
                                                    shim_penalty=0.1))
    assert (demoted[1], demoted[3], demoted[4], demoted[5]) == (1.0, 0.7, 0.8, 0.9)


def test_file_coherence_favours_files_with_several_candidates():
    chunks = {1: chunk("a.py"), 2: chunk("a.py"), 3: chunk("b.py")}
    scores = {1: 0.5, 2: 0.5, 3: 0.6}
    out = apply_rules(scores, chunks, RuleWeights(definition_boost=0.0, file_coherence=0.5))
    assert out[1] > out[3]
