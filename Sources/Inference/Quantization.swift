// The int8 arithmetic every backend must reproduce. This file is the specification; the reference
// kernels call it element by element, fast kernels must give the same integers.
//
// Storage: every quantized activation inside the engine is int8. A uint8 tensor (U8S8 models) is
// stored as q − 128 with zero point zp − 128: the real value (q − zp) · scale is unchanged, so the
// conversion is exact and kernels handle one element type. Raw outputs convert back.
//
// Requantization (conv, depthwise, fully connected): see `Requantizer` — float32 product of the
// int32 accumulator and the per-channel ratio, rounded half to even, as onnxruntime computes it.
// Add and average pooling follow onnxruntime's float formulas too (`AddDescriptor`,
// `PoolDescriptor`); quantize/dequantize are ONNX's definitions. Everything here is deterministic
// IEEE float32 or integer arithmetic, so every backend can reproduce it bit for bit.

/// Quantization parameters of an int8 activation (per tensor), in the engine's int8 storage.
public struct QuantParams: Equatable, Sendable, CustomStringConvertible {
    public var scale: Float
    /// Zero point in the int8 storage domain (for uint8 tensors: the file's zero point − 128).
    public var zeroPoint: Int32
    /// The element type in the model file (uint8 tensors are stored shifted by −128).
    public var fileType: QuantizedType

    public init(scale: Float, zeroPoint: Int32, fileType: QuantizedType) {
        self.scale = scale; self.zeroPoint = zeroPoint; self.fileType = fileType
    }
    public var description: String { "scale \(scale) zp \(zeroPoint) (\(fileType))" }

    /// float → int8 storage, exactly as onnxruntime's QuantizeLinear: x / scale rounded half to
    /// even, plus the zero point, saturated.
    @inline(__always)
    public func quantize(_ x: Float) -> Int8 {
        let v = (x / scale).rounded(.toNearestOrEven)
        let lo = Float(-128 - zeroPoint), hi = Float(127 - zeroPoint)
        let c = v.isNaN ? 0 : min(max(v, lo), hi)
        return Int8(Int32(c) + zeroPoint)
    }

    /// int8 storage → float, as onnxruntime's DequantizeLinear: float(q − zp) · scale.
    @inline(__always)
    public func dequantize(_ q: Int8) -> Float { Float(Int32(q) - zeroPoint) * scale }
}

/// The element type of a quantized tensor in the model file.
public enum QuantizedType: String, Sendable { case int8, uint8 }

/// Requantization of an int32 accumulator by a per-channel ratio
/// r = float32((inputScale · weightScale[c]) / outputScale), computed in that order in float32:
///   apply(acc) = round_half_even(float32(acc) · r)      (one float32 multiply)
/// This is exactly onnxruntime's `MlasRequantizeOutput` (QLinearConv, QGemm, QLinearMatMul on
/// x86-64 and arm64: cvtdq2ps / mulps / cvtps2dq). Both fast-kernel targets have the same IEEE
/// instructions (SSE/AVX `cvtps2dq`, NEON `vcvtnq_s32_f32`), so a SIMD kernel is bit-exact too.
///
/// Why not an integer multiplier + shift (gemmlowp/TFLite style)? It was the first version here:
/// the float32 ratio held exactly as a 24-bit multiplier and shift, rounded once. It disagreed with
/// onnxruntime on the ~1e-5 of outputs whose exact value lies within float32's rounding error of
/// a half-way point — and a 100-layer detector (BlazeFace) amplified those isolated 1-LSB
/// differences to 20 % of its final outputs off by ≥ 2 LSB. `multiplier`/`shift` are kept as the
/// exact integer form of r (r = multiplier · 2^−shift) for kernels that want it, with the caveat
/// that `apply` rounds the product to float32 first.
public struct Requantizer: Equatable, Sendable {
    public var ratio: Float
    /// r = multiplier · 2^−shift exactly (multiplier in [2^23, 2^24) for normal ratios).
    public var multiplier: Int64
    public var shift: Int

    public init(_ ratio: Float) {
        self.ratio = ratio.isFinite && ratio > 0 ? ratio : 0
        guard ratio > 0, ratio.isFinite else { multiplier = 0; shift = 0; return }
        multiplier = Int64(ratio.significandBitPattern) | (ratio.isNormal ? (1 << 23) : 0)
        shift = 23 - Int(ratio.exponent)
    }

    /// round_half_even(float32(acc) · ratio), saturated to the Int32 range.
    @inline(__always)
    public func apply(_ acc: Int64) -> Int64 {
        let v = (Float(Int32(clamping: acc)) * ratio).rounded(.toNearestOrEven)
        if v >= 2147483520 { return Int64(Int32.max) }
        if v <= -2147483648 { return Int64(Int32.min) }
        return Int64(v)
    }
}

/// Output clamp and zero point shared by the fused ops.
public struct OutputStage: Equatable, Sendable {
    public var zeroPoint: Int32
    /// Inclusive bounds in int8 storage; narrower than [−128, 127] when a ReLU/Clip was fused.
    public var min: Int32
    public var max: Int32

    @inline(__always)
    func finish(_ scaled: Int64) -> Int8 {
        let v = scaled + Int64(zeroPoint)
        return Int8(Swift.min(Swift.max(v, Int64(min)), Int64(max)))
    }
}

/// A 256-entry table int8 → int8: `table[q + 128]`. Used for requantization between two scales and
/// for elementwise functions (ReLU, Clip, Sigmoid, ...) on quantized values — as onnxruntime does
/// for QLinearSigmoid / QLinearLeakyRelu: dequantize, apply in float32, quantize.
func makeTable(from input: QuantParams, to output: QuantParams, _ f: (Float) -> Float) -> [Int8] {
    (0..<256).map { i in output.quantize(f(input.dequantize(Int8(i - 128)))) }
}
