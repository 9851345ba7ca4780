import VigilCore

extension Int8Backend where Self == ReferenceBackend {
    /// The scalar specification backend.
    public static var reference: ReferenceBackend { ReferenceBackend() }
}

/// A model planned for one input size and one backend, with its arena. Not thread-safe: one
/// session per thread (sessions of the same `Model` are independent).
///
/// ```swift
/// let model = try Model(contentsOf: "models/blazeface_full_int8.onnx")
/// let session = try InferenceSession(model: model, backend: .reference)
/// let out = try session.run(["input": Tensor(shape: [1, 3, 192, 192], values: pixels)])
/// ```
public final class InferenceSession {
    public let backendName: String
    /// Inputs and outputs with the planned (concrete) shapes.
    public let inputs: [TensorInfo]
    public let outputs: [TensorInfo]
    let plan: Plan
    let backend: any Int8Backend
    let arena: UnsafeMutableRawPointer
    let arenaBytes: Int

    /// Plans `model` for `backend`. `inputSize` overrides the height and width of a 4-D (NCHW)
    /// input — for fully convolutional models such as YuNet; required when they are symbolic.
    /// `arenaLimit`: a plan needing a larger arena is refused before anything is allocated (the
    /// arena is allocated and zeroed at once, so a small file declaring huge activations must not
    /// be able to take the board's memory).
    public init(model: Model, backend: some Int8Backend = ReferenceBackend(), inputSize: Size? = nil,
                arenaLimit: Int = InferenceSession.maximumArenaSize) throws {
        var shapes: [String: [Int]] = [:]
        for input in model.proto.graph.inputs {
            guard let dims = input.dims else { throw ModelError.badShape("input '\(input.name)' has no declared shape") }
            var shape: [Int] = []
            for (i, d) in dims.enumerated() {
                switch d {
                case .value(let v) where v > 0: shape.append(v)
                case .value, .symbol:
                    if i == 0 { shape.append(1) }  // batch
                    else if dims.count == 4 && i >= 2 && inputSize != nil { shape.append(0) }
                    else { throw InferenceError.badInputSize("input '\(input.name)' has a symbolic dimension \(i); pass inputSize") }
                }
            }
            if let inputSize {
                guard shape.count == 4 else { throw InferenceError.badInputSize("inputSize needs an NCHW input; '\(input.name)' has rank \(shape.count)") }
                guard inputSize.width >= 1, inputSize.height >= 1, inputSize.width <= 16384, inputSize.height <= 16384 else {
                    throw InferenceError.badInputSize("\(inputSize)")
                }
                shape[2] = inputSize.height
                shape[3] = inputSize.width
            }
            shapes[input.name] = shape
        }
        var planner = Planner(model: model.proto, backend: backend)
        let plan = try planner.plan(inputShapes: shapes)
        self.plan = plan
        self.backend = backend
        backendName = backend.name
        inputs = plan.inputs.map { TensorInfo(name: $0.name, shape: plan.values[$0.value].shape, elementType: .float32) }
        outputs = plan.outputs.map { TensorInfo(name: $0.name, shape: plan.values[$0.value].shape, elementType: .float32) }
        guard plan.arenaSize <= arenaLimit else {
            throw ModelError.tooLarge("the plan needs a \(plan.arenaSize >> 20) MiB arena (limit \(arenaLimit >> 20) MiB)")
        }
        arenaBytes = max(plan.arenaSize, 64)
        arena = UnsafeMutableRawPointer.allocate(byteCount: arenaBytes, alignment: 64)
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: arenaBytes)
        for v in plan.values {
            if let c = v.constant { (arena + v.offset).bindMemory(to: Float.self, capacity: c.count).update(from: c, count: c.count) }
        }
    }

    deinit { arena.deallocate() }

    /// Largest arena a session allocates by default; a plan needing more is refused at creation.
    /// 256 MiB: the face models need a few MiB, YuNet at 640x640 some tens; a board has 1–4 GiB.
    public static let maximumArenaSize = 256 << 20

    /// Bytes of the activation arena (all intermediate values, reused across lifetimes).
    public var arenaSize: Int { arenaBytes }
    /// What the arena would need without reuse (sum of every value's bytes), for comparison.
    public var unsharedSize: Int { plan.values.reduce(0) { $0 + (($1.byteCount + 63) & ~63) } }
    /// Number of planned steps, and how many are fused int8 kernels (diagnostics).
    public var stepCount: Int { plan.steps.count }
    public var int8KernelCount: Int { plan.steps.filter { if case .kernel = $0.kind { true } else { false } }.count }
    /// One line per step: its kind and the ONNX node(s) it implements.
    public var planDescription: [String] {
        plan.steps.map { step in
            let kind: String = switch step.kind {
            case .quantize: "quantize"
            case .dequantize: "dequantize"
            case .kernel: "int8 kernel"
            case .table: "int8 table"
            case .copy: "copy"
            case .transpose: "transpose"
            case .pad: "pad"
            case .resizeNearest: "resize"
            case .resizeLinear: "resize (bilinear)"
            case .concat: "concat"
            case .floatConv: "float conv"
            case .floatFullyConnected: "float fully-connected"
            case .floatUnary: "float unary"
            case .floatBinary: "float binary"
            case .floatSoftmax: "float softmax"
            case .floatPool: "float pool"
            }
            let v = plan.values[step.output]
            return "\(kind) \(step.label) → \(v.isFloat ? "f32" : "i8") \(v.shape)"
        }
    }

    /// Runs the model; outputs are float (dequantized with the model's last DequantizeLinear).
    public func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        try execute(feeds, observe: nil)
        var result: [String: Tensor] = [:]
        for o in plan.outputs {
            let v = plan.values[o.value]
            let p = (arena + v.offset).assumingMemoryBound(to: Float.self)
            result[o.name] = Tensor(shape: v.shape, values: Array(UnsafeBufferPointer(start: p, count: v.count)))
        }
        return result
    }

    /// Runs the model without Tensor copies, for hot loops: `fill` writes input `i` (the planned
    /// shape of `inputs[i]`, C order) straight into the session's arena, `read` sees output `i`
    /// (as `outputs[i]`) in place — valid only during the call.
    public func run(fill: (_ input: Int, _ values: UnsafeMutableBufferPointer<Float>) throws -> Void,
                    read: (_ output: Int, _ values: UnsafeBufferPointer<Float>) throws -> Void) throws {
        for (i, input) in plan.inputs.enumerated() {
            let v = plan.values[input.value]
            try fill(i, UnsafeMutableBufferPointer(start: f32(input.value), count: v.count))
        }
        for step in plan.steps { perform(step) }
        for (i, o) in plan.outputs.enumerated() {
            try read(i, UnsafeBufferPointer(start: f32(o.value), count: plan.values[o.value].count))
        }
    }

    /// Runs the model and returns the outputs in their own quantization (for LSB comparisons).
    /// Outputs computed in float (no QuantizeLinear before them) are left out.
    public func runQuantized(_ feeds: [String: Tensor]) throws -> [String: QuantizedTensor] {
        try execute(feeds, observe: nil)
        return quantizedOutputs()
    }

    func quantizedOutputs() -> [String: QuantizedTensor] {
        var result: [String: QuantizedTensor] = [:]
        for o in plan.outputs {
            guard let r = o.raw, let q = plan.values[r].quant else { continue }
            let v = plan.values[r]
            let p = (arena + v.offset).assumingMemoryBound(to: Int8.self)
            let shift: Int32 = q.fileType == .uint8 ? 128 : 0
            result[o.name] = QuantizedTensor(shape: v.shape, values: (0..<v.count).map { Int32(p[$0]) + shift },
                                             scale: q.scale, zeroPoint: q.zeroPoint + shift, type: q.fileType)
        }
        return result
    }

    /// Time per step, for finding where a model spends its time (`vigil profile`).
    public struct StepTiming: Sendable {
        public var kind: String
        /// The ONNX node(s) of the step and its output shape, as in `planDescription`.
        public var description: String
        /// Median over the iterations, in seconds.
        public var seconds: Double
    }

    /// Runs the model `iterations` times and returns each step's median time, in plan order.
    public func profile(_ feeds: [String: Tensor], iterations: Int = 20) throws -> [StepTiming] {
        var samples = Array(repeating: [Double](), count: plan.steps.count)
        try execute(feeds, observe: nil)  // warm-up
        for _ in 0..<max(iterations, 1) {
            var last = MonotonicInstant.now()
            try execute(feeds) { i, _, _ in
                let now = MonotonicInstant.now()
                samples[i].append(Double(now.nanoseconds - last.nanoseconds) / 1e9)
                last = now
            }
        }
        let names = planDescription
        return samples.enumerated().map { i, s in
            let sorted = s.sorted()
            return StepTiming(kind: String(names[i].prefix { $0 != " " }), description: names[i], seconds: sorted[sorted.count / 2])
        }
    }

    func execute(_ feeds: [String: Tensor], observe: ((Int, Step, UnsafeRawPointer) -> Void)?) throws {
        for name in feeds.keys where !plan.inputs.contains(where: { $0.name == name }) { throw InferenceError.unknownInput(name) }
        for input in plan.inputs {
            guard let t = feeds[input.name] else { throw InferenceError.missingInput(input.name) }
            let v = plan.values[input.value]
            guard t.shape == v.shape else { throw InferenceError.wrongInputShape(name: input.name, expected: v.shape, got: t.shape) }
            guard t.values.count == v.count else { throw InferenceError.inconsistentTensor(shape: t.shape, count: t.values.count) }
            (arena + v.offset).bindMemory(to: Float.self, capacity: v.count).update(from: t.values, count: v.count)
        }
        for (i, step) in plan.steps.enumerated() {
            perform(step)
            if let observe { observe(i, step, UnsafeRawPointer(arena + plan.values[step.output].offset)) }
        }
    }

    private func i8(_ v: Int) -> UnsafeMutablePointer<Int8> { (arena + plan.values[v].offset).assumingMemoryBound(to: Int8.self) }
    private func f32(_ v: Int) -> UnsafeMutablePointer<Float> { (arena + plan.values[v].offset).assumingMemoryBound(to: Float.self) }

    private func perform(_ step: Step) {
        let out = step.output
        let outValue = plan.values[out]
        let isFloat = outValue.isFloat
        switch step.kind {
        case .quantize(let p):
            backend.quantize(p, f32(step.inputs[0]), i8(out), count: outValue.count)
        case .dequantize(let p):
            backend.dequantize(p, i8(step.inputs[0]), f32(out), count: outValue.count)
        case .kernel(let k):
            k.run(UnsafePointer(i8(step.inputs[0])), step.inputs.count > 1 ? UnsafePointer(i8(step.inputs[1])) : nil, i8(out))
        case .table(let table):
            let x = i8(step.inputs[0]), y = i8(out)
            table.withUnsafeBufferPointer { t in for i in 0..<outValue.count { y[i] = t[Int(x[i]) + 128] } }
        case .copy:
            (arena + outValue.offset).copyMemory(from: arena + plan.values[step.inputs[0]].offset, byteCount: outValue.byteCount)
        case .transpose(let perm, let inShape):
            if isFloat { Movement.transpose(f32(step.inputs[0]), f32(out), perm: perm, inShape: inShape) }
            else { Movement.transpose(i8(step.inputs[0]), i8(out), perm: perm, inShape: inShape) }
        case .pad(let begins, let inShape, let outShape, let fill):
            if isFloat { Movement.pad(f32(step.inputs[0]), f32(out), begins: begins, inShape: inShape, outShape: outShape, fill: fill) }
            else { Movement.pad(i8(step.inputs[0]), i8(out), begins: begins, inShape: inShape, outShape: outShape, fill: Int8(fill)) }
        case .resizeNearest(let planes, let h, let w, let ys, let xs):
            if isFloat { Movement.resizeNearest(f32(step.inputs[0]), f32(out), planes: planes, inHeight: h, inWidth: w, ySource: ys, xSource: xs) }
            else { Movement.resizeNearest(i8(step.inputs[0]), i8(out), planes: planes, inHeight: h, inWidth: w, ySource: ys, xSource: xs) }
        case .resizeLinear(let planes, let h, let w, let ya, let xa, let offset):
            if isFloat { Movement.resizeLinear(f32(step.inputs[0]), f32(out), planes: planes, inHeight: h, inWidth: w, y: ya, x: xa) }
            else { Movement.resizeLinear(i8(step.inputs[0]), i8(out), planes: planes, inHeight: h, inWidth: w, y: ya, x: xa, offset: offset) }
        case .concat(let axis, let shapes):
            if isFloat { Movement.concat(step.inputs.map { UnsafePointer(f32($0)) }, f32(out), axis: axis, shapes: shapes) }
            else { Movement.concat(step.inputs.map { UnsafePointer(i8($0)) }, i8(out), axis: axis, shapes: shapes) }
        case .floatConv(let c):
            FloatKernels.conv(c, f32(step.inputs[0]), f32(out))
        case .floatFullyConnected(let rows, let k, let n, let w, let b):
            FloatKernels.fullyConnected(rows: rows, k: k, n: n, weights: w, bias: b, f32(step.inputs[0]), f32(out))
        case .floatUnary(let op):
            FloatKernels.unary(op, f32(step.inputs[0]), f32(out), count: outValue.count)
        case .floatBinary(let op, let a, let b, let o):
            FloatKernels.binary(op, f32(step.inputs[0]), f32(step.inputs[1]), f32(out), aShape: a, bShape: b, outShape: o)
        case .floatSoftmax(let outer, let axis, let inner):
            FloatKernels.softmax(f32(step.inputs[0]), f32(out), outer: outer, axis: axis, inner: inner)
        case .floatPool(let d):
            FloatKernels.pool(d, f32(step.inputs[0]), f32(out))
        }
    }
}

/// Runs two backends on the same model and inputs and compares every int8 kernel's output —
/// ncnn's testutil idea: a fast kernel is checked against the reference op by op, so a mismatch
/// names the step where it starts.
public enum BackendComparison {
    public struct Difference: Sendable, CustomStringConvertible {
        /// The ONNX node(s) of the step.
        public var step: String
        public var elements: Int
        /// Largest |a − b| over the step's int8 output, and how many elements differ.
        public var maxDifference: Int
        public var differing: Int
        public var description: String { "\(step): max diff \(maxDifference), \(differing)/\(elements) differ" }
    }

    /// One entry per int8 step (kernels and tables), in execution order.
    public static func compare(model: Model, _ a: some Int8Backend, _ b: some Int8Backend, inputs: [String: Tensor], inputSize: Size? = nil) throws -> [Difference] {
        let sa = try InferenceSession(model: model, backend: a, inputSize: inputSize)
        let sb = try InferenceSession(model: model, backend: b, inputSize: inputSize)
        var captured: [Int: [Int8]] = [:]
        try sa.execute(inputs) { i, step, p in
            let v = sa.plan.values[step.output]
            guard !v.isFloat else { return }
            captured[i] = Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Int8.self), count: v.count))
        }
        var result: [Difference] = []
        try sb.execute(inputs) { i, step, p in
            guard let ref = captured[i] else { return }
            let q = p.assumingMemoryBound(to: Int8.self)
            var worst = 0, differing = 0
            for j in 0..<ref.count {
                let d = abs(Int(ref[j]) - Int(q[j]))
                if d > 0 { differing += 1; worst = max(worst, d) }
            }
            result.append(Difference(step: step.label, elements: ref.count, maxDifference: worst, differing: differing))
        }
        return result
    }
}
