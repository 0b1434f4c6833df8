"""bench/embed_less.py: which chunks each leave-out option drops, and the --variants filter."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conftest import load_bench

el = load_bench("embed_less")


def chunk(file: str, qualname: str = "f", parent: str | None = None, line: int = 1, language: str = "python"):
    return SimpleNamespace(file=file, qualname=qualname, parent=parent, line_start=line, line_end=line + 5,
                           language=language)


CHUNKS = [
    chunk("src/app.py"),                          # 0 kept by every variant
    chunk("tests/test_app.py"),                   # 1 T
    chunk("examples/demo.py"),                    # 2 X
    chunk("src/compat/old.py"),                   # 3 S (shim)
    chunk("types/index.d.ts", language="typescript"),  # 4 S (declaration)
    chunk("README.md", language="markdown"),      # 5 E
    chunk("src/big.py", "Big", line=1),           # 6 a container's skeleton
    chunk("src/big.py", "Big.x", parent="Big", line=20),  # 7 P: a piece after the skeleton
]


def dropped(name: str) -> set[int]:
    v = next(v for v in el.VARIANTS if v.name == name)
    keep = el.kept(v, el.skip_masks(CHUNKS), len(CHUNKS))
    return {i for i, k in enumerate(keep) if not k}


@pytest.mark.parametrize("name, expected", [
    ("A", set()),
    ("T", {1}),
    ("X", {2}),
    ("S", {3, 4}),
    ("E+P", {5, 7}),
    ("E+P+T", {1, 5, 7}),
    ("E+P+T+X+S", {1, 2, 3, 4, 5, 7}),
])
def test_each_path_rule_leaves_out_only_its_own_chunks(name, expected):
    assert dropped(name) == expected


def test_variants_filter_keeps_the_baseline_first_and_rejects_unknown_names():
    assert [v.name for v in el.select_variants("E+P+T, T,T")] == ["A", "E+P+T", "T"]
    assert [v.name for v in el.select_variants(None)] == [v.name for v in el.VARIANTS]
    with pytest.raises(SystemExit, match="unknown variant"):
        el.select_variants("T,Q")


def test_every_variant_has_its_own_slot():
    slots = [v.slot for v in el.VARIANTS]
    assert len(slots) == len(set(slots))
