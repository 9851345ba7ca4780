import FastKernels
import Inference
import Testing
import VigilCore

/// Threads (issue 4, point 4): the fast backend's conv and fully connected kernels split their
/// output channels (groups for grouped / depthwise convs, output features for fully connected)
/// over N threads; every output element is computed by one thread with the same arithmetic, so the
/// results must be identical, bit for bit, for threads 1, 2, 3 and 4 — on every ISA path, on
/// random shapes, and on every intermediate and output of whole models.
@Suite struct FastBackendThreadsTests {
    static let threadCounts = [2, 3, 4]

    @Test func threadsAreClampedAndNamed() {
        #expect(FastBackend().threads == 1)
        #expect(FastBackend(isa: .auto, threads: 0).threads == 1)
        #expect(FastBackend(threads: 3).threads == 3)
        #expect(FastBackend(threads: 1).name == FastBackend().name)
        #expect(FastBackend(threads: 2).name.hasSuffix("-2t"))
    }

    @Test(arguments: FastBackendTests.isas)
    func randomConvolutionsIdenticalForAnyThreadCount(_ isa: FastBackend.ISA) throws {
        let template = try #require(Templates.shared.conv)
        var rng = SplitMix(seed: 0x7EAD5)
        let one = FastBackend(isa: isa), ref = ReferenceBackend()
        let helper = FastBackendTests()
        for trial in 0..<120 {
            var d = template
            let kind = trial % 4  // 0 regular, 1 depthwise, 2 grouped, 3 pointwise
            let groups: Int, cinPG: Int, coutPG: Int
            switch kind {
            case 1: groups = rng.int(1...40); cinPG = 1; coutPG = rng.int(0...3) == 0 ? 2 : 1
            case 2: groups = rng.int(2...5); cinPG = rng.int(1...9); coutPG = rng.int(1...9)
            default: groups = 1; cinPG = rng.int(1...37); coutPG = rng.int(1...41)
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
            helper.randomizeQuantization(&d.inputZeroPoint, &d.weightZeroPoints, &d.bias, &d.requantizers, &d.output,
                                         channels: d.outChannels, k: k, rng: &rng)
            d.weights = (0..<d.outChannels * k).map { _ in rng.int8() }
            let input = (0..<d.inChannels * d.inHeight * d.inWidth).map { _ in rng.int8() }
            let count = d.outChannels * d.outHeight * d.outWidth
            let base = helper.run(one.makeConv(d), input, count)
            #expect(base == helper.run(ref.makeConv(d), input, count), "\(isa) trial \(trial): 1 thread vs reference")
            for t in FastBackendThreadsTests.threadCounts {
                let out = helper.run(FastBackend(isa: isa, threads: t).makeConv(d), input, count)
                #expect(out == base, "\(isa) trial \(trial), \(t) threads: groups \(d.groups) cin \(d.inChannels) cout \(d.outChannels) in \(d.inHeight)x\(d.inWidth) k \(d.kernelHeight)x\(d.kernelWidth) s \(d.strideH),\(d.strideW)")
            }
        }
    }

    @Test(arguments: FastBackendTests.isas)
    func randomFullyConnectedIdenticalForAnyThreadCount(_ isa: FastBackend.ISA) throws {
        let template = try #require(Templates.shared.fc)
        var rng = SplitMix(seed: 0xFC7)
        let one = FastBackend(isa: isa), ref = ReferenceBackend()
        let helper = FastBackendTests()
        for trial in 0..<120 {
            var d = template
            d.rows = rng.int(1...4); d.inFeatures = rng.int(1...300); d.outFeatures = rng.int(1...150)
            helper.randomizeQuantization(&d.inputZeroPoint, &d.weightZeroPoints, &d.bias, &d.requantizers, &d.output,
                                         channels: d.outFeatures, k: d.inFeatures, rng: &rng)
            d.weights = (0..<d.outFeatures * d.inFeatures).map { _ in rng.int8() }
            let input = (0..<d.rows * d.inFeatures).map { _ in rng.int8() }
            let count = d.rows * d.outFeatures
            let base = helper.run(one.makeFullyConnected(d), input, count)
            #expect(base == helper.run(ref.makeFullyConnected(d), input, count), "\(isa) trial \(trial): 1 thread vs reference")
            for t in FastBackendThreadsTests.threadCounts {
                let out = helper.run(FastBackend(isa: isa, threads: t).makeFullyConnected(d), input, count)
                #expect(out == base, "\(isa) trial \(trial), \(t) threads: rows \(d.rows) k \(d.inFeatures) n \(d.outFeatures)")
            }
        }
    }

    /// Whole models, every int8 step (intermediates and outputs), 1 thread against 2, 3 and 4.
    @Test(arguments: FastBackendTests.isas)
    func wholeModelsIdenticalForAnyThreadCount(_ isa: FastBackend.ISA) throws {
        try #require(OpTestData.isPresent, Comment(rawValue: OpTestData.missingMessage))
        for name in ["model_blazeface", "model_dlib"] {
            let c = try OpTestData.load(name)
            let single = try InferenceSession(model: c.model, backend: FastBackend(isa: isa))
            let base = try single.run([c.inputName: c.input])
            for t in FastBackendThreadsTests.threadCounts {
                let diffs = try BackendComparison.compare(model: c.model, FastBackend(isa: isa), FastBackend(isa: isa, threads: t),
                                                          inputs: [c.inputName: c.input], inputSize: nil)
                #expect(!diffs.isEmpty)
                let bad = diffs.filter { $0.maxDifference > 0 }
                #expect(bad.isEmpty, "\(isa) \(name) \(t) threads: first difference \(bad.first.map(String.init(describing:)) ?? "")")
                // The model outputs themselves (float after dequantization), bit for bit.
                let session = try InferenceSession(model: c.model, backend: FastBackend(isa: isa, threads: t))
                let out = try session.run([c.inputName: c.input])
                #expect(!base.isEmpty && Set(out.keys) == Set(base.keys))
                for (key, tensor) in base {
                    #expect(out[key]?.shape == tensor.shape)
                    #expect(out[key]?.values.map(\.bitPattern) == tensor.values.map(\.bitPattern), "\(isa) \(name) \(t) threads: output \(key) differs")
                }
                print("fast \(isa) \(name) \(t) threads: \(diffs.count) int8 steps identical to 1 thread: \(bad.isEmpty)")
            }
        }
    }
}
