import FastKernels
import Inference
import Synchronization
import Testing
import VigilCore

/// The fast backend (Sources/CKernels via FastKernels) against the reference, bit for bit: every
/// ISA path (scalar C, AVX2, AVX-512 VNNI — each forced, so all run on a VNNI machine), op by op on
/// random shapes and zero points, and step by step on the op-test models and whole models.
@Suite struct FastBackendTests {
    /// The paths this machine can run (a path the CPU lacks would silently fall back).
    static var isas: [FastBackend.ISA] {
        ([.scalar, .avx2, .avx512vnni] as [FastBackend.ISA]).filter { $0.rawValue <= FastBackend.bestISA.rawValue }
    }

    @Test func eachForcedPathIsTheOneThatRuns() {
        print("fast backend: best ISA on this machine \(FastBackend.bestISA); testing \(FastBackendTests.isas)")
        for isa in FastBackendTests.isas { #expect(FastBackend(isa: isa).effectiveISA == isa) }
    }

    @Test(arguments: FastBackendTests.isas)
    func randomConvolutionsMatchReference(_ isa: FastBackend.ISA) throws {
        let template = try #require(Templates.shared.conv)
        var rng = SplitMix(seed: 0xC0FFEE)
        let fast = FastBackend(isa: isa), ref = ReferenceBackend()
        var kinds: [String: Int] = [:]
        for trial in 0..<300 {
            let kind = trial % 4  // 0 regular, 1 depthwise, 2 grouped, 3 pointwise
            let (d, input) = try randomConv(template, kind: kind, rng: &rng, groupedGroups: 2...4, maxOutPerGroup: 37)
            let count = d.outChannels * d.outHeight * d.outWidth
            let a = run(ref.makeConv(d), input, count), b = run(fast.makeConv(d), input, count)
            let differing = zip(a, b).filter { $0 != $1 }.count
            #expect(differing == 0, "\(isa) trial \(trial): \(differing)/\(count) differ; groups \(d.groups) cin \(d.inChannels) cout \(d.outChannels) in \(d.inHeight)x\(d.inWidth) k \(d.kernelHeight)x\(d.kernelWidth) s \(d.strideH),\(d.strideW) d \(d.dilationH),\(d.dilationW) pad \(d.padTop),\(d.padLeft) zx \(d.inputZeroPoint)")
            kinds[["regular", "depthwise", "grouped", "pointwise"][kind], default: 0] += 1
        }
        print("fast conv \(isa): 300 random convolutions bit-exact \(kinds)")
    }

    /// QuantizeLinear and DequantizeLinear (the model's input and output edges) against
    /// QuantParams: ties (k + 0.5 exactly), NaN, infinities, huge values, every zero point range,
    /// counts with vector tails.
    @Test(arguments: FastBackendTests.isas)
    func quantizeAndDequantizeMatchReference(_ isa: FastBackend.ISA) {
        var rng = SplitMix(seed: 0x9A)
        let fast = FastBackend(isa: isa), ref = ReferenceBackend()
        for trial in 0..<200 {
            let scale = Float(rng.int(1...100_000)) / 1_000_000
            let p = QuantParams(scale: scale, zeroPoint: Int32(rng.int(-128...127)), fileType: trial % 2 == 0 ? .int8 : .uint8)
            let n = rng.int(0...200)
            let x: [Float] = (0..<n).map { _ in
                switch rng.int(0...9) {
                case 0: return (Float(rng.int(-300...300)) + 0.5) * scale  // a tie, or within an ulp of one
                case 1: return [Float.nan, .infinity, -.infinity, 1e30, -1e30, 0, -0.0][rng.int(0...6)]
                default: return Float(Int32(truncatingIfNeeded: rng.next())) / Float(1 << 31) * 200 * scale
                }
            }
            var a = [Int8](repeating: 0, count: n), b = [Int8](repeating: 1, count: n)
            ref.quantize(p, x, &a, count: n)
            fast.quantize(p, x, &b, count: n)
            #expect(a == b, "\(isa) quantize trial \(trial): scale \(scale) zp \(p.zeroPoint)")
            let q = (0..<n).map { _ in rng.int8() }
            var fa = [Float](repeating: 0, count: n), fb = [Float](repeating: 1, count: n)
            ref.dequantize(p, q, &fa, count: n)
            fast.dequantize(p, q, &fb, count: n)
            #expect(fa.map(\.bitPattern) == fb.map(\.bitPattern), "\(isa) dequantize trial \(trial)")
        }
    }

    @Test(arguments: FastBackendTests.isas)
    func randomFullyConnectedMatchReference(_ isa: FastBackend.ISA) throws {
        let template = try #require(Templates.shared.fc)
        var rng = SplitMix(seed: 0xFC)
        let fast = FastBackend(isa: isa), ref = ReferenceBackend()
        for trial in 0..<200 {
            var d = template
            d.rows = rng.int(1...4); d.inFeatures = rng.int(1...300); d.outFeatures = rng.int(1...70)
            randomizeQuantization(&d.inputZeroPoint, &d.weightZeroPoints, &d.bias, &d.requantizers, &d.output,
                                  channels: d.outFeatures, k: d.inFeatures, rng: &rng)
            d.weights = (0..<d.outFeatures * d.inFeatures).map { _ in rng.int8() }
            let input = (0..<d.rows * d.inFeatures).map { _ in rng.int8() }
            let count = d.rows * d.outFeatures
            let a = run(ref.makeFullyConnected(d), input, count), b = run(fast.makeFullyConnected(d), input, count)
            #expect(a == b, "\(isa) trial \(trial): rows \(d.rows) k \(d.inFeatures) n \(d.outFeatures) zx \(d.inputZeroPoint)")
        }
    }

    @Test(arguments: FastBackendTests.isas)
    func randomAddsMatchReference(_ isa: FastBackend.ISA) throws {
        let template = try #require(Templates.shared.add)
        var rng = SplitMix(seed: 0xADD)
        let fast = FastBackend(isa: isa), ref = ReferenceBackend()
        for trial in 0..<300 {
            var d = template
            d.count = rng.int(1...2000)
            d.aOffset = rng.int(0...1) == 0 ? 128 : 0; d.bOffset = rng.int(0...1) == 0 ? 128 : 0; d.outputOffset = rng.int(0...1) == 0 ? 128 : 0
            // Ratios with few significant bits make exact ties (x.5) common.
            // Full-precision ratios (as sa / so) make fma differ from multiply-then-add.
            func ratio(_ rng: inout SplitMix) -> Float {
                trial % 2 == 0 ? Float(rng.int(1...64)) / Float(1 << rng.int(2...7)) : Float(rng.int(1...(1 << 24))) / Float(1 << 23)
            }
            d.aRatio = ratio(&rng); d.bRatio = ratio(&rng)
            d.fixedPart = rng.int(0...1) == 0 ? Float(rng.int(-300...300)) / 4 : Float(rng.int(-300000...300000)) / 1000
            let zy = Int32(rng.int(-128...127))
            d.output.zeroPoint = zy; d.output.min = rng.int(0...1) == 0 ? -128 : zy; d.output.max = 127
            let a = (0..<d.count).map { _ in rng.int8() }, b = (0..<d.count).map { _ in rng.int8() }
            let x = runBinary(ref.makeAdd(d), a, b), y = runBinary(fast.makeAdd(d), a, b)
            #expect(x == y, "\(isa) add trial \(trial): count \(d.count)")
        }
    }

    @Test(arguments: FastBackendTests.isas)
    func randomPoolsMatchReference(_ isa: FastBackend.ISA) throws {
        let template = try #require(Templates.shared.pool)
        var rng = SplitMix(seed: 0x9001)
        let fast = FastBackend(isa: isa), ref = ReferenceBackend()
        for trial in 0..<300 {
            var d = template
            d.kind = trial % 2 == 0 ? .max : .average
            d.channels = rng.int(1...20)
            d.kernelHeight = rng.int(1...4); d.kernelWidth = rng.int(1...4)
            d.strideH = rng.int(1...3); d.strideW = rng.int(1...3)
            d.padTop = rng.int(0...d.kernelHeight - 1); d.padLeft = rng.int(0...d.kernelWidth - 1)
            let padBottom = rng.int(0...d.kernelHeight - 1), padRight = rng.int(0...d.kernelWidth - 1)  // also ceil mode
            d.inHeight = rng.int(max(1, d.kernelHeight - d.padTop - padBottom)...25)
            d.inWidth = rng.int(max(1, d.kernelWidth - d.padLeft - padRight)...25)
            if trial % 7 == 0 {  // global pooling
                d.kernelHeight = d.inHeight; d.kernelWidth = d.inWidth; d.padTop = 0; d.padLeft = 0
                d.outHeight = 1; d.outWidth = 1
            } else {
                d.outHeight = (d.inHeight + d.padTop + padBottom - d.kernelHeight) / d.strideH + 1
                d.outWidth = (d.inWidth + d.padLeft + padRight - d.kernelWidth) / d.strideW + 1
            }
            d.countIncludePad = rng.int(0...1) == 0
            d.inputZeroPoint = Int32(rng.int(-128...127))
            d.inputScale = Float(rng.int(1...(1 << 20))) / Float(1 << 24)
            d.outputScale = rng.int(0...2) == 0 ? d.inputScale : Float(rng.int(1...(1 << 20))) / Float(1 << 24)
            d.outputOffset = rng.int(0...1) == 0 ? 128 : 0
            let zy = Int32(rng.int(-128...127))
            d.output.zeroPoint = zy; d.output.min = rng.int(0...1) == 0 ? -128 : zy; d.output.max = 127
            let input = (0..<d.channels * d.inHeight * d.inWidth).map { _ in rng.int8() }
            let count = d.channels * d.outHeight * d.outWidth
            let a = run(ref.makePool(d), input, count), b = run(fast.makePool(d), input, count)
            #expect(a == b, "\(isa) pool trial \(trial): \(d.kind) c \(d.channels) in \(d.inHeight)x\(d.inWidth) k \(d.kernelHeight)x\(d.kernelWidth) s \(d.strideH),\(d.strideW) pad \(d.padTop),\(d.padLeft) includePad \(d.countIncludePad)")
        }
    }

    func runBinary(_ k: any Int8Kernel, _ a: [Int8], _ b: [Int8]) -> [Int8] {
        var out = [Int8](repeating: 0, count: a.count)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { k.run(pa.baseAddress!, pb.baseAddress!, $0.baseAddress!) } } }
        return out
    }

    /// Every conv/gemm/matmul op test and the whole models, step by step (BackendComparison).
    @Test(arguments: FastBackendTests.isas)
    func modelsMatchReferenceStepByStep(_ isa: FastBackend.ISA) throws {
        try #require(OpTestData.isPresent, Comment(rawValue: OpTestData.missingMessage))
        let names = OpTestData.caseNames.filter {
            ["conv", "depthwise", "pointwise", "grouped", "gemm", "matmul", "dlib_block", "yunet_block", "residual_add", "resize_add", "maxpool", "avgpool", "global_avgpool", "model_"].contains(where: $0.hasPrefix)
        }
        try #require(names.contains("model_blazeface") && names.contains("model_dlib"))
        for name in names {
            let c = try OpTestData.load(name)
            let size = name.hasPrefix("model_yunet") ? Size(width: c.input.shape[3], height: c.input.shape[2]) : nil
            let diffs = try BackendComparison.compare(model: c.model, ReferenceBackend(), FastBackend(isa: isa),
                                                      inputs: [c.inputName: c.input], inputSize: size)
            let bad = diffs.filter { $0.maxDifference > 0 }
            #expect(bad.isEmpty, "\(isa) \(name): first difference \(bad.first.map(String.init(describing:)) ?? "")")
            if name.hasPrefix("model_") { print("fast \(isa) \(name): \(diffs.count) int8 steps bit-exact: \(bad.isEmpty)") }
        }
    }

    func run(_ k: any Int8Kernel, _ input: [Int8], _ count: Int) -> [Int8] {
        var out = [Int8](repeating: 0, count: count)
        input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { k.run(i.baseAddress!, nil, $0.baseAddress!) } }
        return out
    }

    /// Both zero-point regimes (symmetric int8 weights; uint8 weights with per-channel zero
    /// points), input zero points anywhere, ratios including exact ties, biases up to saturation.
    func randomizeQuantization(_ zx: inout Int32, _ zw: inout [Int32], _ bias: inout [Int32], _ rq: inout [Requantizer],
                               _ out: inout OutputStage, channels: Int, k: Int, rng: inout SplitMix) {
        zx = [Int32(-128), 0, Int32(rng.int(-128...127))][rng.int(0...2)]
        let asymmetric = rng.int(0...2) == 0
        zw = (0..<channels).map { _ in asymmetric ? Int32(rng.int(-128...127)) : 0 }
        bias = (0..<channels).map { _ in
            switch rng.int(0...19) {
            case 0: Int32.max - Int32(rng.int(0...1000))
            case 1: Int32.min + Int32(rng.int(0...1000))
            default: Int32(rng.int(-60000...60000))
            }
        }
        rq = (0..<channels).map { _ in
            switch rng.int(0...4) {
            case 0: Requantizer([0.5, 0.25, 0.125, 1.0 / 64][rng.int(0...3)])
            default: Requantizer(Float(sign: .plus, exponent: -rng.int(6...16), significand: 1 + Float(rng.int(0...1023)) / 1024))
            }
        }
        let zy = Int32(rng.int(-128...127))
        out.zeroPoint = zy
        out.min = rng.int(0...1) == 0 ? -128 : zy
        out.max = rng.int(0...3) == 0 ? min(127, zy + 60) : 127
        _ = k
    }
}

/// Descriptors as the planner makes them, captured from op-test models, for random variation.
final class Templates: Sendable {
    static let shared = Templates()
    let conv: ConvDescriptor?
    let fc: FullyConnectedDescriptor?
    let add: AddDescriptor?
    let pool: PoolDescriptor?

    final class Capture: Int8Backend {
        let conv = Mutex<ConvDescriptor?>(nil), fc = Mutex<FullyConnectedDescriptor?>(nil), add = Mutex<AddDescriptor?>(nil), pool = Mutex<PoolDescriptor?>(nil)
        let ref = ReferenceBackend()
        var name: String { "capture" }
        func makeConv(_ d: ConvDescriptor) -> any Int8Kernel { conv.withLock { $0 = $0 ?? d }; return ref.makeConv(d) }
        func makeFullyConnected(_ d: FullyConnectedDescriptor) -> any Int8Kernel { fc.withLock { $0 = $0 ?? d }; return ref.makeFullyConnected(d) }
        func makeAdd(_ d: AddDescriptor) -> any Int8Kernel { add.withLock { $0 = $0 ?? d }; return ref.makeAdd(d) }
        func makePool(_ d: PoolDescriptor) -> any Int8Kernel { pool.withLock { $0 = $0 ?? d }; return ref.makePool(d) }
    }

    init() {
        var conv: ConvDescriptor?, fc: FullyConnectedDescriptor?, add: AddDescriptor?, pool: PoolDescriptor?
        if OpTestData.isPresent {
            let cap = Capture()
            for name in ["conv3x3-u8s8", "gemm-u8s8", "residual_add-u8s8", "avgpool-u8s8"] {
                if let c = try? OpTestData.load(name) { _ = try? InferenceSession(model: c.model, backend: cap) }
            }
            conv = cap.conv.withLock { $0 }
            fc = cap.fc.withLock { $0 }
            add = cap.add.withLock { $0 }
            pool = cap.pool.withLock { $0 }
        }
        self.conv = conv; self.fc = fc; self.add = add; self.pool = pool
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.upperBound - r.lowerBound + 1)) }
    mutating func int8() -> Int8 { Int8(truncatingIfNeeded: next()) }
}

extension FastBackendTests {
    /// A random convolution of `kind` (0 regular, 1 depthwise, 2 grouped, 3 pointwise) built on
    /// `template`, with random geometry, quantization, weights and an input — shared by the
    /// exactness and the thread tests.
    func randomConv(_ template: ConvDescriptor, kind: Int, rng: inout SplitMix,
                    groupedGroups: ClosedRange<Int>, maxOutPerGroup: Int) throws -> (ConvDescriptor, [Int8]) {
        var d = template
        let groups: Int, cinPG: Int, coutPG: Int
        switch kind {
        case 1: groups = rng.int(1...40); cinPG = 1; coutPG = rng.int(0...3) == 0 ? 2 : 1  // depthwise, some with a channel multiplier
        case 2: groups = rng.int(groupedGroups); cinPG = rng.int(1...9); coutPG = rng.int(1...9)
        default: groups = 1; cinPG = rng.int(1...37); coutPG = rng.int(1...maxOutPerGroup)
        }
        d.groups = groups
        d.inChannels = groups * cinPG; d.outChannels = groups * coutPG
        if kind == 3 {
            d.kernelHeight = 1; d.kernelWidth = 1; d.strideH = 1; d.strideW = 1
            d.padTop = 0; d.padLeft = 0; d.dilationH = 1; d.dilationW = 1
        } else {
            d.kernelHeight = rng.int(1...5); d.kernelWidth = rng.int(1...5)
            d.strideH = rng.int(1...3); d.strideW = rng.int(1...3)
            d.dilationH = rng.int(0...3) == 0 ? 2 : 1; d.dilationW = rng.int(0...3) == 0 ? 2 : 1
            d.padTop = rng.int(0...2); d.padLeft = rng.int(0...2)
        }
        let padBottom = kind == 3 ? 0 : rng.int(0...2), padRight = kind == 3 ? 0 : rng.int(0...2)
        let extentH = d.dilationH * (d.kernelHeight - 1) + 1, extentW = d.dilationW * (d.kernelWidth - 1) + 1
        d.inHeight = rng.int(max(1, extentH - d.padTop - padBottom)...max(1, extentH - d.padTop - padBottom) + 20)
        d.inWidth = rng.int(max(1, extentW - d.padLeft - padRight)...max(1, extentW - d.padLeft - padRight) + 20)
        d.outHeight = (d.inHeight + d.padTop + padBottom - extentH) / d.strideH + 1
        d.outWidth = (d.inWidth + d.padLeft + padRight - extentW) / d.strideW + 1
        try #require(d.outHeight >= 1 && d.outWidth >= 1)
        let k = cinPG * d.kernelHeight * d.kernelWidth
        randomizeQuantization(&d.inputZeroPoint, &d.weightZeroPoints, &d.bias, &d.requantizers, &d.output,
                              channels: d.outChannels, k: k, rng: &rng)
        d.weights = (0..<d.outChannels * k).map { _ in rng.int8() }
        let input = (0..<d.inChannels * d.inHeight * d.inWidth).map { _ in rng.int8() }
        return (d, input)
    }
}
