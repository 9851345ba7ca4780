#!/usr/bin/env python3
"""YuNet ("bring your own model") on real faces, for the engine's whole-model test.

Quantizes OpenCV Zoo's fp32 YuNet (../shared, MIT) to int8 QDQ (U8S8, per-channel) at a fixed
320x320 input, calibrated on letterboxed photos from the PyPI sdists (.cache/photos; never
../shared photos), then runs onnxruntime (1 thread) on letterboxed real photos and writes each as a
case directory the Swift tests read: model.onnx, input.f32 (the exact tensor), out*.f32 and
meta.txt (same format as make_optests.py). The Swift test feeds the same tensor to Vigil's engine
and checks that YuNet's decoded faces are the same.

Usage: make_yunet_faces.py OUTDIR YUNET_FP32_ONNX PHOTO...
"""
import os
import sys

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_optests import session, output_scales  # noqa: E402

SIDE = 320


def letterbox_bgr(path):
    img = Image.open(path).convert("RGB")
    s = SIDE / max(img.size)
    w, h = max(1, round(img.width * s)), max(1, round(img.height * s))
    canvas = Image.new("RGB", (SIDE, SIDE))
    canvas.paste(img.resize((w, h), Image.BILINEAR), ((SIDE - w) // 2, (SIDE - h) // 2))
    a = np.asarray(canvas, np.float32)[:, :, ::-1]  # BGR, as OpenCV feeds YuNet
    return a.transpose(2, 0, 1)[None].copy()


class Reader(CalibrationDataReader):
    def __init__(self, name, batches):
        self.it = iter([{name: b} for b in batches])

    def get_next(self):
        return next(self.it, None)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    outdir, fp32, photos = sys.argv[1], sys.argv[2], sys.argv[3:]
    if not os.path.exists(fp32):
        print(f"yunet-faces: {fp32} absent, no YuNet face cases")
        return
    os.makedirs(outdir, exist_ok=True)
    m = version_converter.convert_version(onnx.load(fp32), 13)
    del m.graph.value_info[:]
    for d in m.graph.input[0].type.tensor_type.shape.dim[2:]:
        d.Clear()
        d.dim_value = SIDE
    name = m.graph.input[0].name
    tmp = os.path.join(outdir, "_yunet_fp32.onnx")
    onnx.save(m, tmp)
    batches = [letterbox_bgr(p) for p in photos]
    batches += [b[:, :, :, ::-1].copy() for b in batches]  # mirrored copies
    qpath = os.path.join(outdir, "_yunet_int8.onnx")
    quantize_static(tmp, qpath, Reader(name, batches), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    sess = session(qpath)
    model = onnx.load(qpath)
    scales = output_scales(model)
    for p in photos:
        cname = "yunet_faces-" + os.path.splitext(os.path.basename(p))[0]
        d = os.path.join(outdir, cname)
        os.makedirs(d, exist_ok=True)
        x = letterbox_bgr(p)
        outs = sess.run(None, {name: x})
        onnx.save(model, os.path.join(d, "model.onnx"))
        x.astype("<f4").tofile(os.path.join(d, "input.f32"))
        lines = [f"input {name} {','.join(map(str, x.shape))}"]
        for i, (o, arr) in enumerate(zip(sess.get_outputs(), outs)):
            arr.astype("<f4").tofile(os.path.join(d, f"out{i}.f32"))
            lines.append(f"output {o.name} {','.join(map(str, arr.shape))} {scales[i]}")
        open(os.path.join(d, "meta.txt"), "w").write("\n".join(lines) + "\n")
    os.remove(tmp)
    os.remove(qpath)
    print(f"yunet-faces: {len(photos)} cases in {outdir}")


if __name__ == "__main__":
    main()
