#!/usr/bin/env python3
"""Debug aid: where does Vigil start to differ from onnxruntime inside a whole model?

Usage: bisect_model.py CASEDIR OUTDIR K1,K2,...
  CASEDIR  an op-test case (model.onnx, input.f32, meta.txt), e.g. .cache/optests/model_dlib
  OUTDIR   receives cutK/ cases: the model cut (onnx.utils.extract_model) after its K-th
           activation DequantizeLinear, with onnxruntime's output there
Then: VIGIL_OPTESTS=OUTDIR swift test --filter OpTests  — prints agreement per cut.

Cutting keeps onnxruntime's fusions intact (a DequantizeLinear that is a graph output still lets
it build QLinearConv etc.); adding intermediate outputs to one model would not, since an extra
consumer of a DQ output blocks the fusion and onnxruntime then computes that op in float.
"""
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import onnxruntime as ort


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    case, out, picks = sys.argv[1], sys.argv[2], [int(v) for v in sys.argv[3].split(",")]
    src = os.path.join(case, "model.onnx")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    m = onnx.load(src)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    dqs = [n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] not in inits]
    print(f"{len(dqs)} activation DequantizeLinear nodes")
    meta = open(os.path.join(case, "meta.txt")).read().splitlines()
    name = meta[0].split()[1]
    shape = [int(v) for v in meta[0].split()[2].split(",")]
    x = np.fromfile(os.path.join(case, "input.f32"), "<f4").reshape(shape)
    for k in picks:
        if k >= len(dqs):
            continue
        n = dqs[k]
        d = os.path.join(out, f"cut{k:03d}")
        os.makedirs(d)
        onnx.utils.extract_model(src, os.path.join(d, "model.onnx"), [name], [n.output[0]])
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        s = ort.InferenceSession(os.path.join(d, "model.onnx"), so, providers=["CPUExecutionProvider"])
        o = s.run(None, {name: x})[0]
        o.astype("<f4").tofile(os.path.join(d, "out0.f32"))
        x.astype("<f4").tofile(os.path.join(d, "input.f32"))
        scale = float(inits[n.input[1]].reshape(-1)[0])
        with open(os.path.join(d, "meta.txt"), "w") as f:
            f.write(f"{meta[0]}\noutput {n.output[0]} {','.join(map(str, o.shape))} {scale!r}\n")
        print(f"cut{k:03d}: {n.name} {o.shape}")
    with open(os.path.join(out, "STAMP"), "w") as f:
        f.write("bisect\n")


if __name__ == "__main__":
    main()
