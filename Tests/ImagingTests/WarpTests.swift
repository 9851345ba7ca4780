import Imaging
import Testing
import VigilCore
import VigilTestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("Warp")
struct WarpTests {
    let image = SyntheticImages.noise(width: 13, height: 7, seed: 21)

    @Test("identity is an exact copy")
    func identity() {
        #expect(image.warpedAffine(.identity, outputSize: image.size) == image)
    }

    @Test("integer translation shifts exactly; outside is the fill colour")
    func translation() {
        // Output (x, y) samples source (x + 3, y - 2).
        let t = AffineTransform.translation(x: 3, y: -2)
        let fill: (UInt8, UInt8, UInt8) = (1, 2, 3)
        let out = image.warpedAffine(t, outputSize: image.size, fill: fill)
        for y in 0..<image.height {
            for x in 0..<image.width {
                let sx = x + 3, sy = y - 2
                let inside = sx >= 0 && sx < image.width && sy >= 0 && sy < image.height
                #expect(out.pixel(x: x, y: y) == (inside ? image.pixel(x: sx, y: sy) : fill), "(\(x), \(y))")
            }
        }
    }

    @Test("a 90-degree rotation of a known image")
    func rotate90() {
        // Rotate clockwise on screen: output is H x W, output (x, y) = source (y, H - 1 - x).
        let h = Double(image.height)
        let t = AffineTransform(a: 0, b: 1, c: -1, d: 0, tx: 0, ty: h - 1)
        let out = image.warpedAffine(t, outputSize: Size(width: image.height, height: image.width))
        for y in 0..<out.height {
            for x in 0..<out.width {
                #expect(out.pixel(x: x, y: y) == image.pixel(x: y, y: image.height - 1 - x))
            }
        }
        // The same via rotation(radians:) (sin/cos of pi/2 are not exact; within 1 level).
        let viaAngle = image.warpedAffine(
            AffineTransform.rotation(radians: -.pi / 2).followed(by: .translation(x: 0, y: h - 1)),
            outputSize: out.size)
        #expect(try! #require(TestHelpers.maxAbsoluteError(viaAngle, out)) <= 1)
    }

    @Test("half-pixel translation averages neighbours")
    func halfPixel() {
        let ramp = SyntheticImages.horizontalRamp(width: 52, height: 3)
        let out = ramp.warpedAffine(.translation(x: 0.5, y: 0), outputSize: Size(width: 51, height: 3))
        for x in 0..<51 {
            let want = (Int(ramp.pixel(x: x, y: 1).0) + Int(ramp.pixel(x: x + 1, y: 1).0) + 1) / 2
            #expect(abs(Int(out.pixel(x: x, y: 1).0) - want) <= 1)
        }
    }

    @Test("borders blend with the fill colour; far outside is fill")
    func border() {
        let white = SyntheticImages.generate(width: 4, height: 4) { _, _ in (255, 255, 255) }
        let out = white.warpedAffine(.translation(x: -0.5, y: 0), outputSize: Size(width: 4, height: 4), fill: (0, 0, 0))
        #expect(out.pixel(x: 0, y: 1) == (128, 128, 128))  // half white, half fill
        #expect(out.pixel(x: 1, y: 1) == (255, 255, 255))
        let far = white.warpedAffine(.translation(x: 1e9, y: -1e12), outputSize: Size(width: 2, height: 2), fill: (5, 6, 7))
        #expect(far.pixel(x: 1, y: 1) == (5, 6, 7))
    }

    @Test("non-finite transforms and empty outputs do not crash")
    func degenerate() {
        let nan = AffineTransform(a: .nan, b: 0, c: 0, d: 1, tx: 0, ty: 0)
        let out = image.warpedAffine(nan, outputSize: Size(width: 3, height: 2), fill: (9, 9, 9))
        #expect(out == RGBImage(width: 3, height: 2, pixels: [UInt8](repeating: 9, count: 18)))
        let inf = AffineTransform(a: 1, b: 0, c: 0, d: 1, tx: .infinity, ty: 0)
        #expect(image.warpedAffine(inf, outputSize: Size(width: 2, height: 2)).size == Size(width: 2, height: 2))
        #expect(image.warpedAffine(.identity, outputSize: Size(width: 0, height: 5)) == .empty)
        let huge = AffineTransform(a: 1e300, b: 0, c: 0, d: 1e300, tx: 0, ty: 0)
        #expect(image.warpedAffine(huge, outputSize: Size(width: 3, height: 3)).size == Size(width: 3, height: 3))
    }
}

@Suite("AffineTransform")
struct AffineTransformTests {
    static let landmarks = [
        Point(x: 38.29, y: 51.69), Point(x: 73.53, y: 51.50), Point(x: 56.02, y: 71.73),
        Point(x: 41.54, y: 92.37), Point(x: 70.73, y: 92.20),
    ]

    static func close(_ a: AffineTransform, _ b: AffineTransform, _ tol: Double = 1e-9) -> Bool {
        abs(a.a - b.a) < tol && abs(a.b - b.b) < tol && abs(a.c - b.c) < tol && abs(a.d - b.d) < tol
            && abs(a.tx - b.tx) < tol && abs(a.ty - b.ty) < tol
    }

    @Test("apply, followed(by:), inverted")
    func basics() throws {
        let t = AffineTransform(a: 2, b: 1, c: -1, d: 3, tx: 5, ty: -7)
        #expect(t.apply(Point(x: 1, y: 2)) == Point(x: 9, y: -2))
        let inv = try #require(t.inverted())
        #expect(Self.close(t.followed(by: inv), .identity))
        #expect(Self.close(inv.followed(by: t), .identity))
        let u = AffineTransform.translation(x: 1, y: 1)
        let p = Point(x: 3, y: 4)
        #expect(t.followed(by: u).apply(p) == u.apply(t.apply(p)))
        #expect(AffineTransform(a: 1, b: 2, c: 2, d: 4, tx: 0, ty: 0).inverted() == nil)
        #expect(AffineTransform(a: .nan, b: 0, c: 0, d: 1, tx: 0, ty: 0).inverted() == nil)
        #expect(AffineTransform.identity.inverted() == .identity)
    }

    @Test("similarity recovers a known rotation, scale and translation from 5 points")
    func recoversSimilarity() throws {
        let truth = AffineTransform.scale(1.7)
            .followed(by: .rotation(radians: 0.52))
            .followed(by: .translation(x: 12.5, y: -4.25))
        let moved = Self.landmarks.map { truth.apply($0) }
        let fit = try #require(AffineTransform.similarity(from: Self.landmarks, to: moved))
        #expect(Self.close(fit, truth), "\(fit) vs \(truth)")
        // And the reverse direction is the inverse.
        let back = try #require(AffineTransform.similarity(from: moved, to: Self.landmarks))
        #expect(Self.close(back, try #require(truth.inverted()), 1e-7))
    }

    @Test("similarity is the least-squares fit for noisy points and never reflects")
    func noisyAndMirrored() throws {
        let truth = AffineTransform.rotation(radians: -0.3).followed(by: .translation(x: 3, y: 9))
        var rng = SyntheticImages.PRNG(seed: 1)
        let noisy = Self.landmarks.map { p -> Point in
            let q = truth.apply(p)
            return Point(x: q.x + Double(Int(rng.next() % 100) - 50) / 500, y: q.y + Double(Int(rng.next() % 100) - 50) / 500)
        }
        let fit = try #require(AffineTransform.similarity(from: Self.landmarks, to: noisy))
        #expect(Self.close(fit, truth, 0.3))
        let mirrored = Self.landmarks.map { Point(x: -$0.x, y: $0.y) }
        let m = try #require(AffineTransform.similarity(from: Self.landmarks, to: mirrored))
        #expect(m.a == m.d && m.b == -m.c)  // a proper similarity, det > 0
        #expect(m.a * m.d - m.b * m.c >= 0)
    }

    @Test("similarity gives nil for degenerate input")
    func degenerate() {
        let p = Self.landmarks
        #expect(AffineTransform.similarity(from: [], to: []) == nil)
        #expect(AffineTransform.similarity(from: [p[0]], to: [p[1]]) == nil)
        #expect(AffineTransform.similarity(from: p, to: Array(p.dropLast())) == nil)
        let same = [Point](repeating: p[0], count: 5)
        #expect(AffineTransform.similarity(from: same, to: p) == nil)
        #expect(AffineTransform.similarity(from: p, to: same) == nil)
        var withNaN = p
        withNaN[2] = Point(x: .nan, y: 0)
        #expect(AffineTransform.similarity(from: withNaN, to: p) == nil)
        #expect(AffineTransform.similarity(from: p, to: withNaN) == nil)
    }

    @Test("aligning an image with a similarity puts landmarks on the template")
    func alignment() throws {
        // A dot at source landmark positions; the warp by similarity(template -> landmarks)
        // must bring them to the template positions.
        let truth = AffineTransform.scale(2).followed(by: .rotation(radians: 0.25)).followed(by: .translation(x: 40, y: 10))
        let template = Self.landmarks
        let sourceLandmarks = template.map { truth.apply($0) }
        var source = RGBImage(width: 300, height: 300)
        for q in sourceLandmarks {
            for dy in -3...3 { for dx in -3...3 {
                let i = ((Int(q.y.rounded()) + dy) * 300 + Int(q.x.rounded()) + dx) * 3
                source.pixels[i] = 255; source.pixels[i + 1] = 255; source.pixels[i + 2] = 255
            } }
        }
        let outputToSource = try #require(AffineTransform.similarity(from: template, to: sourceLandmarks))
        let aligned = source.warpedAffine(outputToSource, outputSize: Size(width: 112, height: 112))
        for p in template {
            #expect(aligned.pixel(x: Int(p.x.rounded()), y: Int(p.y.rounded())).0 > 200, "\(p)")
        }
    }
}
