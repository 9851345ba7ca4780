import FastKernels
import Imaging
import Inference
import VigilCore

/// A model file that does not have the inputs and outputs a wrapper needs.
public struct ModelMismatch: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    public var description: String { "\(path): not a usable model: \(reason)" }
}

/// Planar NCHW float tensor from an RGB image: `value(channelByte)` per element, channels in
/// `order` (0 = R, 1 = G, 2 = B).
func planarTensor(_ img: RGBImage, order: [Int], _ value: (UInt8) -> Float) -> Tensor {
    var v = [Float](repeating: 0, count: 3 * img.width * img.height)
    v.withUnsafeMutableBufferPointer { writePlanar(img, order: order, into: $0, value) }
    return Tensor(shape: [1, 3, img.height, img.width], values: v)
}

/// Interleaved RGB → planar float (channel `c` of the output is `order[c]` of the input),
/// written straight into a model's input buffer.
func writePlanar(_ img: RGBImage, order: [Int], into out: UnsafeMutableBufferPointer<Float>, _ value: (UInt8) -> Float) {
    let hw = img.width * img.height
    precondition(out.count >= 3 * hw)
    img.pixels.withUnsafeBufferPointer { p in
        for (c, src) in order.enumerated() {
            let base = c * hw
            for i in 0..<hw { out[base + i] = value(p[3 * i + src]) }
        }
    }
}

/// MediaPipe BlazeFace (full range) on Vigil's engine: 192x192 RGB in [-1, 1], NCHW.
public final class BlazeFaceModel: DetectorModel {
    public let inputSize = Size(width: 192, height: 192)
    public var decoder = BlazeFaceDecoder()
    private let session: InferenceSession
    private let inputName: String
    private let regressorsName: String
    private let scoresName: String

    public init(path: String, backend: some Int8Backend = FastBackend()) throws {
        let session = try InferenceSession(model: try Model(contentsOf: path), backend: backend)
        guard session.inputs.count == 1, let input = session.inputs.first,
              input.shape.compactMap({ $0 }) == [1, 3, 192, 192] else {
            throw ModelMismatch(path: path, reason: "BlazeFace full range needs one input [1, 3, 192, 192]")
        }
        guard let reg = session.outputs.first(where: { $0.shape.last == 16 }),
              let sc = session.outputs.first(where: { $0.shape.last == 1 }) else {
            throw ModelMismatch(path: path, reason: "BlazeFace needs outputs [1, 2304, 16] and [1, 2304, 1]")
        }
        self.session = session
        inputName = input.name
        regressorsName = reg.name
        scoresName = sc.name
    }

    public func detect(input: RGBImage) throws -> [Detection] {
        guard input.width == inputSize.width, input.height == inputSize.height else {
            throw InferenceError.wrongInputShape(name: inputName, expected: [1, 3, inputSize.height, inputSize.width], got: [1, 3, input.height, input.width])
        }
        var reg: [Float] = [], sc: [Float] = []
        try session.run(fill: { _, buffer in
            writePlanar(input, order: [0, 1, 2], into: buffer) { Float($0) / 127.5 - 1 }
        }, read: { i, values in
            if session.outputs[i].name == regressorsName { reg = Array(values) }
            if session.outputs[i].name == scoresName { sc = Array(values) }
        })
        return decoder.decode(regressors: reg, scores: sc).map {
            $0.mapped(scaleX: Double(inputSize.width), scaleY: Double(inputSize.height), dx: 0, dy: 0)
        }
    }
}

/// YuNet (OpenCV Zoo) on Vigil's engine: BGR 0...255, NCHW, any size padded to multiples of 32;
/// the wrapper plans the model for one fixed `inputSize`.
public final class YuNetModel: DetectorModel {
    public let inputSize: Size
    public var decoder = YuNetDecoder()
    private let session: InferenceSession
    private let inputName: String

    public init(path: String, inputSize: Size = Size(width: 640, height: 640), backend: some Int8Backend = FastBackend()) throws {
        let padded = YuNetDecoder.paddedSize(inputSize)
        self.inputSize = padded
        session = try InferenceSession(model: try Model(contentsOf: path), backend: backend, inputSize: padded)
        guard let input = session.inputs.first else { throw ModelMismatch(path: path, reason: "no input") }
        inputName = input.name
        let names = Set(session.outputs.map(\.name))
        for s in YuNetDecoder.strides {
            for k in ["cls", "obj", "bbox", "kps"] where !names.contains("\(k)_\(s)") {
                throw ModelMismatch(path: path, reason: "YuNet needs output \(k)_\(s)")
            }
        }
    }

    public func detect(input: RGBImage) throws -> [Detection] {
        let t = planarTensor(input, order: [2, 1, 0]) { Float($0) }
        let out = try session.run([inputName: t])
        let heads = YuNetDecoder.strides.map { s in
            YuNetDecoder.Head(
                cls: out["cls_\(s)"]?.values ?? [], obj: out["obj_\(s)"]?.values ?? [],
                bbox: out["bbox_\(s)"]?.values ?? [], kps: out["kps_\(s)"]?.values ?? [])
        }
        return decoder.decode(heads: heads, inputSize: inputSize)
    }
}

/// dlib's face-recognition ResNet on Vigil's engine: a 150x150 RGB chip (0...255, NCHW; the
/// model folds dlib's normalisation into its first convolution) → a 128-d descriptor.
public final class DlibEmbedder: FaceEmbedder {
    public let aligner = FaceAligner.dlibFromBlazeFace
    private let session: InferenceSession
    private let inputName: String
    private let outputName: String

    public init(path: String, backend: some Int8Backend = FastBackend()) throws {
        session = try InferenceSession(model: try Model(contentsOf: path), backend: backend)
        guard let input = session.inputs.first, input.shape.compactMap({ $0 }) == [1, 3, 150, 150],
              let output = session.outputs.first, output.shape.compactMap({ $0 }).reduce(1, *) == 128 else {
            throw ModelMismatch(path: path, reason: "the embedder needs input [1, 3, 150, 150] and a 128-value output")
        }
        inputName = input.name
        outputName = output.name
    }

    /// The embedding of an aligned chip, or nil when the output is degenerate.
    public func embed(chip: RGBImage) throws -> Embedding? {
        guard chip.width == 150, chip.height == 150 else {
            throw InferenceError.wrongInputShape(name: inputName, expected: [1, 3, 150, 150], got: [1, 3, chip.height, chip.width])
        }
        var raw: [Float] = []
        try session.run(fill: { _, buffer in writePlanar(chip, order: [0, 1, 2], into: buffer) { Float($0) } },
                        read: { i, values in if session.outputs[i].name == outputName { raw = Array(values) } })
        return Embedding(raw: raw)
    }
}
