import Imaging
import Testing
import VigilCore
import VigilTestSupport

@Suite("JPEGDecoder")
struct JPEGDecoderTests {
    @Test("scaledSize picks the smallest TurboJPEG factor covering the target",
          arguments: [
            (Size(width: 1280, height: 720), Size(width: 320, height: 180), Size(width: 320, height: 180)),
            (Size(width: 1280, height: 720), Size(width: 300, height: 300), Size(width: 640, height: 360)),
            (Size(width: 1280, height: 720), Size(width: 321, height: 180), Size(width: 480, height: 270)),
            (Size(width: 1280, height: 720), Size(width: 160, height: 90), Size(width: 160, height: 90)),
            (Size(width: 1280, height: 720), Size(width: 1, height: 1), Size(width: 160, height: 90)),
            (Size(width: 1280, height: 720), Size(width: 0, height: 0), Size(width: 160, height: 90)),
            (Size(width: 1280, height: 720), Size(width: 1281, height: 10), Size(width: 1280, height: 720)),
            (Size(width: 1280, height: 720), Size(width: 1280, height: 720), Size(width: 1280, height: 720)),
            (Size(width: 1920, height: 1080), Size(width: 640, height: 480), Size(width: 960, height: 540)),
            (Size(width: 641, height: 481), Size(width: 320, height: 240), Size(width: 321, height: 241)),
            (Size(width: 1, height: 1), Size(width: 300, height: 300), Size(width: 1, height: 1)),
          ])
    func scaledSize(full: Size, target: Size, expected: Size) {
        #expect(JPEGDecoder.scaledSize(of: full, atLeast: target) == expected)
    }

    @Test("header reports size and subsampling", arguments: ChromaSubsampling.allCases)
    func header(subsampling: ChromaSubsampling) throws {
        let (_, jpeg) = try TestHelpers.syntheticJPEG(width: 97, height: 61, subsampling: subsampling)
        let header = try jpeg.withUnsafeBytes { try JPEGDecoder().header($0) }
        #expect(header == JPEGHeader(size: Size(width: 97, height: 61), subsampling: subsampling))
    }

    @Test("decode output has the scaled size")
    func decodeSizes() throws {
        let (_, jpeg) = try TestHelpers.syntheticJPEG(width: 1280, height: 720)
        let decoder = try JPEGDecoder()
        try jpeg.withUnsafeBytes { bytes in
            #expect(try decoder.decode(bytes).size == Size(width: 1280, height: 720))
            #expect(try decoder.decode(bytes, atLeast: Size(width: 320, height: 180)).size == Size(width: 320, height: 180))
            #expect(try decoder.decode(bytes, atLeast: Size(width: 300, height: 300)).size == Size(width: 640, height: 360))
            let image = try decoder.decode(bytes, atLeast: Size(width: 100, height: 100))
            #expect(image.size == Size(width: 320, height: 180))  // 1/8 (160x90) is too short
            #expect(image.pixels.count == 320 * 180 * 3)
        }
    }

    @Test("decode into an image of unchanged size reuses its buffer")
    func decodeIntoReusesBuffer() throws {
        let (_, jpeg) = try TestHelpers.syntheticJPEG(width: 640, height: 480)
        let (_, other) = try TestHelpers.syntheticJPEG(width: 640, height: 480, seed: 7)
        let decoder = try JPEGDecoder()
        var image = RGBImage.empty
        let target = Size(width: 160, height: 120)
        try jpeg.withUnsafeBytes { try decoder.decode($0, atLeast: target, into: &image) }
        let before = image.pixels.withUnsafeBufferPointer { $0.baseAddress }
        try other.withUnsafeBytes { try decoder.decode($0, atLeast: target, into: &image) }
        let after = image.pixels.withUnsafeBufferPointer { $0.baseAddress }
        #expect(before == after)
        #expect(image.size == target)
        // The reused buffer holds exactly what a fresh decode gives, not the previous frame.
        let fresh = try other.withUnsafeBytes { try decoder.decode($0, atLeast: target) }
        #expect(fresh == image)
        let previous = try jpeg.withUnsafeBytes { try decoder.decode($0, atLeast: target) }
        #expect(previous != image)
    }

    /// DCT scaling vs full decode + bilinear resize. They are different filters (the scaled IDCT
    /// reconstructs each 8x8 block's low frequencies, close to a box average; bilinear at 1/4
    /// samples 2x2 of each 4x4 block), so they agree only up to detail and JPEG noise. A mean
    /// absolute error below 3 (about 1% of full scale) is far below anything a detector notices
    /// yet catches real bugs (wrong factor, wrong channel order, shifted rows: MAE 20+).
    @Test("scaled decode matches full decode + resize on synthetic JPEGs",
          arguments: [(ChromaSubsampling.s420, 2), (.s420, 4), (.s420, 8), (.s422, 4), (.s444, 4), (.gray, 4)])
    func scaledMatchesFullSynthetic(subsampling: ChromaSubsampling, divisor: Int) throws {
        let (_, jpeg) = try TestHelpers.syntheticJPEG(width: 1280, height: 720, subsampling: subsampling)
        let error = try scaledVersusFull(jpeg, divisor: divisor)
        #expect(error < 3, "MAE \(error) at 1/\(divisor)")
    }

    /// On real photos the bilinear reference is the wrong yardstick: at 1/4 it samples only 4
    /// of every 16 pixels, so on fine texture (hair, foliage) it aliases and differs from the
    /// DCT-scaled image by MAE 4-7 although both are fine. The fair reference for DCT scaling is
    /// an area average (see `TestHelpers.areaDownscale`), against which the same MAE < 3 bound
    /// holds; the bilinear figure is printed for information.
    @Test("scaled decode matches full decode + area resize on real photos")
    func scaledMatchesFullOnPhotos() throws {
        let decoder = try JPEGDecoder()
        var worstArea = 0.0, worstBilinear = 0.0, checked = 0
        for (path, bytes) in TestHelpers.realPhotos() {
            let full: RGBImage
            do { full = try bytes.withUnsafeBytes { try decoder.decode($0) } } catch {
                print("notice: \(path) does not decode with TurboJPEG (\(error)); skipped")
                continue
            }
            // Big photos are compared on a central 1024x1024 crop aligned to the 8x8 block grid
            // (so it maps exactly onto the scaled image), keeping the debug-build test quick.
            let region = Self.comparisonRegion(for: full.size)
            let fullRegion = full.cropped(to: region)
            for divisor in [2, 4, 8] {
                let target = Size(width: (full.width + divisor - 1) / divisor, height: (full.height + divisor - 1) / divisor)
                let scaled = try bytes.withUnsafeBytes { try decoder.decode($0, atLeast: target) }
                #expect(scaled.size == target)
                let scaledRegion = scaled.cropped(to: Rect(
                    x: region.x / divisor, y: region.y / divisor,
                    width: (region.width + divisor - 1) / divisor, height: (region.height + divisor - 1) / divisor))
                let area = try #require(TestHelpers.meanAbsoluteError(scaledRegion, TestHelpers.areaDownscale(fullRegion, by: divisor)))
                #expect(area < 3, "MAE \(area) vs area average at 1/\(divisor) for \(path)")
                worstArea = max(worstArea, area)
                if divisor == 4 {
                    let bilinear = try #require(TestHelpers.meanAbsoluteError(scaled, full.resized(to: target)))
                    worstBilinear = max(worstBilinear, bilinear)
                }
            }
            checked += 1
        }
        if checked > 0 {
            print("real photos: \(checked) checked; worst MAE vs area \(worstArea), vs bilinear at 1/4 \(worstBilinear) (information only)")
        }
    }

    /// The whole image when small, else a central 1024x1024 region on the 8-pixel block grid.
    private static func comparisonRegion(for size: Size) -> Rect {
        let side = 1024
        guard size.width * size.height > side * side else { return Rect(x: 0, y: 0, width: size.width, height: size.height) }
        let w = min(side, size.width / 8 * 8), h = min(side, size.height / 8 * 8)
        let x = (size.width - w) / 2 / 8 * 8, y = (size.height - h) / 2 / 8 * 8
        return Rect(x: x, y: y, width: w, height: h)
    }

    /// Mean absolute error between a 1/`divisor` scaled decode and the full decode resized to the
    /// same size.
    private func scaledVersusFull(_ jpeg: [UInt8], divisor: Int) throws -> Double {
        let decoder = try JPEGDecoder()
        return try jpeg.withUnsafeBytes { bytes in
            let full = try decoder.decode(bytes)
            let target = Size(width: (full.width + divisor - 1) / divisor, height: (full.height + divisor - 1) / divisor)
            let scaled = try decoder.decode(bytes, atLeast: target)
            #expect(scaled.size == target)
            return TestHelpers.meanAbsoluteError(scaled, full.resized(to: scaled.size)) ?? .infinity
        }
    }

    /// UVC cameras send MJPEG frames without DHT segments and rely on the standard tables of
    /// JPEG Annex K.3; libjpeg-turbo substitutes them when none were defined. Vigil's encoder uses
    /// exactly those tables, so stripping its DHT segments must not change a single pixel.
    @Test("frames without Huffman tables decode like the original",
          arguments: [ChromaSubsampling.s422, .s420, .s444, .gray])
    func missingHuffmanTables(subsampling: ChromaSubsampling) throws {
        let (_, jpeg) = try TestHelpers.syntheticJPEG(width: 320, height: 240, subsampling: subsampling)
        let original = try #require(JPEGMarkers(jpeg))
        #expect(original.segments.contains { $0.marker == JPEGMarkers.dht })
        let stripped = try #require(JPEGMarkers.removing(JPEGMarkers.dht, from: jpeg))
        let walk = try #require(JPEGMarkers(stripped))
        #expect(!walk.segments.contains { $0.marker == JPEGMarkers.dht })
        #expect(stripped.count < jpeg.count)

        let decoder = try JPEGDecoder()
        let a = try jpeg.withUnsafeBytes { try decoder.decode($0) }
        let b = try stripped.withUnsafeBytes { try decoder.decode($0) }
        #expect(a == b)
        let aSmall = try jpeg.withUnsafeBytes { try decoder.decode($0, atLeast: Size(width: 80, height: 60)) }
        let bSmall = try stripped.withUnsafeBytes { try decoder.decode($0, atLeast: Size(width: 80, height: 60)) }
        #expect(aSmall == bSmall)
    }

    @Test("real photos decode without DHT too, when their tables are the standard ones")
    func missingHuffmanTablesOnVigilReencodedPhoto() throws {
        // Real photos usually carry optimised tables, so stripping them would corrupt the data;
        // re-encoding a real photo with Vigil's encoder gives real content with standard tables.
        guard let (path, bytes) = TestHelpers.realPhotos().first else { return }
        let decoder = try JPEGDecoder()
        let photo = try bytes.withUnsafeBytes { try decoder.decode($0) }
        let jpeg = try JPEGEncoder().encode(photo, quality: 80, subsampling: .s422)
        let stripped = try #require(JPEGMarkers.removing(JPEGMarkers.dht, from: jpeg), "\(path)")
        let a = try jpeg.withUnsafeBytes { try decoder.decode($0) }
        let b = try stripped.withUnsafeBytes { try decoder.decode($0) }
        #expect(a == b)
    }
}
