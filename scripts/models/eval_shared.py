"""Evaluation of the generated models on ../shared/testdata/faces/deepface (evaluation only: never
used for calibration). Skips with a one-line notice when ../shared is absent.

Usage: .venv/bin/python scripts/models/eval_shared.py [--models models] [--shared ../shared]
Reports: detector int8 vs float agreement, embedder int8 vs float cosine, verification figures
(float and int8, detect -> align -> embed, Euclidean distance) and faces found per group photo.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import blazeface as bf  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=Path, default=REPO / "models")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = ap.parse_args()
    root = args.shared / "testdata" / "faces" / "deepface"
    if not (root / "labels.csv").exists():
        print(f"eval: skipped ({root} not present; it exists only in the development/CI checkout)")
        return 0
    det = {}
    for prec in ("float", "int8"):
        s = bf.ort_session(args.models / f"blazeface_full_{prec}.onnx")
        det[prec] = (lambda s: lambda x: s.run(None, {"input": x}))(s)
    emb = {p: bf.ort_session(args.models / f"dlib_resnet_{p}.onnx") for p in ("float", "int8")}

    def faces(run, img):
        small, f = bf.downscale(img)
        out = bf.detect(run, small)
        for d in out:
            d["box"], d["keypoints"] = d["box"] / f, d["keypoints"] / f
        return out

    rows = list(csv.DictReader(open(root / "labels.csv")))
    vec = {"float": {}, "int8": {}}
    same_count = ious = 0
    iou_list, eye_shift, cos = [], [], []
    mism = []
    for r in rows:
        img = bf.load_rgb(root / r["image"])
        a, b = faces(det["float"], img), faces(det["int8"], img)
        if len(a) == len(b):
            same_count += 1
        else:
            mism.append(f"{r['image']}: float {len(a)} int8 {len(b)}")
        for d in a:
            if b:
                e = max(b, key=lambda e: bf.iou(d["box"], e["box"][None])[0])
                iou_list.append(float(bf.iou(d["box"], e["box"][None])[0]))
                eye = np.linalg.norm(d["keypoints"][0] - d["keypoints"][1])
                eye_shift.append(np.linalg.norm(d["keypoints"][:2] - e["keypoints"][:2], axis=1).max() / eye)
        for prec, ds in (("float", a), ("int8", b)):
            if not ds:
                continue
            d = max(ds, key=lambda d: (d["box"][2] - d["box"][0]) * (d["box"][3] - d["box"][1]))
            chip = bf.face_chip(img, d["keypoints"])
            vec[prec][r["image"]] = emb[prec].run(None, {"input": bf.chip_tensor(chip)})[0][0]
            if prec == "float":
                q = emb["int8"].run(None, {"input": bf.chip_tensor(chip)})[0][0]
                v = vec["float"][r["image"]]
                cos.append(float(v @ q / np.linalg.norm(v) / np.linalg.norm(q)))
    print(f"eval: {len(rows)} photos; detector int8 vs float: same face count on {same_count}"
          f"/{len(rows)}; IoU mean {np.mean(iou_list):.3f} min {np.min(iou_list):.3f}; eye keypoint "
          f"shift mean {np.mean(eye_shift) * 100:.1f} % max {np.max(eye_shift) * 100:.1f} % of eye distance")
    for m in mism:
        print(f"  count differs: {m}")
    print(f"eval: embedder int8 vs float cosine on {len(cos)} chips: mean {np.mean(cos):.5f} min {np.min(cos):.5f}")
    ident = {r["image"]: r["identity"] for r in rows}
    for prec in ("float", "int8"):
        v = vec[prec]
        names = sorted(n for n in v if ident[n])  # group photos and reflections have no label
        same, diff = [], []
        for x, y in itertools.combinations(names, 2):
            d = float(np.linalg.norm(v[x] - v[y]))
            (same if ident[x] == ident[y] else diff).append(d)
        same, diff = np.array(same), np.array(diff)
        ths = np.unique(np.concatenate([same, diff]))
        acc = max(((same < t).sum() + (diff >= t).sum()) / (len(same) + len(diff)) for t in ths)
        far1 = np.quantile(diff, 0.01)
        tar = (same < far1).mean()
        print(f"eval: {prec}: {len(names)} faces, {len(same)} same / {len(diff)} different pairs; "
              f"best-threshold accuracy {acc:.4f}; at 0.6: FNMR {(same >= 0.6).mean():.4f} "
              f"FMR {(diff < 0.6).mean():.4f}; TAR@FAR1% {tar:.3f}")
    for g in sorted((root / "images").glob("*")):
        if g.name.startswith(("couple", "selfie")):
            img = bf.load_rgb(g)
            small, _ = bf.downscale(img)
            print(f"eval: group {g.name}: float {len(bf.detect(det['float'], small))}, int8 "
                  f"{len(bf.detect(det['int8'], small))} (whole), int8 with 2x2 tiles "
                  f"{len(bf.detect_tiled(det['int8'], small))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
