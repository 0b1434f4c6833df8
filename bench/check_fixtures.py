"""Validate the repository fixture: format, gold files, gold names against the chunker.

For every `bench/fixtures/repos/*.json` (or the files given) it checks the
agreed format (FIXTURE_FORMAT.md): name == file stem == `repos:NAME`, one
`split` for the whole file and for each query, categories, unique ids and
texts, gold shape and grades; then, with the repository fetched under
`$QUARRY_REPOS_DIR` (see fetch_repos.py), that every gold file exists and
every gold `name` is a qualname codequarry's chunker gives that file.

C++ is the one agreed exception: the format leaves namespaces out of a
qualname while the chunker keeps them (`leveldb::Version::Get`), so a C++
gold that matches once leading namespace names are dropped counts as found
and is reported in the `ns` column; a harness matching exact qualnames must
drop them too.

Names in a language the chunker does not parse yet are counted as
`unchecked`, not as errors. Prints a table, writes
`bench/out/check_fixtures.json`, exits 1 with one line per problem
(warnings, such as one file named by two golds of a query, do not fail).

    PYTHONPATH=src QUARRY_REPOS_DIR=/work/repos python bench/check_fixtures.py [FILE ...]
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_repos import FIXTURES, PROJECT, FetchError, check_source, repos_dir  # noqa: E402

CATEGORIES = ("architecture", "semantic", "symbol")
SPLITS = ("dev", "test")
# Languages whose definitions the chunker extracts (others get windows only).
PARSED = {"python", "go", "java", "javascript", "typescript", "tsx", "php", "ruby", "rust", "cpp", "c", "shell"}
_NAMESPACE = re.compile(r"\bnamespace\s+([A-Za-z_][\w:]*)\s*\{")


def check_format(path: Path, data) -> list[str]:
    """Problems with the file's shape (no repository needed)."""
    p: list[str] = []
    if not isinstance(data, dict):
        return ["not a JSON object"]
    name = data.get("name")
    if name != path.stem:
        p.append(f"name {name!r} differs from the file stem {path.stem!r}")
    if not isinstance(data.get("language"), str) or not data["language"]:
        p.append("'language' must name the repository's main language")
    split = data.get("split")
    if split not in SPLITS:
        p.append(f"'split' must be dev or test, not {split!r}")
    repo = data.get("repository")
    if not isinstance(repo, dict) or repo.get("path") != f"repos:{path.stem}":
        p.append(f"repository.path must be 'repos:{path.stem}'")
    else:
        try:
            check_source(repo.get("source"))
        except FetchError as exc:
            p.append(str(exc))
    queries = data.get("queries")
    if not isinstance(queries, list) or not queries:
        return p + ["'queries' must be a non-empty list"]
    ids, texts = set(), set()
    for n, q in enumerate(queries, 1):
        if not isinstance(q, dict):
            p.append(f"query #{n} is not an object")
            continue
        qid = q.get("id")
        where = qid or f"query #{n}"
        if not isinstance(qid, str) or not qid:
            p.append(f"{where}: needs a string 'id'")
        elif qid in ids:
            p.append(f"{where}: duplicate id")
        ids.add(qid)
        text = q.get("query")
        if not isinstance(text, str) or not text.strip():
            p.append(f"{where}: no 'query' text")
        elif text.strip().lower() in texts:
            p.append(f"{where}: duplicate query text {text!r}")
        else:
            texts.add(text.strip().lower())
        if q.get("category") not in CATEGORIES:
            p.append(f"{where}: category must be one of {', '.join(CATEGORIES)}")
        if q.get("split") != split:
            p.append(f"{where}: split {q.get('split')!r} differs from the file's {split!r} (split by repository)")
        golds = q.get("gold")
        if not isinstance(golds, list) or not golds:
            p.append(f"{where}: 'gold' must be a non-empty list")
            continue
        files = []
        for g in golds:
            if not isinstance(g, dict) or not isinstance(g.get("file"), str) or not g["file"]:
                p.append(f"{where}: every gold needs a 'file' string")
                continue
            f = g["file"]
            if f.startswith("/") or "\\" in f or ".." in f.split("/") or f.startswith("./"):
                p.append(f"{where}: gold file {f!r} must be a relative POSIX path")
            if "name" in g and (not isinstance(g["name"], str) or not g["name"]):
                p.append(f"{where}: gold 'name' must be a non-empty string")
            if g.get("grade", 1) not in (1, 2):
                p.append(f"{where}: gold grade must be 1 or 2")
            files.append((f, g.get("name")))
        if not any(g.get("grade", 1) == 2 for g in golds if isinstance(g, dict)):
            p.append(f"{where}: no gold with grade 2 (the central file)")
    return p


def format_warnings(data: dict) -> list[str]:
    """Allowed by the format but worth a look: a file named by two golds of one query.

    File-level metrics see that file once and take its highest grade, so this
    is only a note (two definitions of one file are both answers).
    """
    out = []
    for q in data.get("queries") or []:
        files = [g.get("file") for g in q.get("gold") or [] if isinstance(g, dict)]
        if len(set(files)) != len(files):
            out.append(f"{q.get('id')}: the same file twice in one query's gold")
    return out


def qualnames(root: Path, rel: str, cache: dict) -> tuple[str, set[str], str]:
    """(language, qualnames and parents of the file's chunks, text)."""
    if rel not in cache:
        from codequarry.chunk import chunk_file

        text = (root / rel).read_text(encoding="utf-8", errors="replace")
        chunks = chunk_file(rel, text)
        lang = chunks[0].language if chunks else "text"
        cache[rel] = (lang, {c.qualname for c in chunks} | {c.parent for c in chunks if c.parent}, text)
    return cache[rel]


def find_name(name: str, lang: str, names: set[str], text: str) -> str | None:
    """'exact', 'ns' (C++: found once leading namespaces are dropped) or None."""
    if name in names:
        return "exact"
    if lang == "cpp":
        spaces = {part for m in _NAMESPACE.finditer(text) for part in m.group(1).split("::")}
        for q in names:
            parts = q.split("::")
            k = 0
            while k < len(parts) - 1 and parts[k] in spaces:
                k += 1
                if "::".join(parts[k:]) == name:
                    return "ns"
    return None


def check_repository(data: dict, root: Path) -> tuple[list[str], Counter]:
    problems: list[str] = []
    stats: Counter = Counter()
    cache: dict = {}
    for q in data["queries"]:
        for g in q["gold"]:
            rel = g["file"]
            if not (root / rel).is_file():
                problems.append(f"{q['id']}: gold file {rel} is not in the repository")
                continue
            stats["gold files"] += 1
            if "name" not in g:
                continue
            lang, names, text = qualnames(root, rel, cache)
            if lang not in PARSED:
                stats["unchecked"] += 1
                continue
            how = find_name(g["name"], lang, names, text)
            if how is None:
                near = difflib.get_close_matches(g["name"], sorted(names), n=3, cutoff=0.5)
                problems.append(f"{q['id']}: {rel} has no definition {g['name']!r}"
                                + (f" (near: {', '.join(near)})" if near else ""))
            else:
                stats["names"] += 1
                if how == "ns":
                    stats["ns"] += 1
    return problems, stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("files", nargs="*", type=Path, help="fixture files (default: all in bench/fixtures/repos)")
    ap.add_argument("--out", type=Path, default=PROJECT / "bench" / "out" / "check_fixtures.json",
                    help="where the JSON report goes")
    args = ap.parse_args(argv)
    files = args.files or sorted(FIXTURES.glob("*.json"))
    base = repos_dir()
    failures: list[str] = []
    warnings: list[str] = []
    rows = []
    print(f"{'name':<16} {'language':<11} {'split':<5} {'queries':>7} {'arch':>5} {'sem':>5} {'sym':>5}"
          f" {'golds':>6} {'names':>6} {'ns':>4} {'unchk':>6}  problems")
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            failures.append(f"{path.name}: not readable JSON ({exc})")
            continue
        problems = check_format(path, data)
        warns = format_warnings(data) if not problems else []
        stats: Counter = Counter()
        if not problems:
            root = base / path.stem
            if not root.is_dir():
                problems.append(f"repository not fetched at {root} (run bench/fetch_repos.py)")
            else:
                more, stats = check_repository(data, root)
                problems += more
        qs = data.get("queries") if isinstance(data, dict) and isinstance(data.get("queries"), list) else []
        cats = Counter(q.get("category") for q in qs if isinstance(q, dict))
        row = {"name": path.stem, "language": data.get("language") if isinstance(data, dict) else None,
               "split": data.get("split") if isinstance(data, dict) else None, "queries": len(qs),
               "categories": dict(cats), **stats, "problems": problems, "warnings": warns}
        rows.append(row)
        print(f"{path.stem:<16} {str(row['language']):<11} {str(row['split']):<5} {len(qs):>7}"
              f" {cats['architecture']:>5} {cats['semantic']:>5} {cats['symbol']:>5} {stats['gold files']:>6}"
              f" {stats['names']:>6} {stats['ns']:>4} {stats['unchecked']:>6}  {len(problems)}")
        failures += [f"{path.stem}: {msg}" for msg in problems]
        warnings += [f"{path.stem}: {msg}" for msg in warns]
    total = Counter()
    for r in rows:
        total.update({k: r["categories"].get(k, 0) for k in CATEGORIES})
    n = sum(r["queries"] for r in rows)
    if n:
        print(f"{'TOTAL':<16} {'':<11} {'':<5} {n:>7} {total['architecture']:>5} {total['semantic']:>5}"
              f" {total['symbol']:>5}   (dev {sum(r['queries'] for r in rows if r['split'] == 'dev')},"
              f" test {sum(r['queries'] for r in rows if r['split'] == 'test')})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"repos_dir": str(base), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                               "fixtures": rows, "failures": failures, "warnings": warnings}, indent=1) + "\n")
    for line in warnings:
        print(f"check_fixtures: warning: {line}", file=sys.stderr)
    for line in failures:
        print(f"check_fixtures: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
