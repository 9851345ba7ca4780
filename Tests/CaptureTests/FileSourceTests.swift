import Capture
import Testing
import VigilCore
import VigilTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Builds JPEG-shaped byte sequences marker by marker (enough for the splitter, which only
/// walks markers; decodable JPEGs are tested in ImagingTests).
enum FakeJPEG {
    static func segment(_ marker: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let len = payload.count + 2
        return [0xFF, marker, UInt8(len >> 8), UInt8(len & 0xFF)] + payload
    }
    /// SOI, APP0, an APP1 holding a thumbnail with its own SOI/EOI, SOF0 with the size, SOS and
    /// entropy data containing stuffed 0xFF00 and a restart marker, then EOI.
    static func image(width: Int, height: Int, fill: UInt8 = 0x42) -> [UInt8] {
        var b: [UInt8] = [0xFF, 0xD8]
        b += segment(0xE0, Array("JFIF\0".utf8) + [1, 1, 0, 0, 1, 0, 1, 0, 0])
        b += segment(0xE1, Array("Exif\0\0".utf8) + [0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x03, 0x00, 0xFF, 0xD9])
        b += segment(0xC0, [8, UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF), 1, 1, 0x11, 0])
        b += segment(0xDA, [1, 1, 0, 0, 63, 0])
        b += [fill, 0xFF, 0x00, fill, 0xFF, 0xD0, fill, fill, 0xFF, 0xFF, 0x00]
        b += [0xFF, 0xD9]
        return b
    }
}

@Suite("Motion-JPEG stream splitting")
struct JPEGStreamTests {
    @Test func splitsConcatenatedImagesAndReadsSizes() {
        let a = FakeJPEG.image(width: 640, height: 480), b = FakeJPEG.image(width: 1280, height: 720, fill: 7)
        let stream = a + b + a
        let segs = stream.withUnsafeBytes { JPEGStream.split($0) }
        #expect(segs.map(\.range) == [0..<a.count, a.count..<(a.count + b.count), (a.count + b.count)..<stream.count])
        #expect(segs.map(\.size) == [Size(width: 640, height: 480), Size(width: 1280, height: 720), Size(width: 640, height: 480)])
        #expect(segs.allSatisfy { $0.complete })
    }

    @Test func thumbnailInsideAPP1DoesNotCutTheFrame() {
        let a = FakeJPEG.image(width: 64, height: 48)
        let segs = a.withUnsafeBytes { JPEGStream.split($0) }
        #expect(segs.count == 1)
        #expect(segs[0].range == 0..<a.count)
    }

    @Test func garbageBetweenFramesIsSkippedAndATruncatedFrameIsMarked() {
        let a = FakeJPEG.image(width: 64, height: 48)
        let cut = Array(a.prefix(a.count - 5))
        let stream = [0x00, 0x13, 0x37] + a + [0xAA, 0xBB] + cut + a
        let segs = stream.withUnsafeBytes { JPEGStream.split($0) }
        #expect(segs.count == 3)
        #expect(segs[0].range.lowerBound == 3)
        #expect(segs.map(\.complete) == [true, false, true])
        #expect(segs[1].range.count == cut.count)
        let tail = stream.withUnsafeBytes { JPEGStream.split($0) }.last!
        #expect(tail.range.upperBound == stream.count)
    }

    @Test func truncatedAtEveryOffsetNeverCrashes() {
        let a = FakeJPEG.image(width: 64, height: 48)
        for n in 0...a.count {
            let segs = Array(a.prefix(n)).withUnsafeBytes { JPEGStream.split($0) }
            #expect(segs.count <= 1)
            if n == a.count { #expect(segs.first?.complete == true) } else if let s = segs.first { #expect(!s.complete) }
        }
    }

    @Test func imageSizeOfOneJPEG() {
        #expect(FakeJPEG.image(width: 321, height: 123).withUnsafeBytes { JPEGStream.imageSize($0) } == Size(width: 321, height: 123))
        #expect([UInt8]([1, 2, 3, 4]).withUnsafeBytes { JPEGStream.imageSize($0) } == nil)
    }
}

@Suite("File frame sources")
struct FileSourceTests {
    static func tempDir() -> String {
        var template = Array("/tmp/vigil-test-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    static func write(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        precondition(fd >= 0)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    @Test func folderSourcePlaysJPEGsInNameOrderAndIgnoresOtherFiles() throws {
        let dir = Self.tempDir()
        Self.write(dir + "/b.jpg", FakeJPEG.image(width: 20, height: 10))
        Self.write(dir + "/a.JPEG", FakeJPEG.image(width: 10, height: 10))
        Self.write(dir + "/notes.txt", Array("hello".utf8))
        let src = try FileFrameSource(path: dir)
        #expect(src.frameCount == 2)
        try src.start()
        let first = try src.nextFrame(timeout: .seconds(1))
        #expect(first.bytes.count == FakeJPEG.image(width: 10, height: 10).count)
        #expect(first.info.format == .mjpeg)
        _ = try src.nextFrame(timeout: .seconds(1))
        #expect(throws: CaptureError.endOfStream(path: dir)) { _ = try src.nextFrame(timeout: .seconds(1)) }
    }

    @Test func folderWithoutJPEGsIsAClearError() throws {
        let dir = Self.tempDir()
        Self.write(dir + "/x.png", [1, 2, 3])
        #expect(throws: CaptureError.noFrames(path: dir, reason: "folder has no .jpg or .jpeg files")) { try FileFrameSource(path: dir) }
        #expect(throws: CaptureError.open(path: dir + "/missing", .noSuchFile)) { try FileFrameSource(path: dir + "/missing") }
        Self.write(dir + "/empty.mjpeg", [])
        #expect(throws: CaptureError.noFrames(path: dir + "/empty.mjpeg", reason: "file is empty")) { try FileFrameSource(path: dir + "/empty.mjpeg") }
        Self.write(dir + "/junk.mjpeg", [1, 2, 3, 4, 5])
        #expect(throws: CaptureError.noFrames(path: dir + "/junk.mjpeg", reason: "no JPEG start-of-image marker found")) {
            try FileFrameSource(path: dir + "/junk.mjpeg")
        }
    }

    @Test func mjpegStreamFileLoops() throws {
        let dir = Self.tempDir()
        let a = FakeJPEG.image(width: 32, height: 16, fill: 1), b = FakeJPEG.image(width: 32, height: 16, fill: 2)
        Self.write(dir + "/clip.mjpeg", a + b)
        let src = try FileFrameSource(path: dir + "/clip.mjpeg", loop: true)
        try src.start()
        var fills: [UInt8] = []
        var seqs: [UInt32] = []
        for _ in 0..<5 {
            let f = try src.nextFrame(timeout: .seconds(1))
            #expect(f.info.size == Size(width: 32, height: 16))
            fills.append(f.bytes[f.bytes.count - 13])
            seqs.append(f.info.sequence)
        }
        #expect(fills == [1, 2, 1, 2, 1])
        #expect(seqs == [0, 1, 2, 3, 4])
        #expect(src.statistics.delivered == 5)
    }

    @Test func realTimePacingWaitsForDueFramesAndSkipsWhenTheConsumerIsSlow() throws {
        let clock = ManualClock()
        let frames = (0..<10).flatMap { FakeJPEG.image(width: 8, height: 8, fill: UInt8($0)) }
        let src = try FileFrameSource(name: "clip", mjpegStream: frames, pacing: .realTime(fps: 10), loop: true, clock: clock)
        let t0 = clock.now()
        try src.start()
        _ = try src.nextFrame(timeout: .seconds(1))
        _ = try src.nextFrame(timeout: .seconds(1))  // due at +100 ms: the clock sleeps until then
        #expect(t0.duration(to: clock.now()) == .milliseconds(100))
        clock.advance(by: .milliseconds(450))  // a slow consumer: frames 2..4 are missed
        let f = try src.nextFrame(timeout: .seconds(1))
        #expect(f.info.sequence == 5)
        #expect(src.statistics.dropped == 3)
        // Next frame is due in 50 ms; a 10 ms timeout gives noFrame.
        #expect(throws: CaptureError.noFrame(path: "clip", timeout: .milliseconds(10))) { _ = try src.nextFrame(timeout: .milliseconds(10)) }
    }

    @Test func notStartedIsAnError() throws {
        let src = try FileFrameSource(name: "clip", mjpegStream: FakeJPEG.image(width: 8, height: 8))
        #expect(throws: CaptureError.notStreaming(path: "clip")) { _ = try src.nextFrame(timeout: .seconds(1)) }
    }
}
