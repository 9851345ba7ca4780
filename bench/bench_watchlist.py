#!/usr/bin/env python3
"""Watchlist at county scale: a 300,000-entry list (one embedding each, random unit vectors —
the size of a county's booking-photo database) through the device path.

    .venv/bin/python bench/bench_watchlist.py --vigil .build/release/vigil --lib .build/release/libVigilBench.so
        [--entries 300000] [--models models]

Prints: bundle size; time and peak RSS of `vigil watchlist verify`, `install` (parse, verify,
policy checks, encrypt, atomic activation) and `status` (the device's start-up: decrypt, verify
again, load); and search time per face against the whole list (one face, and per face in a
batch of 8 — the faces of one frame), through the same index the agent uses.
Each vigil command runs in its own process; its peak RSS is that process's (wait4 rusage).
"""
import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def run(cmd):
    """Runs cmd; returns (seconds, peak RSS MiB, stdout). Exits on failure."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"bench watchlist: {' '.join(cmd)} failed: {err.decode().strip()}")
    return dt, ru.ru_maxrss / 1024, out.decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", default=".build/release/vigil")
    ap.add_argument("--lib", default=".build/release/libVigilBench.so")
    ap.add_argument("--models", default="models")
    ap.add_argument("--entries", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=31)
    a = ap.parse_args()
    models = ["--models", a.models]
    tmp = tempfile.mkdtemp(prefix="vigil-wl-bench-")
    try:
        run([a.vigil, "keys", "generate", "--role", "authority", "--out", tmp + "/keys"])
        bundle = tmp + "/list.vwl"
        t_synth, _, _ = run([a.vigil, "watchlist", "synth", "--entries", str(a.entries), "--key", tmp + "/keys/authority.key",
                             "--out", bundle] + models)
        size = os.path.getsize(bundle)
        print(f"bench watchlist-{a.entries // 1000}k: bundle {size / 1e6:.1f} MB ({a.entries} entries x 128-d int8 + "
              f"per-row scale + 128-byte entry records + 64-byte signature); built and signed in {t_synth:.2f} s")
        pub = tmp + "/keys/authority.pub"
        t_verify, m_verify, _ = run([a.vigil, "watchlist", "verify", bundle, "--pubkey", pub])
        t_install, m_install, _ = run([a.vigil, "watchlist", "install", bundle, "--store", tmp + "/store", "--pubkey", pub] + models)
        t_status, m_status, _ = run([a.vigil, "watchlist", "status", "--store", tmp + "/store", "--pubkey", pub] + models)
        print(f"  verify: {t_verify:.2f} s, peak RSS {m_verify:.0f} MiB")
        print(f"  install (parse + verify + policy + encrypt + atomic activation): {t_install:.2f} s, peak RSS {m_install:.0f} MiB")
        print(f"  load at start-up (decrypt + verify + parse): {t_status:.2f} s, peak RSS {m_status:.0f} MiB")

        # Search per face against the whole list, on the agent's index (same C kernel).
        lib = ctypes.CDLL(a.lib)
        lib.vigil_bench_search_open.restype = ctypes.c_void_p
        lib.vigil_bench_search_open.argtypes = [ctypes.POINTER(ctypes.c_int8), ctypes.POINTER(ctypes.c_float), ctypes.c_int64, ctypes.c_int32]
        lib.vigil_bench_search.restype = ctypes.c_int32
        lib.vigil_bench_search.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int8), ctypes.POINTER(ctypes.c_float), ctypes.c_int32,
                                           ctypes.c_int32, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_float)]
        lib.vigil_bench_search_close.argtypes = [ctypes.c_void_p]
        rng = np.random.default_rng(7)
        x = rng.standard_normal((a.entries, 128)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        s = np.abs(x).max(axis=1) / 127
        m = np.clip(np.rint(x / s[:, None]), -127, 127).astype(np.int8)
        s = s.astype(np.float32)
        h = lib.vigil_bench_search_open(m.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)), s.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                        a.entries, 128)
        q = m[:8].copy()
        qs = s[:8].copy()
        rows = np.zeros(8 * 32, np.int32)
        scores = np.zeros(8 * 32, np.float32)

        def search(nq):
            lib.vigil_bench_search(h, q.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)), qs.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                   nq, 32, rows.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), scores.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        res = {}
        for nq in (1, 8):
            search(nq)
            ts = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                search(nq)
                ts.append((time.perf_counter() - t0) * 1000)
            res[nq] = statistics.median(ts)
        search(1)
        assert rows[0] == 0, "a row must find itself first"
        print(f"  search per face: {res[1]:.2f} ms alone, {res[8] / 8:.2f} ms in a batch of 8 (1 thread, top-32 rows, exact)")
        lib.vigil_bench_search_close(h)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
