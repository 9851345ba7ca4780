// What the planner produces and the session executes: values (arena buffers) and steps.

/// A runtime value: an int8 (quantized) or float32 buffer in the arena, or a constant.
struct PlanValue {
    var name: String
    var shape: [Int]
    var isFloat: Bool
    /// For int8 values: the parameters of the QuantizeLinear that defined them (raw outputs).
    var quant: QuantParams?
    /// Float constants (weights of float ops, broadcast operands): copied into the arena once.
    var constant: [Float]?
    var offset = 0

    var count: Int { shape.reduce(1, *) }
    var byteCount: Int { count * (isFloat ? 4 : 1) }
}

enum FloatUnary { case relu, sigmoid, tanh, clip(Float, Float), leakyRelu(Float) }
enum FloatBinary { case add, sub, mul, div, prelu }

/// A float convolution (model edges kept in float, e.g. BlazeFace's output heads).
struct FloatConv {
    var geometry: ConvDescriptor  // shapes only; weights below
    var weights: [Float]
    var bias: [Float]
}

enum StepKind {
    case quantize(QuantParams)
    case dequantize(QuantParams)
    case kernel(any Int8Kernel)
    case table([Int8])
    /// Reshape, Flatten, Squeeze, Unsqueeze, Identity: the same elements.
    case copy
    case transpose(perm: [Int], inShape: [Int])
    case pad(begins: [Int], inShape: [Int], outShape: [Int], fill: Float)
    /// NCHW nearest-neighbour: output (y, x) reads input (ySource[y], xSource[x]).
    case resizeNearest(planes: Int, inHeight: Int, inWidth: Int, ySource: [Int], xSource: [Int])
    /// NCHW bilinear. int8: onnxruntime's integer kernel on the file-domain values (`offset` is
    /// 128 for uint8 files): Σ w·X with 10-bit weights per axis, divided by 2^20 truncating.
    case resizeLinear(planes: Int, inHeight: Int, inWidth: Int, y: LinearAxis, x: LinearAxis, offset: Int32)
    case concat(axis: Int, shapes: [[Int]])
    case floatConv(FloatConv)
    /// out[r][n] = Σ_k a[r][k] · w[n][k] + bias[n]
    case floatFullyConnected(rows: Int, inFeatures: Int, outFeatures: Int, weights: [Float], bias: [Float])
    case floatUnary(FloatUnary)
    case floatBinary(FloatBinary, aShape: [Int], bShape: [Int], outShape: [Int])
    case floatSoftmax(outer: Int, axis: Int, inner: Int)
    case floatPool(PoolDescriptor)
}

/// Bilinear sampling along one axis: output i reads i1[i] with weight w1 and i2[i] with w2
/// (w·1024 truncated as onnxruntime's integer path; f1/f2 as its float path).
struct LinearAxis {
    var i1: [Int], i2: [Int]
    var w1: [Int32], w2: [Int32]
    var f1: [Float], f2: [Float]
}

struct Step {
    var kind: StepKind
    var inputs: [Int]
    var output: Int
    /// The ONNX node(s) this step implements, for diagnostics.
    var label: String
}

struct Plan {
    var values: [PlanValue]
    var steps: [Step]
    var inputs: [(name: String, value: Int)]
    /// Float output value, and the int8 value + params it was dequantized from (if any).
    var outputs: [(name: String, value: Int, raw: Int?)]
    var arenaSize: Int
}
