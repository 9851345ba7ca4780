/// Why a model file could not be loaded or planned.
///
/// Every problem caused by the file (truncation, corruption, hostile sizes, an op Vigil does not
/// support, shapes that do not fit together) is a value of this type, thrown at load or plan time;
/// a session that was created never fails because of the model.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    /// The protobuf bytes are malformed (truncated, bad wire type, a length past the end, ...).
    case malformed(String)
    /// The file could not be read; the payload is the path and the errno text.
    case unreadable(String)
    /// The graph uses an operator Vigil has no implementation for.
    case unsupportedOperator(op: String, node: String)
    /// A node's attribute or input is outside what the implementation supports.
    case unsupportedAttribute(node: String, detail: String)
    /// An element type the engine does not handle (e.g. float16 weights).
    case unsupportedType(String)
    /// A node reads a value that nothing produces (no initializer, no input, no node output).
    case missingValue(name: String, node: String)
    /// Shapes that do not fit together, or that cannot be determined statically.
    case badShape(String)
    /// Types that do not fit together (e.g. a float weight where int8 is expected).
    case typeMismatch(String)
    /// The graph has a cycle; the payload names a node on it.
    case cycle(node: String)
    /// A tensor larger than the file could possibly describe, or than the engine accepts.
    case tooLarge(String)

    public var description: String {
        switch self {
        case .malformed(let s): "malformed model: \(s)"
        case .unreadable(let s): "cannot read model: \(s)"
        case .unsupportedOperator(let op, let node): "unsupported operator \(op) (node '\(node)')"
        case .unsupportedAttribute(let node, let detail): "unsupported in node '\(node)': \(detail)"
        case .unsupportedType(let s): "unsupported element type: \(s)"
        case .missingValue(let name, let node): "node '\(node)' reads '\(name)', which nothing produces"
        case .badShape(let s): "bad shape: \(s)"
        case .typeMismatch(let s): "type mismatch: \(s)"
        case .cycle(let node): "graph has a cycle through node '\(node)'"
        case .tooLarge(let s): "too large: \(s)"
        }
    }
}

/// Why a run (or the creation of a session) failed because of what the caller passed.
public enum InferenceError: Error, Equatable, CustomStringConvertible {
    /// An input name the model does not have, or a model input the caller did not give.
    case unknownInput(String)
    case missingInput(String)
    /// The tensor's shape differs from the planned input shape.
    case wrongInputShape(name: String, expected: [Int], got: [Int])
    /// `Tensor.values.count` does not equal the product of `Tensor.shape`.
    case inconsistentTensor(shape: [Int], count: Int)
    /// The requested input size is impossible for the model (not 4-D, too small, too large).
    case badInputSize(String)

    public var description: String {
        switch self {
        case .unknownInput(let n): "the model has no input named '\(n)'"
        case .missingInput(let n): "input '\(n)' was not given"
        case .wrongInputShape(let n, let e, let g): "input '\(n)' has shape \(g), the session expects \(e)"
        case .inconsistentTensor(let s, let c): "tensor with shape \(s) has \(c) values"
        case .badInputSize(let s): "bad input size: \(s)"
        }
    }
}
