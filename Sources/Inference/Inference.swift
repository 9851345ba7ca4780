// Inference: Vigil's int8 engine for ONNX QDQ models (as onnxruntime's quantize_static writes them).
//
//   bytes ──▶ ProtoReader / ONNXParser ──▶ Model            (Protobuf.swift, ONNX.swift, Model.swift)
//                 bounds-checked wire format; tensor sizes capped by the file size
//   Model + input size + backend ──▶ Planner ──▶ Plan       (Planner.swift, PlannerShapes.swift)
//                 validate ops/inputs/types, topological order (cycles), shape inference,
//                 fold DQ → op → Q into fused int8 steps, float steps elsewhere, arena offsets
//   Plan ──▶ InferenceSession.run                            (InferenceSession.swift)
//                 int8 kernels from the backend (Backend.swift: the seam; ReferenceBackend.swift:
//                 the specification), data movement / tables / float ops (EngineKernels.swift)
//
// Supported operators (default domain, opset 11–21 as used by quantize_static output):
//   fused int8:  Conv (regular, grouped, depthwise, pointwise; strides, pads, auto_pad,
//                dilations) and Gemm / MatMul with constant weights — each + bias + requantize
//                + fused Relu/Clip; Add (same shapes); MaxPool, AveragePool, GlobalAveragePool,
//                GlobalMaxPool; Pad (constant); Resize/Upsample nearest; Concat (inputs
//                requantized to the output scale); Reshape, Flatten, Squeeze, Unsqueeze,
//                Transpose; Relu, Clip, Sigmoid, Tanh, LeakyRelu as 256-entry tables.
//   float:       the same ops plus Sub, Mul, Div, PRelu, Softmax and bilinear Resize, wherever
//                the graph is not quantized around them (model edges, excluded nodes), between
//                explicit dequantize/quantize steps — the QDQ graph's own semantics.
//   QuantizeLinear / DequantizeLinear: per-tensor for activations; per-tensor or per-channel
//   (axis) for weights; uint8 and int8 zero points. Constant, Identity.
//
// Int8 semantics (Quantization.swift, Backend.swift): uint8 activations are stored as int8
// (q − 128, zero point − 128: exact). Conv/Gemm: int32 accumulation of (x − zx)(w − zw) + int32
// bias, then round_half_even(float32(acc) · float32(sx·sw[c]/sy)) + zy, saturated and clamped
// (fused activation). Add, AveragePool: onnxruntime's own float32 formulas. These choices make
// the reference bit-exact with onnxruntime 1.32 (x86-64) on every op test and on the YuNet,
// BlazeFace and dlib models; the one known difference is AveragePool in S8S8 files, which
// onnxruntime leaves in float (its MLAS float pooling breaks ties differently).
