import Imaging
import Testing
import VigilCore
import VigilTestSupport

@Suite("FrameDecoder")
struct FrameDecoderTests {
    private func decode(_ bytes: [UInt8], format: PixelFormat, size: Size, bytesPerLine: Int,
                        target: Size? = nil, decoder: FrameDecoder? = nil) throws -> RGBImage {
        let decoder = try decoder ?? FrameDecoder()
        return try bytes.withUnsafeBytes { raw in
            let info = FrameInfo(sequence: 1, captureTime: .now(), format: format, size: size, bytesPerLine: bytesPerLine)
            let frame = Frame(info: info, bytes: raw, lease: nil)
            return try decoder.decode(frame, atLeast: target)
        }
    }

    @Test("MJPEG frames are DCT-scaled to at least the target")
    func mjpeg() throws {
        let (image, jpeg) = try TestHelpers.syntheticJPEG(width: 1280, height: 720, subsampling: .s422)
        let stripped = try #require(JPEGMarkers.removing(JPEGMarkers.dht, from: jpeg))
        let size = Size(width: 1280, height: 720)
        let small = try decode(stripped, format: .mjpeg, size: size, bytesPerLine: 0, target: Size(width: 320, height: 180))
        #expect(small.size == Size(width: 320, height: 180))
        let full = try decode(stripped, format: .mjpeg, size: size, bytesPerLine: 0)
        #expect(full.size == size)
        #expect(try #require(TestHelpers.meanAbsoluteError(full, image)) < 3)
    }

    @Test("raw frames are converted at full size, ignoring the target")
    func raw() throws {
        let size = Size(width: 32, height: 8)
        let yuyv = SyntheticImages.randomBytes(count: 32 * 8 * 2, seed: 1)
        let a = try decode(yuyv, format: .yuyv, size: size, bytesPerLine: 64, target: Size(width: 8, height: 2))
        let b = try yuyv.withUnsafeBytes { try ColorConversion.yuyvToRGB($0, size: size, bytesPerLine: 64) }
        #expect(a == b)
        #expect(a.size == size)

        let nv12 = SyntheticImages.randomBytes(count: 32 * 8 * 3 / 2, seed: 2)
        let c = try decode(nv12, format: .nv12, size: size, bytesPerLine: 32)
        #expect(c == (try nv12.withUnsafeBytes { try ColorConversion.nv12ToRGB($0, size: size, bytesPerLine: 32) }))

        let grey = SyntheticImages.randomBytes(count: 32 * 8, seed: 3)
        let d = try decode(grey, format: .grey, size: size, bytesPerLine: 32)
        #expect(d.pixel(x: 5, y: 5) == (grey[5 * 32 + 5], grey[5 * 32 + 5], grey[5 * 32 + 5]))
    }

    @Test("errors: unsupported format, short raw frame, oversized raw frame, corrupt MJPEG")
    func errors() throws {
        let h264 = PixelFormat(fourcc: PixelFormat.code("H264"))
        #expect(throws: ImagingError.unsupportedFormat(h264)) {
            try decode([0, 0, 0, 1], format: h264, size: Size(width: 2, height: 2), bytesPerLine: 0)
        }
        #expect(throws: ImagingError.bufferTooSmall(expected: 1280 * 720 * 2, got: 100)) {
            try decode([UInt8](repeating: 0, count: 100), format: .yuyv, size: Size(width: 1280, height: 720), bytesPerLine: 2560)
        }
        let decoder = try FrameDecoder()
        decoder.maximumSize = Size(width: 640, height: 480)
        #expect(throws: ImagingError.imageTooLarge(Size(width: 1280, height: 720))) {
            try decode([UInt8](repeating: 0, count: 1280 * 720 * 2), format: .yuyv, size: Size(width: 1280, height: 720),
                       bytesPerLine: 2560, decoder: decoder)
        }
        #expect(throws: ImagingError.notJPEG) {
            try decode([1, 2, 3], format: .mjpeg, size: Size(width: 2, height: 2), bytesPerLine: 0)
        }
    }
}
