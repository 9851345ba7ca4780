// The ONNX subset Vigil reads: ModelProto → GraphProto → NodeProto / AttributeProto / TensorProto /
// ValueInfoProto. Field numbers are those of onnx/onnx.proto (IR version 3 and later). Unknown
// fields are skipped; subgraph attributes (If/Loop bodies) are skipped, so parsing never recurses
// deeper than a fixed number of levels.

/// ONNX TensorProto.DataType values the engine understands.
enum ONNXDataType: Int, CustomStringConvertible {
    case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8, bool = 9
    case float16 = 10, double = 11, uint32 = 12, uint64 = 13

    var description: String {
        switch self {
        case .float: "float32"
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .string: "string"
        case .bool: "bool"
        case .float16: "float16"
        case .double: "float64"
        case .uint32: "uint32"
        case .uint64: "uint64"
        }
    }
}

/// The decoded contents of a constant tensor.
enum ConstantData {
    case float([Float])
    case int8([Int8])
    case uint8([UInt8])
    case int32([Int32])
    case int64([Int64])

    var count: Int {
        switch self {
        case .float(let v): v.count
        case .int8(let v): v.count
        case .uint8(let v): v.count
        case .int32(let v): v.count
        case .int64(let v): v.count
        }
    }

    /// Integer contents (any integer type) widened to Int.
    var integers: [Int]? {
        switch self {
        case .float: nil
        case .int8(let v): v.map(Int.init)
        case .uint8(let v): v.map(Int.init)
        case .int32(let v): v.map(Int.init)
        case .int64(let v): v.map(Int.init)
        }
    }

    /// Contents as Float (integers converted).
    var floats: [Float] {
        switch self {
        case .float(let v): v
        case .int8(let v): v.map(Float.init)
        case .uint8(let v): v.map(Float.init)
        case .int32(let v): v.map(Float.init)
        case .int64(let v): v.map(Float.init)
        }
    }
}

struct ConstantTensor {
    var name: String
    var dims: [Int]
    var type: ONNXDataType
    var data: ConstantData
}

enum Attribute {
    case int(Int)
    case float(Float)
    case string(String)
    case ints([Int])
    case floats([Float])
    case tensor(ConstantTensor)
    case unsupported
}

struct Node {
    var name: String
    var opType: String
    var domain: String
    var inputs: [String]
    var outputs: [String]
    var attributes: [String: Attribute]

    func int(_ key: String, default value: Int) throws -> Int {
        switch attributes[key] {
        case nil: return value
        case .int(let v): return v
        default: throw ModelError.unsupportedAttribute(node: name, detail: "attribute \(key) is not an integer")
        }
    }
    func ints(_ key: String) throws -> [Int]? {
        switch attributes[key] {
        case nil: return nil
        case .ints(let v): return v
        default: throw ModelError.unsupportedAttribute(node: name, detail: "attribute \(key) is not a list of integers")
        }
    }
    func float(_ key: String, default value: Float) throws -> Float {
        switch attributes[key] {
        case nil: return value
        case .float(let v): return v
        default: throw ModelError.unsupportedAttribute(node: name, detail: "attribute \(key) is not a float")
        }
    }
    func string(_ key: String, default value: String) throws -> String {
        switch attributes[key] {
        case nil: return value
        case .string(let v): return v
        default: throw ModelError.unsupportedAttribute(node: name, detail: "attribute \(key) is not a string")
        }
    }
}

/// A dimension of a declared input/output shape.
enum Dimension: Equatable {
    case value(Int)
    case symbol(String)
}

struct ValueInfo {
    var name: String
    var elementType: Int
    var dims: [Dimension]?
}

struct Graph {
    var nodes: [Node] = []
    var initializers: [String: ConstantTensor] = [:]
    var inputs: [ValueInfo] = []
    var outputs: [ValueInfo] = []
}

struct ModelProto {
    var irVersion: Int = 0
    var opsetVersion: Int = 0
    var graph = Graph()
}

// MARK: - parsing

enum ONNXParser {
    static func parseModel(_ bytes: [UInt8]) throws -> ModelProto {
        var r = ProtoReader(bytes)
        var model = ModelProto()
        var sawGraph = false
        while let (number, wire) = try r.nextField() {
            switch (number, wire) {
            case (1, .varint): model.irVersion = Int(truncatingIfNeeded: try r.int64())
            case (8, .lengthDelimited):
                let range = try r.lengthDelimited()
                var sub = ProtoReader(bytes, range: range)
                var domain = "", version = 0
                while let (n, w) = try sub.nextField() {
                    switch (n, w) {
                    case (1, .lengthDelimited): domain = try sub.string()
                    case (2, .varint): version = Int(truncatingIfNeeded: try sub.int64())
                    default: try sub.skip(w)
                    }
                }
                if domain == "" || domain == "ai.onnx" { model.opsetVersion = version }
            case (7, .lengthDelimited):
                model.graph = try parseGraph(bytes, range: try r.lengthDelimited())
                sawGraph = true
            default: try r.skip(wire)
            }
        }
        guard sawGraph else { throw ModelError.malformed("no graph in the model") }
        return model
    }

    static func parseGraph(_ bytes: [UInt8], range: Range<Int>) throws -> Graph {
        var r = ProtoReader(bytes, range: range)
        var g = Graph()
        var inputs: [ValueInfo] = []
        while let (number, wire) = try r.nextField() {
            switch (number, wire) {
            case (1, .lengthDelimited): g.nodes.append(try parseNode(bytes, range: try r.lengthDelimited()))
            case (5, .lengthDelimited):
                let t = try parseTensor(bytes, range: try r.lengthDelimited(), limit: bytes.count)
                g.initializers[t.name] = t
            case (11, .lengthDelimited): inputs.append(try parseValueInfo(bytes, range: try r.lengthDelimited()))
            case (12, .lengthDelimited): g.outputs.append(try parseValueInfo(bytes, range: try r.lengthDelimited()))
            case (15, .lengthDelimited): throw ModelError.unsupportedType("sparse initializers")
            default: try r.skip(wire)
            }
        }
        // IR < 4 lists initializers among the inputs; they are constants, not inputs.
        g.inputs = inputs.filter { g.initializers[$0.name] == nil }
        return g
    }

    static func parseNode(_ bytes: [UInt8], range: Range<Int>) throws -> Node {
        var r = ProtoReader(bytes, range: range)
        var node = Node(name: "", opType: "", domain: "", inputs: [], outputs: [], attributes: [:])
        while let (number, wire) = try r.nextField() {
            switch (number, wire) {
            case (1, .lengthDelimited): node.inputs.append(try r.string())
            case (2, .lengthDelimited): node.outputs.append(try r.string())
            case (3, .lengthDelimited): node.name = try r.string()
            case (4, .lengthDelimited): node.opType = try r.string()
            case (7, .lengthDelimited): node.domain = try r.string()
            case (5, .lengthDelimited):
                let (name, value) = try parseAttribute(bytes, range: try r.lengthDelimited())
                node.attributes[name] = value
            default: try r.skip(wire)
            }
        }
        guard !node.opType.isEmpty else { throw ModelError.malformed("node '\(node.name)' without op_type") }
        if node.name.isEmpty { node.name = "\(node.opType)(\(node.outputs.first ?? "?"))" }
        return node
    }

    static func parseAttribute(_ bytes: [UInt8], range: Range<Int>) throws -> (String, Attribute) {
        var r = ProtoReader(bytes, range: range)
        var name = ""
        var f: Float?, i: Int64?, s: String?, t: ConstantTensor?
        var floats: [Float] = [], ints: [Int64] = []
        var type = 0, sawFloats = false, sawInts = false, other = false
        while let (number, wire) = try r.nextField() {
            switch (number, wire) {
            case (1, .lengthDelimited): name = try r.string()
            case (2, .fixed32): f = Float(bitPattern: try r.fixed32())
            case (3, .varint): i = try r.int64()
            case (4, .lengthDelimited): s = try r.string()
            case (5, .lengthDelimited): t = try parseTensor(bytes, range: try r.lengthDelimited(), limit: bytes.count)
            case (7, _): try r.repeatedFloat(wire, into: &floats); sawFloats = true
            case (8, _): try r.repeatedVarint(wire, into: &ints); sawInts = true
            case (20, .varint): type = Int(truncatingIfNeeded: try r.int64())
            case (6, _), (9, _), (10, _), (11, _): other = true; try r.skip(wire)
            default: try r.skip(wire)
            }
        }
        // AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7.
        let value: Attribute
        switch type {
        case 1: value = .float(f ?? 0)
        case 2: value = .int(Int(truncatingIfNeeded: i ?? 0))
        case 3: value = .string(s ?? "")
        case 4: value = t.map(Attribute.tensor) ?? .unsupported
        case 6: value = .floats(floats)
        case 7: value = .ints(ints.map { Int(truncatingIfNeeded: $0) })
        default:
            // Pre-IR-3 files have no type field: infer it from what is present.
            if other { value = .unsupported }
            else if let f { value = .float(f) }
            else if let i { value = .int(Int(truncatingIfNeeded: i)) }
            else if let s { value = .string(s) }
            else if let t { value = .tensor(t) }
            else if sawFloats { value = .floats(floats) }
            else if sawInts { value = .ints(ints.map { Int(truncatingIfNeeded: $0) }) }
            else { value = .unsupported }
        }
        return (name, value)
    }

    static func parseValueInfo(_ bytes: [UInt8], range: Range<Int>) throws -> ValueInfo {
        var r = ProtoReader(bytes, range: range)
        var info = ValueInfo(name: "", elementType: 0, dims: nil)
        while let (number, wire) = try r.nextField() {
            switch (number, wire) {
            case (1, .lengthDelimited): info.name = try r.string()
            case (2, .lengthDelimited):
                // TypeProto.tensor_type (1) → elem_type (1), shape (2) → dim (1) → dim_value (1) / dim_param (2)
                var type = ProtoReader(bytes, range: try r.lengthDelimited())
                while let (n, w) = try type.nextField() {
                    guard n == 1, w == .lengthDelimited else { try type.skip(w); continue }
                    var tensor = ProtoReader(bytes, range: try type.lengthDelimited())
                    while let (tn, tw) = try tensor.nextField() {
                        switch (tn, tw) {
                        case (1, .varint): info.elementType = Int(truncatingIfNeeded: try tensor.int64())
                        case (2, .lengthDelimited):
                            var shape = ProtoReader(bytes, range: try tensor.lengthDelimited())
                            var dims: [Dimension] = []
                            while let (sn, sw) = try shape.nextField() {
                                guard sn == 1, sw == .lengthDelimited else { try shape.skip(sw); continue }
                                var dim = ProtoReader(bytes, range: try shape.lengthDelimited())
                                var d = Dimension.symbol("?")
                                while let (dn, dw) = try dim.nextField() {
                                    switch (dn, dw) {
                                    case (1, .varint): d = .value(Int(truncatingIfNeeded: try dim.int64()))
                                    case (2, .lengthDelimited): d = .symbol(try dim.string())
                                    default: try dim.skip(dw)
                                    }
                                }
                                dims.append(d)
                            }
                            info.dims = dims
                        default: try tensor.skip(tw)
                        }
                    }
                }
            default: try r.skip(wire)
            }
        }
        return info
    }

    /// Parses a TensorProto. `limit` (the file size) caps the element count before anything is
    /// allocated: a real tensor cannot hold more elements than the file has bytes.
    static func parseTensor(_ bytes: [UInt8], range: Range<Int>, limit: Int) throws -> ConstantTensor {
        var r = ProtoReader(bytes, range: range)
        var dims64: [Int64] = []
        var typeCode = 0
        var name = ""
        var raw: Range<Int>?
        var floats: [Float] = [], ints: [Int64] = [], int64s: [Int64] = [], doubles: [Double] = []
        var external = false
        while let (number, wire) = try r.nextField() {
            switch (number, wire) {
            case (1, _): try r.repeatedVarint(wire, into: &dims64)
            case (2, .varint): typeCode = Int(truncatingIfNeeded: try r.int64())
            case (4, _): try r.repeatedFloat(wire, into: &floats)
            case (5, _): try r.repeatedVarint(wire, into: &ints)
            case (7, _): try r.repeatedVarint(wire, into: &int64s)
            case (8, .lengthDelimited): name = try r.string()
            case (9, .lengthDelimited): raw = try r.lengthDelimited()
            case (10, _): try r.repeatedDouble(wire, into: &doubles)
            case (14, .varint): external = try r.int64() == 1
            default: try r.skip(wire)
            }
        }
        if external { throw ModelError.unsupportedType("tensor '\(name)' uses external data") }
        guard let type = ONNXDataType(rawValue: typeCode) else {
            throw ModelError.unsupportedType("data type \(typeCode) of tensor '\(name)'")
        }
        var count = 1
        var dims: [Int] = []
        for d in dims64 {
            guard d >= 0, d <= Int64(limit) else { throw ModelError.badShape("tensor '\(name)' has dimension \(d)") }
            let (p, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, p <= limit else {
                throw ModelError.tooLarge("tensor '\(name)' with dims \(dims64) exceeds the file size")
            }
            count = p
            dims.append(Int(d))
        }
        func rawValues<T>(_ size: Int, _ convert: (UnsafeRawBufferPointer, Int) -> T) throws -> [T] {
            guard let raw else { return [] }
            guard raw.count == count * size else {
                throw ModelError.malformed("tensor '\(name)': raw_data has \(raw.count) bytes, dims \(dims) need \(count * size)")
            }
            return bytes[raw].withUnsafeBytes { buf in (0..<count).map { convert(buf, $0 * size) } }
        }
        let data: ConstantData
        switch type {
        case .float:
            let v = raw != nil ? try rawValues(4) { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt32.self))) }
                : !doubles.isEmpty ? doubles.map { Float($0) } : floats
            data = .float(v)
        case .double:
            let v = raw != nil ? try rawValues(8) { Float(Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt64.self)))) }
                : doubles.map { Float($0) }
            data = .float(v)
        case .int8:
            data = .int8(raw != nil ? try rawValues(1) { Int8(bitPattern: $0[$1]) } : ints.map { Int8(truncatingIfNeeded: $0) })
        case .uint8:
            data = .uint8(raw != nil ? try rawValues(1) { $0[$1] } : ints.map { UInt8(truncatingIfNeeded: $0) })
        case .int32:
            data = .int32(raw != nil ? try rawValues(4) { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: Int32.self)) }
                : ints.map { Int32(truncatingIfNeeded: $0) })
        case .int64:
            data = .int64(raw != nil ? try rawValues(8) { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: Int64.self)) } : int64s)
        case .bool:
            data = .uint8(raw != nil ? try rawValues(1) { $0[$1] } : ints.map { UInt8(truncatingIfNeeded: $0) })
        default:
            throw ModelError.unsupportedType("\(type) (tensor '\(name)')")
        }
        guard data.count == count else {
            throw ModelError.malformed("tensor '\(name)' has \(data.count) values, dims \(dims) need \(count)")
        }
        return ConstantTensor(name: name, dims: dims, type: type, data: data)
    }
}
