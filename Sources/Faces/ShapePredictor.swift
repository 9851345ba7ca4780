import Imaging
import VigilCore

/// Why a serialized dlib `shape_predictor` was refused. Each case names what is wrong and where, so
/// a bad model file gives one clear error instead of a trap or a silently wrong predictor.
public enum ShapePredictorError: Error, Equatable, Sendable {
    /// The bytes ended inside a value (`offset` = where the missing byte should have been).
    case truncated(offset: Int)
    /// An integer header byte dlib never writes (more than 8 magnitude bytes).
    case badIntegerHeader(offset: Int, byte: UInt8)
    /// A number outside what the field can hold (negative count, float exponent out of range, …).
    case outOfRange(field: String, value: Int64)
    /// Sizes that do not agree with each other (e.g. a tree's leaves ≠ splits + 1).
    case inconsistent(String)
    /// An index that points past what it indexes (split feature, anchor landmark).
    case badIndex(field: String, index: Int, limit: Int)
    /// A version other than the one this reader knows.
    case unsupportedVersion(Int64)
    /// Bytes left over after the predictor.
    case trailingBytes(count: Int)
}

/// A cursor over dlib's serialization format (dlib/serialize.h): integers are a header byte
/// (magnitude byte count | 0x80 if negative) then the magnitude little-endian; floats are an int64
/// mantissa and an int16 exponent, value = m·2^e (exponents 32000…32002 encode ±inf and NaN,
/// which a landmark model never needs, so they are refused).
package struct DlibReader {
    package let bytes: [UInt8]
    package private(set) var offset = 0

    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    package var remaining: Int { bytes.count - offset }

    package mutating func integer() throws(ShapePredictorError) -> Int64 {
        guard offset < bytes.count else { throw .truncated(offset: offset) }
        let header = bytes[offset]
        let n = Int(header & 0x0F)
        guard n <= 8, header & 0x70 == 0 else { throw .badIntegerHeader(offset: offset, byte: header) }
        guard bytes.count - offset - 1 >= n else { throw .truncated(offset: bytes.count) }
        var magnitude: UInt64 = 0
        for i in 0..<n { magnitude |= UInt64(bytes[offset + 1 + i]) << (8 * UInt64(i)) }
        offset += 1 + n
        // Anything above Int64.max cannot be a count, index or mantissa this format holds.
        guard magnitude <= UInt64(Int64.max) else { throw .outOfRange(field: "integer", value: Int64.max) }
        let v = Int64(magnitude)
        return header & 0x80 != 0 ? -v : v
    }

    /// A non-negative integer no larger than `limit` (counts: bounded before anything is allocated).
    package mutating func count(_ field: String, limit: Int) throws(ShapePredictorError) -> Int {
        let v = try integer()
        guard v >= 0, v <= Int64(limit) else { throw .outOfRange(field: field, value: v) }
        return Int(v)
    }

    package mutating func float() throws(ShapePredictorError) -> Float {
        let m = try integer()
        let e = try integer()
        guard e >= -1100, e <= 200 else { throw .outOfRange(field: "float exponent", value: e) }
        let f = Float(Double(m) * Self.pow2(Int(e)))
        guard f.isFinite else { throw .outOfRange(field: "float value", value: e) }
        return f
    }

    /// 2^e split in two factors so neither underflows or overflows alone for e in -1100...200.
    private static func pow2(_ e: Int) -> Double {
        let half = e / 2
        return Double(sign: .plus, exponent: half, significand: 1) * Double(sign: .plus, exponent: e - half, significand: 1)
    }
}

/// dlib's cascade-of-regression-trees landmark model (Kazemi & Sullivan, `shape_predictor` in
/// dlib/image_processing/shape_predictor.h), read without dlib and stored flat so a prediction is a
/// few array walks. Built only by `init(serialized:)`, which checks every count and index, so
/// `predict` never indexes out of bounds.
public struct ShapePredictor: Sendable {
    /// Landmarks in the model (5 for `shape_predictor_5_face_landmarks.dat`).
    public let landmarkCount: Int
    /// The mean shape, normalised to the detector box: x0, y0, x1, y1, …
    package let initialShape: [Float]
    package let cascades: [Cascade]

    package struct Cascade: Sendable {
        /// Per feature pixel: the anchor landmark and its offset in mean-shape space.
        var anchor: [Int32]
        var deltaX: [Float]
        var deltaY: [Float]
        var treeCount: Int
        /// treeCount + 1 offsets into idx1/idx2/thresh (each tree keeps its own split count, so a
        /// file with mixed depths is still read right).
        var splitStart: [Int32]
        var idx1: [Int32]
        var idx2: [Int32]
        var thresh: [Float]
        /// treeCount + 1 offsets (in leaves) into `leaves`; each leaf is 2·landmarkCount floats.
        var leafStart: [Int32]
        var leaves: [Float]
    }

    /// Upper bounds far above any real model (the 5-point model: 15 cascades × 500 trees, depth 4,
    /// 500 feature pixels) that keep a hostile file from asking for gigabytes.
    package enum Limits {
        static let landmarks = 1000
        static let cascades = 100
        static let trees = 10_000
        static let splits = 1 << 12
        static let features = 100_000
        static let totalFloats = 64 << 20
    }

    public init(serialized data: [UInt8]) throws(ShapePredictorError) {
        var r = DlibReader(data)
        let version = try r.integer()
        guard version == 1 else { throw .unsupportedVersion(version) }
        // matrix<float,0,1>: dlib writes -nr, -nc (negated for compatibility with its old format),
        // then the values row by row; older files wrote them positive, both are accepted.
        let nr = try r.integer(), nc = try r.integer()
        let rows = nr < 0 ? -nr : nr, cols = nc < 0 ? -nc : nc
        guard cols == 1 else { throw .inconsistent("initial_shape has \(cols) columns, want 1") }
        guard rows >= 2, rows % 2 == 0, rows <= Int64(2 * Limits.landmarks) else {
            throw .outOfRange(field: "initial_shape rows", value: nr)
        }
        let dim = Int(rows)
        landmarkCount = dim / 2
        var shape = [Float]()
        shape.reserveCapacity(dim)
        for _ in 0..<dim { shape.append(try r.float()) }
        initialShape = shape

        var floatsBudget = Limits.totalFloats
        let cascadeCount = try r.count("forests", limit: Limits.cascades)
        var cs = [Cascade]()
        for _ in 0..<cascadeCount {
            let trees = try r.count("trees", limit: Limits.trees)
            var c = Cascade(anchor: [], deltaX: [], deltaY: [], treeCount: trees, splitStart: [0],
                            idx1: [], idx2: [], thresh: [], leafStart: [0], leaves: [])
            for _ in 0..<trees {
                let splits = try r.count("splits", limit: Limits.splits)
                for _ in 0..<splits {
                    let a = try r.count("split idx1", limit: Limits.features)
                    let b = try r.count("split idx2", limit: Limits.features)
                    c.idx1.append(Int32(a)); c.idx2.append(Int32(b))
                    c.thresh.append(try r.float())
                }
                c.splitStart.append(Int32(c.idx1.count))
                let leaves = try r.count("leaf_values", limit: Limits.splits + 1)
                guard leaves == splits + 1, (leaves & (leaves - 1)) == 0 else {
                    throw .inconsistent("tree has \(splits) splits and \(leaves) leaves; want a complete binary tree")
                }
                floatsBudget -= leaves * dim
                guard floatsBudget >= 0 else { throw .outOfRange(field: "total leaf floats", value: Int64(Limits.totalFloats)) }
                for _ in 0..<leaves {
                    let lr = try r.integer(), lc = try r.integer()
                    guard lr == Int64(dim) || lr == -Int64(dim), lc == 1 || lc == -1 else {
                        throw .inconsistent("leaf is \(lr)x\(lc), want \(dim)x1")
                    }
                    for _ in 0..<dim { c.leaves.append(try r.float()) }
                }
                c.leafStart.append(Int32(c.leaves.count / dim))
            }
            cs.append(c)
        }
        let anchorCascades = try r.count("anchor_idx", limit: Limits.cascades)
        guard anchorCascades == cascadeCount else {
            throw .inconsistent("\(anchorCascades) anchor lists for \(cascadeCount) cascades")
        }
        for i in 0..<cascadeCount {
            let n = try r.count("anchor_idx[\(i)]", limit: Limits.features)
            for _ in 0..<n {
                let a = try r.integer()
                guard a >= 0, a < Int64(landmarkCount) else {
                    throw .badIndex(field: "anchor_idx[\(i)]", index: Int(clamping: a), limit: landmarkCount)
                }
                cs[i].anchor.append(Int32(a))
            }
        }
        let deltaCascades = try r.count("deltas", limit: Limits.cascades)
        guard deltaCascades == cascadeCount else {
            throw .inconsistent("\(deltaCascades) delta lists for \(cascadeCount) cascades")
        }
        for i in 0..<cascadeCount {
            let n = try r.count("deltas[\(i)]", limit: Limits.features)
            guard n == cs[i].anchor.count else {
                throw .inconsistent("cascade \(i): \(n) deltas for \(cs[i].anchor.count) anchors")
            }
            for _ in 0..<n {
                cs[i].deltaX.append(try r.float())
                cs[i].deltaY.append(try r.float())
            }
            for (j, (a, b)) in zip(cs[i].idx1, cs[i].idx2).enumerated() where Int(a) >= n || Int(b) >= n {
                throw .badIndex(field: "cascade \(i) split \(j)", index: Int(max(a, b)), limit: n)
            }
        }
        guard r.remaining == 0 else { throw .trailingBytes(count: r.remaining) }
        cascades = cs
    }

    /// The landmarks for the face in `rect`, as dlib's `shape_predictor::operator()`: `rect` plays
    /// dlib's `rectangle(l, t, r, b)` with l = x, t = y, r = maxX, b = maxY (dlib's inclusive
    /// corners), so dlib's rect(l,t,r,b) is Box(x: l, y: t, width: r-l, height: b-t). Feature pixels
    /// are dlib's rgb intensity, (r+g+b)/3 truncated, 0 outside the image.
    public func predict(_ image: RGBImage, rect: Box) -> [Point] {
        var shape = initialShape
        let dim = shape.count
        let w = image.width, h = image.height
        let wellFormed = image.isWellFormed
        // dlib maps normalised shape coordinates to the image in double (point_transform_affine).
        var features = [Float]()
        image.pixels.withUnsafeBufferPointer { px in
            for c in cascades {
                // Similarity from the mean shape to the current shape (least squares, dlib's
                // find_similarity_transform): only its linear part [a -b; b a] is used.
                let (a, b) = Self.similarity(from: initialShape, to: shape)
                let n = c.anchor.count
                if features.count != n { features = [Float](repeating: 0, count: n) }
                for i in 0..<n {
                    let dx = c.deltaX[i], dy = c.deltaY[i]
                    let k = Int(c.anchor[i]) * 2
                    let u = a * dx - b * dy + shape[k]
                    let v = b * dx + a * dy + shape[k + 1]
                    let xi = Self.roundHalfUp(rect.x + Double(u) * rect.width), yi = Self.roundHalfUp(rect.y + Double(v) * rect.height)
                    if wellFormed, xi >= 0, yi >= 0, xi < w, yi < h {
                        let p = (yi * w + xi) * 3
                        features[i] = Float((UInt32(px[p]) + UInt32(px[p + 1]) + UInt32(px[p + 2])) / 3)
                    } else {
                        features[i] = 0
                    }
                }
                features.withUnsafeBufferPointer { f in
                    for t in 0..<c.treeCount {
                        let s0 = Int(c.splitStart[t]), ns = Int(c.splitStart[t + 1]) - s0
                        var node = 0
                        while node < ns {
                            let j = s0 + node
                            node = f[Int(c.idx1[j])] - f[Int(c.idx2[j])] > c.thresh[j] ? 2 * node + 1 : 2 * node + 2
                        }
                        let leaf = (Int(c.leafStart[t]) + node - ns) * dim
                        for d in 0..<dim { shape[d] += c.leaves[leaf + d] }
                    }
                }
            }
        }
        var out = [Point]()
        out.reserveCapacity(landmarkCount)
        for i in 0..<landmarkCount {
            out.append(Point(x: rect.x + Double(shape[2 * i]) * rect.width,
                             y: rect.y + Double(shape[2 * i + 1]) * rect.height))
        }
        return out
    }

    /// The rectangle dlib's HOG detector would give for a face BlazeFace boxed as `box`: the
    /// 5-point model was trained on HOG boxes, and its cascade starts from the mean shape placed
    /// in that box. Fitted on the PyPI photos (scripts/eval/fit_landmark_rect.py: 52 faces, photos,
    /// mirrors and rescales): same centre (dy +0.006 h, sd 0.05), side 0.925 of BlazeFace's
    /// (sd 0.09); the cascade absorbs the rest (the parity test shifts boxes by ±12 %).
    public static func dlibRect(for box: Box) -> Box {
        let side = 0.925 * (box.width + box.height) / 2
        let cx = box.x + box.width / 2, cy = box.y + box.height / 2 + 0.006 * box.height
        return Box(x: cx - side / 2, y: cy - side / 2, width: side, height: side)
    }

    /// dlib's float→long point conversion rounds half up (floor(x + 0.5)); non-finite or huge
    /// values become -1 (outside every image).
    @inline(__always) static func roundHalfUp(_ v: Double) -> Int {
        let r = (v + 0.5).rounded(.down)
        guard r.isFinite, abs(r) < 1e9 else { return -1 }
        return Int(r)
    }

    /// Least-squares similarity (rotation + uniform scale + translation) mapping `from` onto `to`,
    /// returned as the linear part (a, b) of [a -b; b a]; identity for one point or a degenerate
    /// `from`.
    /// Computed in double and rounded to float at the end, as dlib's find_similarity_transform
    /// (Umeyama, double) followed by matrix_cast<float>: a feature pixel sits on a rounding
    /// boundary often enough that float here flips a few tree branches per hundred faces.
    static func similarity(from p: [Float], to q: [Float]) -> (Float, Float) {
        let n = p.count / 2
        guard n > 1 else { return (1, 0) }
        var mpx = 0.0, mpy = 0.0, mqx = 0.0, mqy = 0.0
        for i in 0..<n { mpx += Double(p[2 * i]); mpy += Double(p[2 * i + 1]); mqx += Double(q[2 * i]); mqy += Double(q[2 * i + 1]) }
        let inv = 1 / Double(n)
        mpx *= inv; mpy *= inv; mqx *= inv; mqy *= inv
        var sxx = 0.0, sab = 0.0, sba = 0.0
        for i in 0..<n {
            let x = Double(p[2 * i]) - mpx, y = Double(p[2 * i + 1]) - mpy
            let u = Double(q[2 * i]) - mqx, v = Double(q[2 * i + 1]) - mqy
            sxx += x * x + y * y
            sab += x * u + y * v
            sba += x * v - y * u
        }
        guard sxx > 0 else { return (1, 0) }
        return (Float(sab / sxx), Float(sba / sxx))
    }
}

/// A landmark model file that cannot be used: which file, and why (unreadable, or which check of
/// the format failed).
public struct ShapePredictorFileError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    public var description: String { "landmark model \(path): \(reason)" }
}

extension ShapePredictor {
    /// Reads and checks a serialized predictor file (the CLI and the agent load it this one way).
    public init(file path: String) throws(ShapePredictorFileError) {
        let bytes: [UInt8]
        do { bytes = try readFile(path, maximumBytes: ReadLimit.model) } catch { throw ShapePredictorFileError(path: path, reason: "\(error)") }
        do { try self.init(serialized: bytes) } catch { throw ShapePredictorFileError(path: path, reason: "\(error)") }
    }
}
