#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Imaging

/// Deterministic test images, so imaging tests need no fixture files and fail the same way on
/// every machine.
///
/// Each generator is a pure function of its arguments (noise takes an explicit seed and uses
/// `PRNG`, never the system random source).
public enum SyntheticImages {
    /// SplitMix64: a tiny, well-mixed, seedable generator (Steele, Lea & Flood 2014). Good enough
    /// for test data and identical on every platform, unlike `SystemRandomNumberGenerator`.
    public struct PRNG: RandomNumberGenerator, Sendable {
        private var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// A uniformly distributed byte.
        public mutating func nextByte() -> UInt8 { UInt8(truncatingIfNeeded: next() >> 56) }
    }

    /// The eight 75% colour bars (white, yellow, cyan, green, magenta, red, blue, black) in 8-bit
    /// RGB (191 = 75% of 255), left to right, as vertical stripes of equal width.
    public static let bars75: [(UInt8, UInt8, UInt8)] = [
        (191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0),
        (191, 0, 191), (191, 0, 0), (0, 0, 191), (0, 0, 0),
    ]

    public static func colourBars(width: Int, height: Int) -> RGBImage {
        generate(width: width, height: height) { x, _ in
            bars75[min(7, x * 8 / max(1, width))]
        }
    }

    /// Grey ramp from 0 at the left edge to 255 at the right edge, constant down each column.
    public static func horizontalRamp(width: Int, height: Int) -> RGBImage {
        generate(width: width, height: height) { x, _ in
            let v = UInt8(width > 1 ? (x * 255 + (width - 1) / 2) / (width - 1) : 0)
            return (v, v, v)
        }
    }

    /// A smooth colour gradient: red follows x, green follows y, blue the diagonal. Compresses
    /// well and has no edges, so scaled decodes and resizes should agree closely on it.
    public static func gradient(width: Int, height: Int) -> RGBImage {
        generate(width: width, height: height) { x, y in
            let fx = Double(x) / Double(max(1, width - 1)), fy = Double(y) / Double(max(1, height - 1))
            return (UInt8(fx * 255), UInt8(fy * 255), UInt8((1 - (fx + fy) / 2) * 255))
        }
    }

    /// A checkerboard of `cell` x `cell` squares, `a` at the top-left.
    public static func checkerboard(
        width: Int, height: Int, cell: Int,
        a: (UInt8, UInt8, UInt8) = (255, 255, 255), b: (UInt8, UInt8, UInt8) = (0, 0, 0)
    ) -> RGBImage {
        let c = max(1, cell)
        return generate(width: width, height: height) { x, y in ((x / c + y / c) % 2 == 0) ? a : b }
    }

    /// Uniform random bytes in every channel (the worst case for compression and resizing).
    public static func noise(width: Int, height: Int, seed: UInt64) -> RGBImage {
        var rng = PRNG(seed: seed)
        return RGBImage(width: width, height: height, pixels: randomBytes(count: max(0, width * height * 3), rng: &rng))
    }

    /// A photo-like image: smooth low-frequency shapes, a few soft edges and mild grain, so JPEG
    /// and scaling behave as on camera frames without shipping a photo.
    public static func natural(width: Int, height: Int, seed: UInt64) -> RGBImage {
        var rng = PRNG(seed: seed)
        func unit() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        let waves = (0..<6).map { _ in (fx: unit() * 6 + 0.5, fy: unit() * 6 + 0.5, phase: unit() * 6.28, ch: Int(unit() * 3)) }
        let discs = (0..<5).map { _ in (cx: unit(), cy: unit(), r: unit() * 0.25 + 0.05, colour: (unit(), unit(), unit())) }
        var grain = PRNG(seed: seed ^ 0xA5A5_A5A5)
        return generate(width: width, height: height) { x, y in
            let u = Double(x) / Double(max(1, width)), v = Double(y) / Double(max(1, height))
            var c = [0.45, 0.45, 0.45]
            for w in waves { c[w.ch] += 0.18 * sin(2 * .pi * (w.fx * u + w.fy * v) + w.phase) }
            for d in discs {
                let dist = ((u - d.cx) * (u - d.cx) + (v - d.cy) * (v - d.cy)).squareRoot()
                let edge = min(1, max(0, (d.r - dist) * 60))  // soft edge a few pixels wide
                c[0] += edge * (d.colour.0 - c[0]) * 0.7
                c[1] += edge * (d.colour.1 - c[1]) * 0.7
                c[2] += edge * (d.colour.2 - c[2]) * 0.7
            }
            let n = Double(Int(grain.nextByte()) - 128) / 128 * 0.02
            func byte(_ f: Double) -> UInt8 { UInt8(min(255, max(0, ((f + n) * 255).rounded()))) }
            return (byte(c[0]), byte(c[1]), byte(c[2]))
        }
    }

    /// `count` random bytes (raw YUYV/NV12/GREY frame payloads, corrupted JPEG data).
    public static func randomBytes(count: Int, seed: UInt64) -> [UInt8] {
        var rng = PRNG(seed: seed)
        return randomBytes(count: count, rng: &rng)
    }

    public static func randomBytes(count: Int, rng: inout PRNG) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(0, count))
        var i = 0
        while i < bytes.count {
            var word = rng.next()
            for _ in 0..<min(8, bytes.count - i) {
                bytes[i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                i += 1
            }
        }
        return bytes
    }

    /// Builds an image from a per-pixel function, row by row (x fastest).
    public static func generate(
        width: Int, height: Int, _ pixel: (Int, Int) -> (UInt8, UInt8, UInt8)
    ) -> RGBImage {
        var image = RGBImage(width: width, height: height)
        var i = 0
        for y in 0..<image.height {
            for x in 0..<image.width {
                let p = pixel(x, y)
                image.pixels[i] = p.0
                image.pixels[i + 1] = p.1
                image.pixels[i + 2] = p.2
                i += 3
            }
        }
        return image
    }
}
