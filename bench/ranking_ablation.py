"""What each piece of the ranking is worth, on dev data only.

    .venv/bin/python bench/ranking_ablation.py [--model minilm] [--repos bench/fixtures/repos]

Data: CoSQA dev, the stdlib fixture's dev half, and every repository fixture
in --repos whose repository is in the dev split (QUARRY_REPOS_DIR). Test
halves are never read. Candidates are collected once per data set and replayed
through `search.ranking.rank` (bench/ranking_lab.py), so each row is exactly
what `quarry search` would rank.

Tables (each printed, all written to bench/out/ranking_ablation.json and .md):

1. the lexical leg: rows before fields, fields without and with stems, field weights;
2. each ranking rule alone on top of the shipped lexical leg with no rules, and each rule
   removed from the shipped set (lexical and hybrid modes);
3. the fusion share for word queries, with the shipped rules;
4. the shipped configuration against the one before this work.

Columns: CoSQA dev nDCG@10 (it has no names or paths, so rules do not apply to it),
stdlib dev definition-level nDCG@10, repositories dev file-level nDCG@10
(macro over repositories) and definition-level R@1.
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

OLD_RULES = {"definition_boost": 0.2}  # what shipped before this work
OLD_FUSION = {"lexical_words": 0.25, "lexical_identifier": 0.7, "exact_name_boost": 0.5, "qualname_bonus": 0.0,
              "embedded_name_boost": 0.0}


class Bench:
    def __init__(self, cosqa, stdlib, repos) -> None:
        self.cosqa, self.stdlib, self.repos = cosqa, stdlib, repos

    def row(self, mode: str, v, weights, rules) -> dict:
        out: dict = {}
        if self.cosqa is not None:
            out["cosqa"] = lab.score_beir(self.cosqa, mode, v, weights)["ndcg@10"]
        if self.stdlib is not None:
            out["stdlib"] = lab.score_fixture(self.stdlib, mode, v, weights, rules)["ndcg@10"]
        if self.repos:
            per = {d.name: lab.score_fixture(d, mode, v, weights, rules) for d in self.repos}
            out["repos_file"] = sum(p["file_ndcg@10"] for p in per.values()) / len(per)
            defs = [p["recall@1"] for p in per.values() if p["definition_queries"]]
            out["repos_r1"] = sum(defs) / len(defs) if defs else float("nan")
            out["per_repo"] = {n: round(p["file_ndcg@10"], 4) for n, p in per.items()}
        return out


COLUMNS = (("cosqa", "CoSQA dev nDCG@10"), ("stdlib", "stdlib dev nDCG@10"),
           ("repos_file", "repos dev file nDCG@10"), ("repos_r1", "repos dev R@1"))


def table(title: str, rows: list[tuple[str, dict, dict]], base: tuple[dict, dict] | None = None) -> str:
    """rows: (label, lexical-mode metrics, hybrid-mode metrics); deltas against `base`."""
    present = [(k, h) for k, h in COLUMNS if any(k in r[1] or k in r[2] for r in rows)]
    head = ["setting"] + [f"{h} ({m})" for k, h in present for m in ("lex", "hyb")]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for label, lx, hy in rows:
        cells = []
        for k, _ in present:
            for m, b in ((lx, base[0] if base else None), (hy, base[1] if base else None)):
                if k not in m:
                    cells.append("–")
                    continue
                d = "" if b is None or k not in b or m is b else f" ({m[k] - b[k]:+.3f})"
                cells.append(f"{m[k]:.4f}{d}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--stdlib", type=Path, default=HERE / "fixtures" / "stdlib-3.11.json")
    ap.add_argument("--repos", type=Path, default=HERE / "fixtures" / "repos")
    ap.add_argument("--no-cosqa", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="first N dev queries per data set (smoke runs)")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args(argv)

    from codequarry.embed import load_encoder
    from codequarry.eval.fixture import load_fixture, load_fixtures
    from codequarry.search import lexical
    from codequarry.search.fusion import DEFAULT_WEIGHTS
    from codequarry.search.rules import DEFAULT_RULES, NO_RULES

    encoder = load_encoder(args.model)
    cosqa = None if args.no_cosqa else lab.load_beir("cosqa", encoder, "dev", args.limit)
    stdlib = lab.load_fixture(load_fixture(args.stdlib), encoder, args.model, "dev", args.limit)
    repos = []
    if args.repos.is_dir() and any(args.repos.glob("*.json")):
        for fx in load_fixtures(args.repos):
            d = lab.load_fixture(fx, encoder, args.model, "dev", args.limit)
            if d is not None:
                repos.append(d)
                if d.missing_golds:
                    lab.log(f"{fx.name}: {d.missing_golds} gold definitions are no chunk here (unfindable)")
    bench = Bench(cosqa, stdlib, repos)
    shipped = lab.LexVariant("shipped", lexical.STEM, lexical.DEFAULT_FIELDS.as_tuple())
    out: dict = {"model": args.model, "date": time.strftime("%Y-%m-%d %H:%M"), "repos": [d.name for d in repos],
                 "queries": {"cosqa": len(cosqa.queries) if cosqa else 0, "stdlib": len(stdlib.queries),
                             "repos": sum(len(d.queries) for d in repos)},
                 "shipped": {"fields": asdict(lexical.DEFAULT_FIELDS), "stem": lexical.STEM,
                             "fusion": asdict(DEFAULT_WEIGHTS), "rules": asdict(DEFAULT_RULES)}}
    texts = []

    def both(v, weights, rules):
        return bench.row("lexical", v, weights, rules), bench.row("hybrid", v, weights, rules)

    # 1. The lexical leg, no rules (hybrid with the old rules, to see it in context).
    old_rules = replace(NO_RULES, **OLD_RULES)
    variants = [
        lab.LexVariant("before: names+body, no stems", stem=False, weights=(2.0, 0, 0, 0, 0, 1.0), legacy_rows=True),
        lab.LexVariant("fields, no stems", stem=False, weights=shipped.weights),
        lab.LexVariant("fields + stems", stem=True, weights=shipped.weights),
    ]
    grid = {"name": (1.0, 2.0, 8.0), "qualname": (0.0, 1.0, 4.0), "path": (0.0, 2.0, 4.0), "signature": (0.0, 2.0),
            "doc": (0.0, 2.0), "body": (0.5, 2.0)}
    for fname, values in grid.items():
        for val in values:
            w = list(shipped.weights)
            w[lexical.COLUMNS.index(fname)] = val
            variants.append(lab.LexVariant(f"{fname}={val:g}", stem=shipped.stem, weights=tuple(w)))
    rows = []
    old_fusion = replace(DEFAULT_WEIGHTS, **OLD_FUSION)
    for v in variants:
        lab.log(f"lexical leg: {v.label}")
        lx = bench.row("lexical", v, old_fusion, NO_RULES)
        hy = bench.row("hybrid", v, old_fusion, old_rules)
        rows.append((v.label, lx, hy))
    out["lexical_leg"] = {label: {"lexical": lx, "hybrid": hy} for label, lx, hy in rows}
    texts.append(table(f"Lexical leg (lexical mode: exact-name boost, no rules; hybrid: the old fusion and "
                       f"definition boost); "
                       f"shipped weights {dict(zip(lexical.COLUMNS, shipped.weights))}", rows, rows[0][1:]))

    # 2. Rules: each alone over none, and each removed from the shipped set.
    none = both(shipped, DEFAULT_WEIGHTS, NO_RULES)
    full = both(shipped, DEFAULT_WEIGHTS, DEFAULT_RULES)
    rows = [("no rules", *none), ("shipped rules", *full)]
    probe = {"definition_boost": 0.2, "container_discount": 0.2, "test_penalty": 0.3, "example_penalty": 0.3, "shim_penalty": 0.3,
             "vendor_penalty": 0.3, "declaration_penalty": 0.3, "doc_penalty_words": 0.3,
             "doc_penalty_identifier": 0.5, "name_match": 0.2, "path_match": 0.2, "file_coherence": 0.2,
             "doc_defers": 1.0}
    for rule, val in probe.items():
        shipped_val = getattr(DEFAULT_RULES, rule)
        lab.log(f"rule {rule}")
        rows.append((f"only {rule}={shipped_val or val:g}",
                     *both(shipped, DEFAULT_WEIGHTS, replace(NO_RULES, **{rule: shipped_val or val}))))
        if shipped_val:
            rows.append((f"shipped without {rule}", *both(shipped, DEFAULT_WEIGHTS, replace(DEFAULT_RULES, **{rule: 0.0}))))
    out["rules"] = {label: {"lexical": lx, "hybrid": hy} for label, lx, hy in rows}
    texts.append(table(f"Ranking rules; shipped: {asdict(DEFAULT_RULES)}", rows, none))

    # 3. Fusion: the lexical share for word queries.
    rows = []
    for share in (0.15, 0.25, 0.35, 0.5, 0.65):
        lab.log(f"fusion lexical_words={share}")
        w = replace(DEFAULT_WEIGHTS, lexical_words=share)
        rows.append((f"lexical_words={share:g}", {}, bench.row("hybrid", shipped, w, DEFAULT_RULES)))
    out["fusion"] = {label: hy for label, _lx, hy in rows}
    texts.append(table(f"Fusion (hybrid, shipped rules); shipped lexical_words={DEFAULT_WEIGHTS.lexical_words}", rows))

    # 4. Before and after.
    before = both(variants[0], old_fusion, old_rules)
    before_lex = bench.row("lexical-raw", variants[0], old_fusion, NO_RULES)
    rows = [("before (raw BM25 names+body; hybrid + definition boost)", before_lex, before[1]), ("shipped", *full)]
    out["before_after"] = {label: {"lexical": lx, "hybrid": hy} for label, lx, hy in rows}
    texts.append(table("Before this work and shipped", rows, (before_lex, before[1])))

    head = (f"Ranking ablation, {args.model}, dev data only ({out['date']}): CoSQA dev {out['queries']['cosqa']} "
            f"queries, stdlib dev {out['queries']['stdlib']}, {len(repos)} dev repositories "
            f"({out['queries']['repos']} queries: {', '.join(out['repos']) or 'none'})\n\n")
    text = head + "\n".join(texts)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ranking_ablation.json").write_text(json.dumps(out, indent=1, default=str) + "\n")
    (args.out / "ranking_ablation.md").write_text(text)
    lab.log(f"wrote {args.out}/ranking_ablation.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
