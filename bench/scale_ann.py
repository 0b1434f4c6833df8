"""ANN at scale on synthetic vectors: FAISS flat vs IVF-PQ vs HNSW vs Milvus Lite.

    python bench/scale_ann.py [--sizes 100000,1000000] [--dim 384] [--queries 200] [--milvus-queries 20]
        [--skip hnsw,milvus] [--streamed 10000000 --streamed-nlist 4096 --streamed-m 48,96] [--out FILE]

Vectors are synthetic, of the default model's dimension (MiniLM: 384): a
mixture of 2,000 Gaussian clusters, L2-normalised (real embeddings cluster;
uniform random vectors are the worst case for every ANN index and say little).
Queries come from the same mixture, held out. For each index: build seconds,
bytes per vector (the serialised index, or Milvus Lite's folder, over N),
recall@10 against exact inner-product search, and single-query latency
p50/p95 with one thread (the machine is shared). Records the 1-minute load.

--streamed sizes run IVF-PQ only (one index per --streamed-m code size, plus
the first with an 8-bit scalar-quantizer refine stage) without ever holding
the N float32 vectors: the generator is read in 100k-row blocks, each added to
the indexes and searched exactly for the ground truth, then dropped.

Writes bench/out/scale_ann.json (or --out) and prints one table.
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
        # Milvus Lite (3.x) is an in-process server that outlives its client; without this its threads went on
        # using CPU for minutes after a 1M run, and kept the process from exiting.
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(folder / "ann.db"))
        return dict(index="milvus-lite(AUTOINDEX,IP)", n=n, build_s=round(build, 1), queries=len(xq),
                    bytes_per_vector=round(size / n, 1), recall_at_10=recall(found, truth), p50_ms=p50, p95_ms=p95,
                    load1_before=load_before, load1_after=load1())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def streamed_ivfpq_rows(n: int, dim: int, xq: np.ndarray, nlist: int, ms: tuple[int, ...]) -> list[dict]:
    """IVF-PQ at a size whose float32 vectors do not fit in memory (10M x 384 is 15.4 GB).

    One pass over the generator, 100k rows at a time: the first block(s) train every index (a
    sample of 50 x nlist rows), each block is added to every index and searched exactly for the
    ground truth (a running top-10 per query), then dropped. Nothing holds more than one block
    of float32 vectors besides the training sample."""
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    load_before = load1()
    t0 = time.perf_counter()
    train_n = min(n, 50 * nlist)
    sample = np.concatenate([b for _, b in blocks(train_n, dim, seed=2)])  # the generator's first rows
    indexes = {}
    train_s = {}
    for m in ms:
        t = time.perf_counter()
        idx = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        idx.train(sample)
        indexes[m] = idx
        train_s[m] = time.perf_counter() - t
    # A refine stage: 8-bit scalar codes of every vector (384 B) re-rank IVF-PQ's candidates (the fix for
    # PQ's recall cap); kept beside the first IVF-PQ and joined at search time (IndexRefine).
    sq = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    t = time.perf_counter()
    sq.train(sample)
    sq_s = time.perf_counter() - t
    del sample
    add_s = dict.fromkeys(ms, 0.0)
    truth_s = gen_s = 0.0
    best_d = np.full((len(xq), 10), -np.inf, dtype=np.float32)
    best_i = np.full((len(xq), 10), -1, dtype=np.int64)
    t = time.perf_counter()
    for start, block in blocks(n, dim, seed=2):
        gen_s += time.perf_counter() - t
        for m, idx in indexes.items():
            t = time.perf_counter()
            idx.add(block)
            add_s[m] += time.perf_counter() - t
        t = time.perf_counter()
        sq.add(block)
        sq_s += time.perf_counter() - t
        t = time.perf_counter()
        d, i = faiss.knn(xq, block, 10, faiss.METRIC_INNER_PRODUCT)
        d = np.concatenate([best_d, d], axis=1)
        i = np.concatenate([best_i, i + start], axis=1)
        order = np.argsort(-d, axis=1)[:, :10]
        best_d, best_i = np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)
        truth_s += time.perf_counter() - t
        if start % 1_000_000 == 0:
            print(f"streamed {start + len(block):,}/{n:,} rows, {time.perf_counter() - t0:.0f} s", file=sys.stderr,
                  flush=True)
        t = time.perf_counter()
    rows = []
    faiss.omp_set_num_threads(1)
    for m, idx in indexes.items():
        size = faiss.serialize_index(idx).nbytes
        for nprobe in (16, 64, 256):
            idx.nprobe = nprobe
            found, p50, p95 = latencies(lambda q: idx.search(q[None, :], 10)[1][0], xq)
            rows.append(dict(index=f"faiss-ivfpq(nlist={nlist},m={m},nprobe={nprobe})", n=n, queries=len(xq),
                             build_s=round(train_s[m] + add_s[m], 1), train_s=round(train_s[m], 1),
                             train_rows=train_n, add_s=round(add_s[m], 1), generate_s=round(gen_s, 1),
                             exact_truth_s=round(truth_s, 1), bytes_per_vector=round(size / n, 1),
                             recall_at_10=recall(found, best_i), p50_ms=p50, p95_ms=p95,
                             load1_before=load_before, load1_after=load1(), streamed=True))
            print(rows[-1], file=sys.stderr, flush=True)
    m = ms[0]
    base = indexes[m]
    refined = faiss.IndexRefine(base, sq)
    # The SQ8 codes' size, not a serialised copy (at 10M that copy alone would be 3.8 GB more).
    size = faiss.serialize_index(base).nbytes + sq.code_size * sq.ntotal
    for nprobe, k_factor in ((16, 4), (64, 4), (64, 16)):
        params = faiss.IndexRefineSearchParameters(k_factor=k_factor,
                                                   base_index_params=faiss.SearchParametersIVF(nprobe=nprobe))
        found, p50, p95 = latencies(lambda q: refined.search(q[None, :], 10, params=params)[1][0], xq)
        rows.append(dict(index=f"faiss-ivfpq(nlist={nlist},m={m},nprobe={nprobe})+refine(SQ8,k_factor={k_factor})",
                         n=n, queries=len(xq), build_s=round(train_s[m] + add_s[m] + sq_s, 1),
                         train_rows=train_n, generate_s=round(gen_s, 1), exact_truth_s=round(truth_s, 1),
                         bytes_per_vector=round(size / n, 1), recall_at_10=recall(found, best_i), p50_ms=p50,
                         p95_ms=p95, load1_before=load_before, load1_after=load1(), streamed=True))
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--milvus-queries", type=int, default=0, help="queries for Milvus Lite (default: --queries)")
    ap.add_argument("--streamed", default="", help="sizes run IVF-PQ only, streamed (e.g. 10000000)")
    ap.add_argument("--streamed-nlist", type=int, default=4096)
    ap.add_argument("--streamed-m", default="48", help="comma list of PQ code sizes (bytes) for --streamed")
    ap.add_argument("--skip", default="", help="comma list of: ivfpq, hnsw, milvus")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "scale_ann.json")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    import faiss

    rows = []
    for n in (int(s) for s in filter(None, args.streamed.split(","))):
        rows += streamed_ivfpq_rows(n, args.dim, synthetic(args.queries, args.dim, seed=3), args.streamed_nlist,
                                    tuple(int(m) for m in args.streamed_m.split(",")))
    for n in (int(s) for s in filter(None, args.sizes.split(","))):
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
