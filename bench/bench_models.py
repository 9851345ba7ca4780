#!/usr/bin/env python3
"""Vigil's int8 engine vs onnxruntime on the same int8 ONNX files, and the whole face pipeline.

    .venv/bin/python bench/bench_models.py --lib .build/release/libVigilBench.so [--models models]
        [--iterations 50] [--pipeline-iterations 8]

detector / embedder: the same model file is opened by onnxruntime (CPU, 1 intra-op thread, all
graph optimisations) and by Vigil (libVigilBench: the fast backend, 1 thread; the -2t lines give
both 2 threads: Vigil's fast backend with threads=2, onnxruntime with intra_op_num_threads=2; the -reference lines
use the scalar reference backend, the specification); both get the same
input tensor (a real photo, letterboxed, or an aligned face chip), alternating run by run (and
which goes first), median of N each.

pipeline-720p: one 1280x720 JPEG frame with six faces (insightface's t1.jpg, cover-cropped) →
scaled decode → detection (whole frame + tiles) → alignment → embedding of every face. Vigil's
path (vigil_bench_pipeline) against the same steps in Python (Pillow decode, onnxruntime models,
numpy/Pillow alignment from scripts/models/blazeface.py). Each side runs in its own subprocess so
that its peak RSS (VmHWM) is its own.

Prints lines `bench NAME: vigil X ms, onnxruntime Y ms, ratio R` (R = vigil / peer).
"""
import argparse
import ctypes
import io
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts", "models"))
import blazeface as bf  # noqa: E402


def load_lib(path):
    lib = ctypes.CDLL(path)
    lib.vigil_bench_model_open_backend.restype = ctypes.c_void_p
    lib.vigil_bench_model_open_backend.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]
    lib.vigil_bench_model_open_threads.restype = ctypes.c_void_p
    lib.vigil_bench_model_open_threads.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
                                                   ctypes.c_int32]
    lib.vigil_bench_model_run.restype = ctypes.c_int32
    lib.vigil_bench_model_run.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64,
                                          ctypes.POINTER(ctypes.c_float), ctypes.c_int64]
    lib.vigil_bench_model_close.argtypes = [ctypes.c_void_p]
    lib.vigil_bench_pipeline.restype = ctypes.c_int32
    lib.vigil_bench_pipeline.argtypes = [ctypes.c_char_p, ctypes.c_int64, ctypes.c_char_p, ctypes.c_char_p]
    lib.vigil_bench_peak_rss_kib.restype = ctypes.c_int64
    lib.vigil_bench_int8_peak.restype = ctypes.c_double
    lib.vigil_bench_int8_peak.argtypes = [ctypes.c_double]
    lib.vigil_bench_isa.restype = ctypes.c_char_p
    return lib


def count_macs(path):
    """Multiply-accumulates of one run: Conv (output elements x input channels per group x kernel
    area) and Gemm/MatMul (M x K x N), from the ONNX graph with inferred shapes."""
    import onnx
    from onnx import numpy_helper, shape_inference
    m = shape_inference.infer_shapes(onnx.load(path))
    g = m.graph
    shapes = {}
    for v in list(g.value_info) + list(g.input) + list(g.output):
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            shapes[v.name] = dims
    for t in g.initializer:
        shapes[t.name] = list(numpy_helper.to_array(t).shape)
    # QDQ models: a weight reaches Conv through DequantizeLinear; its shape is the initializer's.
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in shapes and n.output[0] not in shapes:
            shapes[n.output[0]] = shapes[n.input[0]]
    total = 0
    for n in g.node:
        if n.op_type == "Conv":
            out, w = shapes.get(n.output[0]), shapes.get(n.input[1])
            if out is None or w is None:
                sys.exit(f"count_macs: no shape for {n.name}")
            total += int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type in ("Gemm", "MatMul"):
            a, out = shapes.get(n.input[0]), shapes.get(n.output[0])
            if a is None or out is None:
                sys.exit(f"count_macs: no shape for {n.name}")
            total += int(np.prod(out)) * a[-1]
    return total


def side_rss(side, path, shape, threads):
    """Runs in a subprocess: one model on one side, 20 runs; prints the peak RSS (VmHWM, KiB)."""
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    if side == "vigil":
        lib = load_lib(os.path.join(REPO, ".build/release/libVigilBench.so"))
        h = lib.vigil_bench_model_open_threads(path.encode(), 0, 0, 1, threads)
        ptr = x.ravel().ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        for _ in range(20):
            lib.vigil_bench_model_run(h, ptr, x.size, None, 0)
    elif side == "onnxruntime":
        sess = bf.ort_session(path, threads)
        name = sess.get_inputs()[0].name
        for _ in range(20):
            sess.run(None, {name: x})
    with open("/proc/self/status") as f:
        print(next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")))


def peak_rss(path, shape, threads):
    """Peak RSS of running `path` on each side, each in a fresh Python process (numpy loaded
    on both), and of that bare process: MiB for vigil, onnxruntime, baseline."""
    res = {}
    for side in ("vigil", "onnxruntime", "baseline"):
        out = subprocess.run([sys.executable, __file__, "--rss-side", side, "--rss-model", path,
                              "--rss-shape", ",".join(map(str, shape)), "--rss-threads", str(threads)],
                             capture_output=True, text=True, check=True).stdout.split()
        res[side] = int(out[-1]) / 1024
    return res["vigil"], res["onnxruntime"], res["baseline"]


def alternate(name, vigil, peer, n):
    vigil(); peer()  # warm-up
    tv, tp = [], []
    for i in range(n):
        order = [(vigil, tv), (peer, tp)] if i % 2 == 0 else [(peer, tp), (vigil, tv)]
        for fn, acc in order:
            t0 = time.perf_counter()
            fn()
            acc.append((time.perf_counter() - t0) * 1000)
    v, p = statistics.median(tv), statistics.median(tp)
    print(f"bench {name}: vigil {v:.3f} ms, onnxruntime {p:.3f} ms, ratio {v / p:.3f}", flush=True)
    return v, p


def model_bench(lib, name, path, x, n, backend=1, threads=1):
    """backend: 1 = Vigil's fast backend (best ISA of this CPU), 0 = the scalar reference.
    threads: Vigil's fast-backend threads and onnxruntime's intra-op threads."""
    sess = bf.ort_session(path, threads)
    in_name = sess.get_inputs()[0].name
    h = lib.vigil_bench_model_open_threads(path.encode(), 0, 0, backend, threads)
    if not h:
        sys.exit(f"bench {name}: Vigil could not open {path}")
    flat = np.ascontiguousarray(x, np.float32).ravel()
    ptr = flat.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    ref = sess.run(None, {in_name: x})[0].ravel()
    out = np.zeros(ref.size, np.float32)
    if lib.vigil_bench_model_run(h, ptr, flat.size, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), out.size) != 0:
        sys.exit(f"bench {name}: Vigil run failed")
    agree = float(np.max(np.abs(out - ref)))
    v, p = alternate(name, lambda: lib.vigil_bench_model_run(h, ptr, flat.size, None, 0),
                     lambda: sess.run(None, {in_name: x}), n)
    print(f"  {name}: {os.path.basename(path)}, {threads} thread(s) each, input {list(x.shape)}, max |vigil - onnxruntime| on the first output {agree:.3g}")
    if backend == 1:
        rv, rp, rb = peak_rss(path, list(x.shape), threads)
        print(f"  {name}: peak RSS vigil {rv:.1f} MiB, onnxruntime {rp:.1f} MiB (each its own Python process; "
              f"the bare process with numpy: {rb:.1f} MiB)")
    lib.vigil_bench_model_close(h)
    return v, p


def frame_720p(path):
    img = Image.open(path).convert("RGB")
    s = max(1280 / img.width, 720 / img.height)
    img = img.resize((round(img.width * s), round(img.height * s)), Image.LANCZOS)
    left, top = (img.width - 1280) // 2, (img.height - 720) // 2
    buf = io.BytesIO()
    img.crop((left, top, left + 1280, top + 720)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def pipeline_side(side, lib_path, models, jpeg_path, n):
    """Runs in a subprocess: one side of the pipeline benchmark; prints 'ms faces rss_kib'."""
    data = open(jpeg_path, "rb").read()
    det, emb = os.path.join(models, "blazeface_full_int8.onnx"), os.path.join(models, "dlib_resnet_int8.onnx")
    if side == "vigil":
        lib = load_lib(lib_path)
        run = lambda: lib.vigil_bench_pipeline(data, len(data), det.encode(), emb.encode())  # noqa: E731
    else:
        d, e = bf.ort_session(det), bf.ort_session(emb)
        drun = lambda x: d.run(None, {"input": x})  # noqa: E731

        def run():
            img = Image.open(io.BytesIO(data)).convert("RGB")
            faces = bf.detect_tiled(drun, img)
            for f in faces:
                e.run(None, {"input": bf.chip_tensor(bf.face_chip(img, f["keypoints"]))})
            return len(faces)
    faces = run()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    with open("/proc/self/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    print(f"{statistics.median(times):.3f} {faces} {rss}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=os.path.join(REPO, ".build/release/libVigilBench.so"))
    ap.add_argument("--models", default=os.path.join(REPO, "models"))
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--reference-iterations", type=int, default=10)
    ap.add_argument("--pipeline-iterations", type=int, default=20)
    ap.add_argument("--side")
    ap.add_argument("--rss-side")
    ap.add_argument("--rss-model")
    ap.add_argument("--rss-shape")
    ap.add_argument("--rss-threads", type=int, default=1)
    ap.add_argument("--frame")
    args = ap.parse_args()
    if args.rss_side:
        return side_rss(args.rss_side, args.rss_model, [int(d) for d in args.rss_shape.split(",")], args.rss_threads)
    if args.side:
        return pipeline_side(args.side, args.lib, args.models, args.frame, args.pipeline_iterations)
    lib = load_lib(args.lib)
    photos = os.path.join(REPO, ".cache", "photos")
    img = bf.load_rgb(os.path.join(photos, "obama.jpg"))
    boxed = bf.letterbox(img)[0]
    det_path = os.path.join(args.models, "blazeface_full_int8.onnx")
    model_bench(lib, "detector", det_path, boxed, args.iterations)
    model_bench(lib, "detector-2t", det_path, boxed, args.iterations, threads=2)
    model_bench(lib, "detector-reference", det_path, boxed, args.reference_iterations, backend=0)
    det = bf.ort_session(os.path.join(args.models, "blazeface_full_int8.onnx"))
    face = bf.detect(lambda x: det.run(None, {"input": x}), img)[0]
    chip = bf.chip_tensor(bf.face_chip(img, face["keypoints"]))
    emb_path = os.path.join(args.models, "dlib_resnet_int8.onnx")
    ev, ep = model_bench(lib, "embedder", emb_path, chip, args.iterations)
    # The yardstick: this core's int8 MAC peak, measured now (same run, same machine state).
    macs = count_macs(emb_path)
    peak = lib.vigil_bench_int8_peak(0.3)
    isa = lib.vigil_bench_isa().decode()
    if peak > 0:
        gv, gp = macs / (ev / 1000) / 1e9, macs / (ep / 1000) / 1e9
        print(f"bench embedder-peak: vigil {gv:.1f} G MAC/s = {gv * 1e9 / peak:.2f} of the int8 peak, onnxruntime {gp:.1f} G MAC/s = "
              f"{gp * 1e9 / peak:.2f}; peak {peak / 1e9:.1f} G MAC/s ({isa}, 1 core, measured now); {macs / 1e6:.1f} M MAC per run")
    model_bench(lib, "embedder-2t", emb_path, chip, args.iterations, threads=2)
    model_bench(lib, "embedder-reference", emb_path, chip, args.reference_iterations, backend=0)

    t1 = os.path.join(REPO, ".cache", "models-work", "inputs", "t1.jpg")
    frame = os.path.join(REPO, ".cache", "bench-t1-720p.jpg")
    open(frame, "wb").write(frame_720p(t1))
    res = {}
    for side in ("vigil", "peer"):
        out = subprocess.run([sys.executable, __file__, "--side", side, "--lib", args.lib, "--models", args.models,
                              "--frame", frame, "--pipeline-iterations", str(args.pipeline_iterations)],
                             capture_output=True, text=True, check=True).stdout.split()
        res[side] = (float(out[-3]), int(out[-2]), int(out[-1]))
    (v, vf, vr), (p, pf, pr) = res["vigil"], res["peer"]
    print(f"bench pipeline-720p: vigil {v:.3f} ms, onnxruntime {p:.3f} ms, ratio {v / p:.3f}")
    print(f"  pipeline-720p: faces embedded vigil {vf}, python+onnxruntime {pf}; peak RSS vigil {vr / 1024:.1f} MiB, "
          f"python+onnxruntime {pr / 1024:.1f} MiB; median of {args.pipeline_iterations} frames each, separate processes")


if __name__ == "__main__":
    main()
