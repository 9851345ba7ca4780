import Capture
import Imaging
import Pipeline
import Testing
import VigilCore
import VigilTestSupport

#if canImport(Glibc)
import Glibc
#endif

func tempDir() -> String { makeTempDirectory("pipeline") }

/// The file's bytes, or nil when it cannot be read (e.g. it must not exist).
func contents(of path: String) -> [UInt8]? { try? VigilCore.readFile(path) }

@Suite("The embedded demo clip and the demo job")
struct DemoTests {
    @Test func clipHasOneHuffmanlessAndOneTruncatedFrame() throws {
        let stream = try DemoClip.make(frames: 9, size: Size(width: 320, height: 180))
        let segs = stream.withUnsafeBytes { JPEGStream.split($0) }
        #expect(segs.count == 9)
        let noDHT = segs.filter { s in
            !zip(stream[s.range], stream[s.range].dropFirst()).contains { $0 == 0xFF && $1 == 0xC4 }
        }
        #expect(noDHT.count == 1)
        #expect(segs.filter { !$0.complete }.count == 1)
    }

    @Test func demoDecodesEveryGoodFrameAndSkipsTheTruncatedOne() throws {
        let stream = try DemoClip.make(frames: 9, size: Size(width: 640, height: 360))
        let src = try FileFrameSource(name: "clip", mjpegStream: stream)
        var lines: [DemoRunner.FrameLine] = []
        let summary = try DemoRunner(target: Size(width: 160, height: 90), frames: 100).run(source: src) { lines.append($0) }
        #expect(lines.count == 9)
        #expect(summary.decoded == 8)
        #expect(summary.skipped == 1)
        #expect(summary.report.corrupt == 1)
        #expect(lines[6].error?.contains("corrupt JPEG") == true, "frame 2n/3 is the truncated one")
        #expect(lines[3].error == nil, "the frame without Huffman tables decodes")
        // 640x360 → 160x90 is exactly the 1/4 DCT scale: no resize needed.
        #expect(lines[0].decoded == Size(width: 160, height: 90))
        // The bright disc moves left to right, so the scene is not constant.
        #expect(lines.compactMap { $0.error == nil ? $0.meanRGB.2 : nil }.count == 8)
    }

    @Test func huffmanStrippingKeepsTheImage() throws {
        let enc = try JPEGEncoder(), dec = try JPEGDecoder()
        let img = DemoClip.scene(1, 4, Size(width: 96, height: 64))
        let jpeg = try enc.encode(img, quality: 90, subsampling: .s422)
        let stripped = DemoClip.removingHuffmanTables(jpeg)
        #expect(stripped.count < jpeg.count)
        let a = try jpeg.withUnsafeBytes { try dec.decode($0) }
        let b = try stripped.withUnsafeBytes { try dec.decode($0) }
        #expect(a == b)
    }
}

@Suite("Capture runs and frame saving")
struct CaptureRunTests {
    @Test func runCaptureCountsFramesDropsAndRate() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid, sequenceStride: 2)
        let cam = try V4L2Camera(path: driver.path, request: CaptureRequest(size: Size(width: 320, height: 180)), syscalls: driver.syscalls)
        try cam.start()
        var seen = 0
        let report = try runCapture(from: cam, count: 6, timeout: .milliseconds(100)) { _ in seen += 1 }
        #expect(report.frames == 6)
        #expect(seen == 6)
        #expect(report.dropped == 5)
        #expect(report.measuredFPS != nil)
        #expect(report.description.contains("6 frames"))
    }

    @Test func endOfAFileSourceEndsTheRunNormally() throws {
        let stream = try DemoClip.make(frames: 3, size: Size(width: 64, height: 32))
        let src = try FileFrameSource(name: "c", mjpegStream: stream)
        try src.start()
        let report = try runCapture(from: src, count: 10, timeout: .seconds(1)) { _ in }
        #expect(report.frames == 3)
    }

    @Test func aDeadCameraEndsTheRunWithNoFrame() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        let cam = try V4L2Camera(path: driver.path, syscalls: driver.syscalls)
        try cam.start()
        driver.unplug()
        #expect(throws: CaptureError.disconnected(path: "/dev/video0", .noSuchDevice)) {
            _ = try runCapture(from: cam, count: 3, timeout: .milliseconds(10)) { _ in }
        }
    }

    @Test func saverWritesMJPEGAsIsAndEncodesRawFrames() throws {
        let dir = tempDir() + "/out/nested"
        let saver = try FrameSaver(directory: dir)
        // MJPEG: the exact bytes.
        let jpeg = try JPEGEncoder().encode(DemoClip.scene(0, 2, Size(width: 64, height: 48)))
        let src = try FileFrameSource(name: "one", mjpegStream: jpeg)
        try src.start()
        let p1 = try saver.save(try src.nextFrame(timeout: .seconds(1)))
        #expect(contents(of: p1) == jpeg)
        // YUYV from an emulated vivid: encoded to JPEG, the bars survive.
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        let cam = try V4L2Camera(path: driver.path, request: CaptureRequest(size: Size(width: 320, height: 180)), syscalls: driver.syscalls)
        try cam.start()
        let p2 = try saver.save(try cam.nextFrame(timeout: .seconds(1)))
        #expect(p2.hasSuffix("frame-000001.jpg"))
        let img = try #require(contents(of: p2)).withUnsafeBytes { try JPEGDecoder().decode($0) }
        #expect(img.size == Size(width: 320, height: 180))
        let white = img.pixel(x: 20, y: 90), black = img.pixel(x: 300, y: 90)
        #expect(abs(Int(white.0) - 191) < 10 && abs(Int(black.0)) < 10)
        #expect(contents(of: p2 + ".tmp") == nil, "no temporary file left behind")
    }

    @Test func aCorruptFrameIsNotSaved() throws {
        let dir = tempDir()
        let saver = try FrameSaver(directory: dir)
        let jpeg = try JPEGEncoder().encode(DemoClip.scene(0, 2, Size(width: 64, height: 48)))
        let src = try FileFrameSource(name: "cut", mjpegStream: Array(jpeg.prefix(jpeg.count / 2)))
        try src.start()
        #expect(throws: ImagingError.self) { try saver.save(try src.nextFrame(timeout: .seconds(1))) }
        #expect(contents(of: dir + "/frame-000000.jpg") == nil)
    }

    @Test func atomicWriteReportsThePathAndErrno() throws {
        #expect(throws: FileError(path: "/nonexistent-dir/x.tmp", operation: "create", errno: .noSuchFile)) {
            try writeFileAtomically("/nonexistent-dir/x", [1, 2, 3])
        }
        let dir = tempDir()
        try writeFileAtomically(dir + "/f", [9, 8, 7])
        try writeFileAtomically(dir + "/f", [1])
        #expect(contents(of: dir + "/f") == [1])
    }

    @Test func numberFormatting() {
        #expect(format2(3.14159) == "3.14")
        #expect(format2(0.005) == "0.01")
        #expect(format2(-2.5) == "-2.50")
        #expect(format2(12) == "12.00")
    }
}

@Suite("Still images for the offline commands")
struct ImageFileTests {
    func write(_ bytes: [UInt8]) throws -> String {
        let path = tempDir() + "/img.jpg"
        try writeFileAtomically(path, bytes)
        return path
    }

    @Test func largeImagesAreDownscaledInTheDecoderWithTheFactorReported() throws {
        let jpeg = try JPEGEncoder().encode(DemoClip.scene(0, 2, Size(width: 640, height: 480)))
        let path = try write(jpeg)
        let full = try ImageFile.load(path)
        #expect(full.image.size == Size(width: 640, height: 480) && full.scale == 1)
        let small = try ImageFile.load(path, maximumSide: 200)
        #expect(small.image.size == Size(width: 160, height: 120))
        #expect(small.scale == 4)
        #expect(throws: ImageFile.LoadError(path: path, reason: "image 640x480 is too large even at 1/8 scale")) {
            try ImageFile.load(path, maximumSide: 50)
        }
    }

    @Test func badFilesGiveOneClearLine() throws {
        let empty = try write([])
        #expect(throws: ImageFile.LoadError(path: empty, reason: "empty file")) { try ImageFile.load(empty) }
        let png = try write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        // PNG magic alone: read as a PNG now (PNG and WebP are inputs), refused as a truncated one.
        #expect(throws: ImageFile.LoadError(path: png, reason: "corrupt PNG: truncated: 8 bytes end before the IEND chunk")) { try ImageFile.load(png) }
        let text = try write(Array("hello, not an image\n".utf8))
        #expect(throws: ImageFile.LoadError.self) { try ImageFile.load(text) }
        #expect(throws: ImageFile.LoadError.self) { try ImageFile.load("/nonexistent/x.jpg") }
        let jpeg = try JPEGEncoder().encode(DemoClip.scene(0, 2, Size(width: 64, height: 48)))
        let cut = try write(Array(jpeg.prefix(jpeg.count / 2)))
        #expect(throws: ImageFile.LoadError.self) { try ImageFile.load(cut) }
    }
}

@Suite("JSON output")
struct JSONTests {
    @Test func valuesPrintAsJSON() {
        let v = JSON.object([("image", .string("a \"b\"\\c\n.jpg")), ("n", .int(3)), ("s", .number(0.9871234)),
                             ("neg", .number(-2.5)), ("tiny", .number(0.0000004)), ("whole", .number(12)),
                             ("l", .array([.bool(true), .null])), ("bad", .number(.nan))])
        #expect(v.text == #"{"image": "a \"b\"\\c\n.jpg", "n": 3, "s": 0.987123, "neg": -2.5, "tiny": 0, "whole": 12, "l": [true, null], "bad": null}"#)
        #expect(JSON.string("\u{1}").text == #""\u0001""#)
    }
}

@Suite("Hostile image sizes")
struct HugeImageTests {
    /// A real, valid 10,000 x 10,000 grey JPEG built by hand (1.2 MB): one component, every 8x8
    /// block "DC difference 0, end of block", no Huffman tables (the decoder uses the standard
    /// ones: DC category 0 = `00`, EOB = `1010`; four blocks pack into the bytes 28 A2 8A).
    static func flatJPEG(side: Int) -> [UInt8] {
        func seg(_ m: UInt8, _ p: [UInt8]) -> [UInt8] { [0xFF, m, UInt8((p.count + 2) >> 8), UInt8((p.count + 2) & 0xFF)] + p }
        let hi = UInt8(side >> 8), lo = UInt8(side & 0xFF)
        var b: [UInt8] = [0xFF, 0xD8]
        b += seg(0xDB, [0] + [UInt8](repeating: 1, count: 64))
        b += seg(0xC0, [8, hi, lo, hi, lo, 1, 1, 0x11, 0])
        b += seg(0xDA, [1, 1, 0x00, 0, 63, 0])
        let blocks = (side / 8) * (side / 8)
        precondition(blocks % 4 == 0)
        b.reserveCapacity(b.count + blocks / 4 * 3 + 2)
        for _ in 0..<(blocks / 4) { b += [0x28, 0xA2, 0x8A] }
        return b + [0xFF, 0xD9]
    }

    @Test func aTenThousandPixelSquareIsDecodedAtAQuarterWithBoundedMemory() throws {
        let path = tempDir() + "/huge.jpg"
        try writeFileAtomically(path, Self.flatJPEG(side: 10_000))
        let (img, scale) = try ImageFile.load(path)
        #expect(img.size == Size(width: 2500, height: 2500))  // 1/4 in the DCT: 19 MB instead of 300 MB
        #expect(scale == 4)
        #expect(img.pixel(x: 1234, y: 2345) == (128, 128, 128))
        // Past 8x the limit there is no scale left: a clear error, nothing allocated.
        #expect(throws: ImageFile.LoadError(path: path, reason: "image 10000x10000 is too large even at 1/8 scale")) {
            try ImageFile.load(path, maximumSide: 1000)
        }
    }
}
