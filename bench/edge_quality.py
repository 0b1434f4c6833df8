"""Edge quality of the call graph on real code nobody here wrote: precision and recall per language.

    python bench/edge_quality.py            fetch, index (hash encoder), sample, score; prints the table
    python bench/edge_quality.py --sheet    the sampled call sites that have no judgement yet, for judging

One small project per language is fetched from its registry (PyPI sdist,
npm tarball, Debian source package) into `$QUARRY_EDGE_REPOS_DIR/<name>`
(default `build/edge-repos/`, never committed) and indexed into
`build/edge-index/<name>`.

Sample: per project, SAMPLE_SIZE call-site groups drawn uniformly with a
fixed seed from every group the index holds (a group is a caller, a callee
name and a receiver; identified by the caller's file, the first call's line
and the callee name). The draw does not depend on how the groups were
resolved, so a change to the resolver is scored on the same call sites.

Judgements (bench/fixtures/edges.json) were made by hand by reading the code
at each call site, without looking at the resolver's answer: the definition
the call binds to statically (file and qualname as the chunker names it),
or "none" when it is outside the repository (standard library, a
dependency), a builtin, a local variable or parameter, or only known at run
time (an interface or abstract method with no body in the repository, a
callable passed in).

Precision: of the sampled groups the resolver marked resolved, the share
whose target is the judged one. Recall: of the sampled groups whose judged
target is in the repository, the share resolved to it. Ambiguous edges
count for neither; the table says how often their candidates hold the
judged target.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "bench" / "fixtures" / "edges.json"
OUT = ROOT / "bench" / "out" / "edge_quality.json"
SAMPLE_SIZE = 40
SEED = 20240611
LANGS = {"python": ("python",), "go": ("go",), "typescript": ("typescript", "tsx"), "java": ("java",),
         "rust": ("rust",)}

PROJECTS = {
    "click": {"language": "python", "registry": "pypi", "package": "click", "version": "8.1.7",
              "subdir": "click-8.1.7"},
    "cobra": {"language": "go", "registry": "debian", "package": "golang-github-spf13-cobra",
              "version": "1.6.1-1", "subdir": "golang-github-spf13-cobra-1.6.1"},
    "rxjs": {"language": "typescript", "registry": "npm", "package": "rxjs", "version": "7.8.1",
             "subdir": "package/src"},
    "jcommander": {"language": "java", "registry": "debian", "package": "jcommander", "version": "1.71-4",
                   "subdir": "jcommander-1.71"},
    # Debian's source tarball of this crate is gone from the mirror; its -dev package ships the crate source.
    "toml": {"language": "rust", "registry": "debian", "binary": "librust-toml-dev", "version": "0.5.11-1",
             "subdir": "usr/share/cargo/registry/toml-0.5.11"},
}


# -- fetching -------------------------------------------------------------------------------------

def repos_dir() -> Path:
    import os

    return Path(os.environ.get("QUARRY_EDGE_REPOS_DIR", ROOT / "build" / "edge-repos"))


def _run(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900)
    if r.returncode != 0:
        tail = (r.stderr.strip() or r.stdout.strip()).splitlines()
        sys.exit(f"edge_quality: '{' '.join(cmd)}' failed: {tail[-1] if tail else r.returncode}")


def fetch(name: str, spec: dict) -> Path:
    """The project's tree, fetched from its registry once (a `.fetched` marker records the spec)."""
    dest = repos_dir() / name
    marker = dest / ".fetched.json"
    if marker.is_file() and json.loads(marker.read_text()) == spec:
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dl, unpacked = work / "dl", work / "unpacked"
        dl.mkdir()
        unpacked.mkdir()
        reg = spec["registry"]
        if reg == "pypi":
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                  "--disable-pip-version-check", "-d", str(dl), f"{spec['package']}=={spec['version']}"], work)
        elif reg == "npm":
            _run(["npm", "pack", "--silent", "--ignore-scripts", "--pack-destination", str(dl),
                  f"{spec['package']}@{spec['version']}"], work)
        elif reg == "debian" and spec.get("binary"):
            _run(["apt-get", "download", "-q", f"{spec['binary']}={spec['version']}"], dl)
            (deb,) = dl.glob("*.deb")
            _run(["dpkg-deb", "-x", str(deb), str(unpacked)], dl)
        elif reg == "debian":  # needs deb-src entries in the apt sources (see README, Code intelligence)
            _run(["apt-get", "source", "--download-only", "-q", f"{spec['package']}={spec['version']}"], dl)
            (dsc,) = dl.glob("*.dsc")
            _run(["dpkg-source", "-x", str(dsc), str(unpacked / spec["subdir"].split("/")[0])], dl)
        if reg in ("pypi", "npm"):
            (archive,) = [p for p in dl.iterdir() if p.name.endswith((".tar.gz", ".tgz"))]
            with tarfile.open(archive) as t:
                t.extractall(unpacked, filter="data")
        src = unpacked / spec["subdir"]
        shutil.rmtree(src / "debian", ignore_errors=True)  # Debian's packaging is not the project's code
        shutil.rmtree(src / ".pc", ignore_errors=True)
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dest, symlinks=True)
    marker.write_text(json.dumps(spec))
    return dest


def index(name: str, repo: Path) -> Path:
    from codequarry.indexer import index_repository

    folder = ROOT / "build" / "edge-index" / name
    index_repository(repo, index_dir=folder, model="hash")
    return folder


# -- sampling -------------------------------------------------------------------------------------

def groups(db, languages: tuple[str, ...]) -> dict[tuple[str, int, str], list[dict]]:
    """(file, first line, callee) → the resolution rows of that call-site group."""
    marks = ",".join("?" * len(languages))
    out: dict[tuple[str, int, str], list[dict]] = defaultdict(list)
    for file, caller, line, callee, receiver, status, conf, how, tfile, tqual in db.conn.execute(
        f"""SELECT f.path, c.qualname, t.line, t.callee, t.receiver, t.status, t.confidence, t.how, tf.path,
                   tc.qualname
            FROM call_targets t JOIN chunks c ON c.id = t.chunk_id JOIN files f ON f.id = c.file_id
            LEFT JOIN chunks tc ON tc.id = t.target_id LEFT JOIN files tf ON tf.id = tc.file_id
            WHERE c.language IN ({marks})""", languages,
    ):
        out[(file, line, callee)].append(dict(caller=caller, receiver=receiver, status=status, confidence=conf,
                                              how=how, target=None if tfile is None else
                                              {"file": tfile, "qualname": tqual}))
    return out


def sample(name: str, population: dict) -> list[tuple[str, int, str]]:
    keys = sorted(population)
    rng = random.Random(f"{SEED}:{name}")
    return sorted(rng.sample(keys, min(SAMPLE_SIZE, len(keys))))


# -- scoring --------------------------------------------------------------------------------------

def score(rows: list[tuple[dict, list[dict]]]) -> dict:
    """rows: (judgement, resolution rows of its group)."""
    res = res_ok = in_repo = in_repo_ok = amb = amb_hit = 0
    by_how: dict[str, Counter] = defaultdict(Counter)
    for judged, got in rows:
        truth = judged["truth"]
        statuses = {g["status"] for g in got}
        targets = [g["target"] for g in got if g["target"]]
        hit = truth is not None and truth in targets
        if truth is not None:
            in_repo += 1
        if "resolved" in statuses:
            res += 1
            res_ok += hit
            in_repo_ok += hit
            how = next(g["how"] for g in got if g["status"] == "resolved")
            by_how[how]["n"] += 1
            by_how[how]["ok"] += hit
        elif "ambiguous" in statuses:
            amb += 1
            amb_hit += hit
    return {
        "sampled": len(rows), "resolved": res, "resolved_correct": res_ok, "in_repo": in_repo,
        "in_repo_resolved_correct": in_repo_ok, "ambiguous": amb, "ambiguous_with_truth": amb_hit,
        "precision": round(res_ok / res, 3) if res else None,
        "recall": round(in_repo_ok / in_repo, 3) if in_repo else None,
        "by_rule": {k: dict(v) for k, v in sorted(by_how.items())},
    }


def load_judgements() -> dict[tuple[str, str, int, str], dict]:
    if not FIXTURE.is_file():
        return {}
    data = json.loads(FIXTURE.read_text())
    out = {}
    for e in data["edges"]:
        out[(e["repo"], e["file"], e["line"], e["callee"])] = e
    return out


def sheet(name: str, repo: Path, keys, population, judged) -> None:
    """Print what a judge needs: the call in context and every definition of that name, not the answer."""
    from codequarry.store.db import IndexDB

    db = IndexDB(ROOT / "build" / "edge-index" / name, readonly=True)
    for file, line, callee in keys:
        if (name, file, line, callee) in judged:
            continue
        text = (repo / file).read_text("utf-8", "replace").split("\n")
        caller = population[(file, line, callee)][0]["caller"]
        print(f"=== {name} {file}:{line} callee={callee} caller={caller}")
        for n in range(max(1, line - 2), min(len(text), line + 1) + 1):
            print(f"{'>' if n == line else ' '}{n:5} {text[n - 1][:150]}")
        defs = db.conn.execute(
            "SELECT f.path, min(c.line_start), c.qualname, c.kind FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE c.name = ? AND c.kind != 'window' GROUP BY f.path, c.qualname, c.kind, "
            "CASE WHEN c.parent = c.qualname THEN -1 ELSE c.id END ORDER BY f.path, 2",
            (callee,)).fetchall()
        for d in defs[:12]:
            print(f"    def {d[0]}:{d[1]} {d[2]} ({d[3]})")
        if len(defs) > 12:
            print(f"    ... {len(defs) - 12} more definitions named {callee}")
    db.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sheet", action="store_true", help="print unjudged sampled call sites for judging")
    ap.add_argument("--only", nargs="*", help="projects to run (default: all)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    from codequarry.store.db import IndexDB

    judged = load_judgements()
    results, missing, report = {}, [], {}
    started = time.time()
    for name, spec in PROJECTS.items():
        if args.only and name not in args.only:
            continue
        repo = fetch(name, spec)
        folder = index(name, repo)
        db = IndexDB(folder, readonly=True)
        population = groups(db, LANGS[spec["language"]])
        db.close()
        keys = sample(name, population)
        if args.sheet:
            sheet(name, repo, keys, population, judged)
            continue
        rows = []
        for key in keys:
            j = judged.get((name, *key))
            if j is None:
                missing.append((name, *key))
                continue
            rows.append((j, population[key]))
        results[spec["language"]] = score(rows)
        results[spec["language"]].update(project=f"{name} {spec['version']}", groups=len(population))
        report[name] = [{"file": k[0], "line": k[1], "callee": k[2], "got": population[k]} for k in keys]
    if args.sheet:
        return 0
    total = score([(judged[(n, r["file"], r["line"], r["callee"])], r["got"])
                   for n, rs in report.items() for r in rs if (n, r["file"], r["line"], r["callee"]) in judged])
    print(f"{'language':<11} {'project':<28} {'groups':>7} {'sampled':>7} {'resolved':>8} {'precision':>9} "
          f"{'in repo':>7} {'recall':>6} {'ambiguous (truth in)':>20}")
    for lang, r in list(results.items()) + [("all", total)]:
        p = "-" if r["precision"] is None else f"{r['precision']:.2f}"
        rc = "-" if r["recall"] is None else f"{r['recall']:.2f}"
        print(f"{lang:<11} {r.get('project', ''):<28} {r.get('groups', ''):>7} {r['sampled']:>7} {r['resolved']:>8} "
              f"{p:>9} {r['in_repo']:>7} {rc:>6} {str(r['ambiguous']) + ' (' + str(r['ambiguous_with_truth']) + ')':>20}")
    if missing:
        print(f"\n{len(missing)} sampled call sites have no judgement; run with --sheet and add them to {FIXTURE}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"per_language": results, "all": total, "unjudged": missing, "sample": report,
                               "seconds": round(time.time() - started, 1)}, indent=1))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
