#!/usr/bin/env python3
"""Vigil's watchlist index vs FAISS: exact int8 top-10 inner-product search over 1,000,000 x 128.

    .venv/bin/python bench/bench_search.py --lib .build/release/libVigilBench.so [--runs 31]

The same vectors on both sides: random unit-norm embeddings (fixed seed) quantized to int8 with a
per-vector scale max|x|/127 (WatchlistIndex.quantize). FAISS gets them as
IndexScalarQuantizer(128, QT_8bit_direct_signed, METRIC_INNER_PRODUCT) — int8 storage, the same
128 MB — added as float32 values equal to the int8 values, 1 OpenMP thread. Vigil gets the int8
matrix with the row scales (libVigilBench: WatchlistIndex, 1 thread). Queries are other quantized
embeddings; FAISS scores them unscaled (the int8 dot), Vigil multiplies by both scales, so the
rankings are compared with all row scales equal (1/127, as if every vector used the fixed scale):
then both rank by the exact int8 dot and the top-10 rows must agree (ties aside).

Runs alternate (and which goes first) in one process; median of N each.
  search-1m-q1:  one query per call
  search-1m-q16: a batch of 16 queries per call (all faces of a frame), time per query
Also prints the single-core read bandwidth measured in the same run and the floor it implies for
one query (the matrix, 128 MB, read once).
"""
import argparse
import ctypes
import statistics
import sys
import time

import numpy as np

N, D, K = 1_000_000, 128, 10


def load_lib(path):
    lib = ctypes.CDLL(path)
    lib.vigil_bench_search_open.restype = ctypes.c_void_p
    lib.vigil_bench_search_open.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32]
    lib.vigil_bench_search.restype = ctypes.c_int32
    lib.vigil_bench_search.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32,
                                       ctypes.c_void_p, ctypes.c_void_p]
    lib.vigil_bench_search_isa.restype = ctypes.c_int32
    lib.vigil_bench_search_isa.argtypes = [ctypes.c_void_p]
    lib.vigil_bench_search_close.argtypes = [ctypes.c_void_p]
    lib.vigil_bench_read_bandwidth.restype = ctypes.c_double
    lib.vigil_bench_read_bandwidth.argtypes = [ctypes.c_int64, ctypes.c_int32]
    return lib


def quantize(x):
    """Unit-norm float rows -> int8 rows with scale max|x|/127 (round half to even), as Vigil's."""
    scale = np.abs(x).max(axis=1, keepdims=True) / 127
    q = np.clip(np.rint(x / scale), -127, 127).astype(np.int8)
    return q, scale.ravel().astype(np.float32)


def embeddings(rng, n):
    x = rng.standard_normal((n, D), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def alternate(name, vigil, peer, n, per=1, note=""):
    vigil(); peer()  # warm-up
    tv, tp = [], []
    for i in range(n):
        order = [(vigil, tv), (peer, tp)] if i % 2 == 0 else [(peer, tp), (vigil, tv)]
        for fn, acc in order:
            t0 = time.perf_counter()
            fn()
            acc.append((time.perf_counter() - t0) * 1000 / per)
    v, p = statistics.median(tv), statistics.median(tp)
    print(f"bench {name}: vigil {v:.3f} ms, faiss {p:.3f} ms, ratio {v / p:.3f}{note}", flush=True)
    return v, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--runs", type=int, default=31)
    args = ap.parse_args()
    import faiss
    faiss.omp_set_num_threads(1)
    lib = load_lib(args.lib)

    rng = np.random.default_rng(20261127)
    m = np.empty((N, D), np.int8)
    for i in range(0, N, 100_000):
        m[i:i + 100_000], _ = quantize(embeddings(rng, 100_000))
    m = np.ascontiguousarray(m)
    row_scale = np.full(N, 1 / 127, np.float32)
    q, q_scale = quantize(embeddings(rng, 16))
    q = np.ascontiguousarray(q)

    h = lib.vigil_bench_search_open(m.ctypes.data, row_scale.ctypes.data, N, D)
    if not h:
        sys.exit("bench search: Vigil could not build the index")
    isa = {1: "scalar", 2: "AVX2", 3: "AVX-512 VNNI", 4: "NEON smull", 5: "NEON sdot"}.get(lib.vigil_bench_search_isa(h), "?")
    index = faiss.IndexScalarQuantizer(D, faiss.ScalarQuantizer.QT_8bit_direct_signed, faiss.METRIC_INNER_PRODUCT)
    index.train(m[:1000].astype(np.float32))
    for i in range(0, N, 100_000):
        index.add(m[i:i + 100_000].astype(np.float32))
    qf = q.astype(np.float32)

    out_rows = np.zeros((16, K), np.int32)
    out_scores = np.zeros((16, K), np.float32)

    def vigil(nq):
        return lambda: lib.vigil_bench_search(h, q.ctypes.data, q_scale.ctypes.data, nq, K,
                                              out_rows.ctypes.data, out_scores.ctypes.data)

    def peer(nq):
        x = np.ascontiguousarray(qf[:nq])
        return lambda: index.search(x, K)

    # Agreement: the top-10 rows of all 16 queries, Vigil vs FAISS.
    if vigil(16)() != K:
        sys.exit("bench search: Vigil search failed")
    _, frows = index.search(qf, K)
    same = sum(len(set(out_rows[i]) & set(frows[i])) for i in range(16))
    exact = sum(int(np.array_equal(out_rows[i], frows[i])) for i in range(16))
    # Vigil's scores are the exact int8 dots times qs/127: check them against numpy's exact dots.
    dots = (m[out_rows.ravel()].astype(np.int32) * np.repeat(q, K, axis=0).astype(np.int32)).sum(axis=1).reshape(16, K)
    score_ok = np.array_equal(out_scores, (dots.astype(np.float32) * (q_scale[:, None] * np.float32(1 / 127))).astype(np.float32))

    bw0 = lib.vigil_bench_read_bandwidth(512 << 20, 3)
    alternate("search-1m-q1", vigil(1), peer(1), args.runs)
    alternate("search-1m-q16", vigil(16), peer(16), args.runs, per=16, note=" (per query, batch of 16)")
    # Measured before and after the timed runs (the machine is shared): the better of the two.
    bw = max(bw0, lib.vigil_bench_read_bandwidth(512 << 20, 3))
    floor = m.nbytes / bw * 1000 if bw > 0 else float("nan")
    print(f"  search: read bandwidth {bw / 1e9:.1f} GB/s → one query over {m.nbytes / 1e6:.0f} MB needs ≥ {floor:.2f} ms")
    print(f"  search: {N:,} x {D} int8, top-{K}, 1 thread each, Vigil path {isa}; top-{K} rows agree with FAISS: "
          f"{same}/{16 * K} rows, {exact}/16 lists identical in order; Vigil scores = exact int8 dot x scales: "
          f"{'yes' if score_ok else 'NO'}")
    lib.vigil_bench_search_close(h)


if __name__ == "__main__":
    main()
