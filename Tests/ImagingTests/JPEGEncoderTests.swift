import Imaging
import Testing
import VigilCore
import VigilTestSupport

@Suite("JPEGEncoder")
struct JPEGEncoderTests {
    /// JPEG is lossy; at quality 95 with full chroma the test image (smooth shapes plus +-2% grain,
    /// which JPEG partly smooths away) comes back within about 2 levels on average. Subsampled
    /// chroma and lower quality lose more, hence the looser bounds; a real bug (channel swap,
    /// row shift) gives 20+.
    @Test("decode(encode(image)) is close to image",
          arguments: [(ChromaSubsampling.s444, 95, 2.5), (.s422, 90, 3.0), (.s420, 85, 4.0)])
    func roundTrip(subsampling: ChromaSubsampling, quality: Int, tolerance: Double) throws {
        let image = SyntheticImages.natural(width: 160, height: 120, seed: 5)
        let jpeg = try JPEGEncoder().encode(image, quality: quality, subsampling: subsampling)
        #expect(Array(jpeg.prefix(2)) == [0xFF, 0xD8])
        #expect(Array(jpeg.suffix(2)) == [0xFF, 0xD9])
        let decoded = try jpeg.withUnsafeBytes { try JPEGDecoder().decode($0) }
        #expect(decoded.size == image.size)
        let error = try #require(TestHelpers.meanAbsoluteError(decoded, image))
        #expect(error < tolerance, "MAE \(error)")
    }

    @Test("grey encoding decodes to R = G = B")
    func grey() throws {
        let image = SyntheticImages.horizontalRamp(width: 64, height: 16)
        let jpeg = try JPEGEncoder().encode(image, quality: 95, subsampling: .gray)
        let decoded = try jpeg.withUnsafeBytes { try JPEGDecoder().decode($0) }
        for i in stride(from: 0, to: decoded.pixels.count, by: 3) {
            #expect(decoded.pixels[i] == decoded.pixels[i + 1] && decoded.pixels[i] == decoded.pixels[i + 2])
        }
        #expect(try #require(TestHelpers.meanAbsoluteError(decoded, image)) < 1.5)
    }

    @Test("invalid images and parameters throw encodeFailed")
    func invalid() throws {
        let encoder = try JPEGEncoder()
        let image = SyntheticImages.gradient(width: 8, height: 8)
        for q in [0, 101, -5] {
            #expect(throws: ImagingError.self) { try encoder.encode(image, quality: q) }
        }
        var broken = image
        broken.width = 9  // pixels no longer match
        #expect { try encoder.encode(broken) } throws: { ($0 as? ImagingError).map { if case .encodeFailed = $0 { true } else { false } } ?? false }
        #expect(throws: ImagingError.self) { try encoder.encode(.empty) }
        // The encoder still works afterwards.
        #expect(try encoder.encode(image).count > 100)
    }
}
