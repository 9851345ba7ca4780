"""Does onnxruntime compute int8 convolutions exactly on this CPU?

On x86-64 without VNNI (AVX2 or AVX-512BW only), onnxruntime's U8S8 convolutions and matrix products
use VPMADDUBSW. That instruction adds two u8 x s8 products into an int16 that *saturates*. With
uint8 activations and per-channel int8 weights that use the full +/-127 range, as our models do,
such pairs overflow (255 * 127 * 2 = 64,770 > 32,767). The results are then onnxruntime's, not the
model's. On such a host the same file scored 0.989 mean cosine int8-vs-float in a CI run, against
> 0.999 on a VNNI host. The model is not at fault: Vigil's engine computes in int32 on every path,
and so does onnxruntime on VNNI x86 and on arm64 (SDOT/UDOT). CI hosts differ in this.

So the checks that judge the *model file* (Tests/models/check_models.py) and the references Vigil's
engine is compared with (scripts/optests/make_optests.py) ask `int8_is_exact()` first. Where it is
False, they give onnxruntime the same model with its int8 weights stored as uint8 with the zero
point moved by 128 (`unsaturated()`): the same numbers (w_u8 - (zp + 128) == w_s8 - zp), but
onnxruntime computes U8U8 products with 16-bit multiplies into int32, which cannot saturate. The
Swift tests still run the original file. (Running the QDQ graph in float, ORT_DISABLE_ALL, is not
exact enough: 1-LSB rounding differences grow through a whole model; measured under
`qemu-x86_64 -cpu Haswell`, 91 % of dlib's outputs within 1 LSB.) The benchmarks keep onnxruntime's
real kernels, since those are what a user of onnxruntime gets.
"""
from __future__ import annotations

import functools

import numpy as np


def _probe_model():
    """x (2 channels) -> Q(u8) -> DQ -> Conv 1x1 (weights 127, s8) -> Q(u8, scale 510) -> DQ.

    With x = 255 the exact sum is 255 * 127 * 2 = 64,770 = 127 * 510: the output is 127 LSB.
    One saturated VPMADDUBSW pair gives 32,767 instead: 64 LSB.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.full((1, 2, 1, 1), 127, np.int8), "w_q")
    inits = [
        w,
        numpy_helper.from_array(np.array(1.0, np.float32), "s1"),
        numpy_helper.from_array(np.array(0, np.uint8), "z_u8"),
        numpy_helper.from_array(np.array(0, np.int8), "z_s8"),
        numpy_helper.from_array(np.array(510.0, np.float32), "s_out"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s1", "z_u8"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s1", "z_u8"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w_q", "s1", "z_s8"], ["wd"]),
        helper.make_node("Conv", ["xd", "wd"], ["y"], kernel_shape=[1, 1]),
        helper.make_node("QuantizeLinear", ["y", "s_out", "z_u8"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "s_out", "z_u8"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes, "vigil_u8s8_probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


PROBE_EXACT = 127


def probe_file() -> str:
    """The probe model, written once to a temporary file (reference_model takes a path)."""
    import tempfile
    f = tempfile.NamedTemporaryFile(prefix="vigil-u8s8-probe-", suffix=".onnx", delete=False)
    with f:
        f.write(_probe_model())
    return f.name


def probe(model) -> int:
    """The probe's output in LSB, run by onnxruntime's fused kernels (ORT_ENABLE_ALL)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    out = s.run(None, {"x": np.full((1, 2, 8, 8), 255, np.float32)})[0]
    return int(round(float(out.max()) / 510.0))


@functools.lru_cache(maxsize=1)
def int8_is_exact() -> bool:
    """True when onnxruntime's fused int8 kernels give the exact integer result on this CPU."""
    return probe(_probe_model()) == PROBE_EXACT


NOTICE = ("onnxruntime's U8S8 kernels saturate on this CPU (x86-64 without VNNI: VPMADDUBSW): "
          "int8 references run with the weights as uint8 (the same numbers, U8U8 kernels)")


def unsaturated(model_path) -> bytes:
    """The model with every int8 weight tensor that feeds a DequantizeLinear stored as uint8 and
    its zero point moved by 128: numerically the same model, run by U8U8 kernels."""
    import onnx
    from onnx import TensorProto, numpy_helper
    m = onnx.load(str(model_path))
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    for k, n in enumerate(g.node):
        if n.op_type != "DequantizeLinear" or n.input[0] not in inits or len(n.input) < 3:
            continue
        w, zp = inits[n.input[0]], inits.get(n.input[2])
        if w.data_type != TensorProto.INT8 or zp is None or zp.data_type != TensorProto.INT8:
            continue
        wu = (numpy_helper.to_array(w).astype(np.int16) + 128).astype(np.uint8)
        zu = (numpy_helper.to_array(zp).astype(np.int16) + 128).astype(np.uint8)
        # new names: an initializer may be shared with nodes this pass does not change
        g.initializer.extend([numpy_helper.from_array(wu, f"{w.name}__u8_{k}"),
                              numpy_helper.from_array(zu, f"{zp.name}__u8_{k}")])
        n.input[0], n.input[2] = f"{w.name}__u8_{k}", f"{zp.name}__u8_{k}"
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    return m.SerializeToString()


def reference_model(model_path):
    """What onnxruntime should load to compute `model_path`'s int8 arithmetic exactly here."""
    return str(model_path) if int8_is_exact() else unsaturated(model_path)


if __name__ == "__main__":
    print("exact" if int8_is_exact() else NOTICE)
