"""How the warm server holds up under concurrent searches.

    python bench/serve_load.py [--model hash] [--requests 400] [--concurrency 1,8]
                               [--server-src PATH] [--label after] [--client]

Copies codequarry's own sources into a scratch folder, indexes them with
--model, starts `quarry serve` in a separate process (running the code under
--server-src, default this checkout's src/, so an older commit can be measured
with `git archive <commit> src | tar -x -C /tmp/before`), then sends
--requests hybrid searches (k=10, 20 queries in turn) at each concurrency
level from that many client threads over plain loopback HTTP, each on a new
connection as `quarry search` does. Reports latency p50/p95 and throughput.
--client also times the full client path of `quarry search` (try_search:
server.json checks, /health identity, then the search), sequentially.

Prints a table and writes bench/out/serve_load-<label>.json, with the
1-minute load average before and after (the machines are shared).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
QUERIES = [
    "open a file and read it", "parse a header", "retry failed uploads", "load an encoder", "search the index",
    "walk the repository tree", "write server json atomically", "split identifiers into tokens", "fuse scores",
    "chunk a python file", "migrate the database schema", "read vectors from disk", "verify the server pid",
    "thread pool", "socket timeout", "embedding cache", "render results in the terminal", "exit code of an error",
    "train a model with lora", "evaluate ndcg",
]


def _load() -> float:
    return os.getloadavg()[0]


def _start_server(repo: Path, server_src: Path) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, "PYTHONPATH": str(server_src)}
    proc = subprocess.Popen([sys.executable, "-m", "codequarry.cli", "serve", "--repo", str(repo)],
                            env=env, stderr=subprocess.PIPE, text=True)
    path = repo / ".quarry" / "server.json"
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()}")
        try:
            info = json.loads(path.read_text())
            if info.get("pid") == proc.pid:
                return proc, info
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("server did not start in 300 s")
        time.sleep(0.1)


def _search(info: dict, query: str) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=30)
    try:
        body = json.dumps({"query": query, "k": 10, "mode": "hybrid", "langs": [], "kinds": [], "path": None,
                           "slot": None})
        conn.request("POST", "/search", body=body,
                     headers={"X-Quarry-Token": info["token"], "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise SystemExit(f"search answered HTTP {resp.status}")
    finally:
        conn.close()
    return (time.perf_counter() - started) * 1000


def _level(info: dict, concurrency: int, requests: int) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()
    per = requests // concurrency
    gate = threading.Barrier(concurrency + 1)

    def client(offset: int) -> None:
        gate.wait()
        mine = [_search(info, QUERIES[(offset + i) % len(QUERIES)]) for i in range(per)]
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=20)
    return {"concurrency": concurrency, "requests": len(latencies), "p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(q[18], 2), "throughput_qps": round(len(latencies) / wall, 1)}


def _tcp_sockets() -> int | None:
    try:
        return sum(len(Path(t).read_text().splitlines()) - 1 for t in ("/proc/net/tcp", "/proc/net/tcp6"))
    except OSError:
        return None


def _client_path(folder: Path, requests: int) -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    from codequarry.serve.client import try_search

    latencies = []
    for i in range(requests):
        started = time.perf_counter()
        rows = try_search(folder, {"query": QUERIES[i % len(QUERIES)], "k": 10, "mode": "hybrid"},
                          on_warning=lambda w: (_ for _ in ()).throw(SystemExit(f"client warned: {w}")))
        latencies.append((time.perf_counter() - started) * 1000)
        if rows is None:
            raise SystemExit("try_search found no server")
    q = statistics.quantiles(latencies, n=20)
    return {"requests": requests, "p50_ms": round(statistics.median(latencies), 2), "p95_ms": round(q[18], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="hash")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--server-src", type=Path, default=ROOT / "src")
    ap.add_argument("--label", default="after")
    ap.add_argument("--client", action="store_true", help="also time try_search (this checkout's client)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(ROOT / "src" / "codequarry", repo / "codequarry",
                        ignore=shutil.ignore_patterns("__pycache__", "data"))
        env = {**os.environ, "PYTHONPATH": str(args.server_src)}
        subprocess.run([sys.executable, "-m", "codequarry.cli", "index", str(repo), "--model", args.model],
                       env=env, check=True, capture_output=True)
        proc, info = _start_server(repo, args.server_src)
        load_before = _load()
        try:
            for q in QUERIES:  # warm the page cache and any lazy state
                _search(info, q)
            # The client path first: the load levels below leave thousands of TIME_WAIT sockets, which
            # make /proc/net/tcp (read by the client's port check) slower to read than on a normal machine.
            sockets = _tcp_sockets()
            client = _client_path(repo / ".quarry", min(args.requests, 200)) if args.client else None
            levels = [_level(info, int(c), args.requests) for c in args.concurrency.split(",")]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        chunks = int(subprocess.run(
            [sys.executable, "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("
             "'select count(*) from chunks').fetchone()[0])", str(repo / ".quarry" / "index.db")],
            capture_output=True, text=True, check=True).stdout)

    report = {
        "label": args.label, "date": dt.datetime.now().isoformat(timespec="seconds"), "model": args.model,
        "server_src": str(args.server_src), "chunks": chunks, "cores": len(os.sched_getaffinity(0)),
        "load_1min_before": round(load_before, 2), "load_1min_after": round(_load(), 2),
        "levels": levels, "client_try_search": client, "tcp_sockets_at_client_run": sockets,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"serve_load-{args.label}.json").write_text(json.dumps(report, indent=1))
    print(f"{args.label}: model {args.model}, {chunks} chunks, {report['cores']} cores, "
          f"load {report['load_1min_before']} → {report['load_1min_after']}")
    print(f"{'concurrency':>11} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8}")
    for r in levels:
        print(f"{r['concurrency']:>11} {r['requests']:>8} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['throughput_qps']:>8}")
    if client:
        print(f"try_search (verify + search), sequential: p50 {client['p50_ms']} ms, p95 {client['p95_ms']} ms "
              f"({sockets} TCP sockets on the machine)")


if __name__ == "__main__":
    main()
