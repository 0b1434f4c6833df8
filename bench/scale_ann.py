"""ANN at scale on synthetic vectors: FAISS flat vs IVF-PQ vs HNSW vs Milvus Lite.

    python bench/scale_ann.py [--sizes 100000,1000000] [--dim 384] [--queries 200] [--skip hnsw,milvus]

Vectors are synthetic, of the default model's dimension (MiniLM: 384): a
mixture of 2,000 Gaussian clusters, L2-normalised (real embeddings cluster;
uniform random vectors are the worst case for every ANN index and say little).
Queries come from the same mixture, held out. For each index: build seconds,
bytes per vector (the serialised index, or Milvus Lite's folder, over N),
recall@10 against exact inner-product search, and single-query latency
p50/p95 with one thread (the machine is shared). Records the 1-minute load.

Writes bench/out/scale_ann.json and prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def blocks(n: int, dim: int, seed: int, clusters: int = 2000, step: int = 100_000):
    """The synthetic vectors, `step` rows at a time: the same rows whatever the caller keeps in memory."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).standard_normal((clusters, dim)).astype(np.float32)
    for start in range(0, n, step):
        m = min(step, n - start)
        part = centers[rng.integers(0, clusters, m)] + 0.6 * rng.standard_normal((m, dim)).astype(np.float32)
        yield start, part / np.linalg.norm(part, axis=1, keepdims=True)


def synthetic(n: int, dim: int, seed: int, clusters: int = 2000) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for start, part in blocks(n, dim, seed, clusters):
        out[start : start + len(part)] = part
    return out


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def latencies(search_one, queries: np.ndarray) -> tuple[list[np.ndarray], float, float]:
    found, times = [], []
    for q in queries:
        t = time.perf_counter()
        found.append(search_one(q))
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return found, round(statistics.median(times), 3), round(times[int(0.95 * (len(times) - 1))], 3)


def recall(found: list[np.ndarray], truth: np.ndarray, k: int = 10) -> float:
    return round(float(np.mean([len(set(f[:k].tolist()) & set(t[:k].tolist())) / k for f, t in zip(found, truth)])), 4)


def faiss_rows(xb: np.ndarray, xq: np.ndarray, truth: np.ndarray, skip: set[str]) -> list[dict]:
    import faiss

    n, dim = xb.shape
    rows = []
    configs = [("faiss-flat", lambda: faiss.IndexFlatIP(dim), {})]
    nlist = int(4 * np.sqrt(n))
    for m in (48, 96):  # 48-byte codes capped recall at 100k; 96 shows what more sub-quantizers buy
        configs.append((f"faiss-ivfpq(nlist={nlist},m={m}",
                        lambda m=m: faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, 8,
                                                     faiss.METRIC_INNER_PRODUCT),
                        {"nprobe": (16, 64, 256)}))
    if "hnsw" not in skip:
        def hnsw():
            idx = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            idx.hnsw.efConstruction = 80
            return idx
        configs.append(("faiss-hnsw(M=32,efC=80", hnsw, {"efSearch": (64, 128)}))
    for name, make, params in configs:
        if "ivfpq" in name and "ivfpq" in skip:
            continue
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        load_before = load1()
        t = time.perf_counter()
        idx = make()
        if not idx.is_trained:
            sample = xb[np.random.default_rng(1).choice(n, min(n, 50 * nlist), replace=False)]
            idx.train(sample)
        idx.add(xb)
        build = time.perf_counter() - t
        size = faiss.serialize_index(idx).nbytes
        faiss.omp_set_num_threads(1)
        # One trained index, several search-time settings: what recall each costs in latency.
        settings = [("nprobe", v) for v in params.get("nprobe", ())] + [("efSearch", v) for v in params.get("efSearch", ())]
        for knob, value in settings or [(None, None)]:
            if knob == "nprobe":
                idx.nprobe = value
            elif knob == "efSearch":
                idx.hnsw.efSearch = value
            found, p50, p95 = latencies(lambda q: idx.search(q[None, :], 10)[1][0], xq)
            rows.append(dict(index=name + (f",{knob}={value})" if knob else ""), n=n, build_s=round(build, 1), queries=len(xq),
                             bytes_per_vector=round(size / n, 1), recall_at_10=recall(found, truth), p50_ms=p50,
                             p95_ms=p95, load1_before=load_before, load1_after=load1()))
            print(rows[-1], file=sys.stderr, flush=True)
        del idx
    return rows


def milvus_row(xb: np.ndarray, xq: np.ndarray, truth: np.ndarray) -> dict:
    """Milvus Lite: insert in blocks, flush, then single queries (len(xq) of them; may be fewer than FAISS's)."""
    import logging

    from pymilvus import DataType, MilvusClient

    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    n, dim = xb.shape
    folder = Path(tempfile.mkdtemp(prefix="quarry-ann-"))
    try:
        load_before = load1()
        t = time.perf_counter()
        client = MilvusClient(str(folder / "ann.db"))
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("v", DataType.FLOAT_VECTOR, dim=dim)
        params = client.prepare_index_params()
        params.add_index(field_name="v", index_type="AUTOINDEX", metric_type="IP")  # what store/milvus.py uses
        client.create_collection("ann", schema=schema, index_params=params)
        for start in range(0, n, 5000):
            block = xb[start : start + 5000]
            client.insert("ann", [{"id": start + i, "v": row} for i, row in enumerate(block.tolist())])
        client.flush("ann")
        build = time.perf_counter() - t
        client.search("ann", data=[xq[0].tolist()], limit=10)  # first search loads segments
        found, p50, p95 = latencies(
            lambda q: np.array([h["id"] for h in client.search("ann", data=[q.tolist()], limit=10)[0]]), xq)
        client.close()
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        return dict(index="milvus-lite(AUTOINDEX,IP)", n=n, build_s=round(build, 1), queries=len(xq),
                    bytes_per_vector=round(size / n, 1), recall_at_10=recall(found, truth), p50_ms=p50, p95_ms=p95,
                    load1_before=load_before, load1_after=load1())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--milvus-queries", type=int, default=0, help="queries for Milvus Lite (default: --queries)")
    ap.add_argument("--skip", default="", help="comma list of: ivfpq, hnsw, milvus")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "scale_ann.json")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    import faiss

    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        xb = synthetic(n, args.dim, seed=2)
        xq = synthetic(args.queries, args.dim, seed=3)
        exact = faiss.IndexFlatIP(args.dim)
        exact.add(xb)
        truth = exact.search(xq, 10)[1]
        del exact
        rows += faiss_rows(xb, xq, truth, skip)
        if "milvus" not in skip:
            mq = args.milvus_queries or args.queries
            rows.append(milvus_row(xb, xq[:mq], truth[:mq]))
            print(rows[-1], file=sys.stderr, flush=True)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(), "dim": args.dim,
              "queries": args.queries, "data": "2000-cluster Gaussian mixture, L2-normalised", "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"{'index':<36} {'N':>9} {'build s':>8} {'B/vec':>7} {'R@10':>6} {'p50 ms':>7} {'p95 ms':>7} {'load':>5}")
    for r in rows:
        print(f"{r['index']:<36} {r['n']:>9} {r['build_s']:>8} {r['bytes_per_vector']:>7} {r['recall_at_10']:>6} "
              f"{r['p50_ms']:>7} {r['p95_ms']:>7} {r['load1_after']:>5}")


if __name__ == "__main__":
    main()
