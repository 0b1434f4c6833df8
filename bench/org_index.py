"""Throughput of `quarry org index` over the fetched repositories: 1 vs 2 Ray workers, a model, two Ray nodes.

    QUARRY_REPOS_DIR=/work/repos python bench/org_index.py [--workers 1,2] [--model hash]
        [--repos-dirs /work/repos,/work/repos/org] [--only NAME,...] [--no-unchanged] [--cluster]
        [--out bench/out/org_index.json]

Repositories are the folders under each of --repos-dirs (default: the fixture's
$QUARRY_REPOS_DIR and the extra ones `fetch_repos.py --org` puts in its org/;
a folder that is itself one of the --repos-dirs, or hidden, is not a repository).
--only keeps the named ones (a subset, e.g. for a model run that would take hours).

Local runs (--workers): each indexes every repository into a fresh Milvus Lite
store on a fresh local Ray runtime (its start is reported apart from the wall
time), then (unless --no-unchanged) once more with nothing changed. Reported:
chunks/s on wall time; where time goes (parse seconds summed over Ray tasks,
embed seconds summed over actors, the driver's store reads/writes); and
CPU-seconds, read from /proc for every process the run started and still holds
(embedding actors, other Ray workers = the parse tasks, Ray's own daemons) plus
the driver (which also runs Milvus Lite, in process) and its reaped children,
each minus what it had used when the runtime was up.

--cluster: a two-node Ray cluster on this machine — `ray start --head` and a
second `ray start --address` node, each with --num-cpus 2 and its own ports, in
a temp dir of this run — then `quarry org index --address` (the CLI, --json)
against it with 2 workers. The cluster is stopped afterwards, on error too, by
signalling only the processes whose command line names this run's temp dir
(never `ray stop`, which would stop other Ray runtimes on the machine).

Each row records the 1-minute load before and after. Writes --out and prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).with_name("ray"))
TICK = os.sysconf("SC_CLK_TCK")


def load1() -> float:
    return round(os.getloadavg()[0], 2)


# -- CPU accounting from /proc -------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendant_cpu() -> dict[int, tuple[str, float]]:
    """pid → (command line, CPU seconds: user+system, own only) for every live descendant of this process."""
    tree, out, todo = _children(), {}, [os.getpid()]
    while todo:
        for pid in tree.get(todo.pop(), []):
            todo.append(pid)
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            out[pid] = (cmd, (int(fields[11]) + int(fields[12])) / TICK)
    return out


def self_cpu() -> tuple[float, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def cpu_split(before: dict, after: dict, self_before, self_after) -> dict[str, float]:
    split = {"embed_actors": 0.0, "ray_workers": 0.0, "ray_daemons": 0.0, "milvus_lite": 0.0}
    for pid, (cmd, cpu) in after.items():
        used = cpu - (before[pid][1] if pid in before and before[pid][0] == cmd else 0.0)
        if "EmbedActor" in cmd:
            split["embed_actors"] += used
        elif "milvus" in cmd.lower():
            split["milvus_lite"] += used
        elif cmd.startswith("ray::"):
            split["ray_workers"] += used  # the parse tasks run in these
        else:
            split["ray_daemons"] += used
    split["driver"] = self_after[0] - self_before[0]
    split["driver_reaped_children"] = self_after[1] - self_before[1]  # the Milvus Lite server, once closed
    split = {k: round(v, 1) for k, v in split.items()}
    split["total"] = round(sum(split.values()), 1)
    return split


def release_lite(store: str) -> None:
    """Stop the in-process Milvus Lite server of `store`: closing the client leaves it running (its threads
    would otherwise go on using CPU and memory during the next run of this process)."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(store)


# -- local runs --------------------------------------------------------------------------------


def one_run(repos: list[Path], store: str, model: str, workers: int, label: str) -> dict:
    import ray

    from codequarry.scale.index import index_organisation

    load_before = load1()
    t = time.perf_counter()
    # Started here (as ray_runtime would) so its start-up is measured apart from the indexing.
    ray.init(num_cpus=2 * workers, include_dashboard=False, log_to_driver=False, logging_level="WARNING",
             object_store_memory=256 * 1024 * 1024)
    started = time.perf_counter() - t
    try:
        cpu0, self0 = descendant_cpu(), self_cpu()
        stats = index_organisation(repos, store, model=model, workers=workers)
        cpu = cpu_split(cpu0, descendant_cpu(), self0, self_cpu())
    finally:
        ray.shutdown()
        release_lite(store)
    return dict(run=label, workers=workers, model=model, repos=len(stats.repos), chunks=stats.chunks,
                embedded=stats.embedded, reused=stats.reused, kept=stats.kept, wall_s=stats.seconds,
                ray_start_s=round(started, 2), chunks_per_s=stats.chunks_per_second,
                parse_task_s=stats.parse_seconds, embed_actor_s=stats.embed_seconds,
                driver_store_s=stats.write_seconds, cpu_s=cpu, load1_before=load_before, load1_after=load1(),
                repo_chunks={r.name: r.chunks for r in stats.repos})


def parse_cpu(repos: list[Path]) -> dict:
    """Walk + chunk + hash every repository in this process, one after another: the parse stage's
    CPU-seconds without Ray (its worker processes come and go, so /proc undercounts them)."""
    from codequarry.scale.parse import parse_repository

    load_before = load1()
    cpu0, t0 = time.process_time(), time.perf_counter()
    chunks = files = 0
    for p in repos:
        parsed = parse_repository(p.name, str(p))
        chunks += len(parsed.chunks)
        files += parsed.files_parsed
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    return dict(run="parse only (no Ray)", workers=0, model="-", repos=len(repos), chunks=chunks, files=files,
                embedded=0, wall_s=round(wall, 1), ray_start_s=0, chunks_per_s=round(chunks / wall, 1),
                parse_task_s=round(wall, 1), embed_actor_s=0, driver_store_s=0,
                cpu_s={"driver": round(cpu, 1), "total": round(cpu, 1)},
                cpu_ms_per_chunk=round(1000 * cpu / chunks, 3), load1_before=load_before, load1_after=load1())


# -- a two-node cluster on this machine ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_cluster(marker: str) -> list[int]:
    """SIGTERM, then SIGKILL, every process whose command line names `marker` (this run's temp dir)."""
    def ours() -> list[int]:
        # Ray workers rename themselves (`ray::IDLE`): they are found as descendants of the marked daemons.
        todo = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    if marker.encode() in Path(f"/proc/{entry.name}/cmdline").read_bytes():
                        todo.append(int(entry.name))
                except OSError:
                    pass
        tree, pids = _children(), set()
        while todo:
            pid = todo.pop()
            if pid not in pids and pid != os.getpid():
                pids.add(pid)
                todo.extend(tree.get(pid, []))
        return sorted(pids)

    found = ours()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ours():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 15
        while ours() and time.time() < deadline:
            time.sleep(0.5)
        if not ours():
            break
    return found


def ray_start(args: list[str], env: dict) -> None:
    r = subprocess.run([RAY, "start", *args], env=env, capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        raise RuntimeError(f"ray start {' '.join(args[:2])} failed: {(r.stderr or r.stdout).strip()[-1500:]}")


def cluster_run(repos: list[Path], model: str, workers: int) -> dict:
    temp = Path(tempfile.mkdtemp(prefix="qb-ray-"))  # short: Ray's socket paths must fit in 107 bytes
    port = free_port()
    address = f"127.0.0.1:{port}"
    # Ray 2.5x+: a head started where ~/.ray/auth_token exists requires the token; say so for every process.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}
    common = ["--num-cpus", "2", "--disable-usage-stats"]
    load_before = load1()
    try:
        t = time.perf_counter()
        ray_start(["--head", "--port", str(port), "--temp-dir", str(temp), "--include-dashboard=false",
                   "--node-ip-address", "127.0.0.1", "--min-worker-port", "21000", "--max-worker-port", "21999",
                   *common], env)
        ray_start(["--address", address, "--node-ip-address", "127.0.0.1", "--node-manager-port", str(free_port()),
                   "--object-manager-port", str(free_port()), "--min-worker-port", "22000",
                   "--max-worker-port", "22999", *common], env)
        cluster_start = time.perf_counter() - t
        nodes = subprocess.run([sys.executable, "-c", (
            "import ray; ray.init(address='%s', logging_level='ERROR', log_to_driver=False);"
            "print(len([n for n in ray.nodes() if n['Alive']]), int(ray.cluster_resources().get('CPU', 0)))"
        ) % address], env=env, capture_output=True, text=True, timeout=120, check=True).stdout.split()
        store = str(temp / "org.db")
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "codequarry.cli", "org", "index", *map(str, repos), "--store", store,
                            "--address", address, "--workers", str(workers), "--model", model, "--json"],
                           env=env, capture_output=True, text=True, timeout=3600)
        wall = time.perf_counter() - t
        if r.returncode != 0:
            raise RuntimeError(f"quarry org index --address failed ({r.returncode}): {r.stderr.strip()[-500:]}")
        stats = json.loads(r.stdout)
        return dict(run="two-node cluster", workers=workers, model=model, repos=len(stats["repos"]),
                    nodes=int(nodes[0]), cluster_cpus=int(nodes[1]), chunks=stats["chunks"],
                    embedded=stats["embedded"], reused=stats["reused"], kept=stats["kept"],
                    wall_s=stats["seconds"], cli_wall_s=round(wall, 1), ray_start_s=round(cluster_start, 2),
                    chunks_per_s=stats["chunks_per_second"], parse_task_s=stats["parse_seconds"],
                    embed_actor_s=stats["embed_seconds"], driver_store_s=stats["write_seconds"],
                    load1_before=load_before, load1_after=load1())
    finally:
        stopped = stop_cluster(str(temp))
        print(f"two-node cluster stopped: {len(stopped)} processes signalled", file=sys.stderr, flush=True)
        shutil.rmtree(temp, ignore_errors=True)


def find_repos(dirs: list[Path], only: set[str]) -> list[Path]:
    roots = {d.resolve() for d in dirs}
    repos = sorted((p for d in dirs for p in d.iterdir()
                    if p.is_dir() and not p.name.startswith(".") and p.resolve() not in roots), key=lambda p: p.name)
    if only:
        missing = only - {p.name for p in repos}
        if missing:
            sys.exit(f"org_index: no repository named {', '.join(sorted(missing))} under {', '.join(map(str, dirs))}")
        repos = [p for p in repos if p.name in only]
    return repos


def main() -> None:
    base = os.environ.get("QUARRY_REPOS_DIR", "/work/repos")
    ap = argparse.ArgumentParser()
    ap.add_argument("--repos-dirs", default=f"{base},{base}/org")
    ap.add_argument("--only", default="", help="comma list of repository names (a subset)")
    ap.add_argument("--workers", default="1,2", help="local runs; empty for none")
    ap.add_argument("--model", default="hash")
    ap.add_argument("--no-unchanged", action="store_true", help="skip the nothing-changed re-run")
    ap.add_argument("--cluster", action="store_true", help="also run on a two-node local Ray cluster")
    ap.add_argument("--parse-cpu", action="store_true", help="also parse every repository in this process, timed")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "org_index.json")
    args = ap.parse_args()
    dirs = [Path(d) for d in args.repos_dirs.split(",") if d and Path(d).is_dir()]
    repos = find_repos(dirs, set(filter(None, args.only.split(","))))
    print(f"{len(repos)} repositories: {' '.join(p.name for p in repos)}", file=sys.stderr, flush=True)
    rows = []
    if args.parse_cpu:
        rows.append(parse_cpu(repos))
        print(rows[-1], file=sys.stderr, flush=True)
    for workers in (int(w) for w in filter(None, args.workers.split(","))):
        folder = Path(tempfile.mkdtemp(prefix="quarry-org-bench-"))
        try:
            store = str(folder / "org.db")
            rows.append(one_run(repos, store, args.model, workers, "full"))
            print(rows[-1], file=sys.stderr, flush=True)
            if not args.no_unchanged:
                rows.append(one_run(repos, store, args.model, workers, "unchanged"))
                print(rows[-1], file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if args.cluster:
        rows.append(cluster_run(repos, args.model, 2))
        print(rows[-1], file=sys.stderr, flush=True)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
              "repos_dirs": [str(d) for d in dirs], "repositories": [p.name for p in repos], "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    cols = ["run", "workers", "model", "repos", "chunks", "embedded", "wall_s", "ray_start_s", "chunks_per_s",
            "parse_task_s", "embed_actor_s", "driver_store_s", "load1_after"]
    print(" ".join(f"{c:>13}" for c in cols) + "  cpu_s")
    for r in rows:
        print(" ".join(f"{str(r[c]):>13}" for c in cols) + f"  {r.get('cpu_s', '')}")


if __name__ == "__main__":
    main()
