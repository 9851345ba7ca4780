#!/usr/bin/env python3
"""Generate op-by-op test cases for Vigil's Inference engine.

Usage: make_optests.py OUTDIR [--yunet PATH] [--models DIR]

--yunet PATH   also quantize OpenCV's fp32 YuNet (U8S8 and S8S8, 160x128) into model_yunet-* cases
--models DIR   also write model_<name> cases for the project's int8 models in DIR when present
               (blazeface_full_int8.onnx, dlib_resnet_int8.onnx), with deterministic inputs spread
               over the range of each model's first QuantizeLinear

For every case: a small float ONNX model (random shapes: odd sizes, strides 1/2, pads, groups,
channel counts not multiples of 8/16), quantized with onnxruntime's quantize_static (QDQ format,
per-channel weights) twice -- U8S8 (uint8 activations, int8 weights) and S8S8 -- then run in
onnxruntime with 1 intra-op thread and ORT_ENABLE_ALL, so the QDQ groups become onnxruntime's real
int8 kernels (QLinearConv, QLinearAdd, QLinearAveragePool, ...) as they run in production; the
reference is compared with what onnxruntime actually computes, not with a float simulation of the
QDQ graph (ORT_DISABLE_ALL). On an x86-64 host without VNNI, where onnxruntime's U8S8 products
saturate, the reference runs the same model with its weights stored as uint8 (scripts/models/
ort_host.py): the same numbers, computed exactly. Where onnxruntime has no int8 kernel (e.g. S8S8 AveragePool on
x86-64, bilinear Resize) it runs DQ → float op → Q, and that is what is compared. Each
case directory OUTDIR/<case>-<u8s8|s8s8>/ holds:

  model.onnx       the quantized model
  input.f32        the float input, little-endian float32, C order
  out<i>.f32       onnxruntime's float output i (the model ends in DequantizeLinear)
  meta.txt         lines: "input NAME d0,d1,..."; "output NAME d0,d1,... SCALE" where SCALE is the
                   scale of the DequantizeLinear producing that output (1 LSB), or 0 if float

A case fails the whole run only if onnxruntime itself fails. Deterministic (fixed seeds).
OUTDIR/STAMP is written last; the Swift tests require it.
"""
import os
import sys
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import onnxruntime as ort
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import ort_host  # noqa: E402
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)

OPSET = 13
VERSION = "3"  # bump when cases change; the Swift tests print it


class Reader(CalibrationDataReader):
    def __init__(self, name, batches):
        self.it = iter([{name: b} for b in batches])

    def get_next(self):
        return next(self.it, None)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


class Builder:
    """A tiny graph builder: float NCHW ops with random weights."""

    def __init__(self, rng, name, shape):
        self.rng, self.nodes, self.inits = rng, [], []
        self.input = helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
        self.k = 0

    def fresh(self, base):
        self.k += 1
        return f"{base}_{self.k}"

    def conv(self, x, cin, cout, k, stride=1, pads=None, group=1, dil=1, bias=True):
        kh, kw = (k, k) if isinstance(k, int) else k
        w = self.rng.normal(0, 1.0 / np.sqrt(cin // group * kh * kw), (cout, cin // group, kh, kw))
        wn = self.fresh("W")
        self.inits.append(init(wn, w.astype(np.float32)))
        ins = [x, wn]
        if bias:
            bn = self.fresh("B")
            self.inits.append(init(bn, self.rng.normal(0, 0.3, cout).astype(np.float32)))
            ins.append(bn)
        if pads is None:
            pads = [((kh - 1) * dil) // 2, ((kw - 1) * dil) // 2] * 2
        y = self.fresh("conv")
        self.nodes.append(helper.make_node(
            "Conv", ins, [y], name=self.fresh("Conv"), kernel_shape=[kh, kw], strides=[stride, stride],
            pads=pads, group=group, dilations=[dil, dil]))
        return y

    def op(self, op, ins, **attrs):
        y = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, ins, [y], name=self.fresh(op), **attrs))
        return y

    def const(self, arr, base="c"):
        n = self.fresh(base)
        self.inits.append(init(n, arr))
        return n

    def model(self, outputs):
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
        g = helper.make_graph(self.nodes, "g", [self.input], outs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 8
        return onnx.shape_inference.infer_shapes(m)


def odd(rng, lo, hi):
    return int(rng.integers(lo, hi)) | 1


# --- cases: each returns (model, input shape) ------------------------------------------------

def case_conv3x3(rng):
    c, h, w = 5, odd(rng, 9, 15), odd(rng, 9, 15)
    b = Builder(rng, "x", [1, c, h, w])
    return b.model([b.conv("x", c, 7, 3)]), [1, c, h, w]


def case_conv_s2_asym(rng):
    c, h, w = 3, 16, odd(rng, 15, 21)
    b = Builder(rng, "x", [1, c, h, w])
    return b.model([b.conv("x", c, 11, 3, stride=2, pads=[0, 0, 1, 1])]), [1, c, h, w]


def case_conv5x5_s2(rng):
    c, h, w = 6, odd(rng, 13, 19), odd(rng, 13, 19)
    b = Builder(rng, "x", [1, c, h, w])
    return b.model([b.conv("x", c, 9, 5, stride=2)]), [1, c, h, w]


def case_depthwise(rng):
    c, h, w = 13, odd(rng, 9, 15), odd(rng, 9, 15)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, c, 3, stride=1, group=c)
    return b.model([y]), [1, c, h, w]


def case_depthwise_s2(rng):
    c, h, w = 17, odd(rng, 9, 15), odd(rng, 9, 15)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, c, 3, stride=2, group=c, pads=[1, 1, 1, 1])
    return b.model([y]), [1, c, h, w]


def case_pointwise(rng):
    c, h, w = 19, odd(rng, 5, 11), odd(rng, 5, 11)
    b = Builder(rng, "x", [1, c, h, w])
    return b.model([b.conv("x", c, 23, 1)]), [1, c, h, w]


def case_grouped_dilated(rng):
    c, h, w = 9, odd(rng, 11, 17), odd(rng, 11, 17)
    b = Builder(rng, "x", [1, c, h, w])
    return b.model([b.conv("x", c, 6, 3, group=3, dil=2)]), [1, c, h, w]


def case_conv_relu(rng):
    c, h, w = 7, odd(rng, 9, 13), odd(rng, 9, 13)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.op("Relu", [b.conv("x", c, 10, 3)])
    return b.model([b.conv(y, 10, 5, 1)]), [1, c, h, w]


def case_conv_clip(rng):
    c, h, w = 4, odd(rng, 9, 13), odd(rng, 9, 13)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.op("Clip", [b.conv("x", c, 8, 3), b.const(np.float32(0.0)), b.const(np.float32(1.5))])
    return b.model([b.conv(y, 8, 3, 3)]), [1, c, h, w]


def case_residual_add(rng):
    c, h, w = 12, odd(rng, 7, 13), odd(rng, 7, 13)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.op("Relu", [b.conv("x", c, c, 3)])
    y = b.op("Add", [b.conv(y, c, c, 3), "x"])
    return b.model([b.op("Relu", [y])]), [1, c, h, w]


def case_gemm(rng):
    c, h, w = 5, 3, 3
    b = Builder(rng, "x", [1, c, h, w])
    f = b.op("Flatten", ["x"], axis=1)
    k, n = c * h * w, 29
    wt = b.const(rng.normal(0, 1 / np.sqrt(k), (n, k)).astype(np.float32), "W")
    bias = b.const(rng.normal(0, 0.3, n).astype(np.float32), "B")
    return b.model([b.op("Gemm", [f, wt, bias], transB=1)]), [1, c, h, w]


def case_matmul(rng):
    k, n = 37, 19
    b = Builder(rng, "x", [1, k])
    wt = b.const(rng.normal(0, 1 / np.sqrt(k), (k, n)).astype(np.float32), "W")
    return b.model([b.op("MatMul", ["x", wt])]), [1, k]


def case_pad(rng):
    c, h, w = 6, odd(rng, 5, 11), odd(rng, 5, 11)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, 8, 1)
    p = b.op("Pad", [y, b.const(np.array([0, 0, 1, 0, 0, 3, 2, 1], np.int64), "pads")], mode="constant")
    return b.model([b.conv(p, 11, 5, 3, stride=2, pads=[0, 0, 0, 0])]), [1, c, h, w]


def case_pad_channels(rng):
    # dlib-style: the skip path zero-padded in channels and space.
    c, h, w = 5, odd(rng, 7, 11), odd(rng, 7, 11)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, 6, 3)
    return b.model([b.op("Pad", [y, b.const(np.array([0, 0, 0, 0, 0, 4, 1, 1], np.int64), "pads")])]), [1, c, h, w]


def case_maxpool(rng):
    c, h, w = 9, odd(rng, 9, 15), odd(rng, 9, 15)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, 7, 3)
    y = b.op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    return b.model([b.op("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])]), [1, c, h, w]


def case_avgpool(rng):
    c, h, w = 9, odd(rng, 9, 15), odd(rng, 9, 15)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, 7, 3)
    return b.model([b.op("AveragePool", [y], kernel_shape=[3, 3], strides=[2, 2])]), [1, c, h, w]


def case_avgpool_pad(rng):
    c, h, w = 6, odd(rng, 9, 15), odd(rng, 9, 15)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, 5, 3)
    return b.model([b.op("AveragePool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                         count_include_pad=1)]), [1, c, h, w]


def case_global_avgpool(rng):
    c, h, w = 21, odd(rng, 5, 11), odd(rng, 5, 11)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.op("GlobalAveragePool", [b.conv("x", c, 11, 3)])
    return b.model([b.op("Flatten", [y], axis=1)]), [1, c, h, w]


def case_resize(rng):
    c, h, w = 5, odd(rng, 5, 9), odd(rng, 5, 9)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, 6, 3)
    r = b.op("Resize", [y, "", b.const(np.array([1, 1, 2, 2], np.float32), "scales")], mode="nearest",
             coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return b.model([b.conv(r, 6, 4, 1)]), [1, c, h, w]


def case_resize_add(rng):
    # YuNet's FPN: upsample the coarse map and add it to the fine one.
    c, h, w = 4, 2 * odd(rng, 3, 7), 2 * odd(rng, 3, 7)
    b = Builder(rng, "x", [1, c, h, w])
    fine = b.conv("x", c, 8, 3)
    coarse = b.conv("x", c, 8, 3, stride=2)
    up = b.op("Resize", [coarse, "", b.const(np.array([1, 1, 2, 2], np.float32), "scales")], mode="nearest",
              coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return b.model([b.op("Add", [fine, up])]), [1, c, h, w]


def case_concat(rng):
    c, h, w = 5, odd(rng, 5, 11), odd(rng, 5, 11)
    b = Builder(rng, "x", [1, c, h, w])
    a1 = b.conv("x", c, 3, 3)
    a2 = b.op("Relu", [b.conv("x", c, 6, 1)])
    return b.model([b.op("Concat", [a1, a2], axis=1)]), [1, c, h, w]


def case_head_reshape(rng):
    # BlazeFace/YuNet heads: conv → transpose NHWC → reshape [1, -1, k] (→ sigmoid).
    c, h, w = 8, odd(rng, 5, 9), odd(rng, 5, 9)
    b = Builder(rng, "x", [1, c, h, w])
    t = b.op("Transpose", [b.conv("x", c, 4, 3)], perm=[0, 2, 3, 1])
    r = b.op("Reshape", [t, b.const(np.array([1, -1, 4], np.int64), "shape")])
    t2 = b.op("Transpose", [b.conv("x", c, 2, 1)], perm=[0, 2, 3, 1])
    s = b.op("Sigmoid", [b.op("Reshape", [t2, b.const(np.array([1, -1, 1], np.int64), "shape")])])
    return b.model([r, s]), [1, c, h, w]


def case_softmax(rng):
    k = 23
    b = Builder(rng, "x", [1, k])
    wt = b.const(rng.normal(0, 2 / np.sqrt(k), (k, 10)).astype(np.float32), "W")
    return b.model([b.op("Softmax", [b.op("MatMul", ["x", wt])], axis=-1)]), [1, k]


def case_yunet_block(rng):
    # YuNet's depthwise-separable unit: 1x1 conv, depthwise 3x3 + ReLU, max-pool.
    c, h, w = 16, 2 * odd(rng, 5, 9), 2 * odd(rng, 5, 9)
    b = Builder(rng, "x", [1, 3, h, w])
    y = b.op("Relu", [b.conv("x", 3, c, 3, stride=2, pads=[1, 1, 1, 1])])
    y = b.conv(y, c, c, 1)
    y = b.op("Relu", [b.conv(y, c, c, 3, group=c)])
    y = b.op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    return b.model([y]), [1, 3, h, w]


def case_maxpool_ceil(rng):
    c, h, w = 5, odd(rng, 9, 15), odd(rng, 9, 15)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, 6, 3)
    return b.model([b.op("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)]), [1, c, h, w]


def case_resize_half_pixel(rng):
    c, h, w = 3, odd(rng, 5, 9), odd(rng, 5, 9)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, 5, 3)
    r = b.op("Resize", [y, "", b.const(np.array([1, 1, 2, 3], np.float32), "scales")], mode="nearest")
    return b.model([r]), [1, c, h, w]


def case_resize_linear(rng):
    # BlazeFace's FPN upsampling (tflite2onnx): bilinear, half_pixel, explicit sizes, 2x.
    c, h, w = 5, odd(rng, 3, 9), odd(rng, 3, 9)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, 6, 3)
    empty = b.const(np.array([], np.float32), "empty")
    r = b.op("Resize", [y, empty, empty, b.const(np.array([1, 6, 2 * h, 2 * w], np.int64), "sizes")], mode="linear",
             coordinate_transformation_mode="half_pixel")
    return b.model([b.op("Add", [r, b.conv(b.op("Resize", ["x", empty, empty, b.const(np.array([1, c, 2 * h, 2 * w], np.int64), "sizes")],
                                           mode="nearest"), c, 6, 1)])]), [1, c, h, w]


def case_resize_linear_odd(rng):
    # Non-integer factor, align_corners and asymmetric bilinear.
    c, h, w = 4, odd(rng, 5, 9), odd(rng, 5, 9)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.conv("x", c, 5, 3)
    empty = b.const(np.array([], np.float32), "empty")
    r1 = b.op("Resize", [y, empty, empty, b.const(np.array([1, 5, h + 4, 2 * w - 1], np.int64), "sizes")], mode="linear",
              coordinate_transformation_mode="align_corners")
    r2 = b.op("Resize", [y, empty, b.const(np.array([1, 1, 1.5, 1.5], np.float32), "scales")], mode="linear",
              coordinate_transformation_mode="asymmetric")
    return b.model([r1, r2]), [1, c, h, w]


def case_prelu_leaky(rng):
    c, h, w = 6, odd(rng, 5, 11), odd(rng, 5, 11)
    b = Builder(rng, "x", [1, c, h, w])
    slope = b.const(rng.uniform(0.05, 0.3, (c, 1, 1)).astype(np.float32), "slope")
    y = b.op("PRelu", [b.conv("x", c, c, 3), slope])
    return b.model([b.op("LeakyRelu", [b.conv(y, c, 4, 1)], alpha=0.1)]), [1, c, h, w]


def case_dlib_block(rng):
    # dlib ResNet downsampling block: conv s2 + relu + conv, skip = avg-pool s2 + zero channel pad.
    c, h, w = 8, 2 * odd(rng, 5, 9), 2 * odd(rng, 5, 9)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.op("Relu", [b.conv("x", c, 12, 3, stride=2, pads=[1, 1, 1, 1])])
    y = b.conv(y, 12, 12, 3)
    skip = b.op("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2])
    skip = b.op("Pad", [skip, b.const(np.array([0, 0, 0, 0, 0, 4, 0, 0], np.int64), "pads")])
    y = b.op("Relu", [b.op("Add", [y, skip])])
    return b.model([y]), [1, c, h, w]


def case_float_head(rng):
    # BlazeFace recipe: the output head conv left in float (nodes_to_exclude), fed by int8 layers.
    c, h, w = 6, odd(rng, 7, 11), odd(rng, 7, 11)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.op("Relu", [b.conv("x", c, 10, 3)])
    head = b.conv(y, 10, 4, 3)
    t = b.op("Transpose", [head], perm=[0, 2, 3, 1])
    return b.model([b.op("Reshape", [t, b.const(np.array([1, -1, 4], np.int64), "shape")])]), [1, c, h, w]


def case_float_conv_geometry(rng):
    # A float conv (left out of quantization) with stride 2, asymmetric pads, dilation and groups:
    # the engine's float kernel clips its column ranges per tap instead of testing each pixel.
    c, h, w = 4, odd(rng, 9, 13), odd(rng, 9, 15)
    b = Builder(rng, "x", [1, c, h, w])
    y = b.op("Relu", [b.conv("x", c, 6, 3)])
    return b.model([b.conv(y, 6, 4, 3, stride=2, pads=[0, 1, 2, 1], group=2, dil=2)]), [1, c, h, w]


def make_random_conv(seed):
    def case(rng):
        r = np.random.default_rng(seed)
        k = int(r.choice([1, 3, 5]))
        stride = int(r.choice([1, 2]))
        dil = int(r.choice([1, 1, 2])) if k > 1 else 1
        groups = int(r.choice([1, 1, 3]))
        cin = groups * int(r.integers(1, 8))
        cout = groups * int(r.integers(1, 9))
        h, w = int(r.integers(k * dil + 2, 24)), int(r.integers(k * dil + 2, 24))
        pads = [int(p) for p in r.integers(0, k, 4)]
        b = Builder(rng, "x", [1, cin, h, w])
        y = b.conv("x", cin, cout, k, stride=stride, pads=pads, group=groups, dil=dil)
        if r.random() < 0.5:
            y = b.op("Relu", [y])
        return b.model([y]), [1, cin, h, w]
    return case


for _i in range(8):
    globals()[f"case_conv_random{_i}"] = make_random_conv(100 + _i)

CASES = {k[5:]: v for k, v in sorted(globals().items()) if k.startswith("case_")}
# Cases quantized with per-tensor weights as well (quantize_static per_channel=False).
PER_TENSOR = {"conv3x3", "depthwise", "gemm"}
# Nodes left in float (the quantizer's nodes_to_exclude) per case: the last Conv.
EXCLUDE = {name: (lambda m: [n.name for n in m.graph.node if n.op_type == "Conv"][-1:])
           for name in ("float_head", "float_conv_geometry")}


def quantize(fp32_path, out_path, name, shape, act_type, rng, per_channel=True, exclude=(), weight_type=QuantType.QInt8):
    batches = [rng.normal(0, 1, shape).astype(np.float32) for _ in range(8)]
    quantize_static(fp32_path, out_path, Reader(name, batches), quant_format=QuantFormat.QDQ,
                    per_channel=per_channel, activation_type=act_type, weight_type=weight_type,
                    nodes_to_exclude=list(exclude))


def session(path):
    # onnxruntime's real int8 kernels; on an x86-64 host without VNNI, where its U8S8 products
    # saturate, the same model with uint8 weights (ort_host.py): exact there too.
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(ort_host.reference_model(path), so, providers=["CPUExecutionProvider"])


def output_scales(model):
    producers = {o: n for n in model.graph.node for o in n.output}
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    scales = []
    for o in model.graph.output:
        n = producers.get(o.name)
        if n is not None and n.op_type == "DequantizeLinear" and n.input[1] in inits:
            scales.append(float(inits[n.input[1]].reshape(-1)[0]))
        else:
            scales.append(0.0)
    return scales


def write_case(outdir, cname, qpath, name, x, rng):
    d = os.path.join(outdir, cname)
    os.makedirs(d, exist_ok=True)
    shutil.copyfile(qpath, os.path.join(d, "model.onnx"))
    sess = session(qpath)
    outs = sess.run(None, {name: x})
    qm = onnx.load(qpath)
    scales = output_scales(qm)
    x.astype("<f4").tofile(os.path.join(d, "input.f32"))
    lines = [f"input {name} {','.join(map(str, x.shape))}"]
    for i, (o, meta, s) in enumerate(zip(outs, sess.get_outputs(), scales)):
        np.asarray(o, dtype="<f4").tofile(os.path.join(d, f"out{i}.f32"))
        lines.append(f"output {meta.name} {','.join(map(str, o.shape))} {s!r}")
    with open(os.path.join(d, "meta.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    yunet = models = None
    if "--yunet" in sys.argv:
        yunet = sys.argv[sys.argv.index("--yunet") + 1]
    if "--models" in sys.argv:
        models = sys.argv[sys.argv.index("--models") + 1]
    os.makedirs(outdir, exist_ok=True)
    if not ort_host.int8_is_exact():
        print(f"optests: {ort_host.NOTICE}")
    stamp = os.path.join(outdir, "STAMP")
    if os.path.exists(stamp):
        os.remove(stamp)
    # Remove cases of an earlier run (only directories this script writes: they hold meta.txt).
    for entry in os.listdir(outdir):
        if os.path.exists(os.path.join(outdir, entry, "meta.txt")):
            shutil.rmtree(os.path.join(outdir, entry))
    tmp = os.path.join(outdir, "_tmp")
    os.makedirs(tmp, exist_ok=True)
    for i, (cname, fn) in enumerate(CASES.items()):
        variants = [(QuantType.QUInt8, "u8s8", True), (QuantType.QInt8, "s8s8", True)]
        if cname in PER_TENSOR:
            variants += [(QuantType.QUInt8, "u8s8_pertensor", False), (QuantType.QInt8, "s8s8_pertensor", False),
                         (QuantType.QUInt8, "u8u8_pertensor", False)]
        for act, tag, per_channel in variants:
            wtype = QuantType.QUInt8 if tag.startswith("u8u8") else QuantType.QInt8
            rng = np.random.default_rng(1000 + i)
            model, shape = fn(rng)
            fp = os.path.join(tmp, f"{cname}.onnx")
            onnx.save(model, fp)
            qp = os.path.join(tmp, f"{cname}-{tag}.onnx")
            exclude = EXCLUDE[cname](model) if cname in EXCLUDE else ()
            quantize(fp, qp, "x", shape, act, rng, per_channel=per_channel, exclude=exclude, weight_type=wtype)
            x = rng.normal(0, 1, shape).astype(np.float32)
            write_case(outdir, f"{cname}-{tag}", qp, "x", x, rng)
    if yunet and os.path.exists(yunet):
        make_yunet(outdir, tmp, yunet)
    elif yunet:
        print(f"optests: {yunet} absent, no YuNet case")
    if models:
        for fname, cname in (("blazeface_full_int8.onnx", "model_blazeface"), ("dlib_resnet_int8.onnx", "model_dlib")):
            path = os.path.join(models, fname)
            if os.path.exists(path):
                write_model_case(outdir, path, cname)
            else:
                print(f"optests: {path} absent, no {cname} case")
    shutil.rmtree(tmp)
    with open(stamp, "w") as f:
        f.write(VERSION + "\n")
    print(f"optests: {len(os.listdir(outdir)) - 1} cases in {outdir}")


def input_range(model, name):
    """The float range representable by the first QuantizeLinear applied to the input."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[1] in inits:
            s = float(inits[n.input[1]].reshape(-1)[0])
            zp = inits[n.input[2]] if len(n.input) > 2 and n.input[2] in inits else np.uint8(0)
            lo, hi = (0, 255) if zp.dtype == np.uint8 else (-128, 127)
            z = int(zp.reshape(-1)[0])
            return (lo - z) * s, (hi - z) * s
    return -1.0, 1.0


def write_model_case(outdir, path, cname):
    m = onnx.load(path)
    inp = m.graph.input[0]
    shape = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    lo, hi = input_range(m, inp.name)
    rng = np.random.default_rng(11)
    # Smooth random images (a coarse grid upsampled), not white noise: closer to what a camera gives.
    coarse = rng.uniform(lo, hi, shape[:2] + [max(1, shape[2] // 8), max(1, shape[3] // 8)]).astype(np.float32)
    x = np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3)[:, :, :shape[2], :shape[3]]
    x = np.pad(x, [(0, 0), (0, 0), (0, shape[2] - x.shape[2]), (0, shape[3] - x.shape[3])], mode="edge")
    x = (x + rng.normal(0, (hi - lo) * 0.02, shape)).clip(lo, hi).astype(np.float32)
    write_case(outdir, cname, path, inp.name, x, rng)


def make_yunet(outdir, tmp, path):
    """YuNet at 160x120, quantized U8S8 and S8S8 (opset 11 → 13 first, for per-channel QDQ)."""
    from onnx import version_converter
    m = onnx.load(path)
    m = version_converter.convert_version(m, OPSET)
    h, w = 128, 160  # YuNet needs multiples of 32
    del m.graph.value_info[:]
    for d, v in zip(m.graph.input[0].type.tensor_type.shape.dim[2:], (h, w)):
        d.Clear()
        d.dim_value = v
    fp = os.path.join(tmp, "yunet13.onnx")
    onnx.save(m, fp)
    name = m.graph.input[0].name
    rng = np.random.default_rng(7)
    for act, tag in ((QuantType.QUInt8, "u8s8"), (QuantType.QInt8, "s8s8")):
        qp = os.path.join(tmp, f"yunet-{tag}.onnx")
        batches = [rng.uniform(0, 255, (1, 3, h, w)).astype(np.float32) for _ in range(4)]
        quantize_static(fp, qp, Reader(name, batches), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=act, weight_type=QuantType.QInt8)
        x = rng.uniform(0, 255, (1, 3, h, w)).astype(np.float32)
        write_case(outdir, f"model_yunet-{tag}", qp, name, x, rng)


if __name__ == "__main__":
    main()
