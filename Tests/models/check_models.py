"""Checks of the generated models (run by `make test` after `make models`).

Prints `PASS name` / `FAIL name: why`, then `N passed, N failed`; exit status 0 iff no failure.
Usage: .venv/bin/python Tests/models/check_models.py [--models DIR]
Photos: .cache/photos (scripts/fetch-photos.sh) and .cache/models-work/inputs (scripts/models/build.sh),
all from PyPI sdists.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "models"))
import blazeface as bf  # noqa: E402
import ort_host  # noqa: E402

results = []


def check(name):
    def deco(fn):
        try:
            why = fn()
        except Exception as e:  # a crash is a failure with its reason
            why = f"{type(e).__name__}: {e}"
            traceback.print_exc(file=sys.stderr)
        results.append((name, why))
        print(f"PASS {name}" if not why else f"FAIL {name}: {why}", flush=True)
        return fn
    return deco


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=Path, default=REPO / "models")
    ap.add_argument("--photos", type=Path, default=REPO / ".cache" / "photos")
    ap.add_argument("--inputs", type=Path, default=REPO / ".cache" / "models-work" / "inputs")
    args = ap.parse_args()
    M = args.models
    names = ["blazeface_full_float.onnx", "blazeface_full_int8.onnx",
             "dlib_resnet_float.onnx", "dlib_resnet_int8.onnx", "shape_predictor_5.dat"]
    state = {}
    missing = [n for n in names + ["manifest.json"] if not (M / n).exists()]
    if missing:
        print(f"FAIL models present: missing {', '.join(missing)} in {M} (run scripts/models/build.sh)")
        print("0 passed, 1 failed")
        return 1

    @check("manifest and expected-sha256.txt match the model files")
    def _():
        manifest = json.loads((M / "manifest.json").read_text())
        expected = {}
        for line in (REPO / "scripts" / "models" / "expected-sha256.txt").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                h, f = line.split()
                expected[f] = h
        bad = []
        by_file = {m["file"]: m for m in manifest["models"]}
        for n in names:
            h = sha256(M / n)
            if by_file.get(n, {}).get("sha256") != h:
                bad.append(f"{n}: manifest {by_file.get(n, {}).get('sha256')} != {h}")
            if not by_file.get(n, {}).get("id", "").endswith("@" + h[:12]):
                bad.append(f"{n}: id does not end with the sha256 prefix")
            if expected.get(n) != h:
                bad.append(f"{n}: expected-sha256.txt {expected.get(n)} != {h}")
        return "; ".join(bad)

    @check("shape_predictor_5.dat loads in dlib (PyPI dlib-bin) with 5 landmarks")
    def _():
        import dlib
        sp = dlib.shape_predictor(str(M / "shape_predictor_5.dat"))
        img = np.zeros((100, 100, 3), np.uint8)
        n = sp(img, dlib.rectangle(10, 10, 90, 90)).num_parts
        return "" if n == 5 else f"{n} landmarks"

    for stem in ("blazeface_full", "dlib_resnet"):
        @check(f"{stem}_int8 is QDQ, uint8 activations, per-channel int8 weights, loads in onnxruntime")
        def _(stem=stem):
            import onnx
            from onnx import numpy_helper
            m = onnx.load(str(M / f"{stem}_int8.onnx"))
            inits = {i.name: i for i in m.graph.initializer}
            ops = [n.op_type for n in m.graph.node]
            if "QuantizeLinear" not in ops or "DequantizeLinear" not in ops:
                return "no QuantizeLinear/DequantizeLinear nodes"
            convs = [n for n in m.graph.node if n.op_type in ("Conv", "MatMul")]
            producers = {o: n for n in m.graph.node for o in n.output}
            per_channel = act_u8 = 0
            float_convs = []
            for c in convs:
                w = producers.get(c.input[1])
                if w is None or w.op_type != "DequantizeLinear":
                    float_convs.append(c.name)
                    continue
                q, s = inits.get(w.input[0]), inits.get(w.input[1])
                if q is None or q.data_type != onnx.TensorProto.INT8:
                    return f"{c.name}: weights not int8"
                if c.op_type == "Conv" and numpy_helper.to_array(s).size == q.dims[0] > 1:
                    per_channel += 1
                elif c.op_type == "MatMul" and numpy_helper.to_array(s).size == q.dims[1]:
                    per_channel += 1
                else:
                    return f"{c.name}: weight scale is not per channel"
                x = producers.get(c.input[0])
                if x is not None and x.op_type == "DequantizeLinear":
                    zp = inits.get(x.input[2]) if len(x.input) > 2 else None
                    if zp is not None and zp.data_type == onnx.TensorProto.UINT8:
                        act_u8 += 1
            if act_u8 != per_channel:
                return f"{per_channel - act_u8} quantized convs without uint8 activations"
            # onnxruntime must fuse every quantized conv into an integer kernel (U8S8 does on x86)
            import tempfile

            import onnxruntime as ort
            with tempfile.TemporaryDirectory() as tmp:
                so = ort.SessionOptions()
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
                so.optimized_model_filepath = str(Path(tmp) / "opt.onnx")
                ort.InferenceSession(str(M / f"{stem}_int8.onnx"), so, providers=["CPUExecutionProvider"])
                opt = [n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node]
            qconv = opt.count("QLinearConv") + opt.count("QLinearMatMul")
            state[stem] = (per_channel, float_convs)
            print(f"  {stem}_int8: {per_channel} int8 convs/matmuls (onnxruntime runs {qconv} as "
                  f"QLinearConv/QLinearMatMul), float: {float_convs or 'none'}")
            return "" if qconv == per_channel else f"onnxruntime fuses only {qconv} of {per_channel}"

    # ---- detection int8 vs float --------------------------------------------------------------
    def runner(path):
        s = bf.ort_session(path, exact=True)
        outs = [o.name for o in s.get_outputs()]
        return lambda x: s.run(outs, {"input": x})

    # The checks below judge the int8 files, so they need the files' exact int8 arithmetic; on an
    # x86-64 host without VNNI onnxruntime's fused kernels saturate (ort_host.py) and the QDQ graph
    # runs in float instead.
    @check("onnxruntime's int8 reference is exact on this CPU (its own kernels, or uint8 weights where they saturate)")
    def _():
        if not ort_host.int8_is_exact():
            print(f"  note: {ort_host.NOTICE}")
        path = ort_host.probe_file()
        try:
            got = ort_host.probe(ort_host.reference_model(path))
        finally:
            Path(path).unlink()
        return "" if got == ort_host.PROBE_EXACT else f"probe gives {got} LSB, exact is {ort_host.PROBE_EXACT}"

    try:
        bf_f, bf_q = runner(M / "blazeface_full_float.onnx"), runner(M / "blazeface_full_int8.onnx")
        dl_f = bf.ort_session(M / "dlib_resnet_float.onnx")
        dl_q = bf.ort_session(M / "dlib_resnet_int8.onnx", exact=True)
    except Exception as e:  # the remaining checks need all four models
        print(f"FAIL all four models load in onnxruntime: {type(e).__name__}: {e}")
        passed = sum(1 for _, why in results if not why)
        print(f"{passed} passed, {len(results) - passed + 1} failed")
        return 1
    photo_dir = args.photos if any(args.photos.glob("*.jpg")) else args.inputs  # same files
    photos = {p.name: bf.load_rgb(p) for p in sorted(photo_dir.glob("*.jpg")) if p.name != "t1.jpg"}
    t1_path = args.inputs / "t1.jpg"

    def detect(run, img):
        small, f = bf.downscale(img)
        dets = bf.detect(run, small)
        for d in dets:
            d["box"] = d["box"] / f
            d["keypoints"] = d["keypoints"] / f
        return dets

    @check("blazeface int8 finds the same faces as float (IoU >= 0.7) on .cache/photos and t1.jpg")
    def _():
        if not photos:
            return f"no photos in {args.photos} (run scripts/fetch-photos.sh)"
        imgs = dict(photos)
        imgs["t1.jpg"] = bf.load_rgb(t1_path)
        bad, n, ious, shifts = [], 0, [], []
        for name, img in imgs.items():
            a, b = detect(bf_f, img), detect(bf_q, img)
            if len(a) != len(b):
                bad.append(f"{name}: float {len(a)} faces, int8 {len(b)}")
                continue
            for d in a:
                n += 1
                best = max(b, key=lambda e: bf.iou(d["box"], e["box"][None])[0])
                v = float(bf.iou(d["box"], best["box"][None])[0])
                ious.append(v)
                eye = np.linalg.norm(d["keypoints"][0] - d["keypoints"][1])
                shifts.append(np.linalg.norm(d["keypoints"] - best["keypoints"], axis=1) / eye)
                if v < 0.7:
                    bad.append(f"{name}: IoU {v:.3f}")
        sh = np.array(shifts) * 100  # [faces, 6] in % of the eye distance
        print(f"  {n} faces; IoU int8 vs float min {min(ious):.3f} mean {np.mean(ious):.3f}; keypoint "
              f"shift (% of eye distance) eyes mean {sh[:, :2].mean():.1f} max {sh[:, :2].max():.1f}, "
              f"all 6 mean {sh.mean():.1f} max {sh.max():.1f}")
        return "; ".join(bad)

    # ---- chips and embeddings -------------------------------------------------------------------
    def embed(sess, chip):
        return sess.run(None, {"input": bf.chip_tensor(chip)})[0][0].astype(np.float64)

    @check("dlib int8 vs float embeddings: mean cosine >= 0.999 on aligned chips")
    def _():
        imgs = dict(photos)
        imgs["t1.jpg"] = bf.load_rgb(t1_path)
        cos = []
        for name, img in imgs.items():
            for d in detect(bf_f, img):
                chip = bf.face_chip(img, d["keypoints"])
                a, b = embed(dl_f, chip), embed(dl_q, chip)
                cos.append(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        print(f"  {len(cos)} chips: cosine mean {np.mean(cos):.5f} min {np.min(cos):.5f}")
        return "" if np.mean(cos) >= 0.999 else f"mean cosine {np.mean(cos):.5f}"

    @check("int8 end to end: obama, obama2, obama3 match (dist < 0.6), biden differs")
    def _():
        need = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]
        if any(n not in photos for n in need):
            return f"missing photos in {args.photos}"
        emb = {}
        for n in need:
            dets = detect(bf_q, photos[n])
            if not dets:
                return f"{n}: no face found"
            d = max(dets, key=lambda d: (d["box"][2] - d["box"][0]) * (d["box"][3] - d["box"][1]))
            emb[n] = embed(dl_q, bf.face_chip(photos[n], d["keypoints"]))
        dist = lambda a, b: float(np.linalg.norm(emb[a] - emb[b]))
        same = [("obama.jpg", "obama2.jpg"), ("obama.jpg", "obama3.jpg"), ("obama2.jpg", "obama3.jpg")]
        diff = [("biden.jpg", o) for o in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
        print("  " + ", ".join(f"{a[:-4]}-{b[:-4]} {dist(a, b):.3f}" for a, b in same + diff))
        bad = [f"{a}/{b} {dist(a, b):.3f} >= 0.6" for a, b in same if dist(a, b) >= 0.6]
        bad += [f"{a}/{b} {dist(a, b):.3f} < 0.6" for a, b in diff if dist(a, b) < 0.6]
        return "; ".join(bad)

    @check("int8 detector finds the 6 faces of insightface t1.jpg (whole frame, then 2x2 tiles)")
    def _():
        # t1.jpg is 1280x886 (faces ~110 px): a 1280 frame, so whole frame + 2x2 overlapping
        # tiles at native size (the Swift pipeline's tiling for high-resolution frames).
        img, _ = bf.downscale(bf.load_rgb(t1_path), 1280)
        n_whole = len(bf.detect(bf_q, img))
        n = n_whole if n_whole >= 6 else len(bf.detect_tiled(bf_q, img))
        print(f"  whole frame {n_whole}, with 2x2 tiles {n}")
        return "" if n == 6 else f"{n} faces"

    passed = sum(1 for _, why in results if not why)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
