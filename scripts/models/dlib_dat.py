"""Reader for dlib's `dlib_face_recognition_resnet_model_v1.dat`, an independent numpy forward
pass, and the ONNX float graph (affine folded into conv, input normalisation folded into conv 1).

No dlib needed. Format facts (dlib/serialize.h, dlib/dnn/core.h, dlib/dnn/layers.h):
  * integers: one header byte = byte count (low 4 bits) | 0x80 if negative, then the magnitude's
    bytes little-endian;
  * float/double: two integers, mantissa (int64) and exponent (int16): value = m * 2**e;
  * bool: one ASCII byte '0' or '1';  string: integer length, then the bytes;
  * tensor: int version (2), num_samples, k, nr, nc, then k*nr*nc*n little-endian float32;
  * alias_tensor: int version (1), num_samples, k, nr, nc;
  * add_loss_layer: version 1, the loss details, then the network;
  * add_layer: version 2, its sub-network, its own details, then 3 bools and 3 tensors (gradients,
    empty in a trained file); the innermost add_layer (the one on the input layer) has version 3 and
    writes the input layer in place of a sub-network;
  * add_tag_layer / add_skip_layer: version 1, then the sub-network (nothing of their own).
So the file is: loss, a run of nested version numbers (outer -> inner), the input layer, then each
computational layer's details from input to output. Tags and skips leave no trace except their
version number: the connections come from the network definition in dlib's
examples/dnn_face_recognition_ex.cpp, which is rebuilt below (`ARCH`).
"""
from __future__ import annotations


import numpy as np


class DatReader:
    def __init__(self, data: bytes):
        self.b = data
        self.p = 0

    def byte(self) -> int:
        if self.p >= len(self.b): raise ValueError(f"truncated: no byte at {self.p}")  # noqa: E701
        v = self.b[self.p]
        self.p += 1
        return v

    def int(self) -> int:
        h = self.byte()
        n, neg = h & 0x0F, h & 0x80
        if n > 8:
            raise ValueError(f"bad integer header 0x{h:02x} at {self.p - 1}")
        v = int.from_bytes(self.b[self.p:self.p + n], "little")
        self.p += n
        return -v if neg else v

    def real(self) -> float:
        m = self.int()
        e = self.int()
        if e > 1023: raise ValueError(f"real exponent {e} beyond float range at {self.p}")  # noqa: E701
        return float(m) * 2.0 ** e

    def boolean(self) -> bool:
        c = self.byte()
        if c not in (0x30, 0x31):
            raise ValueError(f"bad bool byte 0x{c:02x} at {self.p - 1}")
        return c == 0x31

    def string(self) -> str:
        n = self.int()
        s = self.b[self.p:self.p + n].decode("ascii")
        self.p += n
        return s

    def tensor(self) -> np.ndarray:
        ver = self.int()
        if ver != 2:
            raise ValueError(f"tensor version {ver} at {self.p}")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        if not 0 <= count <= (len(self.b) - self.p) // 4: raise ValueError(f"tensor of {count} floats at {self.p}")  # noqa: E701
        arr = np.frombuffer(self.b, dtype="<f4", count=count, offset=self.p).reshape(shape)
        self.p += 4 * count
        return arr.astype(np.float32)

    def alias(self) -> tuple:
        ver = self.int()
        if ver != 1:
            raise ValueError(f"alias_tensor version {ver} at {self.p}")
        return tuple(self.int() for _ in range(4))


# ---- the network definition (dnn_face_recognition_ex.cpp), input -> output -------------------
# ares<N>      = relu<add_prev1<block<N,1,tag1<x>>>>
# ares_down<N> = relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<x>>>>>>>
# block<N,s>   = affine<con<N,3,3,1,1,relu<affine<con<N,3,3,s,s,x>>>>>
# net = fc_no_bias<128, avg_pool_everything<level0<level1<level2<level3<level4<
#         max_pool<3,3,2,2,relu<affine<con<32,7,7,2,2,input_rgb_image_sized<150>>>>>>>>>>>>
def _arch():
    seq = [("con", 32, 7, 2), ("affine",), ("relu",), ("max_pool", 3, 2)]

    def block(n, down):
        out = [("tag1",), ("con", n, 3, 2 if down else 1), ("affine",), ("relu",),
               ("con", n, 3, 1), ("affine",)]
        if down:
            out += [("tag2",), ("skip1",), ("avg_pool", 2, 2), ("add_prev", "tag2")]
        else:
            out += [("add_prev", "tag1")]
        return out + [("relu",)]

    for n, down, reps in [(32, False, 3), (64, True, 1), (64, False, 3), (128, True, 1),
                          (128, False, 2), (256, True, 1), (256, False, 2), (256, True, 1)]:
        for _ in range(reps):
            seq += block(n, down)
    seq += [("avg_pool_everything",), ("fc", 128)]
    return seq


ARCH = _arch()


def read_dat(data: bytes) -> dict:
    """Parse the .dat into {'mean': (r,g,b), 'size': 150, 'layers': [dict...] (input -> output)}."""
    r = DatReader(data)
    if r.int() != 1:
        raise ValueError("add_loss_layer version")
    loss = r.string()
    if not loss.startswith("loss_metric_"):
        raise ValueError(f"unexpected loss {loss}")
    margin, dist_thresh = r.real(), r.real()
    versions = []
    while True:
        v = r.int()
        versions.append(v)
        if v == 3:
            break
        if v not in (1, 2):
            raise ValueError(f"unexpected wrapper version {v} at {r.p}")
    if r.string() != "input_rgb_image_sized":
        raise ValueError("expected input_rgb_image_sized")
    mean = (r.real(), r.real(), r.real())
    nr, nc = r.int(), r.int()
    compute = [a for a in ARCH if a[0] not in ("tag1", "tag2", "skip1")]
    # one version per wrapper: computational layers have 2 (innermost 3), tags/skips 1
    if versions.count(2) + 1 != len(compute) or versions.count(1) != len(ARCH) - len(compute):
        raise ValueError(f"layer count mismatch: versions {versions.count(2)}+1 vs {len(compute)}")
    layers = []
    for spec in compute:
        tag = r.string()
        kind = spec[0]
        if kind == "con":
            assert tag == "con_4", tag
            params = r.tensor().reshape(-1)
            nf, knr, knc, sy, sx, py, px = (r.int() for _ in range(7))
            fshape = r.alias()
            bshape = r.alias()
            for _ in range(4):
                r.real()
            nw = int(np.prod(fshape))
            w = params[:nw].reshape(fshape)
            b = params[nw:nw + int(np.prod(bshape))].reshape(-1)
            assert (nf, knr, sy) == (spec[1], spec[2], spec[3]), (tag, nf, knr, sy)
            layers.append(dict(op="con", w=w, b=b, stride=sy, pad=py))
        elif kind == "affine":
            assert tag.startswith("affine_"), tag
            params = r.tensor().reshape(-1)
            g = r.alias()
            r.alias()
            r.int()  # mode
            n = int(np.prod(g))
            layers.append(dict(op="affine", gamma=params[:n].copy(), beta=params[n:2 * n].copy()))
        elif kind == "relu":
            assert tag.startswith("relu_"), tag
            layers.append(dict(op="relu"))
        elif kind in ("max_pool", "avg_pool", "avg_pool_everything"):
            assert tag.startswith("max_pool" if kind == "max_pool" else "avg_pool"), tag
            knr, knc, sy, sx = r.int(), r.int(), r.int(), r.int()
            py = px = 0
            if tag.endswith("_2"):
                py, px = r.int(), r.int()
            op = "global_avg" if kind == "avg_pool_everything" else kind
            if op != "global_avg":
                assert (knr, sy) == (spec[1], spec[2]), (tag, knr, sy)
            else:
                assert knr == 0 and knc == 0, (knr, knc)
            layers.append(dict(op=op, k=knr, stride=sy, pad=py))
        elif kind == "add_prev":
            assert tag.startswith("add_prev"), tag
            layers.append(dict(op="add", src=spec[1]))
        elif kind == "fc":
            assert tag.startswith("fc_"), tag
            n_out, n_in = r.int(), r.int()
            params = r.tensor().reshape(-1)
            wshape = r.alias()
            r.alias()
            bias_mode = r.int()
            for _ in range(4):
                r.real()
            assert bias_mode == 1 and n_out == spec[1], (bias_mode, n_out)  # FC_NO_BIAS = 1
            layers.append(dict(op="fc", w=params[:int(np.prod(wshape))].reshape(n_in, n_out)))
        else:
            raise AssertionError(kind)
        # add_layer trailer: this_layer_setup_called, gradient_input_is_stale,
        # get_output_and_gradient_input_disabled, x_grad, cached_output, params_grad
        for _ in range(3):
            r.boolean()
        for _ in range(3):
            r.tensor()
        if not layers[:-1]:  # innermost add_layer (version 3): one more field, an integer
            r.int()          # (the sample expansion factor of the input layer, 1)
    if r.p != len(data):
        raise ValueError(f"consumed {r.p} of {len(data)} bytes")
    return dict(mean=mean, size=(nr, nc), layers=layers, loss=loss, margin=margin,
                dist_thresh=dist_thresh, consumed=r.p)


# ---- independent numpy forward pass (unfolded: affine applied as a separate step) -------------
def _conv(x, w, b, stride, pad):
    c, h, wd = x.shape
    f, _, k, _ = w.shape
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    oh = (x.shape[1] - k) // stride + 1
    ow = (x.shape[2] - k) // stride + 1
    cols = np.empty((c, k, k, oh, ow), np.float64)
    for i in range(k):
        for j in range(k):
            cols[:, i, j] = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
    out = w.reshape(f, -1).astype(np.float64) @ cols.reshape(c * k * k, -1)
    return out.reshape(f, oh, ow) + b.reshape(-1, 1, 1)


def _pool(x, k, stride, mode):
    c, h, w = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    win = np.stack([x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
                    for i in range(k) for j in range(k)])
    return win.max(0) if mode == "max" else win.mean(0)


def _add_padded(a, b):
    """dlib add_prev: output has the larger size of each dimension; missing cells are zero."""
    shape = tuple(max(p, q) for p, q in zip(a.shape, b.shape))
    out = np.zeros(shape, np.float64)
    out[:a.shape[0], :a.shape[1], :a.shape[2]] += a
    out[:b.shape[0], :b.shape[1], :b.shape[2]] += b
    return out


def forward_numpy(net: dict, rgb: np.ndarray) -> np.ndarray:
    """rgb: HxWx3 (150x150) uint8/float in 0..255 -> 128-d descriptor (float64)."""
    x = np.asarray(rgb, np.float64).transpose(2, 0, 1)
    x = (x - np.array(net["mean"]).reshape(3, 1, 1)) / 256.0
    compute = iter(net["layers"])
    tags = {}
    for spec in ARCH:
        kind = spec[0]
        if kind in ("tag1", "tag2"):
            tags[kind] = x
            continue
        if kind == "skip1":
            x = tags["tag1"]
            continue
        L = next(compute)
        op = L["op"]
        if op == "con":
            x = _conv(x, L["w"], L["b"], L["stride"], L["pad"])
        elif op == "affine":
            x = x * L["gamma"].reshape(-1, 1, 1) + L["beta"].reshape(-1, 1, 1)
        elif op == "relu":
            x = np.maximum(x, 0)
        elif op == "max_pool":
            x = _pool(x, L["k"], L["stride"], "max")
        elif op == "avg_pool":
            x = _pool(x, L["k"], L["stride"], "avg")
        elif op == "add":
            x = _add_padded(x, tags[L["src"]])
        elif op == "global_avg":
            x = x.mean(axis=(1, 2))
        elif op == "fc":
            x = x @ L["w"].astype(np.float64)
    return x


# ---- ONNX float graph --------------------------------------------------------------------------
def build_onnx(net: dict, opset: int = 13):
    """Float ONNX graph. Input 'input' [1,3,150,150] NCHW, plain RGB 0..255 float32.
    Output 'embedding' [1,128] (not normalized)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = {"n": 0}

    def name(prefix):
        counter["n"] += 1
        return f"{prefix}_{counter['n']}"

    def const(arr, prefix, dtype=np.float32):
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype), n))
        return n

    layers = net["layers"]
    x = "input"
    shapes = {"input": (3, net["size"][0], net["size"][1])}
    compute_idx = 0
    tags = {}
    first_conv = True
    mean = np.array(net["mean"], np.float64)
    arch = ARCH
    i = 0
    while i < len(arch):
        kind = arch[i][0]
        if kind in ("tag1", "tag2"):
            tags[kind] = x
            i += 1
            continue
        if kind == "skip1":
            x = tags["tag1"]
            i += 1
            continue
        L = layers[compute_idx]
        compute_idx += 1
        op = L["op"]
        c, h, w_ = (tuple(shapes[x]) + (1, 1))[:3]
        if op == "con":
            A = layers[compute_idx]  # the affine that follows every conv
            assert A["op"] == "affine"
            compute_idx += 1
            i += 1  # skip the affine spec
            W = L["w"].astype(np.float64) * A["gamma"].reshape(-1, 1, 1, 1)
            B = L["b"].astype(np.float64) * A["gamma"] + A["beta"]
            if first_conv:  # fold (x - mean)/256; valid because conv 1 has no padding
                assert L["pad"] == 0
                B = B - (W * (mean / 256.0).reshape(1, 3, 1, 1)).sum(axis=(1, 2, 3))
                W = W / 256.0
                first_conv = False
            k, s, p = W.shape[2], L["stride"], L["pad"]
            out = name("conv")
            nodes.append(helper.make_node(
                "Conv", [x, const(W, out + "_w"), const(B, out + "_b")], [out], name=out,
                kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p]))
            oh = (h + 2 * p - k) // s + 1
            ow = (w_ + 2 * p - k) // s + 1
            shapes[out] = (W.shape[0], oh, ow)
            x = out
        elif op == "relu":
            out = name("relu")
            nodes.append(helper.make_node("Relu", [x], [out], name=out))
            shapes[out] = shapes[x]
            x = out
        elif op in ("max_pool", "avg_pool"):
            k, s = L["k"], L["stride"]
            out = name("maxpool" if op == "max_pool" else "avgpool")
            nodes.append(helper.make_node("MaxPool" if op == "max_pool" else "AveragePool", [x], [out],
                                          name=out, kernel_shape=[k, k], strides=[s, s]))
            shapes[out] = (c, (h - k) // s + 1, (w_ - k) // s + 1)
            x = out
        elif op == "add":
            other = tags[L["src"]]
            a, b = shapes[x], shapes[other]
            tgt = tuple(max(p, q) for p, q in zip(a, b))
            ins = []
            for t, sh in ((x, a), (other, b)):
                if sh != tgt:  # zero-pad channels (skip path) or rows/cols (conv path) at the end
                    pn = name("pad")
                    pads = [0, 0, 0, 0, 0, tgt[0] - sh[0], tgt[1] - sh[1], tgt[2] - sh[2]]
                    nodes.append(helper.make_node("Pad", [t, const(np.array(pads), pn + "_pads",
                                                                   np.int64)], [pn], name=pn,
                                                  mode="constant"))
                    shapes[pn] = tgt
                    t = pn
                ins.append(t)
            out = name("add")
            nodes.append(helper.make_node("Add", ins, [out], name=out))
            shapes[out] = tgt
            x = out
        elif op == "global_avg":
            out = name("gap")
            nodes.append(helper.make_node("GlobalAveragePool", [x], [out], name=out))
            fl = name("flatten")
            nodes.append(helper.make_node("Flatten", [out], [fl], name=fl, axis=1))
            shapes[fl] = (c,)
            x = fl
        elif op == "fc":
            nodes.append(helper.make_node("MatMul", [x, const(L["w"], "fc_w")], ["embedding"],
                                          name="fc"))
            x = "embedding"
        i += 1
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 150, 150])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 128])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="vigil-models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def count_params(net: dict) -> int:
    n = 0
    for L in net["layers"]:
        if L["op"] == "con":
            n += L["w"].size + L["b"].size
        elif L["op"] == "fc":
            n += L["w"].size
    return n
