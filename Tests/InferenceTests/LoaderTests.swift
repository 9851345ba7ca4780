import Inference
import Testing
import VigilCore
import VigilTestSupport

/// A minimal protobuf writer to build ONNX graphs by hand (hostile and invalid ones included).
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    mutating func key(_ field: Int, _ wire: Int) { varint(UInt64(field << 3 | wire)) }
    mutating func int(_ field: Int, _ v: Int) { key(field, 0); varint(UInt64(bitPattern: Int64(v))) }
    mutating func bytes(_ field: Int, _ b: [UInt8]) { key(field, 2); varint(UInt64(b.count)); bytes += b }
    mutating func string(_ field: Int, _ s: String) { bytes(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var w = ProtoWriter()
        build(&w)
        bytes(field, w.bytes)
    }
}

enum ONNXBuilder {
    struct NodeSpec { var op: String; var name: String; var inputs: [String]; var outputs: [String]; var ints: [String: [Int]] = [:] }
    struct InitSpec { var name: String; var dims: [Int]; var type: Int; var raw: [UInt8] }

    static func valueInfo(_ w: inout ProtoWriter, field: Int, name: String, dims: [Int?]) {
        w.message(field) { v in
            v.string(1, name)
            v.message(2) { t in
                t.message(1) { tt in
                    tt.int(1, 1)
                    tt.message(2) { s in
                        for d in dims { s.message(1) { dim in if let d { dim.int(1, d) } else { dim.string(2, "h") } } }
                    }
                }
            }
        }
    }

    static func model(nodes: [NodeSpec], initializers: [InitSpec] = [], input: (String, [Int?]) = ("x", [1, 3, 4, 4]),
                      outputs: [String] = ["y"]) -> [UInt8] {
        var m = ProtoWriter()
        m.int(1, 8)
        m.message(8) { o in o.string(1, ""); o.int(2, 13) }
        m.message(7) { g in
            for n in nodes {
                g.message(1) { nw in
                    for i in n.inputs { nw.string(1, i) }
                    for o in n.outputs { nw.string(2, o) }
                    nw.string(3, n.name)
                    nw.string(4, n.op)
                    for (k, v) in n.ints.sorted(by: { $0.key < $1.key }) {
                        nw.message(5) { a in a.string(1, k); for x in v { a.int(8, x) }; a.int(20, 7) }
                    }
                }
            }
            for t in initializers {
                g.message(5) { tw in
                    for d in t.dims { tw.int(1, d) }
                    tw.int(2, t.type)
                    tw.string(8, t.name)
                    tw.bytes(9, t.raw)
                }
            }
            valueInfo(&g, field: 11, name: input.0, dims: input.1)
            for o in outputs { valueInfo(&g, field: 12, name: o, dims: []) }
        }
        return m.bytes
    }
}

@Suite struct LoaderTests {
    @Test func unsupportedOperatorIsNamed() throws {
        let bytes = ONNXBuilder.model(nodes: [
            .init(op: "Relu", name: "r0", inputs: ["x"], outputs: ["t"]),
            .init(op: "NonMaxSuppression", name: "nms_7", inputs: ["t"], outputs: ["y"]),
        ])
        let model = try Model(bytes: bytes)
        #expect(throws: ModelError.unsupportedOperator(op: "NonMaxSuppression", node: "nms_7")) {
            _ = try InferenceSession(model: model)
        }
        let e = ModelError.unsupportedOperator(op: "NonMaxSuppression", node: "nms_7")
        #expect(e.description == "unsupported operator NonMaxSuppression (node 'nms_7')")
    }

    @Test func missingInitializerIsNamed() throws {
        let bytes = ONNXBuilder.model(nodes: [.init(op: "Conv", name: "conv_1", inputs: ["x", "W"], outputs: ["y"])])
        #expect(throws: ModelError.missingValue(name: "W", node: "conv_1")) {
            _ = try InferenceSession(model: try Model(bytes: bytes))
        }
    }

    @Test func cycleIsReported() throws {
        let bytes = ONNXBuilder.model(nodes: [
            .init(op: "Add", name: "a", inputs: ["x", "b_out"], outputs: ["a_out"]),
            .init(op: "Relu", name: "b", inputs: ["a_out"], outputs: ["b_out"]),
            .init(op: "Relu", name: "c", inputs: ["a_out"], outputs: ["y"]),
        ])
        #expect(throws: ModelError.self) { _ = try InferenceSession(model: try Model(bytes: bytes)) }
        do { _ = try InferenceSession(model: try Model(bytes: bytes)); Issue.record("no error") } catch let e as ModelError {
            guard case .cycle = e else { Issue.record("expected a cycle error, got \(e)"); return }
        }
    }

    @Test func dtypeMismatchIsReported() throws {
        // DequantizeLinear of a float initializer.
        let f: [UInt8] = [0, 0, 128, 63]  // 1.0f
        let bytes = ONNXBuilder.model(nodes: [
            .init(op: "DequantizeLinear", name: "dq", inputs: ["w", "s"], outputs: ["wf"]),
            .init(op: "Add", name: "add", inputs: ["x", "wf"], outputs: ["y"]),
        ], initializers: [.init(name: "w", dims: [1], type: 1, raw: f), .init(name: "s", dims: [], type: 1, raw: f)])
        #expect(throws: ModelError.typeMismatch("DequantizeLinear 'dq' of a float tensor")) {
            _ = try InferenceSession(model: try Model(bytes: bytes))
        }
    }

    @Test func badShapesAreReported() throws {
        // A 3x3 max-pool on a 1x1 input: the window does not fit.
        let bytes = ONNXBuilder.model(nodes: [.init(op: "MaxPool", name: "mp", inputs: ["x"], outputs: ["y"], ints: ["kernel_shape": [3, 3]])],
                                      input: ("x", [1, 2, 1, 1]))
        #expect(throws: ModelError.self) { _ = try InferenceSession(model: try Model(bytes: bytes)) }
        // A tensor claiming 2^40 elements with 4 bytes of data: refused before allocating.
        let huge = ONNXBuilder.model(nodes: [.init(op: "Add", name: "add", inputs: ["x", "w"], outputs: ["y"])],
                                     initializers: [.init(name: "w", dims: [1 << 20, 1 << 20], type: 1, raw: [0, 0, 0, 0])])
        #expect(throws: ModelError.self) { _ = try Model(bytes: huge) }
    }

    @Test func symbolicInputNeedsSize() throws {
        let bytes = ONNXBuilder.model(nodes: [.init(op: "Relu", name: "r", inputs: ["x"], outputs: ["y"])], input: ("x", [1, 3, nil, nil]))
        let model = try Model(bytes: bytes)
        #expect(model.inputs[0].shape == [1, 3, nil, nil] && model.inputs[0].elementType == .float32)
        #expect(throws: InferenceError.self) { _ = try InferenceSession(model: model) }
        let s = try InferenceSession(model: model, inputSize: Size(width: 5, height: 2))
        #expect(s.inputs[0].shape == [1, 3, 2, 5])
        let out = try s.run(["x": Tensor(shape: [1, 3, 2, 5], values: (0..<30).map { Float($0) - 15 })])
        #expect(out["y"]?.values == (0..<30).map { max(Float($0) - 15, 0) })
    }

    @Test func wrongInputIsRejected() throws {
        let bytes = ONNXBuilder.model(nodes: [.init(op: "Relu", name: "r", inputs: ["x"], outputs: ["y"])])
        let s = try InferenceSession(model: try Model(bytes: bytes))
        #expect(throws: InferenceError.wrongInputShape(name: "x", expected: [1, 3, 4, 4], got: [1, 3, 4, 5])) {
            _ = try s.run(["x": Tensor(zeros: [1, 3, 4, 5])])
        }
        #expect(throws: InferenceError.missingInput("x")) { _ = try s.run([:]) }
        #expect(throws: InferenceError.unknownInput("z")) { _ = try s.run(["x": Tensor(zeros: [1, 3, 4, 4]), "z": Tensor(zeros: [1])]) }
        #expect(throws: InferenceError.inconsistentTensor(shape: [1, 3, 4, 4], count: 3)) {
            _ = try s.run(["x": Tensor(shape: [1, 3, 4, 4], values: [1, 2, 3])])
        }
    }

    @Test func missingFileIsAnError() {
        #expect(throws: ModelError.self) { _ = try Model(contentsOf: "/nonexistent/model.onnx") }
        #expect(throws: ModelError.self) { _ = try Model(contentsOf: "/") }
    }

    @Test func hostileProtobufIsRejected() {
        // Empty, a length far past the end, a bad wire type, an over-long varint.
        let cases: [[UInt8]] = [
            [], [0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], [0x3F, 0x00], [0x08] + [UInt8](repeating: 0xFF, count: 11),
            [0x3A, 0x02, 0x0A, 0x05],
        ]
        for bytes in cases {
            #expect(throws: ModelError.self) { _ = try Model(bytes: bytes) }
        }
    }

    /// Every truncation of a real quantized model is an error, never a crash.
    @Test func truncatedModelsAreErrors() throws {
        try #require(OpTestData.isPresent, Comment(rawValue: OpTestData.missingMessage))
        let bytes = try OpTestData.readBytes(OpTestData.directory + "/residual_add-u8s8/model.onnx")
        let x = Tensor(zeros: try InferenceSession(model: try Model(bytes: bytes)).inputs[0].shape.map { $0 ?? 1 })
        var loaded = 0, rejected = 0
        for length in 0..<bytes.count {
            do {
                let s = try InferenceSession(model: try Model(bytes: Array(bytes[..<length])))
                _ = try? s.run(["x": x])
                loaded += 1
            } catch is ModelError {
                rejected += 1
            } catch is InferenceError {
                rejected += 1
            }
        }
        print("truncations of \(bytes.count) bytes: \(rejected) rejected, \(loaded) loaded (a cut at a field boundary can still be a valid model)")
        #expect(rejected > bytes.count * 9 / 10)
    }

    /// Random byte flips and garbage: errors or valid models, never a crash; runs stay bounded.
    @Test func mutatedModelsAreErrorsNotCrashes() throws {
        try #require(OpTestData.isPresent, Comment(rawValue: OpTestData.missingMessage))
        var rng = SplitMix64(seed: 42)
        var outcomes = [String: Int]()
        for file in ["residual_add-u8s8", "concat-s8s8", "gemm-u8s8", "head_reshape-u8s8", "model_yunet-u8s8"] {
            let original = try OpTestData.readBytes(OpTestData.directory + "/\(file)/model.onnx")
            // Whole models are only loaded and planned (a debug-build run of YuNet takes seconds).
            let isModel = file.hasPrefix("model_")
            let iterations = isModel ? 40 : 600
            for _ in 0..<iterations {
                var bytes = original
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    let i = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                    default: bytes[i] = [0x00, 0x7F, 0x80, 0xFF][Int.random(in: 0..<4, using: &rng)]
                    }
                }
                outcomes[run(bytes, inputSize: isModel ? Size(width: 160, height: 128) : nil, execute: !isModel), default: 0] += 1
            }
        }
        // The project's real models, when the model pipeline has produced them: random
        // truncations and byte flips, load and plan only.
        for file in OpTestData.caseNames where file.hasPrefix("model_") && !file.hasPrefix("model_yunet") {
            let original = try OpTestData.readBytes(OpTestData.directory + "/\(file)/model.onnx")
            for i in 0..<8 {
                var bytes = i < 4 ? Array(original[..<Int.random(in: 0..<original.count, using: &rng)]) : original
                if i >= 4 {
                    for _ in 0..<4 { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
                }
                outcomes[run(bytes, inputSize: nil, execute: false), default: 0] += 1
            }
        }
        for _ in 0..<500 {
            let bytes = (0..<Int.random(in: 1..<512, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            outcomes[run(bytes, inputSize: nil, execute: true), default: 0] += 1
        }
        print("fuzz outcomes: \(outcomes.sorted { $0.key < $1.key })")
        #expect(outcomes.count > 1)
    }

    /// Load, plan and (when the plan is small) run; returns the outcome's category.
    func run(_ bytes: [UInt8], inputSize: Size?, execute: Bool) -> String {
        do {
            let model = try Model(bytes: bytes)
            let s = try InferenceSession(model: model, inputSize: inputSize)
            guard execute, s.arenaSize < 1 << 20 else { return "planned" }
            let feeds = Dictionary(uniqueKeysWithValues: s.inputs.map { ($0.name, Tensor(zeros: $0.shape.map { $0 ?? 1 })) })
            _ = try s.run(feeds)
            return "ran"
        } catch {
            // The case name only ("ModelError.malformed"), not the payload.
            let label = Mirror(reflecting: error).children.first?.label ?? "\(error)"
            return "\(type(of: error)).\(label)"
        }
    }
}
