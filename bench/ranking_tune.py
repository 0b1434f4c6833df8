"""Choose the ranking settings on dev data by coordinate ascent (what ranking_ablation.py then reports).

    .venv/bin/python bench/ranking_tune.py --repos build/devfx [--passes 2]

Objective, all dev: repositories' file-level nDCG@10 (macro) in lexical mode plus in hybrid mode,
plus a quarter of the stdlib fixture's definition-level nDCG@10 and of the repositories'
definition-level R@1, both modes. A setting only
moves when it raises the objective by more than --min-gain (smaller moves are noise at ~240
queries), and never when CoSQA dev hybrid nDCG@10 falls below --cosqa-floor (or, while it is
below it, any further). Starts from the
shipped settings, walks each parameter's grid in turn, and prints every step and the result as
Python to paste into fusion.py / lexical.py / rules.py. Writes bench/out/ranking_tune.json.
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

FIELD_GRID = {"name": (2, 4, 6, 8, 12, 16, 24), "qualname": (0, 1, 2, 4, 6, 8), "path": (0, 1, 2, 4, 6, 8, 12),
              "signature": (0, 1, 2, 4), "doc": (0, 1, 2, 3, 4, 6), "body": (0.5, 0.75, 1, 1.5)}
FUSION_GRID = {"lexical_words": (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5), "lexical_identifier": (0.5, 0.7, 0.85, 1.0),
               "exact_name_boost": (0.25, 0.5, 0.75, 1.0), "qualname_bonus": (0.0, 0.1, 0.2, 0.4),
               "embedded_name_boost": (0.0, 0.1, 0.2, 0.4)}
RULE_GRID = {"definition_boost": (0.0, 0.1, 0.2, 0.3, 0.4, 0.6), "container_discount": (0.0, 0.1, 0.2, 0.3), "test_penalty": (0.0, 0.1, 0.2, 0.3, 0.5, 0.8),
             "example_penalty": (0.0, 0.1, 0.2, 0.3, 0.5), "shim_penalty": (0.0, 0.1, 0.2, 0.3, 0.5),
             "doc_penalty_words": (0.0, 0.1, 0.2, 0.3, 0.5), "doc_penalty_identifier": (0.0, 0.2, 0.5, 1.0),
             "name_match": (0.0, 0.1, 0.2, 0.3, 0.5), "path_match": (0.0, 0.1, 0.2, 0.3),
             "file_coherence": (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0), "coherence_depth": (1, 2, 3, 5),
             "doc_defers": (0.0, 1.0)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--stdlib", type=Path, default=HERE / "fixtures" / "stdlib-3.11.json")
    ap.add_argument("--repos", type=Path, default=HERE / "fixtures" / "repos")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--min-gain", type=float, default=0.003)
    ap.add_argument("--cosqa-floor", type=float, default=0.600)
    ap.add_argument("--start", type=Path, default=None, help="a ranking_tune.json to start from (its 'chosen')")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args(argv)

    from codequarry.embed import load_encoder
    from codequarry.eval.fixture import load_fixture, load_fixtures
    from codequarry.search import lexical
    from codequarry.search.fusion import DEFAULT_WEIGHTS
    from codequarry.search.rules import DEFAULT_RULES

    encoder = load_encoder(args.model)
    cosqa = lab.load_beir("cosqa", encoder, "dev")
    stdlib = lab.load_fixture(load_fixture(args.stdlib), encoder, args.model, "dev")
    repos = [d for fx in load_fixtures(args.repos) if (d := lab.load_fixture(fx, encoder, args.model, "dev"))]
    state = {"fields": dict(zip(lexical.COLUMNS, lexical.DEFAULT_FIELDS.as_tuple())), "stem": lexical.STEM,
             "fusion": asdict(DEFAULT_WEIGHTS), "rules": asdict(DEFAULT_RULES)}
    if args.start:
        chosen = json.loads(args.start.read_text())["chosen"]
        for part in ("fields", "fusion", "rules"):
            state[part].update(chosen.get(part, {}))
        state["stem"] = chosen.get("stem", state["stem"])

    def evaluate(st) -> tuple[float, dict]:
        v = lab.LexVariant("x", st["stem"], tuple(st["fields"][c] for c in lexical.COLUMNS))
        w = replace(DEFAULT_WEIGHTS, **st["fusion"])
        r = replace(DEFAULT_RULES, **st["rules"])
        m = {}
        for mode in ("lexical", "hybrid"):
            per = [lab.score_fixture(d, mode, v, w, r) for d in repos]
            m[f"repos_{mode}"] = sum(p["file_ndcg@10"] for p in per) / len(per)
            defs = [p["recall@1"] for p in per if p["definition_queries"]]
            m[f"repos_r1_{mode}"] = sum(defs) / len(defs)
            m[f"stdlib_{mode}"] = lab.score_fixture(stdlib, mode, v, w, r)["ndcg@10"]
        m["cosqa_hybrid"] = lab.score_beir(cosqa, "hybrid", v, w)["ndcg@10"]
        j = (m["repos_lexical"] + m["repos_hybrid"] + 0.25 * (m["stdlib_lexical"] + m["stdlib_hybrid"])
             + 0.25 * (m["repos_r1_lexical"] + m["repos_r1_hybrid"]))
        return j, m

    best_j, best_m = evaluate(state)
    lab.log(f"start J={best_j:.4f} {_fmt(best_m)}")
    steps = [{"param": "start", "J": best_j, **best_m}]
    grids = [("stem", "stem", (False, True))]
    grids += [("fields", k, g) for k, g in FIELD_GRID.items()]
    grids += [("fusion", k, g) for k, g in FUSION_GRID.items()]
    grids += [("rules", k, g) for k, g in RULE_GRID.items()]
    for p in range(args.passes):
        moved = False
        for part, key, grid in grids:
            for val in grid:
                cur = state[part] if part != "stem" else state["stem"]
                if (cur if part == "stem" else cur[key]) == val:
                    continue
                trial = json.loads(json.dumps(state))
                if part == "stem":
                    trial["stem"] = val
                else:
                    trial[part][key] = val
                j, m = evaluate(trial)
                # CoSQA may not fall below the floor (nor further, while it is below it).
                floor = min(args.cosqa_floor, best_m["cosqa_hybrid"])
                if j > best_j + args.min_gain and m["cosqa_hybrid"] >= floor:
                    lab.log(f"pass {p + 1}: {part}.{key}={val}: J {best_j:.4f} -> {j:.4f} {_fmt(m)}")
                    state, best_j, best_m = trial, j, m
                    steps.append({"param": f"{part}.{key}={val}", "J": j, **m})
                    moved = True
        if not moved:
            break
    print(json.dumps(state, indent=1))
    print(_fmt(best_m))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ranking_tune.json").write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%d %H:%M"), "repos": [d.name for d in repos], "chosen": state,
         "metrics": best_m, "steps": steps, "min_gain": args.min_gain, "cosqa_floor": args.cosqa_floor},
        indent=1) + "\n")
    return 0


def _fmt(m: dict) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in m.items())


if __name__ == "__main__":
    sys.exit(main())
