#!/usr/bin/env python3
"""References for Vigil's own dlib 5-point landmark predictor and 5-point alignment.

dlib itself (PyPI dlib-bin, the library face_recognition runs on) reads
shape_predictor_5_face_landmarks.dat (models/shape_predictor_5.dat, extracted by make models from
the face-recognition-models sdist, CC0) and predicts the five landmarks for rectangles around the
faces of the PyPI photos (dlib's HOG detector boxes, then shifted and scaled copies of them, so the
predictor's whole range is covered), and cuts each face's 150x150 chip with
dlib.get_face_chip(img, shape, 150, 0.25) — what face_recognition feeds the ResNet.

The images are written as raw RGB (the exact pixels dlib saw; no JPEG decoder differences), the
cases as one text file the Swift test reads:
    image NAME W H              (NAME.rgb: W*H*3 bytes)
    case NAME l t r b x0 y0 x1 y1 x2 y2 x3 y3 x4 y4 CHIP   (CHIP.rgb: 150*150*3 bytes; dlib's integer points)

Usage: make_landmark_refs.py OUTDIR MODEL PHOTO...
"""
import os
import sys

import dlib
import numpy as np
from PIL import Image, ImageOps


def main():
    out, model, photos = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(out, exist_ok=True)
    sp = dlib.shape_predictor(model)
    det = dlib.get_frontal_face_detector()
    rng = np.random.default_rng(20261207)
    lines = []
    n = 0
    for p in photos:
        base = os.path.splitext(os.path.basename(p))[0]
        im = Image.open(p).convert("RGB")
        for k, v in enumerate((im, ImageOps.mirror(im))):
            name = f"{base}-{k}"
            a = np.ascontiguousarray(np.asarray(v, dtype=np.uint8))
            a.tofile(os.path.join(out, name + ".rgb"))
            lines.append(f"image {name} {a.shape[1]} {a.shape[0]}")
            for r in det(a, 1):
                rects = [r]
                w, h = r.right() - r.left(), r.bottom() - r.top()
                for _ in range(4):
                    s = rng.uniform(0.8, 1.25)
                    cx = (r.left() + r.right()) / 2 + rng.uniform(-0.12, 0.12) * w
                    cy = (r.top() + r.bottom()) / 2 + rng.uniform(-0.12, 0.12) * h
                    hw, hh = w * s / 2, h * s / 2
                    rects.append(dlib.rectangle(int(round(cx - hw)), int(round(cy - hh)), int(round(cx + hw)), int(round(cy + hh))))
                for q in rects:
                    shape = sp(a, q)
                    pts = " ".join(f"{shape.part(i).x} {shape.part(i).y}" for i in range(5))
                    chip = dlib.get_face_chip(a, shape, 150, 0.25)
                    cname = f"chip-{n}"
                    np.ascontiguousarray(chip, dtype=np.uint8).tofile(os.path.join(out, cname + ".rgb"))
                    lines.append(f"case {name} {q.left()} {q.top()} {q.right()} {q.bottom()} {pts} {cname}")
                    n += 1
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"landmark refs: {n} cases on {len(photos) * 2} images in {out} (dlib {dlib.__version__})")


if __name__ == "__main__":
    main()
