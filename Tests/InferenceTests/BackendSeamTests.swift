import Inference
import Testing

/// A backend that is the reference except that its convolution adds 1 to one output element:
/// what a subtly wrong fast kernel looks like. `BackendComparison` must name that step.
struct PerturbedBackend: Int8Backend {
    var name: String { "perturbed" }
    let reference = ReferenceBackend()

    struct OffByOne: Int8Kernel {
        let inner: any Int8Kernel
        let count: Int
        func run(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>?, _ output: UnsafeMutablePointer<Int8>) {
            inner.run(a, b, output)
            let i = count / 2
            if output[i] < 127 { output[i] += 1 } else { output[i] -= 1 }
        }
    }

    func makeConv(_ d: ConvDescriptor) -> any Int8Kernel {
        OffByOne(inner: reference.makeConv(d), count: d.outChannels * d.outHeight * d.outWidth)
    }
    func makeFullyConnected(_ d: FullyConnectedDescriptor) -> any Int8Kernel { reference.makeFullyConnected(d) }
    func makeAdd(_ d: AddDescriptor) -> any Int8Kernel { reference.makeAdd(d) }
    func makePool(_ d: PoolDescriptor) -> any Int8Kernel { reference.makePool(d) }
}

@Suite struct BackendSeamTests {
    @Test func comparisonFindsTheFirstDifferingStep() throws {
        try #require(OpTestData.isPresent, Comment(rawValue: OpTestData.missingMessage))
        let c = try OpTestData.load("yunet_block-u8s8")
        let diffs = try BackendComparison.compare(model: c.model, ReferenceBackend(), PerturbedBackend(), inputs: [c.inputName: c.input])
        let first = try #require(diffs.first { $0.maxDifference > 0 })
        #expect(first.step.hasPrefix("Conv"), "first difference at \(first)")
        #expect(first.differing == 1 && first.maxDifference == 1)
        // A different backend plugs in without touching the loader or the planner.
        let s = try InferenceSession(model: c.model, backend: PerturbedBackend())
        #expect(s.backendName == "perturbed")
    }

    /// A plan larger than the limit is refused before the arena is allocated (the ONNX fuzzer
    /// found a 6 KB model that planned a 113 MB arena, allocated and zeroed per input).
    @Test func anArenaAboveTheLimitIsRefused() throws {
        try #require(OpTestData.isPresent, Comment(rawValue: OpTestData.missingMessage))
        let c = try OpTestData.load("model_yunet-u8s8")
        let fits = try InferenceSession(model: c.model, inputSize: .init(width: 160, height: 128))
        #expect(throws: ModelError.self) { try InferenceSession(model: c.model, inputSize: .init(width: 160, height: 128), arenaLimit: fits.arenaSize - 1) }
        #expect(try InferenceSession(model: c.model, inputSize: .init(width: 160, height: 128), arenaLimit: fits.arenaSize).arenaSize == fits.arenaSize)
        #expect(InferenceSession.maximumArenaSize == 256 << 20)
    }

    @Test func arenaIsReused() throws {
        try #require(OpTestData.isPresent, Comment(rawValue: OpTestData.missingMessage))
        let c = try OpTestData.load("model_yunet-u8s8")
        let s = try InferenceSession(model: c.model, inputSize: .init(width: 160, height: 128))
        print("YuNet 160x128: arena \(s.arenaSize) bytes, \(s.unsharedSize) without reuse, \(s.stepCount) steps, \(s.int8KernelCount) int8 kernels")
        #expect(s.arenaSize * 2 < s.unsharedSize)
        // A second run on the same session gives the same result (no state leaks between runs).
        let a = try s.run([c.inputName: c.input]), b = try s.run([c.inputName: c.input])
        #expect(a == b)
    }

    @Test func requantizerRoundsLikeOnnxRuntime() {
        // round_half_even(float32(acc) · r): ties to even, symmetric for negatives, saturating.
        let half = Requantizer(0.5)
        #expect([1, 2, 3, 5, -1, -3].map { half.apply($0) } == [0, 1, 2, 2, 0, -2])
        #expect(Requantizer(3).apply(Int64(Int32.max)) == Int64(Int32.max))
        #expect(Requantizer(0).apply(1000) == 0)
        let r = Requantizer(0.0123)
        #expect(Float(r.multiplier) * Float(sign: .plus, exponent: -r.shift, significand: 1) == 0.0123)
    }
}
