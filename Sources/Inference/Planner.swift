#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Turns a parsed graph into a `Plan`: validates it, infers every shape for the given input shapes,
/// folds QuantizeLinear/DequantizeLinear pairs into fused int8 operations, lowers the rest to float
/// steps, and assigns arena offsets.
///
/// Fusion rule: an op whose activation inputs all come through DequantizeLinear (of int8 runtime
/// values), whose weights are DequantizeLinear of constants, and whose only consumer is a
/// QuantizeLinear (optionally through a Relu/Clip, which becomes the output clamp) runs in int8 and
/// produces that QuantizeLinear's output directly. Anything else runs in float32 between explicit
/// dequantize/quantize steps — the semantics of the QDQ graph itself, so a pattern the planner does
/// not fuse is slower, never wrong.
struct Planner {
    static let supportedOperators: Set<String> = [
        "QuantizeLinear", "DequantizeLinear", "Constant", "Identity",
        "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div",
        "Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "PRelu", "Softmax",
        "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
        "Pad", "Resize", "Upsample", "Concat", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
    ]

    /// What an ONNX value name stands for during planning.
    enum Symbol {
        case constant(ConstantTensor)
        /// DequantizeLinear of a constant: weights and biases.
        case constQuant(ConstQuant)
        case float(Int)
        /// An int8 runtime value (a QuantizeLinear output).
        case quant(Int, QuantParams)
        /// DequantizeLinear of an int8 runtime value: a float view, materialized only if needed.
        case deq(Int, QuantParams)
        case absent
    }

    struct ConstQuant {
        var tensor: ConstantTensor
        /// Values in the file's integer domain.
        var ints: [Int32]
        var scales: [Float]
        var zeroPoints: [Int32]
        var axis: Int?
        var type: ONNXDataType

        func dequantized() -> [Float] {
            let n = ints.count
            guard let axis, scales.count > 1 else {
                // in Int64: an int32 value minus an int32 zero point can overflow Int32 (found by
                // the ONNX fuzzer: Tests/fuzz/regressions/onnx/planner-dequantized-int32-overflow.onnx)
                return ints.map { Float(Int64($0) - Int64(zeroPoints[0])) * scales[0] }
            }
            let inner = tensor.dims[(axis + 1)...].reduce(1, *), ch = tensor.dims[axis]
            return (0..<n).map { i in let c = (i / inner) % ch; return Float(Int64(ints[i]) - Int64(zeroPoints[c])) * scales[c] }
        }
    }

    let graph: Graph
    let opset: Int
    let backend: any Int8Backend
    var values: [PlanValue] = []
    var steps: [Step] = []
    var symbols: [String: Symbol] = [:]
    var consumers: [String: [Int]] = [:]
    var graphOutputs: Set<String> = []
    var absorbed: Set<Int> = []
    var dequantizedCache: [String: Int] = [:]  // DequantizeLinear output → its float value
    let elementLimit: Int

    init(model: ModelProto, backend: any Int8Backend) {
        graph = model.graph
        opset = model.opsetVersion
        self.backend = backend
        // Constants are capped by the file size at parse time. Activations can be much larger
        // than the file (a 1-MB detector on a 4K frame): cap each at 2^26 elements, and the
        // session caps the whole arena, so a hostile shape cannot ask for terabytes.
        elementLimit = 1 << 26
    }

    // MARK: - driver

    mutating func plan(inputShapes: [String: [Int]]) throws -> Plan {
        for node in graph.nodes {
            guard node.domain == "" || node.domain == "ai.onnx",
                  Planner.supportedOperators.contains(node.opType) else {
                throw ModelError.unsupportedOperator(op: node.domain.isEmpty ? node.opType : "\(node.domain).\(node.opType)", node: node.name)
            }
        }
        for (name, t) in graph.initializers { symbols[name] = .constant(t) }
        var planInputs: [(String, Int)] = []
        for input in graph.inputs {
            guard input.elementType == 1 else {
                throw ModelError.unsupportedType("input '\(input.name)' is \(ONNXDataType(rawValue: input.elementType)?.description ?? "type \(input.elementType)"), only float32 inputs are supported")
            }
            guard let shape = inputShapes[input.name] else { throw ModelError.badShape("no shape for input '\(input.name)'") }
            let v = try addValue(input.name, shape: shape, isFloat: true)
            symbols[input.name] = .float(v)
            planInputs.append((input.name, v))
        }
        let order = try topologicalOrder()
        graphOutputs = Set(graph.outputs.map(\.name))
        for i in order {
            for name in graph.nodes[i].inputs where !name.isEmpty { consumers[name, default: []].append(i) }
        }
        for i in order where !absorbed.contains(i) {
            try lower(i)
        }
        var planOutputs: [(String, Int, Int?)] = []
        for output in graph.outputs {
            guard let sym = symbols[output.name] else { throw ModelError.missingValue(name: output.name, node: "graph output") }
            switch sym {
            case .quant(let v, _), .deq(let v, _):
                planOutputs.append((output.name, try floatValue(output.name, node: "graph output"), v))
            default:
                planOutputs.append((output.name, try floatValue(output.name, node: "graph output"), nil))
            }
        }
        let arena = assignOffsets(outputs: planOutputs.map(\.1) + planOutputs.compactMap(\.2))
        return Plan(values: values, steps: steps, inputs: planInputs.map { (name: $0.0, value: $0.1) },
                    outputs: planOutputs.map { (name: $0.0, value: $0.1, raw: $0.2) }, arenaSize: arena)
    }

    /// Kahn's algorithm; also reports reads of values nothing produces.
    func topologicalOrder() throws -> [Int] {
        var producer: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for o in node.outputs where !o.isEmpty {
                guard producer[o] == nil, graph.initializers[o] == nil, !graph.inputs.contains(where: { $0.name == o }) else {
                    throw ModelError.malformed("value '\(o)' is defined twice (node '\(node.name)')")
                }
                producer[o] = i
            }
        }
        var pending = [Int](repeating: 0, count: graph.nodes.count)
        var dependents: [[Int]] = Array(repeating: [], count: graph.nodes.count)
        let inputNames = Set(graph.inputs.map(\.name))
        for (i, node) in graph.nodes.enumerated() {
            for name in node.inputs where !name.isEmpty {
                if let p = producer[name] {
                    pending[i] += 1
                    dependents[p].append(i)
                } else if graph.initializers[name] == nil && !inputNames.contains(name) {
                    throw ModelError.missingValue(name: name, node: node.name)
                }
            }
        }
        var ready = (0..<graph.nodes.count).filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [Int] = []
        while let i = ready.popLast() {
            order.append(i)
            for d in dependents[i] {
                pending[d] -= 1
                if pending[d] == 0 { ready.append(d) }
            }
        }
        if order.count != graph.nodes.count {
            let stuck = (0..<graph.nodes.count).first { pending[$0] > 0 } ?? 0
            throw ModelError.cycle(node: graph.nodes[stuck].name)
        }
        for o in graph.outputs where producer[o.name] == nil && graph.initializers[o.name] == nil && !inputNames.contains(o.name) {
            throw ModelError.missingValue(name: o.name, node: "graph output")
        }
        return order
    }

    // MARK: - values

    mutating func addValue(_ name: String, shape: [Int], isFloat: Bool, quant: QuantParams? = nil) throws -> Int {
        var count = 1
        for d in shape {
            guard d > 0 else { throw ModelError.badShape("'\(name)' would have shape \(shape)") }
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o, p <= elementLimit else { throw ModelError.tooLarge("'\(name)' would have shape \(shape)") }
            count = p
        }
        values.append(PlanValue(name: name, shape: shape, isFloat: isFloat, quant: quant))
        return values.count - 1
    }

    mutating func emit(_ kind: StepKind, _ inputs: [Int], _ output: Int, _ label: String) {
        steps.append(Step(kind: kind, inputs: inputs, output: output, label: label))
    }

    func symbol(_ name: String, _ node: Node) throws -> Symbol {
        if name.isEmpty { return .absent }
        guard let s = symbols[name] else { throw ModelError.missingValue(name: name, node: node.name) }
        return s
    }

    func shape(of name: String, _ node: Node) throws -> [Int] {
        switch try symbol(name, node) {
        case .constant(let t): return t.dims
        case .constQuant(let c): return c.tensor.dims
        case .float(let v), .quant(let v, _), .deq(let v, _): return values[v].shape
        case .absent: throw ModelError.badShape("node '\(node.name)' needs input '\(name)'")
        }
    }

    func constant(_ name: String, _ node: Node) throws -> ConstantTensor? {
        if case .constant(let t) = try symbol(name, node) { return t }
        return nil
    }

    func constantInts(_ name: String, _ node: Node) throws -> [Int] {
        guard let t = try constant(name, node), let v = t.data.integers else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "input '\(name)' must be a constant integer tensor")
        }
        return v
    }

    /// The float value for `name`, dequantizing or materializing constants as needed.
    mutating func floatValue(_ name: String, node: String) throws -> Int {
        guard let sym = symbols[name] else { throw ModelError.missingValue(name: name, node: node) }
        switch sym {
        case .float(let v): return v
        case .deq(let q, let p):
            if let f = dequantizedCache[name] { return f }
            let f = try addValue(name, shape: values[q].shape, isFloat: true)
            emit(.dequantize(p), [q], f, "DequantizeLinear(\(name))")
            dequantizedCache[name] = f
            return f
        case .quant(let q, let p):
            let f = try addValue(name, shape: values[q].shape, isFloat: true)
            emit(.dequantize(p), [q], f, "output \(name)")
            return f
        case .constant(let t):
            guard t.type == .float || t.type == .double else {
                throw ModelError.typeMismatch("'\(name)' (\(t.type)) used where float32 is expected (node '\(node)')")
            }
            let v = try addValue(name, shape: t.dims.isEmpty ? [1] : t.dims, isFloat: true)
            values[v].constant = t.data.floats
            return v
        case .constQuant(let c):
            let v = try addValue(name, shape: c.tensor.dims.isEmpty ? [1] : c.tensor.dims, isFloat: true)
            values[v].constant = c.dequantized()
            return v
        case .absent:
            throw ModelError.missingValue(name: name, node: node)
        }
    }

    // MARK: - quantization parameters

    /// Scale and zero point of a QuantizeLinear/DequantizeLinear node (constants required).
    func quantParameters(_ node: Node, valueType: ONNXDataType?) throws -> (scales: [Float], zps: [Int32], type: ONNXDataType, axis: Int?) {
        guard node.inputs.count >= 2, let s = try constant(node.inputs[1], node), s.type == .float else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "scale must be a constant float32")
        }
        let scales = s.data.floats
        // Bounded, not just finite: the kernels divide one scale by another and add products of
        // ratios and zero points in float32; with every scale in 2^-40…2^40 (real models use
        // ~1e-5…1e2) those stay finite. (The ONNX fuzzer found a scale of 7e36 whose Add ratio
        // overflowed to inf and then NaN, which trapped converting to an integer:
        // Tests/fuzz/regressions/onnx/add-scale-overflow-nan.onnx.)
        guard !scales.isEmpty, scales.allSatisfy({ $0.isFinite && $0 >= 0x1p-40 && $0 <= 0x1p40 }) else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "scale must be positive, finite and within 2^-40…2^40")
        }
        var type = valueType ?? .uint8
        var zps = [Int32](repeating: 0, count: scales.count)
        if node.inputs.count >= 3, !node.inputs[2].isEmpty {
            guard let z = try constant(node.inputs[2], node), let ints = z.data.integers, ints.count == scales.count else {
                throw ModelError.unsupportedAttribute(node: node.name, detail: "zero point must be a constant with one value per scale")
            }
            type = z.type
            zps = ints.map { Int32(truncatingIfNeeded: $0) }
        }
        if let valueType, valueType != type {
            throw ModelError.typeMismatch("node '\(node.name)': zero point is \(type), data is \(valueType)")
        }
        var axis: Int?
        if scales.count > 1 { axis = try node.int("axis", default: 1) }
        return (scales, zps, type, axis)
    }

    func activationParams(_ node: Node, valueType: ONNXDataType?) throws -> QuantParams {
        let (scales, zps, type, _) = try quantParameters(node, valueType: valueType)
        guard scales.count == 1 else {
            throw ModelError.unsupportedAttribute(node: node.name, detail: "per-channel quantization of activations")
        }
        switch type {
        case .int8: return QuantParams(scale: scales[0], zeroPoint: zps[0], fileType: .int8)
        case .uint8: return QuantParams(scale: scales[0], zeroPoint: zps[0] - 128, fileType: .uint8)
        default: throw ModelError.unsupportedType("\(type) activations (node '\(node.name)'); only int8 and uint8")
        }
    }

    // MARK: - lowering

    /// Bilinear Resize between QDQ pairs runs as dequantize → float bilinear → quantize (the QDQ
    /// graph's own semantics, and what onnxruntime computes for these files), not as onnxruntime's
    /// integer NHWC upsampler (10-bit weights, truncating), which differed by 1 LSB on ~20 %.
    static let int8BilinearResize = false

    /// Minimum number of inputs per operator (checked before any input is read).
    static let minimumInputs: [String: Int] = [
        "QuantizeLinear": 2, "DequantizeLinear": 2, "Conv": 2, "Gemm": 2, "MatMul": 2, "Add": 2, "Sub": 2,
        "Mul": 2, "Div": 2, "PRelu": 2, "Reshape": 2, "Constant": 0,
    ]

    mutating func lower(_ index: Int) throws {
        let node = graph.nodes[index]
        guard node.inputs.count >= Planner.minimumInputs[node.opType, default: 1],
              node.inputs.indices.allSatisfy({ $0 >= Planner.minimumInputs[node.opType, default: 1] || !node.inputs[$0].isEmpty }),
              let first = node.outputs.first, !first.isEmpty else {
            throw ModelError.malformed("node '\(node.name)' (\(node.opType)) has too few inputs or no output")
        }
        switch node.opType {
        case "Constant":
            guard case .tensor(var t)? = node.attributes["value"], let out = node.outputs.first else {
                throw ModelError.unsupportedAttribute(node: node.name, detail: "Constant without a tensor value")
            }
            t.name = out
            symbols[out] = .constant(t)
        case "Identity":
            symbols[node.outputs[0]] = try symbol(node.inputs[0], node)
        case "DequantizeLinear":
            try lowerDequantize(node)
        case "QuantizeLinear":
            guard node.inputs.count >= 2, let out = node.outputs.first else { throw ModelError.malformed("node '\(node.name)' lacks inputs") }
            let p = try activationParams(node, valueType: nil)
            let x = try floatValue(node.inputs[0], node: node.name)
            let v = try addValue(out, shape: values[x].shape, isFloat: false, quant: p)
            emit(.quantize(p), [x], v, node.name)
            symbols[out] = .quant(v, p)
        default:
            guard node.outputs.count >= 1 else { throw ModelError.malformed("node '\(node.name)' has no output") }
            if try lowerInt8(index) { return }
            try lowerFloat(node)
        }
    }

    mutating func lowerDequantize(_ node: Node) throws {
        guard node.inputs.count >= 2, let out = node.outputs.first else { throw ModelError.malformed("node '\(node.name)' lacks inputs") }
        switch try symbol(node.inputs[0], node) {
        case .constant(let t):
            let (scales, zps, type, axis) = try quantParameters(node, valueType: t.type)
            guard let ints = t.data.integers else { throw ModelError.typeMismatch("DequantizeLinear '\(node.name)' of a float tensor") }
            var ax = axis
            if var a = axis {
                if a < 0 { a += t.dims.count }
                guard a >= 0, a < t.dims.count, t.dims[a] == scales.count else {
                    throw ModelError.badShape("node '\(node.name)': \(scales.count) scales for axis \(a) of \(t.dims)")
                }
                ax = a
            }
            symbols[out] = .constQuant(ConstQuant(tensor: t, ints: ints.map { Int32(truncatingIfNeeded: $0) },
                                                  scales: scales, zeroPoints: zps, axis: ax, type: type))
        case .quant(let v, let p):
            let q = try activationParams(node, valueType: p.fileType == .int8 ? .int8 : .uint8)
            symbols[out] = .deq(v, q)
        default:
            throw ModelError.typeMismatch("DequantizeLinear '\(node.name)' of a value that is not quantized")
        }
    }

    /// If `name` (an op's output) is consumed only by a QuantizeLinear — directly or through one
    /// Relu/Clip — returns that node and the activation.
    func quantizeConsumer(of name: String) -> (q: Int, activation: Int?)? {
        guard !graphOutputs.contains(name), let cs = consumers[name], cs.count == 1 else { return nil }
        let c = graph.nodes[cs[0]]
        if c.opType == "QuantizeLinear" && c.inputs[0] == name { return (cs[0], nil) }
        if c.opType == "Relu" || c.opType == "Clip", let next = c.outputs.first,
           !graphOutputs.contains(next), let cs2 = consumers[next], cs2.count == 1,
           graph.nodes[cs2[0]].opType == "QuantizeLinear" {
            return (cs2[0], cs[0])
        }
        return nil
    }

    /// The float interval a fused Relu/Clip keeps.
    func activationRange(_ index: Int?) throws -> (Float, Float) {
        guard let index else { return (-.infinity, .infinity) }
        return try clipRange(graph.nodes[index])
    }

    func clipRange(_ n: Node) throws -> (Float, Float) {
        if n.opType == "Relu" { return (0, .infinity) }
        var lo = try n.float("min", default: -.infinity), hi = try n.float("max", default: .infinity)
        if n.inputs.count > 1, !n.inputs[1].isEmpty {
            guard let t = try constant(n.inputs[1], n), let v = t.data.floats.first else {
                throw ModelError.unsupportedAttribute(node: n.name, detail: "Clip min must be constant")
            }
            lo = v
        }
        if n.inputs.count > 2, !n.inputs[2].isEmpty {
            guard let t = try constant(n.inputs[2], n), let v = t.data.floats.first else {
                throw ModelError.unsupportedAttribute(node: n.name, detail: "Clip max must be constant")
            }
            hi = v
        }
        return (lo, hi)
    }

    func outputStage(_ p: QuantParams, range: (Float, Float)) -> OutputStage {
        var lo: Int32 = -128, hi: Int32 = 127
        if range.0 > -.infinity { lo = max(lo, Int32(p.quantize(range.0))) }
        if range.1 < .infinity { hi = min(hi, Int32(p.quantize(range.1))) }
        return OutputStage(zeroPoint: p.zeroPoint, min: lo, max: max(lo, hi))
    }

    /// Lowers an op to int8 when the QDQ pattern allows. Returns false to fall back to float.
    mutating func lowerInt8(_ index: Int) throws -> Bool {
        let node = graph.nodes[index]
        guard node.outputs.count == 1, let (qIndex, actIndex) = quantizeConsumer(of: node.outputs[0]) else { return false }
        let qNode = graph.nodes[qIndex]
        // a QuantizeLinear without an output cannot be fused (it is refused when lowered itself;
        // the ONNX fuzzer found the unguarded index: regressions/onnx/quantize-without-output.onnx)
        guard let outName = qNode.outputs.first, !outName.isEmpty else { return false }
        let outParams = try activationParams(qNode, valueType: nil)
        let range = try activationRange(actIndex)

        // Activation inputs: all through DequantizeLinear of int8 values.
        func deq(_ i: Int) throws -> (Int, QuantParams)? {
            guard i < node.inputs.count, case .deq(let v, let p) = try symbol(node.inputs[i], node) else { return nil }
            return (v, p)
        }
        var produced: Int?
        let label = actIndex.map { "\(node.name)+\(graph.nodes[$0].opType)" } ?? node.name

        switch node.opType {
        case "Conv":
            guard let (x, inP) = try deq(0), case .constQuant(let w)? = try? symbol(node.inputs[1], node) else { return false }
            let d = try convDescriptor(node, input: values[x].shape, inP: inP, w: w, outP: outParams, range: range)
            let v = try addValue(outName, shape: [1, d.outChannels, d.outHeight, d.outWidth], isFloat: false, quant: outParams)
            emit(.kernel(backend.makeConv(d)), [x], v, label)
            produced = v
        case "Gemm", "MatMul":
            guard let (x, inP) = try deq(0), case .constQuant(let w)? = try? symbol(node.inputs[1], node) else { return false }
            guard let (d, shape) = try fullyConnectedDescriptor(node, input: values[x].shape, inP: inP, w: w, outP: outParams, range: range) else { return false }
            let v = try addValue(outName, shape: shape, isFloat: false, quant: outParams)
            emit(.kernel(backend.makeFullyConnected(d)), [x], v, label)
            produced = v
        case "Add":
            guard let (a, aP) = try deq(0), let (b, bP) = try deq(1), values[a].shape == values[b].shape else { return false }
            let stage = outputStage(outParams, range: range)
            let d = AddDescriptor(count: values[a].count, a: aP, b: bP, out: outParams, clampMin: stage.min, clampMax: stage.max)
            let v = try addValue(outName, shape: values[a].shape, isFloat: false, quant: outParams)
            emit(.kernel(backend.makeAdd(d)), [a, b], v, label)
            produced = v
        case "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool":
            guard let (x, inP) = try deq(0) else { return false }
            let (geometry, outShape) = try poolGeometry(node, input: values[x].shape)
            var d = geometry
            d.inputZeroPoint = inP.zeroPoint
            d.inputScale = inP.scale
            d.outputScale = outParams.scale
            d.outputOffset = outParams.fileType == .uint8 ? 128 : 0
            d.output = outputStage(outParams, range: range)
            if d.kind == .max && (inP != outParams || actIndex != nil) {
                // Max commutes with a monotonic requantization: pool in the input's scale, then map.
                d.output = OutputStage(zeroPoint: inP.zeroPoint, min: -128, max: 127)
                let t = try addValue(outName + "/pooled", shape: outShape, isFloat: false)
                emit(.kernel(backend.makePool(d)), [x], t, label)
                let v = try addValue(outName, shape: outShape, isFloat: false, quant: outParams)
                emit(.table(makeTable(from: inP, to: outParams) { min(max($0, range.0), range.1) }), [t], v, label + "/requantize")
                produced = v
            } else {
                let v = try addValue(outName, shape: outShape, isFloat: false, quant: outParams)
                emit(.kernel(backend.makePool(d)), [x], v, label)
                produced = v
            }
        case "Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu":
            guard let (x, inP) = try deq(0) else { return false }
            let f = try unaryFunction(node)
            let v = try addValue(outName, shape: values[x].shape, isFloat: false, quant: outParams)
            emit(.table(makeTable(from: inP, to: outParams) { min(max(f($0), range.0), range.1) }), [x], v, label)
            produced = v
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Pad", "Resize", "Upsample":
            guard let (x, inP) = try deq(0) else { return false }
            if node.opType == "Resize", try node.string("mode", default: "nearest") != "nearest", !Planner.int8BilinearResize {
                return false  // see `int8BilinearResize`
            }
            let (kind, shape) = try movement(node, inputShape: values[x].shape, isFloat: false, fileOffset: inP.fileType == .uint8 ? 128 : 0,
                                             fill: { Float(inP.quantize($0)) })
            var v = try addValue(outName, shape: shape, isFloat: false, quant: outParams)
            let needsTable = inP != outParams || actIndex != nil
            if needsTable { v = try addValue(outName + "/moved", shape: shape, isFloat: false) }
            emit(kind, [x], v, label)
            if needsTable {
                let r = try addValue(outName, shape: shape, isFloat: false, quant: outParams)
                emit(.table(makeTable(from: inP, to: outParams) { min(max($0, range.0), range.1) }), [v], r, label + "/requantize")
                v = r
            }
            produced = v
        case "Concat":
            var inputs: [Int] = []
            for i in 0..<node.inputs.count {
                guard let (x, p) = try deq(i) else { return false }
                if p != outParams || actIndex != nil {
                    let t = try addValue(node.inputs[i] + "/requantized", shape: values[x].shape, isFloat: false)
                    emit(.table(makeTable(from: p, to: outParams) { min(max($0, range.0), range.1) }), [x], t, label + "/requantize \(i)")
                    inputs.append(t)
                } else {
                    inputs.append(x)
                }
            }
            let (axis, shape) = try concatShape(node, inputs.map { values[$0].shape })
            let v = try addValue(outName, shape: shape, isFloat: false, quant: outParams)
            emit(.concat(axis: axis, shapes: inputs.map { values[$0].shape }), inputs, v, label)
            produced = v
        default:
            return false
        }
        guard let produced else { return false }
        symbols[outName] = .quant(produced, outParams)
        absorbed.insert(qIndex)
        if let actIndex { absorbed.insert(actIndex) }
        return true
    }

    func unaryFunction(_ node: Node) throws -> (Float) -> Float {
        switch node.opType {
        case "Relu": return { max($0, 0) }
        case "Sigmoid": return { 1 / (1 + expf(-$0)) }
        case "Tanh": return { tanhf($0) }
        case "LeakyRelu":
            let a = try node.float("alpha", default: 0.01)
            return { $0 >= 0 ? $0 : $0 * a }
        case "Clip":
            let (lo, hi) = try clipRange(node)
            return { min(max($0, lo), hi) }
        default: throw ModelError.unsupportedOperator(op: node.opType, node: node.name)
        }
    }
}
