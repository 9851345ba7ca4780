// The backend seam.
//
//   ONNX bytes ─▶ ONNXParser ─▶ Planner ─▶ [Step] ─▶ InferenceSession.run
//                                  │
//                                  └─ for each fused int8 op: backend.make…(descriptor) → Int8Kernel
//
// The planner describes every compute-heavy int8 operation with a plain value (a *descriptor*:
// shapes, int8 weights, int32 bias, per-channel requantizers, zero points, clamp) and asks the
// backend for a kernel object once, at plan time — where a fast backend packs its weights. At run
// time the session only calls `run` with arena pointers. Data movement (pad, transpose, concat,
// resize, reshape), table lookups and the float ops at the model's edges are the engine's own.
//
// `ReferenceBackend` is the specification: scalar loops over Quantization.swift's arithmetic. A fast
// backend must produce the same int8 values; `BackendComparison` runs two on the same inputs.

/// A backend: a factory of int8 kernels. The fast-kernel issue adds another conformer.
public protocol Int8Backend: Sendable {
    var name: String { get }
    func makeConv(_ d: ConvDescriptor) -> any Int8Kernel
    func makeFullyConnected(_ d: FullyConnectedDescriptor) -> any Int8Kernel
    func makeAdd(_ d: AddDescriptor) -> any Int8Kernel
    func makePool(_ d: PoolDescriptor) -> any Int8Kernel
    /// QuantizeLinear (float → int8 storage) at the model's edges, e.g. its input. Must give
    /// `QuantParams.quantize`'s bytes; the default is that function in a loop.
    func quantize(_ p: QuantParams, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int8>, count: Int)
    /// DequantizeLinear; must give `QuantParams.dequantize`'s values. Default: that function in a loop.
    func dequantize(_ p: QuantParams, _ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Float>, count: Int)
}

extension Int8Backend {
    public func quantize(_ p: QuantParams, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int8>, count: Int) {
        for i in 0..<count { y[i] = p.quantize(x[i]) }
    }
    public func dequantize(_ p: QuantParams, _ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = p.dequantize(x[i]) }
    }
}

/// One planned int8 operation. `b` is the second input for binary ops (Add), else nil. Pointers
/// are into the session's arena and stay valid only during the call.
public protocol Int8Kernel: Sendable {
    func run(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>?, _ output: UnsafeMutablePointer<Int8>)
}

/// Convolution, NCHW, batch 1: regular, grouped, depthwise (groups == channels) and pointwise.
public struct ConvDescriptor: Sendable {
    public var inChannels: Int, inHeight: Int, inWidth: Int
    public var outChannels: Int, outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideH: Int, strideW: Int
    /// Top and left padding (bottom/right padding is implied by the output size).
    public var padTop: Int, padLeft: Int
    public var dilationH: Int, dilationW: Int
    public var groups: Int
    /// Input zero point; padded cells hold this value (real 0).
    public var inputZeroPoint: Int32
    /// [outChannels][inChannels / groups][kernelHeight][kernelWidth], int8.
    public var weights: [Int8]
    /// Per output channel (all equal when the weights are quantized per tensor).
    public var weightZeroPoints: [Int32]
    /// Per output channel, in units of inputScale · weightScale[c].
    public var bias: [Int32]
    /// Per output channel: float32 (inputScale · weightScale[c]) / outputScale, exactly.
    public var requantizers: [Requantizer]
    public var output: OutputStage

    public var isDepthwise: Bool { groups == inChannels && groups == outChannels }
    public var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0 && groups == 1 }
    /// Multiply-accumulates per run.
    public var macs: Int { outChannels * outHeight * outWidth * (inChannels / groups) * kernelHeight * kernelWidth }
}

/// Fully connected: out[r][n] = Σ_k (in[r][k] − zi) · (w[n][k] − zw[n]) + bias[n], requantized.
/// Gemm (transB or not) and MatMul with a constant right-hand side both lower to this.
public struct FullyConnectedDescriptor: Sendable {
    public var rows: Int
    public var inFeatures: Int
    public var outFeatures: Int
    public var inputZeroPoint: Int32
    /// [outFeatures][inFeatures], int8.
    public var weights: [Int8]
    public var weightZeroPoints: [Int32]
    public var bias: [Int32]
    public var requantizers: [Requantizer]
    public var output: OutputStage
}

/// Elementwise add of two equally shaped int8 tensors with their own scales.
///
/// Specified as onnxruntime's QLinearAdd computes it on x86-64 (MLAS `qladd_avx2.cpp`, the
/// kernel behind every U8S8 residual add on this class of machine), in float32 with fused
/// multiply-adds on the values *in the file's domain* (uint8 0…255 or int8):
///   ra = float32(sa / so), rb = float32(sb / so), fixed = float32(zo) − (ra·za + rb·zb)
///   t = fma(a, ra, fma(b, rb, fixed)); out = saturate(round_half_even(t))
/// An exact fixed-point add (round half even or half up, as MLAS does on arm64) differed by
/// 1 LSB on 0.1–0.25 % of outputs, which dlib's 14 residual adds amplified to 2+ LSB at the
/// embedding. FMA exists on every target (x86-64 FMA3, arm64 NEON), so fast kernels can be exact.
public struct AddDescriptor: Sendable {
    public var count: Int
    /// Added to an int8 storage value to get the file-domain value (128 for uint8 tensors).
    public var aOffset: Int32, bOffset: Int32, outputOffset: Int32
    public var aRatio: Float, bRatio: Float
    public var fixedPart: Float
    /// Clamp in int8 storage (a fused Relu narrows it).
    public var output: OutputStage

    init(count: Int, a: QuantParams, b: QuantParams, out: QuantParams, clampMin: Int32, clampMax: Int32) {
        self.count = count
        func offset(_ p: QuantParams) -> Int32 { p.fileType == .uint8 ? 128 : 0 }
        aOffset = offset(a); bOffset = offset(b); outputOffset = offset(out)
        aRatio = a.scale / out.scale
        bRatio = b.scale / out.scale
        let za = Float(a.zeroPoint + aOffset), zb = Float(b.zeroPoint + bOffset), zo = Float(out.zeroPoint + outputOffset)
        fixedPart = zo - (aRatio * za + bRatio * zb)
        output = OutputStage(zeroPoint: out.zeroPoint, min: clampMin, max: clampMax)
    }
}

/// Max or average pooling, NCHW batch 1 (global pooling is a kernel covering the whole plane).
public struct PoolDescriptor: Sendable {
    public enum Kind: Sendable { case max, average }
    public var kind: Kind
    public var channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
    public var kernelHeight: Int, kernelWidth: Int, strideH: Int, strideW: Int, padTop: Int, padLeft: Int
    /// Average: divide by the full kernel area (padding counted) instead of the cells inside.
    public var countIncludePad: Bool
    public var inputZeroPoint: Int32
    /// Average only. Specified as onnxruntime's QLinearAveragePool (U8S8 models) computes it:
    /// y = Σ float32(si · (q − zi)) in row-major window order, y /= n (cells inside the input, or
    /// the kernel area with count_include_pad), out = saturate(round_half_even(y / so + zo)).
    /// Note the zero point is added *before* rounding: ties then round to the parity of zo.
    /// An exact integer average (zo + round_half_even(Σ(q − zi) · si / (n · so))) differed on
    /// 3 % of dlib's pooled values. Where onnxruntime keeps AveragePool in float (S8S8 models:
    /// DQ → MLAS float AveragePool → Q) its different summation still differs on ties.
    public var inputScale: Float, outputScale: Float
    /// 128 when the output is uint8 in the file (the zero point is added in the file's domain).
    public var outputOffset: Int32
    public var output: OutputStage
}
