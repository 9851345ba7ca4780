import Foundation

/// Writes small dlib `shape_predictor` files by hand, in dlib's serialization (integers as a
/// length byte with the sign in bit 7 and little-endian magnitude; floats as mantissa·2^exponent):
/// the unit tests' malformed variants and the fuzz seeds come from here, never from dlib's file.
public enum DlibShapePredictorWriter {
    /// dlib's integer encoding.
    public static func integer(_ v: Int64) -> [UInt8] {
        var m = v.magnitude, b = [UInt8]()
        while m > 0 { b.append(UInt8(m & 0xFF)); m >>= 8 }
        return [UInt8(b.count) | (v < 0 ? 0x80 : 0)] + b
    }

    /// dlib's float encoding m·2^e with a 24-bit mantissa: exact for any finite float.
    public static func float(_ f: Float) -> [UInt8] {
        if f == 0 { return integer(0) + integer(0) }
        let e = Int64(f.exponent) - 23
        let m = Int64((Double(f) / pow(2, Double(e))).rounded())
        return integer(m) + integer(e)
    }

    /// A column vector as dlib writes `matrix<float,0,1>`: -rows, -1, then the values.
    public static func column(_ values: [Float]) -> [UInt8] {
        integer(-Int64(values.count)) + integer(-1) + values.flatMap(float)
    }

    /// A 2-landmark, 1-cascade, 1-tree (depth 1) predictor with 2 feature pixels; `idx1` and
    /// `anchor` let a test point an index past its table.
    public static func tiny(idx1: Int64 = 0, anchor: Int64 = 1) -> [UInt8] {
        var b = integer(1)
        b += column([0.3, 0.4, 0.7, 0.6])
        b += integer(1) + integer(1)                                 // one cascade of one tree
        b += integer(1) + integer(idx1) + integer(1) + float(10)     // one split
        b += integer(2)
        b += column([0.01, 0, 0, 0])
        b += column([-0.01, 0, 0, 0])
        b += integer(1) + integer(2) + integer(0) + integer(anchor)  // anchor_idx
        b += integer(1) + integer(2) + [0.05, 0, -0.05, 0].flatMap(float)
        return b
    }

    /// A 5-landmark predictor shaped like dlib's (`cascades` cascades of `trees` trees of
    /// `depth`, `features` feature pixels), with deterministic pseudo-random contents: big enough
    /// to exercise every loop of the reader and of `predict`.
    public static func fivePoint(cascades: Int = 3, trees: Int = 4, depth: Int = 3, features: Int = 16, seed: UInt64 = 7) -> [UInt8] {
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        func unit() -> Float { Float(next() % 10_000) / 10_000 }
        let mean: [Float] = [0.2, 0.3, 0.8, 0.3, 0.5, 0.55, 0.3, 0.8, 0.7, 0.8]
        var b = integer(1) + column(mean)
        b += integer(Int64(cascades))
        let splits = (1 << depth) - 1, leaves = 1 << depth
        for _ in 0..<cascades {
            b += integer(Int64(trees))
            for _ in 0..<trees {
                b += integer(Int64(splits))
                for _ in 0..<splits {
                    b += integer(Int64(next() % UInt64(features))) + integer(Int64(next() % UInt64(features))) + float(unit() * 40 - 20)
                }
                b += integer(Int64(leaves))
                for _ in 0..<leaves { b += column((0..<10).map { _ in (unit() - 0.5) * 0.02 }) }
            }
        }
        b += integer(Int64(cascades))
        for _ in 0..<cascades {
            b += integer(Int64(features)) + (0..<features).flatMap { _ in integer(Int64(next() % 5)) }
        }
        b += integer(Int64(cascades))
        for _ in 0..<cascades {
            b += integer(Int64(features)) + (0..<(2 * features)).flatMap { _ in float((unit() - 0.5) * 0.3) }
        }
        return b
    }
}
