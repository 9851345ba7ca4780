import Imaging
import Testing
import VigilCore
import VigilTestSupport

@Suite("Resize")
struct ResizeTests {
    /// OpenCV INTER_LINEAR in doubles: the reference `resized(to:)` must match within 1.
    static func reference(_ image: RGBImage, to size: Size) -> RGBImage {
        func axis(_ d: Int, _ src: Int, _ dst: Int) -> (Int, Int, Double) {
            let f = (Double(d) + 0.5) * Double(src) / Double(dst) - 0.5
            var s = Int(f.rounded(.down)), frac = f - Double(s)
            if s < 0 { s = 0; frac = 0 }
            if s >= src - 1 { s = src - 1; frac = 0 }
            return (s, min(s + 1, src - 1), frac)
        }
        var out = RGBImage(width: size.width, height: size.height)
        for dy in 0..<size.height {
            let (y0, y1, fy) = axis(dy, image.height, size.height)
            for dx in 0..<size.width {
                let (x0, x1, fx) = axis(dx, image.width, size.width)
                for c in 0..<3 {
                    func p(_ x: Int, _ y: Int) -> Double { Double(image.pixels[(y * image.width + x) * 3 + c]) }
                    let v = (1 - fy) * ((1 - fx) * p(x0, y0) + fx * p(x1, y0)) + fy * ((1 - fx) * p(x0, y1) + fx * p(x1, y1))
                    out.pixels[(dy * size.width + dx) * 3 + c] = UInt8(v.rounded())
                }
            }
        }
        return out
    }

    static let sizePairs: [(Size, Size)] = [
        (Size(width: 97, height: 61), Size(width: 40, height: 33)),
        (Size(width: 50, height: 50), Size(width: 123, height: 77)),
        (Size(width: 640, height: 360), Size(width: 320, height: 180)),
        (Size(width: 480, height: 270), Size(width: 320, height: 180)),
        (Size(width: 1, height: 1), Size(width: 5, height: 3)),
        (Size(width: 7, height: 1), Size(width: 3, height: 9)),
        (Size(width: 300, height: 200), Size(width: 299, height: 201)),
    ]

    @Test("matches the double-precision reference within 1", arguments: sizePairs)
    func matchesReference(from: Size, to: Size) throws {
        for image in [SyntheticImages.noise(width: from.width, height: from.height, seed: 4),
                      SyntheticImages.natural(width: from.width, height: from.height, seed: 4)] {
            let got = image.resized(to: to)
            #expect(got.size == to)
            #expect(try #require(TestHelpers.maxAbsoluteError(got, Self.reference(image, to: to))) <= 1)
        }
    }

    @Test("a constant image stays constant", arguments: sizePairs)
    func constant(from: Size, to: Size) {
        let image = SyntheticImages.generate(width: from.width, height: from.height) { _, _ in (17, 200, 255) }
        let got = image.resized(to: to)
        for i in stride(from: 0, to: got.pixels.count, by: 3) {
            #expect(got.pixels[i] == 17 && got.pixels[i + 1] == 200 && got.pixels[i + 2] == 255)
        }
    }

    @Test("same size is an exact copy")
    func identity() {
        let image = SyntheticImages.noise(width: 33, height: 21, seed: 2)
        #expect(image.resized(to: image.size) == image)
    }

    @Test("a horizontal ramp stays a ramp within 1", arguments: [100, 256, 700])
    func ramp(width: Int) {
        let ramp = SyntheticImages.horizontalRamp(width: 256, height: 8)
        let got = ramp.resized(to: Size(width: width, height: 5))
        for x in 0..<width {
            // The exact value of the source ramp (v = 255 * s / 255 = s) at the sample position,
            // clamped at the edges like the resize.
            let s = min(255, max(0, (Double(x) + 0.5) * 256 / Double(width) - 0.5))
            for y in 0..<5 {
                let p = got.pixel(x: x, y: y)
                #expect(p.0 == p.1 && p.1 == p.2)
                #expect(abs(Double(p.0) - s) <= 1, "x=\(x): \(p.0) vs \(s)")
                #expect(p == got.pixel(x: x, y: 0))
            }
            if x > 0 { #expect(got.pixel(x: x, y: 0).0 >= got.pixel(x: x - 1, y: 0).0) }
        }
    }

    @Test("degenerate sizes")
    func degenerate() {
        let image = SyntheticImages.gradient(width: 10, height: 10)
        #expect(image.resized(to: Size(width: 0, height: 10)) == .empty)
        #expect(image.resized(to: Size(width: -4, height: 10)) == .empty)
        #expect(RGBImage.empty.resized(to: Size(width: 4, height: 2)) == RGBImage(width: 4, height: 2))
        var broken = image
        broken.pixels.removeLast()
        #expect(broken.resized(to: Size(width: 4, height: 2)) == RGBImage(width: 4, height: 2))
    }
}

@Suite("Crop")
struct CropTests {
    let image = SyntheticImages.noise(width: 20, height: 10, seed: 8)

    @Test("inside crop copies the rectangle")
    func inside() {
        let c = image.cropped(to: Rect(x: 3, y: 2, width: 5, height: 4))
        #expect(c.size == Size(width: 5, height: 4))
        for y in 0..<4 { for x in 0..<5 { #expect(c.pixel(x: x, y: y) == image.pixel(x: x + 3, y: y + 2)) } }
    }

    @Test("rectangles sticking out are clamped")
    func clamped() {
        let c = image.cropped(to: Rect(x: -5, y: 7, width: 10, height: 10))
        #expect(c.size == Size(width: 5, height: 3))
        #expect(c.pixel(x: 0, y: 0) == image.pixel(x: 0, y: 7))
        #expect(c.pixel(x: 4, y: 2) == image.pixel(x: 4, y: 9))
        #expect(image.cropped(to: Rect(x: -100, y: -100, width: 1000, height: 1000)) == image)
    }

    @Test("empty intersections give a 0x0 image")
    func empty() {
        #expect(image.cropped(to: Rect(x: 20, y: 0, width: 5, height: 5)) == .empty)
        #expect(image.cropped(to: Rect(x: -10, y: -10, width: 10, height: 30)) == .empty)
        #expect(image.cropped(to: Rect(x: 2, y: 2, width: 0, height: 5)) == .empty)
        #expect(image.cropped(to: Rect(x: 2, y: 2, width: -3, height: 5)) == .empty)
        #expect(RGBImage.empty.cropped(to: Rect(x: 0, y: 0, width: 3, height: 3)) == .empty)
        // Extreme boxes (a misbehaving detector) neither trap nor read out of bounds.
        #expect(image.cropped(to: Rect(x: Int.max - 1, y: 0, width: Int.max, height: 5)) == .empty)
        #expect(image.cropped(to: Rect(x: 5, y: 5, width: Int.max, height: Int.max)).size == Size(width: 15, height: 5))
        #expect(image.cropped(to: Rect(x: Int.min, y: Int.min, width: 3, height: 3)) == .empty)
    }
}

@Suite("RGBImage")
struct RGBImageTests {
    @Test("initialisers keep the pixel invariant")
    func invariant() {
        #expect(RGBImage(width: 2, height: 2).pixels.count == 12)
        #expect(RGBImage(width: 2, height: 1, pixels: [1, 2, 3]).pixels == [1, 2, 3, 0, 0, 0])
        #expect(RGBImage(width: 1, height: 1, pixels: [1, 2, 3, 4]).pixels == [1, 2, 3])
        #expect(RGBImage(width: -1, height: 5) == .empty)
        #expect(RGBImage(width: Int.max, height: 3) == .empty)
        #expect(RGBImage(width: 3, height: 2).isWellFormed)
        #expect(!RGBImage.empty.isWellFormed)
    }

    @Test("pixel outside the image is black")
    func pixelOutside() {
        let image = RGBImage(width: 1, height: 1, pixels: [9, 8, 7])
        #expect(image.pixel(x: 0, y: 0) == (9, 8, 7))
        #expect(image.pixel(x: 1, y: 0) == (0, 0, 0))
        #expect(image.pixel(x: 0, y: -1) == (0, 0, 0))
    }
}
