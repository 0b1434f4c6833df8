"""Fault injection: does an index survive kills, concurrency, a full disk and damaged files?

    python bench/faults.py [--kills 20] [--seed 1] [--only kill,search,lock,diskfull,vectors,database]

Every trial runs the real CLI (hash encoder) on a generated repository of ~2,500 chunks and
is judged alike: no traceback on any stderr, the index still opens and answers a search, and
after a re-index it equals an index built from scratch of the same files (chunks with code and
vectors, lexical rows, matches and FTS5 integrity, a cache holding only live texts).

* kill: `quarry index` (incremental after random edits, or --force; some repairing a damaged
  index.db) gets SIGKILL at a random moment after 80% of a no-op run's length.
* search: in-process (fresh and long-lived Searchers), CLI and `quarry serve` searches run while
  another process re-indexes after edits; none may fail.
* lock: a second `quarry index` started while the first holds the lock (seen in /proc/locks)
  must exit 2 with "another 'quarry index' is running"; the first must finish.
* diskfull: the index lives on a small tmpfs (mount needs root; skipped with the reason
  otherwise) filled to leave little room; a run that does not fit must exit 8 with one line
  and leave the previous index as it was; after space is freed a run must succeed.
* vectors: the current vector file is truncated, deleted or altered; a search must say so
  (exit 5), a plain `quarry index` must rebuild it.
* database: index.db gets random bytes (past its header page), a smashed b-tree page, a lost
  header or a truncation; `quarry index` must refuse it (exit 5) or run clean, and
  `quarry index --force` must rebuild it. Bytes inside rows are invisible to SQLite's checks:
  the table says where they landed and whether they changed what search returns.

Prints one table and writes bench/out/faults.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "src"))

ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
       "QUARRY_MODEL": "hash"}
ENV.pop("QUARRY_INDEX_DIR", None)
QUERIES = ["parse the header of a request", "retry a failed upload", "render the login form", "cache lookup"]
WORDS = ("alpha beta gamma delta parse render upload retry open close read write cache index search token "
         "header request login form queue worker").split()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {msg}", file=sys.stderr, flush=True)


# -- the repository ------------------------------------------------------------------------------

def _function(rng: random.Random, name: str) -> str:
    w = rng.sample(WORDS, 4)
    return (f"def {name}(x, y):\n    \"\"\"{' '.join(w).capitalize()} for the {w[2]} {w[3]}.\"\"\"\n"
            f"    z = x + y * {rng.randint(1, 99)}\n    for k in range({rng.randint(2, 9)}):\n"
            f"        z = {w[0]}_{w[1]}(z, k) - {rng.randint(1, 9)}\n    return z\n\n")


def make_repo(root: Path, rng: random.Random, files: int = 240, per_file: int = 10) -> Path:
    for f in range(files):
        d = root / f"pkg{f % 12}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"mod{f}.py").write_text("".join(_function(rng, f"f{f}_{i}") for i in range(per_file)))
    (root / "README.md").write_text("# Generated\n\n## Uploads\n\nRetried when they fail.\n")
    return root


def mutate(root: Path, rng: random.Random) -> None:
    """Edit a few files, add one, delete one: what a working tree sees between two runs."""
    files = sorted(root.rglob("mod*.py"))
    for p in rng.sample(files, min(6, len(files))):
        lines = p.read_text().split("\n\n")
        i = rng.randrange(len(lines))
        lines[i] = _function(rng, f"g{rng.randrange(10**6)}").rstrip("\n")
        p.write_text("\n\n".join(lines))
    if len(files) > 20:
        rng.choice(files).unlink()
    n = rng.randrange(10**6)
    (root / "pkg0" / f"new{n}.py").write_text("".join(_function(rng, f"n{n}_{i}") for i in range(8)))


# -- running the CLI and judging an index --------------------------------------------------------

QUARRY = [sys.executable, "-m", "codequarry.cli"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*QUARRY, *args], capture_output=True, text=True, timeout=300, env=env or ENV)


def popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*QUARRY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def has_traceback(*streams: str | None) -> bool:
    return any(s and "Traceback (most recent call last)" in s for s in streams)


def one_line_error(stderr: str) -> bool:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    return len(lines) == 1 and lines[0].startswith("quarry: error:")


def fingerprint(folder: Path, cache: bool = True) -> str:
    """Digest of what a search can see: chunks with their vectors, lexical rows, lexical matches;
    with `cache`, also whether the embedding cache holds exactly the live texts (a failed run
    rightly leaves the vectors it paid for, so it is left out when judging a failed run)."""
    import faiss

    from codequarry.embed.select import lexical_only
    from codequarry.store import vectors
    from codequarry.store.db import IndexDB

    db = IndexDB(folder, readonly=True)
    try:
        slot = db.slot(db.default_slot())
        index = vectors.read(vectors.vector_path(folder, slot["name"], slot["generation"]), slot["checksum"])
        rows = db.conn.execute(
            "SELECT c.id, f.path, c.qualname, c.kind, c.line_start, c.line_end, c.text_hash, c.code, c.signature, "
            "c.doc, l.name, l.qualname, l.path, l.signature, l.doc, l.body "
            "FROM chunks c JOIN files f ON f.id = c.file_id LEFT JOIN lexical l ON l.rowid = c.id").fetchall()
        key = {r[0]: r[1:7] for r in rows}
        embedded = set(faiss.vector_to_array(index.id_map).tolist())  # chunks left to the lexical leg have none
        h = hashlib.sha256()
        for r in sorted(rows, key=lambda r: r[1:7]):
            h.update(repr(r[1:]).encode())
            h.update(index.reconstruct(int(r[0])).tobytes() if r[0] in embedded else b"lexical only")
        h.update(f"ntotal={index.ntotal} chunks={len(rows)}".encode())
        try:  # FTS5's own check of its segments: damage a few MATCH probes would miss
            db.conn.execute("INSERT INTO lexical(lexical) VALUES('integrity-check')")
        except sqlite3.DatabaseError as exc:
            h.update(f"lexical damaged: {exc}".encode())
        for term in ("parse", "upload", "retry", "login"):
            hits = db.conn.execute("SELECT rowid FROM lexical WHERE lexical MATCH ?", (term,)).fetchall()
            h.update(repr(sorted(key.get(i[0], ("orphan", i[0])) for i in hits)).encode())
        if not cache:
            return h.hexdigest()
        cached = db.conn.execute("SELECT count(*) FROM embeddings WHERE model = ?", (slot["model"],)).fetchone()[0]
        placed = db.placements()
        skip = lexical_only(placed)
        live = len({p.text_hash for i, p in placed if i not in skip})
        h.update(f"cache={cached == live}".encode())
        return h.hexdigest()
    finally:
        db.close()


def clean_fingerprint(repo: Path, scratch: Path) -> str:
    shutil.rmtree(scratch, ignore_errors=True)
    r = cli("index", "--json", "--index-dir", str(scratch), str(repo))
    assert r.returncode == 0, r.stderr
    return fingerprint(scratch)


def searchable(repo: Path, folder: Path | None = None) -> tuple[bool, str]:
    """Does the index open and answer a hybrid search? In-process, as an agent library would."""
    from codequarry.search.searcher import Searcher

    try:
        s = Searcher.open(repo, index_dir=folder)
        ok = bool(s.search(random.choice(QUERIES), k=5))
        s.close()
        return ok, "" if ok else "no results"
    except Exception as exc:  # noqa: BLE001 - the outcome is what we record
        return False, f"{type(exc).__name__}: {exc}"


# -- scenarios -------------------------------------------------------------------------------------

class Trials:
    def __init__(self, name: str) -> None:
        self.name, self.rows = name, []

    def add(self, **row) -> dict:
        self.rows.append(row)
        bad = [k for k in ("traceback", "lost", "corrupt", "failed") if row.get(k)]
        log(f"{self.name} #{len(self.rows)}: {'FAIL ' + ','.join(bad) if bad else 'ok'} {row.get('outcome', '')}")
        return row


def reindex_and_compare(repo: Path, scratch: Path, *extra: str) -> dict:
    r = cli("index", "--json", *extra, str(repo))
    out = {"reindex_rc": r.returncode, "traceback": has_traceback(r.stderr)}
    if r.returncode != 0:
        out.update(corrupt=True, detail=r.stderr.strip()[-300:])
        return out
    out["corrupt"] = fingerprint(repo / ".quarry") != clean_fingerprint(repo, scratch)
    return out


def timed_run(repo: Path, *extra: str) -> float:
    t = time.perf_counter()
    r = cli("index", *extra, str(repo))
    assert r.returncode == 0, r.stderr
    return time.perf_counter() - t


def _kill_after(delay: float, *args: str) -> tuple[bool, str]:
    """Start `quarry ARGS`, SIGKILL it after `delay` s: (killed before it finished, its stderr)."""
    p = popen(*args)
    time.sleep(delay)
    killed = p.poll() is None
    if killed:
        os.kill(p.pid, signal.SIGKILL)
    return killed, p.communicate()[1]


def scenario_kill(repo: Path, scratch: Path, rng: random.Random, n: int) -> Trials:
    t = Trials("kill -9")
    mutate(repo, rng)
    dur = {"": timed_run(repo), "--force": timed_run(repo, "--force")}
    # Most of a short run is interpreter start and imports: kill after 80% of a no-op run's length.
    start = 0.8 * timed_run(repo)
    log(f"run lengths: incremental {dur['']:.2f}s, --force {dur['--force']:.2f}s, no-op {start / 0.8:.2f}s")
    # Then a few repairs killed midway: the damaged file or the new one must be there, never neither.
    for repairing in [False] * n + [True] * max(2, n // 5):
        flag = "--force" if repairing else rng.choice(["", "--force"])
        if repairing:
            smash_random_page(repo / ".quarry", rng)
        else:
            mutate(repo, rng)
        delay = rng.uniform(start, dur[flag])
        killed, err = _kill_after(delay, "index", *([flag] if flag else []), str(repo))
        ok, why = searchable(repo) if not repairing else ((repo / ".quarry" / "index.db").exists(), "")
        row = dict(run="--force repair" if repairing else flag or "incremental", kill_at_s=round(delay, 2),
                   killed=killed, traceback=has_traceback(err), lost=not ok, detail=why)
        row.update(reindex_and_compare(repo, scratch, *(["--force"] if repairing else [])))
        row["outcome"] = f"{'killed' if killed else 'finished first'} at {delay:.2f}s of {dur[flag]:.2f}s"
        t.add(**row)
    return t


def scenario_search(repo: Path, scratch: Path, rng: random.Random, runs: int = 6) -> Trials:
    t = Trials("search during index")
    done = threading.Event()
    index_results: list[subprocess.CompletedProcess] = []

    def indexer() -> None:
        local = random.Random(rng.random())
        for i in range(runs):
            mutate(repo, local)
            index_results.append(cli("index", *(["--force"] if i % 2 else []), str(repo)))
        done.set()

    server = popen("serve", "--repo", str(repo))
    deadline = time.time() + 60
    while time.time() < deadline and not (repo / ".quarry" / "server.json").exists():
        time.sleep(0.2)
    counts = {"in-process, fresh": [0, 0], "in-process, long-lived": [0, 0], "cli, no server": [0, 0],
              "cli via server": [0, 0]}
    failures: list[str] = []
    tracebacks = 0
    lock = threading.Lock()

    def record(kind: str, ok: bool, why: str) -> None:
        with lock:
            counts[kind][0] += 1
            counts[kind][1] += not ok
            failures.extend([] if ok else [f"{kind}: {why}"])

    def in_process() -> None:
        from codequarry.search.searcher import Searcher

        long_lived = Searcher.open(repo)  # as an agent or editor plugin would keep one
        local = random.Random(rng.random())
        while not done.is_set():
            ok, why = searchable(repo)
            record("in-process, fresh", ok, why)
            try:
                ok, why = bool(long_lived.search(local.choice(QUERIES), k=5)), ""
            except Exception as exc:  # noqa: BLE001
                ok, why = False, f"{type(exc).__name__}: {exc}"
            record("in-process, long-lived", ok, why)
        long_lived.close()

    threads = [threading.Thread(target=indexer), threading.Thread(target=in_process)]
    for th in threads:
        th.start()
    i = 0
    while not done.is_set():
        kind = ("cli, no server", "cli via server")[i % 2]
        i += 1
        env = {**ENV, **({"QUARRY_NO_SERVER": "1"} if kind == "cli, no server" else {})}
        r = cli("search", "--json", rng.choice(QUERIES), "--repo", str(repo), env=env)
        record(kind, r.returncode == 0 and bool(json.loads(r.stdout or "[]")), r.stderr.strip()[-200:])
        tracebacks += has_traceback(r.stderr)
    for th in threads:
        th.join()
    server.send_signal(signal.SIGINT)
    try:
        _, serr = server.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        _, serr = server.communicate()
    tracebacks += has_traceback(serr) + sum(has_traceback(r.stderr) for r in index_results)
    row = dict(searches={k: v[0] for k, v in counts.items()}, failed_searches=sum(v[1] for v in counts.values()),
               index_runs=len(index_results), index_failures=sum(r.returncode != 0 for r in index_results),
               traceback=bool(tracebacks), failures=failures[:5])
    row["failed"] = bool(row["failed_searches"] or row["index_failures"])
    row["lost"] = not searchable(repo)[0]
    row.update(reindex_and_compare(repo, scratch))
    row["outcome"] = f"{sum(v[0] for v in counts.values())} searches over {runs} runs, {row['failed_searches']} failed"
    t.add(**row)
    return t


def _holds_lock(path: Path) -> bool:
    ino = path.stat().st_ino if path.exists() else None
    try:
        return ino is not None and any(line.split()[5].endswith(f":{ino}") for line in open("/proc/locks"))
    except (OSError, IndexError):
        return False


def scenario_lock(repo: Path, scratch: Path, rng: random.Random, n: int = 4) -> Trials:
    t = Trials("two indexers")
    for _ in range(n):
        mutate(repo, rng)
        a = popen("index", "--force", str(repo))
        deadline = time.time() + 30
        while a.poll() is None and not _holds_lock(repo / ".quarry" / "lock") and time.time() < deadline:
            time.sleep(0.01)
        b = cli("index", str(repo))
        _, aerr = a.communicate()
        refused = b.returncode == 2 and "another 'quarry index' is running" in b.stderr and one_line_error(b.stderr)
        row = dict(first_rc=a.returncode, second_rc=b.returncode, traceback=has_traceback(aerr, b.stderr),
                   failed=not refused or a.returncode != 0, second_stderr=b.stderr.strip()[-200:])
        row["lost"] = not searchable(repo)[0]
        row.update(reindex_and_compare(repo, scratch))
        row["outcome"] = "second refused, first finished" if not row["failed"] else "see second_stderr"
        t.add(**row)
    return t


def scenario_diskfull(repo: Path, scratch: Path, rng: random.Random) -> tuple[Trials, str | None]:
    t = Trials("disk full (tmpfs)")
    mnt = Path(tempfile.mkdtemp(prefix="quarry-tmpfs-"))
    size_mb = max(8, int(sum(p.stat().st_size for p in (repo / ".quarry").iterdir()) / 2**20 * 3) + 4)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        mnt.rmdir()
        return t, f"mount -t tmpfs failed: {r.stderr.strip() or r.returncode}"
    folder = mnt / "index"
    filler = mnt / "filler"
    try:
        r = cli("index", "--index-dir", str(folder), str(repo))
        assert r.returncode == 0, r.stderr
        used = sum(p.stat().st_size for p in folder.iterdir())
        for headroom in (0, 16 << 10, 128 << 10, 512 << 10, 1 << 20, used // 4, used // 2, used):
            mutate(repo, rng)
            before = fingerprint(folder, cache=False)
            filler.unlink(missing_ok=True)
            st = os.statvfs(mnt)
            free = st.f_bavail * st.f_frsize
            with open(filler, "wb") as fh:  # leave `headroom` bytes free
                fh.write(b"\0" * max(0, free - headroom))
            run = cli("index", "--force", "--index-dir", str(folder), str(repo))
            filler.unlink()
            row = dict(tmpfs_mb=size_mb, headroom_kb=headroom >> 10, rc=run.returncode,
                       traceback=has_traceback(run.stderr))
            if run.returncode == 0:
                row["outcome"] = "fit"
                row["lost"] = not searchable(repo, folder)[0]
            else:
                row["outcome"] = f"exit {run.returncode}: {run.stderr.strip().splitlines()[-1][:120]}"
                row["failed"] = run.returncode != 8 or not one_line_error(run.stderr)
                row["lost"] = not searchable(repo, folder)[0]
                row["previous_intact"] = fingerprint(folder, cache=False) == before
                row["corrupt"] = not row["previous_intact"]
            again = cli("index", "--index-dir", str(folder), str(repo))
            row["recovered"] = again.returncode == 0 and fingerprint(folder) == clean_fingerprint(repo, scratch)
            row["corrupt"] = row.get("corrupt", False) or not row["recovered"]
            row["traceback"] = row["traceback"] or has_traceback(again.stderr)
            t.add(**row)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        shutil.rmtree(mnt, ignore_errors=True)
    return t, None


def _current_vector_file(folder: Path) -> Path:
    conn = sqlite3.connect(folder / "index.db")
    gen = conn.execute("SELECT generation FROM slots WHERE name = 'default'").fetchone()[0]
    conn.close()
    return folder / f"vectors-default-{gen}.faiss"


def scenario_vectors(repo: Path, scratch: Path, rng: random.Random) -> Trials:
    t = Trials("damaged vector file")
    for damage in ("truncate", "random bytes", "one bit", "delete", "truncate", "random bytes"):
        path = _current_vector_file(repo / ".quarry")
        data = bytearray(path.read_bytes())
        if damage == "truncate":
            path.write_bytes(bytes(data[: rng.randrange(len(data))]))
        elif damage == "random bytes":
            at = rng.randrange(len(data) // 4, 3 * len(data) // 4)
            data[at : at + 256] = os.urandom(256)
            path.write_bytes(bytes(data))
        elif damage == "one bit":
            at = rng.randrange(64, len(data))
            data[at] ^= 1 << rng.randrange(8)
            path.write_bytes(bytes(data))
        else:
            path.unlink()
        s = cli("search", "--json", "--mode", "dense", "retry a failed upload", "--repo", str(repo),
                env={**ENV, "QUARRY_NO_SERVER": "1"})
        detected = s.returncode == 5 and one_line_error(s.stderr) and "quarry index" in s.stderr
        r = cli("index", str(repo))
        repaired = r.returncode == 0 and "quarry: repaired:" in r.stderr
        row = dict(damage=damage, search_rc=s.returncode, detected=detected, index_repaired=repaired,
                   traceback=has_traceback(s.stderr, r.stderr), failed=not (detected and repaired))
        row["lost"] = not searchable(repo)[0]
        row["corrupt"] = fingerprint(repo / ".quarry") != clean_fingerprint(repo, scratch)
        row["outcome"] = f"search exit {s.returncode}, index {'repaired' if repaired else 'did not repair'}"
        t.add(**row)
    return t


def smash_random_page(folder: Path, rng: random.Random) -> str:
    path = folder / "index.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tables = conn.execute("SELECT name, rootpage FROM sqlite_master WHERE rootpage > 1").fetchall()
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    name, root = rng.choice(tables)
    with open(path, "r+b") as fh:
        fh.seek((root - 1) * page)
        fh.write(os.urandom(16))
    return name


def _page_owner(path: Path, offset: int) -> str:
    """The table or index whose page holds `offset` (SQLite's dbstat), or 'free page'."""
    conn = sqlite3.connect(path)
    try:
        page = offset // conn.execute("PRAGMA page_size").fetchone()[0] + 1
        row = conn.execute("SELECT name FROM dbstat WHERE pageno = ?", (page,)).fetchone()
        return row[0] if row else "a free page"
    except sqlite3.Error:
        return "an unknown page"
    finally:
        conn.close()


def scenario_database(repo: Path, scratch: Path, rng: random.Random, random_trials: int) -> Trials:
    t = Trials("damaged index.db")
    plan = ["random bytes"] * random_trials + ["smashed page"] * 4 + ["header zeroed", "truncated"]
    for damage in plan:
        folder = repo / ".quarry"
        conn = sqlite3.connect(folder / "index.db")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        path = folder / "index.db"
        size = path.stat().st_size
        what = damage
        if damage == "random bytes":
            at = rng.randrange(4096, size - 512)  # anywhere past the header page
            what = f"random bytes in {_page_owner(path, at)}"
            with open(path, "r+b") as fh:
                fh.seek(at)
                fh.write(os.urandom(512))
        elif damage == "smashed page":
            what = f"smashed root page of {smash_random_page(folder, rng)}"
        elif damage == "header zeroed":
            with open(path, "r+b") as fh:
                fh.write(b"\0" * 100)
        else:
            with open(path, "r+b") as fh:
                fh.truncate(size // 2)
        plain = cli("index", str(repo))
        detected = plain.returncode == 5 and one_line_error(plain.stderr) and "--force" in plain.stderr
        s = cli("search", "--json", "retry a failed upload", "--repo", str(repo), env={**ENV, "QUARRY_NO_SERVER": "1"})
        wrong = None
        if plain.returncode == 0:  # unseen by SQLite's checks: does the index still equal a clean one?
            try:
                wrong = fingerprint(folder) != clean_fingerprint(repo, scratch)
            except Exception:  # noqa: BLE001 - unreadable counts as wrong
                wrong = True
        forced = cli("index", "--force", str(repo))
        row = dict(damage=what, plain_rc=plain.returncode, detected=detected, wrong_until_force=wrong,
                   search_rc=s.returncode,
                   force_rc=forced.returncode, repaired="quarry: repaired:" in forced.stderr,
                   force_notes=[ln for ln in forced.stderr.splitlines() if ln.startswith("quarry: repaired:")],
                   traceback=has_traceback(plain.stderr, s.stderr, forced.stderr))
        row["failed"] = plain.returncode not in (0, 5) or s.returncode not in (0, 5) or forced.returncode != 0
        row["lost"] = not searchable(repo)[0]
        row["corrupt"] = forced.returncode != 0 or fingerprint(folder) != clean_fingerprint(repo, scratch)
        seen = "detected" if detected else f"exit {plain.returncode}" if plain.returncode else (
            f"not detected ({'index differs from a clean one' if wrong else 'index still equal to a clean one'})")
        row["outcome"] = f"{what}: {seen}, search exit {s.returncode}, --force {'rebuilt' if row['repaired'] else 'ran'}"
        t.add(**row)
    return t


# -- report ----------------------------------------------------------------------------------------

def _note(name: str, rows: list[dict]) -> str:
    """What happened, in a few words per scenario."""
    n = lambda pred: sum(1 for r in rows if pred(r))  # noqa: E731
    if name == "kill -9":
        return (f"{n(lambda r: r['killed'])} killed mid-run ({n(lambda r: r['killed'] and 'repair' in r['run'])} "
                f"during a repair), {n(lambda r: not r['killed'])} finished first")
    if name == "search during index":
        r = rows[0]
        return f"{sum(r['searches'].values())} searches ({', '.join(f'{v} {k}' for k, v in r['searches'].items())}), " \
               f"{r['failed_searches']} failed, over {r['index_runs']} runs"
    if name == "two indexers":
        return f"{n(lambda r: r['second_rc'] == 2)} second runs refused (exit 2, one line)"
    if name == "disk full (tmpfs)":
        refused = [r for r in rows if r["rc"] != 0]
        return (f"{rows[0]['tmpfs_mb']} MB tmpfs: {len(refused)} runs refused with exit {sorted({r['rc'] for r in refused})}, previous index intact "
                f"{n(lambda r: r.get('previous_intact'))}/{len(refused)}; {len(rows) - len(refused)} fit; "
                f"all recovered: {all(r['recovered'] for r in rows)}")
    if name == "damaged vector file":
        return f"search exit 5 naming the fix {n(lambda r: r['detected'])}/{len(rows)}, rebuilt by 'quarry index' " \
               f"{n(lambda r: r['index_repaired'])}/{len(rows)}"
    if name == "damaged index.db":
        unseen = [r for r in rows if r["plain_rc"] == 0]
        where = Counter(r["damage"].removeprefix("random bytes in ") for r in unseen)
        wrong = Counter(r["damage"].removeprefix("random bytes in ") for r in unseen if r["wrong_until_force"])
        return (f"{n(lambda r: r['detected'])} refused by 'quarry index' (exit 5), {len(unseen)} unseen by SQLite's "
                f"checks ({', '.join(f'{v} in {k}' for k, v in where.most_common())}; "
                f"{sum(wrong.values())} of them changed what search returns: {dict(wrong)}); "
                f"'--force' rebuilt a clean index {n(lambda r: not r['corrupt'])}/{len(rows)}")
    return ""


def summarise(trials: Trials) -> dict:
    rows = trials.rows
    count = lambda key: sum(bool(r.get(key)) for r in rows)  # noqa: E731
    return {"scenario": trials.name, "trials": len(rows), "tracebacks": count("traceback"),
            "lost": count("lost"), "corrupt": count("corrupt"), "failed": count("failed"),
            "note": _note(trials.name, rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--random-db", type=int, default=8, help="trials of random bytes written into index.db")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="kill,search,lock,diskfull,vectors,database")
    args = ap.parse_args()
    only = set(args.only.split(","))
    rng = random.Random(args.seed)
    random.seed(args.seed)
    started = time.time()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="quarry-faults-"))
    repo = make_repo(work / "repo", rng)
    scratch = work / "clean-index"
    r = cli("index", str(repo))
    assert r.returncode == 0, r.stderr
    results: list[Trials] = []
    skipped: dict[str, str] = {}
    try:
        if "kill" in only:
            results.append(scenario_kill(repo, scratch, rng, args.kills))
        if "search" in only:
            results.append(scenario_search(repo, scratch, rng))
        if "lock" in only:
            results.append(scenario_lock(repo, scratch, rng))
        if "diskfull" in only:
            trials, why = scenario_diskfull(repo, scratch, rng)
            if why:
                skipped[trials.name] = why
                log(f"skipped {trials.name}: {why}")
            else:
                results.append(trials)
        if "vectors" in only:
            results.append(scenario_vectors(repo, scratch, rng))
        if "database" in only:
            results.append(scenario_database(repo, scratch, rng, args.random_db))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = [summarise(t) for t in results]
    header = f"{'scenario':<20} {'trials':>6} {'tracebacks':>10} {'lost':>5} {'corrupt':>7} {'failed':>6}  outcome"
    print(header)
    print("-" * (len(header) + 60))
    for s in summary:
        print(f"{s['scenario']:<20} {s['trials']:>6} {s['tracebacks']:>10} {s['lost']:>5} {s['corrupt']:>7} "
              f"{s['failed']:>6}  {s['note']}")
    for name, why in skipped.items():
        print(f"{name:<22} skipped: {why}")
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\n{time.strftime('%Y-%m-%d')}, {round(time.time() - started)} s, seed {args.seed}; "
          f"load before {load_before:.2f}; uptime: {uptime}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "faults.json").write_text(json.dumps({
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seed": args.seed, "seconds": round(time.time() - started),
        "uptime": uptime, "summary": summary, "skipped": skipped,
        "trials": {t.name: t.rows for t in results}}, indent=1, default=str))


if __name__ == "__main__":
    main()
