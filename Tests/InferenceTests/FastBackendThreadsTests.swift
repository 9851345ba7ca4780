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
            let kind = trial % 4  // 0 regular, 1 depthwise, 2 grouped, 3 pointwise
            let (d, input) = try helper.randomConv(template, kind: kind, rng: &rng, groupedGroups: 2...5, maxOutPerGroup: 41)
            let count = d.outChannels * d.outHeight * d.outWidth
            let base = helper.run(one.makeConv(d), input, count)
            #expect(base == helper.run(ref.makeConv(d), input, count), "\(isa) trial \(trial): 1 thread vs reference")
            for t in FastBackendThreadsTests.threadCounts {
                let out = helper.run(FastBackend(isa: isa, threads: t, minimumMACsToSplit: 0).makeConv(d), input, count)
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
                let out = helper.run(FastBackend(isa: isa, threads: t, minimumMACsToSplit: 0).makeFullyConnected(d), input, count)
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
                let diffs = try BackendComparison.compare(model: c.model, FastBackend(isa: isa), FastBackend(isa: isa, threads: t, minimumMACsToSplit: 0),
                                                          inputs: [c.inputName: c.input], inputSize: nil)
                #expect(!diffs.isEmpty)
                let bad = diffs.filter { $0.maxDifference > 0 }
                #expect(bad.isEmpty, "\(isa) \(name) \(t) threads: first difference \(bad.first.map(String.init(describing:)) ?? "")")
                // The model outputs themselves (float after dequantization), bit for bit.
                let session = try InferenceSession(model: c.model, backend: FastBackend(isa: isa, threads: t, minimumMACsToSplit: 0))
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
