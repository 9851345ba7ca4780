import Inference
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The op-by-op cases written by scripts/optests/make_optests.py (models quantized by onnxruntime's
/// quantize_static, with onnxruntime's outputs). Found via $VIGIL_OPTESTS or <repo>/.cache/optests.
enum OpTestData {
    static let repoRoot: String = {
        // #filePath is <repo>/Tests/InferenceTests/OpTestData.swift
        var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    static let directory: String = {
        if let env = getenv("VIGIL_OPTESTS"), !String(cString: env).isEmpty { return String(cString: env) }
        return repoRoot + "/.cache/optests"
    }()

    static let missingMessage = """
        op-test data missing in \(directory): run \
        `.venv/bin/python scripts/optests/make_optests.py \(directory) --yunet ../shared/models/yunet/face_detection_yunet_2026may.onnx --models models` \
        (or set VIGIL_OPTESTS to its output directory)
        """

    static var isPresent: Bool { access(directory + "/STAMP", R_OK) == 0 }

    /// Case directory names, sorted ("conv3x3-u8s8", ..., "model_yunet-s8s8").
    static var caseNames: [String] {
        guard isPresent, let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix("."), !name.hasPrefix("_"), name != "STAMP" { names.append(name) }
        }
        return names.sorted()
    }

    static func readBytes(_ path: String) throws -> [UInt8] {
        guard let f = fopen(path, "rb") else { throw TestDataError.missing(path) }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
            if n == 0 { break }
            out.append(contentsOf: buffer[..<n])
        }
        return out
    }

    static func readFloats(_ path: String) throws -> [Float] {
        let b = try readBytes(path)
        var out = [Float](repeating: 0, count: b.count / 4)
        b.withUnsafeBytes { raw in
            for i in 0..<out.count {
                out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        }
        return out
    }

    struct Case {
        var name: String
        var model: Model
        var inputName: String
        var input: Tensor
        /// onnxruntime's outputs and the scale of one LSB (0 for float outputs).
        var outputs: [(name: String, tensor: Tensor, lsb: Float)]
    }

    static func load(_ name: String) throws -> Case {
        let dir = directory + "/" + name
        let meta = String(decoding: try readBytes(dir + "/meta.txt"), as: UTF8.self)
        var inputName = "", inputShape: [Int] = []
        var outputs: [(String, Tensor, Float)] = []
        for line in meta.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            let shape = f.count > 2 ? f[2].split(separator: ",").compactMap { Int($0) } : []
            if f.first == "input" { inputName = f[1]; inputShape = shape }
            if f.first == "output", f.count >= 4 {
                let values = try readFloats(dir + "/out\(outputs.count).f32")
                outputs.append((f[1], Tensor(shape: shape, values: values), Float(f[3]) ?? 0))
            }
        }
        return Case(name: name, model: try Model(contentsOf: dir + "/model.onnx"), inputName: inputName,
                    input: Tensor(shape: inputShape, values: try readFloats(dir + "/input.f32")),
                    outputs: outputs.map { (name: $0.0, tensor: $0.1, lsb: $0.2) })
    }

    enum TestDataError: Error { case missing(String) }
}

/// Agreement of two quantized outputs in LSBs of the output quantization.
struct LSBStats: CustomStringConvertible {
    var count = 0
    var withinOne = 0
    var maxDifference = 0
    var histogram = [Int](repeating: 0, count: 4)  // 0, 1, 2, >2

    mutating func add(_ ours: [Float], _ theirs: [Float], lsb: Float) {
        for (a, b) in zip(ours, theirs) {
            let d = Int((abs(a - b) / lsb).rounded())
            count += 1
            if d <= 1 { withinOne += 1 }
            maxDifference = max(maxDifference, d)
            histogram[min(d, 3)] += 1
        }
    }

    mutating func merge(_ o: LSBStats) {
        count += o.count; withinOne += o.withinOne; maxDifference = max(maxDifference, o.maxDifference)
        for i in 0..<4 { histogram[i] += o.histogram[i] }
    }

    var fractionWithinOne: Double { count == 0 ? 1 : Double(withinOne) / Double(count) }
    var exactFraction: Double { count == 0 ? 1 : Double(histogram[0]) / Double(count) }

    var description: String {
        let pct = (fractionWithinOne * 1e5).rounded() / 1e3, exact = (exactFraction * 1e5).rounded() / 1e3
        return "\(count) elements, exact \(exact)%, within 1 LSB \(pct)%, max \(maxDifference) LSB (0/1/2/>2: \(histogram.map(String.init).joined(separator: "/")))"
    }
}
