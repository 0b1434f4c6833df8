"""Before/after on the TEST halves, run once when the ranking is final (never used to choose anything).

    .venv/bin/python bench/ranking_test_report.py --repos build/testfx

Same replay as ranking_ablation.py (bench/ranking_lab.py), on CoSQA test, the stdlib
fixture's test half and the repository fixtures of --repos whose repository is in the
test split: the ranking before this work (two-column BM25, raw lexical mode, hybrid
with the old fusion and definition boost) against the shipped one. Prints a table and
writes bench/out/ranking_test_report.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ranking_lab as lab  # noqa: E402
from ranking_ablation import OLD_FUSION, OLD_RULES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--stdlib", type=Path, default=HERE / "fixtures" / "stdlib-3.11.json")
    ap.add_argument("--repos", type=Path, default=HERE / "fixtures" / "repos")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args(argv)

    from codequarry.embed import load_encoder
    from codequarry.eval.fixture import load_fixture, load_fixtures
    from codequarry.search import lexical
    from codequarry.search.fusion import DEFAULT_WEIGHTS
    from codequarry.search.rules import DEFAULT_RULES, NO_RULES

    enc = load_encoder(args.model)
    cosqa = lab.load_beir("cosqa", enc, "test")
    stdlib = lab.load_fixture(load_fixture(args.stdlib), enc, args.model, "test")
    repos = [d for fx in load_fixtures(args.repos) if (d := lab.load_fixture(fx, enc, args.model, "test"))]
    legacy = lab.LexVariant("before", stem=False, weights=(2.0, 0, 0, 0, 0, 1.0), legacy_rows=True)
    shipped = lab.LexVariant("shipped", lexical.STEM, lexical.DEFAULT_FIELDS.as_tuple())
    old_w, old_r = replace(DEFAULT_WEIGHTS, **OLD_FUSION), replace(NO_RULES, **OLD_RULES)
    setups = {"before": {"lexical": ("lexical-raw", legacy, old_w, NO_RULES), "hybrid": ("hybrid", legacy, old_w, old_r)},
              "shipped": {"lexical": ("lexical", shipped, DEFAULT_WEIGHTS, DEFAULT_RULES),
                          "hybrid": ("hybrid", shipped, DEFAULT_WEIGHTS, DEFAULT_RULES)}}
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "model": args.model, "repos": [d.name for d in repos],
                 "results": {}}
    lines = [f"Test halves, before and after ({out['date']}, {args.model}): CoSQA test {len(cosqa.queries)} queries, "
             f"stdlib test {len(stdlib.queries)}, {len(repos)} test repositories "
             f"({', '.join(d.name for d in repos)}: {sum(len(d.queries) for d in repos)} queries)", "",
             "| ranking | mode | CoSQA test nDCG@10 | stdlib test nDCG@10 | repos test file nDCG@10 | repos test R@1 | "
             "repos test R@5 |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, modes in setups.items():
        for mode, (m, v, w, r) in modes.items():
            per = {d.name: lab.score_fixture(d, m, v, w, r) for d in repos}
            row = {"cosqa": lab.score_beir(cosqa, m, v, w)["ndcg@10"],
                   "stdlib": lab.score_fixture(stdlib, m, v, w, r)["ndcg@10"],
                   "repos_file": sum(p["file_ndcg@10"] for p in per.values()) / max(1, len(per)),
                   "repos_r1": sum(p["recall@1"] for p in per.values()) / max(1, len(per)),
                   "repos_r5": sum(p["recall@5"] for p in per.values()) / max(1, len(per)),
                   "per_repo": per}
            out["results"][f"{name}/{mode}"] = row
            lines.append(f"| {name} | {mode} | {row['cosqa']:.4f} | {row['stdlib']:.4f} | {row['repos_file']:.4f} | "
                         f"{row['repos_r1']:.4f} | {row['repos_r5']:.4f} |")
    lines += ["", "Per repository, file nDCG@10 (before → shipped):", ""]
    for d in repos:
        b = out["results"]
        lines.append(f"- {d.name} ({d.language}): lexical {b['before/lexical']['per_repo'][d.name]['file_ndcg@10']:.3f} → "
                     f"{b['shipped/lexical']['per_repo'][d.name]['file_ndcg@10']:.3f}, hybrid "
                     f"{b['before/hybrid']['per_repo'][d.name]['file_ndcg@10']:.3f} → "
                     f"{b['shipped/hybrid']['per_repo'][d.name]['file_ndcg@10']:.3f}")
    text = "\n".join(lines) + "\n"
    print(text)
    out["shipped"] = {"fields": asdict(lexical.DEFAULT_FIELDS), "fusion": asdict(DEFAULT_WEIGHTS),
                      "rules": asdict(DEFAULT_RULES)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ranking_test_report.json").write_text(json.dumps(out, indent=1, default=str) + "\n")
    (args.out / "ranking_test_report.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
