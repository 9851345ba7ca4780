#!/usr/bin/env python3
"""Vigil's scaled MJPEG decode vs the naive Pillow path, alternating in one process.

Why this shape: the agent turns each 1280x720 camera frame into a ~320x180 detector input.
Vigil decodes with DCT scaling (libjpeg-turbo decodes straight to 1/4 size); the path a Python
user writes is a full decode plus a resize:

    Image.open(BytesIO(data)).convert('RGB').resize((320, 180), Image.BILINEAR)

Both run in this process on the same bytes, alternating iteration by iteration (and alternating
which goes first), so CPU frequency, caches and thermal state affect them alike. Vigil is called
through ctypes via libVigilBench's C ABI (`vigil_bench_decode_scaled`), which reuses one decoder
and one output buffer the way the agent's capture loop does.

Usage:
    .venv/bin/python bench/bench_decode.py --lib .build/release/libVigilBench.so [--jpeg FILE]
        [--iterations 60] [--warmup 5] [--save-jpeg PATH]

Without --jpeg a 1280x720 test JPEG is made: from the first photo in .cache/photos/*.jpg if any,
else from a synthetic natural-looking image; scaled and centre-cropped to 1280x720 with Pillow and
saved at quality 90, 4:2:0.

Output (medians):
    bench decode-1280x720-to-320: vigil X ms, pillow Y ms, ratio R
"""

import argparse
import ctypes
import glob
import io
import os
import platform
import random
import statistics
import subprocess
import sys
import time

import PIL
from PIL import Image, ImageDraw, ImageFilter, features

WIDTH, HEIGHT = 1280, 720
TARGET = (320, 180)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cover_crop(img: Image.Image, size) -> Image.Image:
    """Scale to cover `size`, then centre-crop to exactly `size`."""
    w, h = img.size
    scale = max(size[0] / w, size[1] / h)
    resized = img.resize((max(size[0], round(w * scale)), max(size[1], round(h * scale))), Image.LANCZOS)
    left = (resized.width - size[0]) // 2
    top = (resized.height - size[1]) // 2
    return resized.crop((left, top, left + size[0], top + size[1]))


def synthetic_image(size, seed=1) -> Image.Image:
    """A photo-like image (smooth gradients, soft shapes, edges, sensor-like grain), so the JPEG
    has a realistic mix of flat and detailed blocks."""
    rng = random.Random(seed)
    w, h = size
    base = Image.merge("RGB", [
        Image.linear_gradient("L").resize(size).rotate(rng.uniform(0, 360), expand=False).resize(size),
        Image.radial_gradient("L").resize(size),
        Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize(size),
    ])
    draw = ImageDraw.Draw(base)
    for _ in range(40):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(20, 300), y0 + rng.randrange(20, 200)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    base = base.filter(ImageFilter.GaussianBlur(2.5))
    draw = ImageDraw.Draw(base)
    for _ in range(60):  # sharp lines: edges like window frames and text
        draw.line([(rng.randrange(w), rng.randrange(h)), (rng.randrange(w), rng.randrange(h))],
                  fill=tuple(rng.randrange(256) for _ in range(3)), width=rng.randrange(1, 4))
    grain = Image.effect_noise(size, 12).convert("RGB")
    return Image.blend(base, grain, 0.08)


def make_test_jpeg():
    photos = sorted(glob.glob(os.path.join(REPO_ROOT, ".cache", "photos", "*.jpg")))
    if photos:
        source = photos[0]
        img = Image.open(photos[0]).convert("RGB")
    else:
        source = "synthetic natural-looking image"
        img = synthetic_image((WIDTH, HEIGHT))
    img = cover_crop(img, (WIDTH, HEIGHT))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90, subsampling=2)  # 2 = 4:2:0
    return buf.getvalue(), source


def load_vigil(path):
    lib = ctypes.CDLL(path)
    fn = lib.vigil_bench_decode_scaled
    fn.argtypes = [
        ctypes.POINTER(ctypes.c_uint8), ctypes.c_int64, ctypes.c_int32, ctypes.c_int32,
        ctypes.POINTER(ctypes.c_uint8), ctypes.c_int64,
        ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int32),
    ]
    fn.restype = ctypes.c_int32
    return fn


def system_turbojpeg_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libturbojpeg0"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", default=os.path.join(REPO_ROOT, ".build", "release", "libVigilBench.so"))
    ap.add_argument("--jpeg", help="a 1280x720 JPEG; made from a photo or synthetic image if omitted")
    ap.add_argument("--iterations", type=int, default=60, help="timed iterations per side (min 30)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--save-jpeg", help="also write the generated test JPEG here")
    args = ap.parse_args()
    if args.iterations < 30:
        ap.error("--iterations must be at least 30")

    if args.jpeg:
        with open(args.jpeg, "rb") as f:
            data = f.read()
        source = args.jpeg
    else:
        data, source = make_test_jpeg()
        if args.save_jpeg:
            with open(args.save_jpeg, "wb") as f:
                f.write(data)

    probe = Image.open(io.BytesIO(data))
    if probe.size != (WIDTH, HEIGHT):
        print(f"warning: input is {probe.size[0]}x{probe.size[1]}, not {WIDTH}x{HEIGHT}", file=sys.stderr)

    decode = load_vigil(args.lib)
    jpeg_buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    capacity = probe.size[0] * probe.size[1] * 3
    out_buf = (ctypes.c_uint8 * capacity)()
    out_w, out_h = ctypes.c_int32(0), ctypes.c_int32(0)

    def run_vigil():
        rc = decode(jpeg_buf, len(data), TARGET[0], TARGET[1], out_buf, capacity,
                    ctypes.byref(out_w), ctypes.byref(out_h))
        if rc != 0:
            raise RuntimeError(f"vigil_bench_decode_scaled failed with status {rc}")

    def run_pillow():
        return Image.open(io.BytesIO(data)).convert("RGB").resize(TARGET, Image.BILINEAR)

    for _ in range(args.warmup):
        run_vigil()
        pillow_out = run_pillow()

    vigil_ns, pillow_ns = [], []
    clock = time.perf_counter_ns
    for i in range(args.iterations):
        order = (("v", run_vigil), ("p", run_pillow)) if i % 2 == 0 else (("p", run_pillow), ("v", run_vigil))
        for name, fn in order:
            t0 = clock()
            fn()
            dt = clock() - t0
            (vigil_ns if name == "v" else pillow_ns).append(dt)

    vigil_ms = statistics.median(vigil_ns) / 1e6
    pillow_ms = statistics.median(pillow_ns) / 1e6
    print(f"bench decode-1280x720-to-320: vigil {vigil_ms:.3f} ms, pillow {pillow_ms:.3f} ms, "
          f"ratio {vigil_ms / pillow_ms:.3f}")
    print(f"sizes: input {probe.size[0]}x{probe.size[1]} {len(data)} bytes ({source}); "
          f"vigil output {out_w.value}x{out_h.value}, pillow output {pillow_out.size[0]}x{pillow_out.size[1]}; "
          f"{args.iterations} iterations each after {args.warmup} warm-up; "
          f"versions: Pillow {PIL.__version__} (libjpeg-turbo {features.version('libjpeg_turbo')}), "
          f"Vigil libturbojpeg0 {system_turbojpeg_version()}, Python {platform.python_version()}, "
          f"{platform.machine()}")


if __name__ == "__main__":
    main()
