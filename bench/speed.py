"""How fast codequarry embeds and answers, and what the fast paths cost in quality.

    python bench/speed.py [--sections throughput,cosqa,index,cold,warm,reindex] [--repeats 3]

Sections (each records the 1-minute load average it ran under, since the
machines are shared):

* throughput: ~600 real functions from the CPython stdlib (chunked by
  codequarry.chunk, embedded as the indexer embeds them: chunk_text, max 256
  tokens, length-sorted batches) through torch fp32, ONNX Runtime fp32, ONNX
  Runtime int8, the fp32 export on OpenVINO (bf16 where the CPU has bf16 units) and
  the static `fast` preset: chunks/s and tokens/s (MiniLM tokens after
  truncation, the same count for every encoder), best of --repeats.
* cosqa: dense nDCG@10 on the CoSQA test split for ONNX fp32 (= torch),
  OpenVINO, int8 and fast (reported, never tuned on); corpus vectors are cached
  under bench/out.
* index: a ~20k-chunk index of CPython Lib/ (tests, encodings, idlelib and
  other bulk excluded) with three slots, `fast` (default), `int8` and `minilm`;
  built once into bench/out/speed-cpython and reused.
* cold: `quarry search` wall time in a new process per slot, no server; the
  `minilm` slot once per runtime (QUARRY_BACKEND=openvino and onnx).
* warm: a `quarry serve` process; client-side latency p50/p95 of try_search,
  and the wall time of a fresh process doing the CLI's warm path.
* reindex: append a function to one file, `quarry index` in a new process
  (wall) and index_repository in-process, per slot; then the edit is undone.

Writes bench/out/speed.json and prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
LIB = Path("/root/.pyenv/versions/3.11.7/lib/python3.11")
SKIP = {"test", "tests", "idle_test", "site-packages", "__pycache__", "encodings", "idlelib", "lib2to3",
        "ensurepip", "pydoc_data", "turtledemo"}
QUERIES = [
    "read a json config file", "parse command line arguments", "retry a failed http request", "compress a file",
    "sort a dict by value", "walk a directory tree", "format a date as iso", "escape html", "send an email",
    "spawn a subprocess and capture its output", "thread pool executor", "decode base64", "tar archive extract",
    "url quote", "calculate an md5 checksum", "csv writer", "lock a file", "parse an ip address",
    "temporary directory", "random sample from a list",
]
PY = [sys.executable]


CORES = len(os.sched_getaffinity(0))


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load() -> float:
    return round(os.getloadavg()[0], 2)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load():.2f}] {msg}", file=sys.stderr, flush=True)


def lib_files():
    from codequarry.chunk import language_for

    for p in sorted(LIB.rglob("*")):
        rel = p.relative_to(LIB)
        if SKIP & set(rel.parts) or rel.parts[0].startswith("config-") or not p.is_file():
            continue
        if language_for(str(rel)) is not None:
            yield p, rel


def function_texts(n: int = 600) -> list[str]:
    """n functions/methods from the stdlib, as the indexer would embed them."""
    from codequarry.chunk import chunk_file
    from codequarry.embed.text import chunk_text

    chunks = []
    for p, rel in lib_files():
        if p.suffix == ".py":
            try:
                chunks += [c for c in chunk_file(str(rel), p.read_text()) if c.kind in ("function", "method")]
            except (UnicodeDecodeError, OSError):
                continue
    random.Random(0).shuffle(chunks)
    return [chunk_text(c) for c in chunks[:n]]


# -- throughput --------------------------------------------------------------------------------


def _encoders():
    from codequarry.embed import load_encoder

    return [
        ("torch fp32", lambda: load_encoder("minilm", backend="torch")),
        ("onnx fp32", lambda: load_encoder("minilm", backend="onnx")),
        ("onnx int8", lambda: load_encoder("minilm-int8")),
        ("openvino", lambda: load_encoder("minilm", backend="openvino")),
        ("openvino f32", _openvino_f32),
        ("fast (model2vec)", lambda: load_encoder("fast")),
    ]


def _openvino_f32():
    """The OpenVINO encoder held to f32: what a CPU without bf16 units runs."""
    from codequarry.embed import load_encoder
    from codequarry.embed.openvino_runtime import OpenVinoRun

    enc = load_encoder("minilm", backend="openvino")
    enc.runner = OpenVinoRun(enc.path, enc.threads, precision="f32")
    enc.engine = enc.runner.engine
    return enc


def throughput(texts: list[str], repeats: int) -> dict:
    import numpy as np

    from codequarry.embed import load_encoder

    counter = load_encoder("minilm", backend="onnx")
    tokens = counter.count_tokens(texts)
    rows, vecs = {}, {}
    for name, make in _encoders():
        t0 = time.perf_counter()
        enc = make()
        load_s = time.perf_counter() - t0
        enc.encode_passages(texts[:16])  # first-call warm-up (allocations, thread pool)
        times, loads, shares = [], [], []
        for _ in range(repeats):
            loads.append(load())
            t0, c0 = time.perf_counter(), _cpu()
            vecs[name] = enc.encode_passages(texts)
            times.append(time.perf_counter() - t0)
            # How much of the machine we actually got: on a shared box wall time alone misleads.
            shares.append(round((_cpu() - c0) / (times[-1] * CORES), 2))
        best = min(times)
        rows[name] = {
            "chunks_per_s": round(len(texts) / best, 1), "tokens_per_s": round(tokens / best),
            "median_chunks_per_s": round(len(texts) / statistics.median(times), 1),
            "load_s": round(load_s, 2), "load_avg": loads, "cpu_share": shares, "dim": enc.dim,
        }
        rows[name]["engine"] = getattr(enc, "engine", name)
        log(f"{name}: {rows[name]['chunks_per_s']} chunks/s (best of {repeats}), load {loads}")
        del enc
    cos = lambda a, b: (vecs[a] * vecs[b]).sum(axis=1)  # noqa: E731
    agree = {
        "onnx_fp32_vs_torch_min_cos": float(cos("onnx fp32", "torch fp32").min()),
        "int8_vs_fp32_min_cos": float(cos("onnx int8", "onnx fp32").min()),
        "int8_vs_fp32_mean_cos": float(cos("onnx int8", "onnx fp32").mean()),
        "openvino_vs_fp32_min_cos": float(cos("openvino", "onnx fp32").min()),
        "openvino_vs_fp32_mean_cos": float(cos("openvino", "onnx fp32").mean()),
    }
    return {"texts": len(texts), "tokens": tokens, "mean_tokens": round(tokens / len(texts), 1),
            "max_tokens": 256, "rows": rows, "agreement": {k: round(v, 5) for k, v in agree.items()},
            "numpy": np.__version__}


# -- quality -----------------------------------------------------------------------------------


def cosqa() -> dict:
    """Dense and hybrid nDCG@10; corpus vectors cached under bench/out (made by these very encoders)."""
    import numpy as np

    from codequarry.embed import load_encoder
    from codequarry.eval.beir import LexicalCorpus, QueryCandidates, load_beir, rank_mode
    from codequarry.eval.cache import cached_passage_embeddings
    from codequarry.eval.metrics import evaluate_run

    ds = load_beir("cosqa", "test")
    lexical = LexicalCorpus(ds.corpus_texts)
    qids = list(ds.queries)
    lex = {qid: lexical.search(ds.queries[qid], 100) for qid in qids}
    out = {}
    for label, model, backend in (("onnx fp32", "minilm", "onnx"), ("openvino", "minilm", "openvino"),
                                  ("onnx int8", "minilm-int8", None), ("fast (model2vec)", "fast", None)):
        enc = load_encoder(model, backend=backend)
        t0 = time.perf_counter()
        # Folders of our own: the shared cache keys rows by model name, whichever runtime made them.
        folder = OUT / ("embeddings-openvino" if backend == "openvino" else "embeddings")
        corpus, info = cached_passage_embeddings(enc, ds.corpus_ids, ds.corpus_texts, folder=folder)
        q = enc.encode_queries([ds.queries[i] for i in qids])
        scores = q @ corpus.T
        top = np.argsort(-scores, axis=1)[:, :100]
        runs = {"dense": {}, "hybrid": {}}
        for r, qid in enumerate(qids):
            cand = QueryCandidates({int(j): float(scores[r, j]) for j in top[r]}, lex[qid])
            for mode in runs:
                ranked, _ = rank_mode(ds.queries[qid], cand, mode)
                runs[mode][qid] = [ds.corpus_ids[j] for j in ranked]
        row = {"cache_hit": info["cache_hit"], "embed_s": info.get("embed_seconds")}
        for mode, run in runs.items():
            means, _, _ = evaluate_run(run, ds.qrels)
            row[f"{mode}_ndcg@10"] = round(means["ndcg@10"], 4)
            row[f"{mode}_mrr@10"] = round(means["mrr@10"], 4)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        out[label] = row
        log(f"cosqa {label}: {row}")
    lex_run = {qid: rank_mode(ds.queries[qid], QueryCandidates({}, lex[qid]), "lexical")[0] for qid in qids}
    means, _, _ = evaluate_run({q: [ds.corpus_ids[j] for j in r] for q, r in lex_run.items()}, ds.qrels)
    out["lexical_ndcg@10"] = round(means["ndcg@10"], 4)
    for mode in ("dense", "hybrid"):
        for name, label in (("int8", "onnx int8"), ("openvino", "openvino")):
            out[f"{name}_minus_fp32_{mode}_ndcg@10"] = round(
                out[label][f"{mode}_ndcg@10"] - out["onnx fp32"][f"{mode}_ndcg@10"], 4)
    out["queries"], out["corpus"] = len(ds.queries), len(ds.corpus_ids)
    return out


# -- the 20k-chunk index -----------------------------------------------------------------------

REPO = OUT / "speed-cpython"
SLOTS = {"default": "fast", "int8": "minilm-int8", "minilm": "minilm"}
# The runtimes a cold `minilm` search is timed on (QUARRY_BACKEND), to see what each costs at start-up.
COLD_RUNTIMES = ("openvino", "onnx")


def build_index() -> dict:
    from codequarry.indexer import index_repository

    if not (REPO / "lib").is_dir():
        for p, rel in lib_files():
            target = REPO / "lib" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, target)
    out = {}
    for slot, model in SLOTS.items():
        t0 = time.perf_counter()
        stats = index_repository(REPO, model=model, slot=slot, progress=True)
        out[slot] = {**{k: getattr(stats, k) for k in ("model", "chunks", "embedded", "reused", "files_seen")},
                     "seconds": round(time.perf_counter() - t0, 1), "load_avg": load()}
        log(f"index slot {slot}: {out[slot]}")
    return out


def _quarry(*args: str, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run([*PY, "-m", "codequarry.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=REPO, timeout=600)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"quarry {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return wall, proc


def cold(repeats: int) -> dict:
    out = {}
    runs = [(slot, None) for slot in SLOTS if slot != "minilm"] + [("minilm", r) for r in COLD_RUNTIMES]
    for slot, runtime in runs:
        walls = []
        for i in range(repeats):
            wall, proc = _quarry("search", QUERIES[i % len(QUERIES)], "--slot", slot, "--json", "-k", "10",
                                 env={"QUARRY_BACKEND": runtime} if runtime else None)
            assert json.loads(proc.stdout), "no results"
            walls.append(wall)
        key = f"{slot} ({runtime})" if runtime else slot
        out[key] = {"model": SLOTS[slot], "best_s": round(min(walls), 3), "median_s": round(statistics.median(walls), 3),
                    "load_avg": load()}
        log(f"cold search {key}: {out[key]}")
    # The floor: a Python that imports the CLI and exits.
    walls = [_quarry("--version")[0] for _ in range(repeats)]
    out["cli_startup_floor_s"] = round(min(walls), 3)
    return out


WARM_PROCESS = """
import json, sys, time
import click
from codequarry.locate import locate_index_dir
from codequarry.serve.client import try_search
rows = try_search(locate_index_dir(), {"query": sys.argv[1], "k": 10, "mode": "hybrid", "slot": sys.argv[2]})
assert rows, "no server"
print(json.dumps(rows)[:10])
"""


def warm(n: int, repeats: int) -> dict:
    from codequarry.serve.client import request, server_info, try_search

    folder = REPO / ".quarry"
    out = {}
    for slot in SLOTS:
        code = "import sys; from codequarry.serve.command import serve_command; serve_command(sys.argv[1:])"
        proc = subprocess.Popen([*PY, "-c", code, "--repo", str(REPO), "--slot", slot], stderr=subprocess.PIPE,
                                text=True)
        try:
            t0 = time.perf_counter()
            while server_info(folder) is None:
                if proc.poll() is not None:
                    raise SystemExit(f"server failed: {proc.stderr.read()}")
                time.sleep(0.05)
            startup = time.perf_counter() - t0
            lat = []
            for i in range(n):
                payload = {"query": QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {i}"), "k": 10,
                           "mode": "hybrid", "slot": slot}
                t0 = time.perf_counter()
                rows = try_search(folder, payload)
                lat.append(time.perf_counter() - t0)
                assert rows
            status, health = request(server_info(folder), "GET", "/health")
            assert status == 200 and health["model"] == SLOTS[slot], health
            walls = []
            for i in range(repeats):
                t0 = time.perf_counter()
                subprocess.run([*PY, "-c", WARM_PROCESS, QUERIES[i], slot], cwd=REPO, check=True,
                               capture_output=True, timeout=60)
                walls.append(time.perf_counter() - t0)
            lat.sort()
            out[slot] = {
                "model": SLOTS[slot], "server_start_s": round(startup, 2), "queries": n,
                "p50_ms": round(lat[len(lat) // 2] * 1000, 2), "p95_ms": round(lat[int(len(lat) * 0.95)] * 1000, 2),
                "new_process_warm_search_s": round(min(walls), 3), "load_avg": load(),
            }
            log(f"warm {slot}: {out[slot]}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return out


def reindex(repeats: int) -> dict:
    from codequarry.indexer import index_repository

    target = REPO / "lib" / "json" / "decoder.py"
    original = target.read_text()
    out = {}
    try:
        for slot in SLOTS:
            walls, inproc = [], []
            for i in range(repeats):
                # A new body every run: the embedding cache must not make the edit free.
                nonce = time.time_ns()
                target.write_text(original + f"\n\ndef bench_edit_{i}_{slot}(value):\n    return value * {nonce}\n")
                wall, proc = _quarry("index", str(REPO), "--slot", slot, "--json")
                stats = json.loads(proc.stdout)
                walls.append(wall)
                target.write_text(original + f"\n\ndef bench_edit_{i}_{slot}_b(value):\n    return value + {nonce}\n")
                t0 = time.perf_counter()
                index_repository(REPO, slot=slot)
                inproc.append(time.perf_counter() - t0)
                log(f"reindex {slot} run {i}: cli {walls[-1]:.2f}s, in-process {inproc[-1]:.2f}s")
            out[slot] = {"model": SLOTS[slot], "cli_best_s": round(min(walls), 3),
                         "cli_median_s": round(statistics.median(walls), 3),
                         "in_process_best_s": round(min(inproc), 3), "embedded": stats["embedded"],
                         "cli_all_s": [round(w, 2) for w in walls], "in_process_all_s": [round(w, 2) for w in inproc],
                         "files_parsed": stats["files_parsed"], "load_avg": load()}
            log(f"reindex {slot}: {out[slot]}")
    finally:
        target.write_text(original)
        for slot in SLOTS:
            index_repository(REPO, slot=slot)
    return out


# -- report ------------------------------------------------------------------------------------


def table(res: dict) -> str:
    lines = [f"codequarry speed — {res['machine']['cpus']} cores, load at start {res['machine']['load_start']}", ""]
    t = res.get("throughput")
    if t:
        lines.append(f"embedding ({t['texts']} stdlib functions, {t['mean_tokens']} tokens avg, max 256)")
        lines.append(f"  {'encoder':<18}{'chunks/s':>10}{'tokens/s':>10}{'load s':>8}  load avg / our cpu share")
        for name, r in t["rows"].items():
            lines.append(f"  {name:<18}{r['chunks_per_s']:>10}{r['tokens_per_s']:>10}{r['load_s']:>8}  "
                         f"{r['load_avg']} / {r['cpu_share']}")
        lines.append(f"  agreement: {t['agreement']}")
    q = res.get("cosqa")
    if q:
        lines.append(f"CoSQA test ({q['queries']} queries, {q['corpus']} functions), dense")
        lines.append(f"  {'encoder':<18}{'dense nDCG@10':>14}{'hybrid nDCG@10':>16}")
        for name in ("onnx fp32", "openvino", "onnx int8", "fast (model2vec)"):
            lines.append(f"  {name:<18}{q[name]['dense_ndcg@10']:>14.4f}{q[name]['hybrid_ndcg@10']:>16.4f}")
        lines.append(f"  lexical only: {q['lexical_ndcg@10']:.4f}; int8 - fp32: dense "
                     f"{q['int8_minus_fp32_dense_ndcg@10']:+.4f}, hybrid {q['int8_minus_fp32_hybrid_ndcg@10']:+.4f}; "
                     f"openvino - fp32: dense {q['openvino_minus_fp32_dense_ndcg@10']:+.4f}, "
                     f"hybrid {q['openvino_minus_fp32_hybrid_ndcg@10']:+.4f}")
    for key, title in (("index", "index build"), ("cold", "cold search (new process)"),
                       ("warm", "warm server"), ("reindex", "re-index after a one-file edit")):
        if res.get(key):
            lines.append(f"{title}:")
            for slot, r in res[key].items():
                lines.append(f"  {slot}: {r}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sections", default="throughput,cosqa,index,cold,warm,reindex")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warm-queries", type=int, default=100)
    ap.add_argument("--out", type=Path, default=OUT / "speed.json")
    args = ap.parse_args()
    sections = args.sections.split(",")
    prev = json.loads(args.out.read_text()) if args.out.exists() else {}
    res = {**prev, "machine": {"cpus": len(os.sched_getaffinity(0)), "cpu": platform.processor() or platform.machine(),
                               "python": platform.python_version(), "load_start": load(),
                               "date": time.strftime("%Y-%m-%dT%H:%M:%S")}}
    if "throughput" in sections:
        res["throughput"] = throughput(function_texts(), args.repeats)
    if "cosqa" in sections:
        res["cosqa"] = cosqa()
    if "index" in sections or not (REPO / ".quarry").exists() and {"cold", "warm", "reindex"} & set(sections):
        res["index"] = build_index()
    if "cold" in sections:
        res["cold"] = cold(args.repeats)
    if "warm" in sections:
        res["warm"] = warm(args.warm_queries, args.repeats)
    if "reindex" in sections:
        res["reindex"] = reindex(args.repeats)
    res["machine"]["load_end"] = load()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(table(res))


if __name__ == "__main__":
    main()
