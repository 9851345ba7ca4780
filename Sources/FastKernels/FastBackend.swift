// FastBackend: int8 kernels in C (Sources/CKernels), bit-exact with ReferenceBackend, the path
// chosen at run time (scalar C, AVX2, AVX-512 VNNI). What runs where:
//   conv (all shapes: strides, pads, dilations, groups, depthwise) and fully connected: C on every path;
//   Add: C on AVX2 and AVX-512 (FMA), the reference on the scalar path;
//   pooling (max, average, global): C on AVX-512, the reference elsewhere.
// Weights are packed once, when the planner asks for a kernel.
import CKernels
import Inference

public struct FastBackend: Int8Backend {
    /// Which code path the C kernels take. `.auto` picks the best the CPU supports; asking for a
    /// path the CPU lacks falls back to the best one below it (tests force each path).
    public enum ISA: Int32, Sendable, CaseIterable, CustomStringConvertible {
        /// x86-64: AVX2, AVX-512 VNNI. arm64: NEON (smlal, every ARMv8 core) and NEON with the
        /// dot-product extension (sdot). A path the CPU lacks resolves to the best one it has.
        case auto = 0, scalar = 1, avx2 = 2, avx512vnni = 3, neon = 4, neonDot = 5
        public var description: String {
            switch self {
            case .auto: "auto"; case .scalar: "scalar"; case .avx2: "avx2"; case .avx512vnni: "avx512vnni"
            case .neon: "neon"; case .neonDot: "neon-dotprod"
            }
        }
    }

    public let isa: ISA
    /// Threads each conv and fully connected kernel splits its work over (output channels, or
    /// groups for grouped/depthwise convs; output features for fully connected), from a shared
    /// persistent pthread pool. 1 (the default) is the single-threaded path. Results are
    /// bit-identical for any thread count: each output element is computed by one thread with the
    /// same arithmetic.
    public let threads: Int
    let reference = ReferenceBackend()

    /// Layers with fewer multiply-accumulates than this run on one thread even when `threads` > 1:
    /// waking the pool and converting the input once per thread costs more than a small layer
    /// gains (most of BlazeFace's 100 layers). 0 splits every layer (the exactness tests do).
    public let minimumMACsToSplit: Int
    public static let defaultMinimumMACsToSplit = 4_000_000

    public init(isa: ISA = .auto, threads: Int = 1, minimumMACsToSplit: Int = FastBackend.defaultMinimumMACsToSplit) {
        self.isa = isa
        self.threads = min(max(threads, 1), 64)
        self.minimumMACsToSplit = max(minimumMACsToSplit, 0)
    }

    /// The best path on this CPU.
    public static var bestISA: ISA { ISA(rawValue: vk_isa_best()) ?? .scalar }
    /// The path kernels of this backend actually run.
    public var effectiveISA: ISA {
        let best = FastBackend.bestISA
        return isa == .auto || isa.rawValue > best.rawValue ? best : isa
    }

    /// The int8 multiply-accumulate peak of one core on this backend's path, measured now for
    /// about `seconds` (VNNI vpdpbusd, AVX2 vpmaddwd, NEON sdot/smlal; 0 on the scalar path) —
    /// the yardstick the benchmark holds the embedder against.
    public func measuredPeakMACsPerSecond(seconds: Double = 0.2) -> Double {
        vk_int8_peak_macs(isa.rawValue, seconds)
    }

    public var name: String { threads == 1 ? "fast-\(effectiveISA)" : "fast-\(effectiveISA)-\(threads)t" }

    // Packing weights can fail only if memory runs out; the reference kernel (same results, no
    // packed copy) takes over rather than the process dying.
    public func makeConv(_ d: ConvDescriptor) -> any Int8Kernel {
        FastConv(d, isa: isa, threads: d.macs >= minimumMACsToSplit ? threads : 1) ?? ReferenceBackend().makeConv(d)
    }
    public func makeFullyConnected(_ d: FullyConnectedDescriptor) -> any Int8Kernel {
        FastFullyConnected(d, isa: isa, threads: d.rows * d.inFeatures * d.outFeatures >= minimumMACsToSplit ? threads : 1)
            ?? ReferenceBackend().makeFullyConnected(d)
    }
    public func quantize(_ p: QuantParams, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int8>, count: Int) {
        vk_quantize(x, y, Int64(count), p.scale, p.zeroPoint, isa.rawValue)
    }
    public func dequantize(_ p: QuantParams, _ x: UnsafePointer<Int8>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        vk_dequantize(x, y, Int64(count), p.scale, p.zeroPoint, isa.rawValue)
    }
    public func makeAdd(_ d: AddDescriptor) -> any Int8Kernel {
        effectiveISA == .scalar ? reference.makeAdd(d) : FastAdd(d, isa: isa)
    }
    public func makePool(_ d: PoolDescriptor) -> any Int8Kernel {
        effectiveISA == .avx512vnni ? FastPool(d, isa: isa) : reference.makePool(d)
    }
}

/// Owns a packed C convolution. Immutable after init; `vk_conv_run` allocates its own scratch, so
/// concurrent runs are safe.
final class FastConv: Int8Kernel, @unchecked Sendable {
    let kernel: OpaquePointer

    init?(_ d: ConvDescriptor, isa: FastBackend.ISA, threads: Int = 1) {
        var s = vk_conv_shape(
            in_c: Int32(d.inChannels), in_h: Int32(d.inHeight), in_w: Int32(d.inWidth),
            out_c: Int32(d.outChannels), out_h: Int32(d.outHeight), out_w: Int32(d.outWidth),
            k_h: Int32(d.kernelHeight), k_w: Int32(d.kernelWidth),
            stride_h: Int32(d.strideH), stride_w: Int32(d.strideW),
            pad_top: Int32(d.padTop), pad_left: Int32(d.padLeft),
            dil_h: Int32(d.dilationH), dil_w: Int32(d.dilationW), groups: Int32(d.groups),
            input_zero_point: d.inputZeroPoint, output_zero_point: d.output.zeroPoint,
            out_min: d.output.min, out_max: d.output.max)
        let ratios = d.requantizers.map(\.ratio)
        guard let k = d.weights.withUnsafeBufferPointer({ w in
            vk_conv_create_mt(&s, w.baseAddress, d.weightZeroPoints, d.bias, ratios, isa.rawValue, Int32(threads))
        }) else { return nil }
        kernel = k
    }
    deinit { vk_conv_destroy(kernel) }

    var isa: FastBackend.ISA { FastBackend.ISA(rawValue: vk_conv_isa(kernel)) ?? .scalar }
    /// The threads the kernel actually splits over (at most the requested count, and the units).
    var threads: Int { Int(vk_conv_threads(kernel)) }

    func run(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>?, _ output: UnsafeMutablePointer<Int8>) {
        vk_conv_run(kernel, a, output)
    }
}

final class FastFullyConnected: Int8Kernel, @unchecked Sendable {
    let kernel: OpaquePointer

    init?(_ d: FullyConnectedDescriptor, isa: FastBackend.ISA, threads: Int = 1) {
        let ratios = d.requantizers.map(\.ratio)
        guard let k = d.weights.withUnsafeBufferPointer({ w in
            vk_fc_create_mt(Int32(d.rows), Int32(d.inFeatures), Int32(d.outFeatures), d.inputZeroPoint,
                            d.output.zeroPoint, d.output.min, d.output.max,
                            w.baseAddress, d.weightZeroPoints, d.bias, ratios, isa.rawValue, Int32(threads))
        }) else { return nil }
        kernel = k
    }
    deinit { vk_fc_destroy(kernel) }
    var threads: Int { Int(vk_fc_threads(kernel)) }

    func run(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>?, _ output: UnsafeMutablePointer<Int8>) {
        vk_fc_run(kernel, a, output)
    }
}

/// Elementwise add (AVX2 / AVX-512 with FMA, as the reference's `addingProduct`).
struct FastAdd: Int8Kernel {
    let descriptor: AddDescriptor
    let params: vk_add_params
    let count: Int64
    let isa: Int32

    init(_ d: AddDescriptor, isa: FastBackend.ISA) {
        params = vk_add_params(a_offset: d.aOffset, b_offset: d.bOffset, out_offset: d.outputOffset,
                               out_min: d.output.min, out_max: d.output.max,
                               a_ratio: d.aRatio, b_ratio: d.bRatio, fixed: d.fixedPart)
        count = Int64(d.count)
        self.isa = isa.rawValue
        descriptor = d
    }

    func run(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>?, _ output: UnsafeMutablePointer<Int8>) {
        guard let b else { return }
        var p = params
        if vk_add(&p, count, a, b, output, isa) == 0 { ReferenceBackend().makeAdd(descriptor).run(a, b, output) }
    }
}

/// Max / average pooling (AVX-512 path; the reference if the C kernel declines).
struct FastPool: Int8Kernel {
    let params: vk_pool_params
    let isa: Int32
    let reference: any Int8Kernel

    init(_ d: PoolDescriptor, isa: FastBackend.ISA) {
        params = vk_pool_params(
            is_max: d.kind == .max ? 1 : 0, channels: Int32(d.channels), in_h: Int32(d.inHeight), in_w: Int32(d.inWidth),
            out_h: Int32(d.outHeight), out_w: Int32(d.outWidth), k_h: Int32(d.kernelHeight), k_w: Int32(d.kernelWidth),
            stride_h: Int32(d.strideH), stride_w: Int32(d.strideW), pad_top: Int32(d.padTop), pad_left: Int32(d.padLeft),
            count_include_pad: d.countIncludePad ? 1 : 0, input_zero_point: d.inputZeroPoint,
            output_zero_point: d.output.zeroPoint, out_min: d.output.min, out_max: d.output.max,
            output_offset: d.outputOffset, input_scale: d.inputScale, output_scale: d.outputScale)
        self.isa = isa.rawValue
        reference = ReferenceBackend().makePool(d)
    }

    func run(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>?, _ output: UnsafeMutablePointer<Int8>) {
        var p = params
        if vk_pool(&p, a, output, isa) == 0 { reference.run(a, b, output) }
    }
}
