#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VigilCore

/// A dense float32 tensor, C order.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) { self.shape = shape; self.values = values }
    public init(zeros shape: [Int]) { self.shape = shape; values = [Float](repeating: 0, count: shape.reduce(1, *)) }
}

/// An output in the model's own quantization, for LSB comparisons: `values` are the integers of
/// the file's type (uint8 values 0…255 or int8 values −128…127), real value = (q − zeroPoint) · scale.
public struct QuantizedTensor: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Int32]
    public var scale: Float
    /// In the file's domain (0…255 for uint8).
    public var zeroPoint: Int32
    public var type: QuantizedType
}

/// Element type of a model input or output as declared in the file.
public enum ElementType: String, Sendable { case float32, uint8, int8, int32, int64, other }

/// A model input or output: name, declared shape (nil entries are symbolic, e.g. YuNet's height).
public struct TensorInfo: Equatable, Sendable, CustomStringConvertible {
    public var name: String
    public var shape: [Int?]
    public var elementType: ElementType
    public var description: String {
        "\(name): \(elementType) [\(shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", "))]"
    }
}

/// A parsed ONNX model. Parsing checks the protobuf structure and every tensor's size; graph
/// validation (operators, shapes, types) happens when a session plans it, for the input size given.
public struct Model: @unchecked Sendable {
    let proto: ModelProto
    /// Size of the file in bytes.
    public let byteCount: Int

    /// Largest model file accepted (the engine holds the whole file in memory): 64 MiB, about
    /// three times the largest model Vigil uses (dlib ResNet float, 22 MB).
    public static let maximumFileSize = ReadLimit.model

    public init(bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { throw ModelError.malformed("empty file") }
        guard bytes.count <= Model.maximumFileSize else { throw ModelError.tooLarge("file of \(bytes.count) bytes") }
        proto = try ONNXParser.parseModel(bytes)
        byteCount = bytes.count
        guard !proto.graph.nodes.isEmpty else { throw ModelError.malformed("the graph has no nodes") }
        guard !proto.graph.inputs.isEmpty, !proto.graph.outputs.isEmpty else {
            throw ModelError.malformed("the graph has no inputs or no outputs")
        }
    }

    public init(contentsOf path: String) throws {
        try self.init(bytes: try Model.readFile(path))
    }

    /// The ONNX opset of the default domain.
    public var opsetVersion: Int { proto.opsetVersion }

    public var inputs: [TensorInfo] { proto.graph.inputs.map(Model.info) }
    public var outputs: [TensorInfo] { proto.graph.outputs.map(Model.info) }
    /// The op types used by the graph, for diagnostics.
    public var operatorTypes: Set<String> { Set(proto.graph.nodes.map(\.opType)) }

    static func info(_ v: ValueInfo) -> TensorInfo {
        let type: ElementType = switch v.elementType {
        case 1: .float32
        case 2: .uint8
        case 3: .int8
        case 6: .int32
        case 7: .int64
        default: .other
        }
        let shape: [Int?] = (v.dims ?? []).map { if case .value(let n) = $0, n > 0 { n } else { nil } }
        return TensorInfo(name: v.name, shape: shape, elementType: type)
    }

    /// The model file, refused before it is read if larger than `maximumFileSize` (or not a
    /// regular file: `/dev/zero` or a FIFO given as `--model` is one clear error).
    static func readFile(_ path: String) throws -> [UInt8] {
        do { return try VigilCore.readFile(path, maximumBytes: maximumFileSize) } catch {
            if error.errno == .fileTooLarge { throw ModelError.tooLarge("\(error)") }
            throw ModelError.unreadable("\(error)")
        }
    }
}
