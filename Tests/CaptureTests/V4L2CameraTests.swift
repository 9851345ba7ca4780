import Capture
import Testing
import VigilCore
import VigilTestSupport

@Suite("V4L2 camera against an emulated driver")
struct V4L2CameraTests {
    let timeout = Duration.milliseconds(50)

    func camera(_ driver: FakeV4L2Driver, _ r: CaptureRequest = CaptureRequest(size: Size(width: 640, height: 480), fps: 15)) throws -> V4L2Camera {
        try V4L2Camera(path: driver.path, request: r, syscalls: driver.syscalls)
    }

    @Test func streamsFramesWithIncreasingSequenceAndRealContent() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        do {
            let cam = try camera(driver)
            #expect(cam.capabilities.driver == "vivid")
            try cam.start()
            #expect(cam.active?.negotiated.format == .yuyv)
            #expect(cam.active?.fps == 15)
            #expect(cam.active?.bytesPerLine == 1280)
            var last: UInt32?
            for _ in 0..<10 {
                let f = try cam.nextFrame(timeout: timeout)
                #expect(f.bytes.count == 640 * 480 * 2)
                #expect(f.info.size == Size(width: 640, height: 480))
                if let last { #expect(f.info.sequence == last + 1) }
                last = f.info.sequence
                // Leftmost bar is 75% white (Y=180), rightmost black (Y=16).
                #expect(f.bytes[0] == 180)
                #expect(f.bytes[1278] == 16)
            }
            #expect(cam.statistics.delivered == 10)
            #expect(cam.statistics.dropped == 0)
            #expect(driver.liveMappings == 4)
        }
        #expect(driver.openFileDescriptors == 0, "deinit closes the fd")
        #expect(driver.liveMappings == 0, "deinit unmaps every buffer")
    }

    @Test func releasingAFrameRequeuesItsBuffer() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        let cam = try camera(driver, CaptureRequest(size: Size(width: 320, height: 180), bufferCount: 3))
        try cam.start()
        #expect(driver.queuedBuffers == 3)
        let a = try cam.nextFrame(timeout: timeout)
        let b = try cam.nextFrame(timeout: timeout)
        #expect(driver.queuedBuffers == 1)
        a.release()
        #expect(driver.queuedBuffers == 2)
        _ = consume b
        #expect(driver.queuedBuffers == 3)
    }

    @Test func holdingEveryBufferGivesNoFrameInsteadOfHanging() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        let cam = try camera(driver, CaptureRequest(size: Size(width: 320, height: 180), bufferCount: 2))
        try cam.start()
        let a = try cam.nextFrame(timeout: timeout)
        let b = try cam.nextFrame(timeout: timeout)
        #expect(throws: CaptureError.noFrame(path: "/dev/video0", timeout: timeout)) { _ = try cam.nextFrame(timeout: timeout) }
        _ = consume a
        _ = consume b
        _ = try cam.nextFrame(timeout: timeout)
    }

    @Test func eintrIsRetriedEverywhere() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        driver.inject(.interrupted, on: .open, times: 2)
        driver.inject(.interrupted, on: .querycap, times: 3)
        driver.inject(.interrupted, on: .setFormat)
        driver.inject(.interrupted, on: .streamon)
        driver.inject(.interrupted, on: .poll, times: 2)
        driver.inject(.interrupted, on: .dqbuf, times: 2)
        let cam = try camera(driver)
        try cam.start()
        let f = try cam.nextFrame(timeout: timeout)
        #expect(f.info.sequence == 0)
        #expect(driver.callLog.filter { $0 == "ioctl VIDIOC_DQBUF" }.count == 3)
    }

    @Test func unplugMidStreamIsDisconnectedAndLeaksNothing() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.uvcWebcam, content: { _, _, _, _ in [0xFF, 0xD8, 0xFF, 0xD9] })
        do {
            let cam = try camera(driver, CaptureRequest(size: Size(width: 640, height: 480)))
            try cam.start()
            let held = try cam.nextFrame(timeout: timeout)
            #expect(held.info.format == .mjpeg)
            #expect(held.bytes.count == 4, "bytesused, not the buffer length")
            driver.unplug()
            #expect(throws: CaptureError.disconnected(path: "/dev/video0", .noSuchDevice)) { _ = try cam.nextFrame(timeout: timeout) }
            // A frame held across the unplug stays readable; releasing it is harmless.
            #expect(held.bytes[1] == 0xD8)
            _ = consume held
            cam.stop()
        }
        #expect(driver.openFileDescriptors == 0)
        #expect(driver.liveMappings == 0)
    }

    @Test func dqbufENODEVIsDisconnected() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        let cam = try camera(driver)
        try cam.start()
        driver.inject(.noSuchDevice, on: .dqbuf)
        #expect(throws: CaptureError.disconnected(path: "/dev/video0", .noSuchDevice)) { _ = try cam.nextFrame(timeout: timeout) }
        driver.inject(.ioError, on: .dqbuf)
        #expect(throws: CaptureError.disconnected(path: "/dev/video0", .ioError)) { _ = try cam.nextFrame(timeout: timeout) }
    }

    @Test func aFrameMayOutliveStopAndTheCamera() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        var frame: Frame?
        do {
            let cam = try camera(driver)
            try cam.start()
            frame = try cam.nextFrame(timeout: timeout)
        }
        // The camera is gone; the frame still borrows its buffer, so one mapping remains and the
        // fd stays open until the frame goes.
        #expect(driver.liveMappings == 4)
        #expect(frame?.bytes[0] == 180)
        frame = nil
        #expect(driver.liveMappings == 0)
        #expect(driver.openFileDescriptors == 0)
    }

    @Test func stopAndRestartStreamsAgain() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        let cam = try camera(driver)
        try cam.start()
        _ = try cam.nextFrame(timeout: timeout)
        cam.stop()
        #expect(!driver.isStreaming)
        #expect(driver.liveMappings == 0)
        #expect(throws: CaptureError.notStreaming(path: "/dev/video0")) { _ = try cam.nextFrame(timeout: timeout) }
        try cam.start()
        _ = try cam.nextFrame(timeout: timeout)
        #expect(driver.streamOnCount == 2)
    }

    @Test func sequenceGapsAreCountedAsDropped() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid, sequenceStride: 3)
        let cam = try camera(driver)
        try cam.start()
        for _ in 0..<5 { _ = try cam.nextFrame(timeout: timeout) }
        #expect(cam.statistics.dropped == 8)  // 4 gaps of 2 frames
    }

    @Test func errorFlaggedBuffersAreSkippedAndCounted() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid, errorEvery: 2)
        let cam = try camera(driver)
        try cam.start()
        var seqs: [UInt32] = []
        for _ in 0..<3 { seqs.append(try cam.nextFrame(timeout: timeout).info.sequence) }
        #expect(seqs == [0, 2, 4])
        #expect(cam.statistics.corrupt == 2)  // sequences 1 and 3
        #expect(cam.statistics.dropped == 0, "a corrupt buffer is not a dropped frame")
    }

    @Test func busyDeviceSaysSo() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        driver.inject(.busy, on: .setFormat)
        let cam = try camera(driver)
        #expect(throws: CaptureError.busy(path: "/dev/video0")) { try cam.start() }
        #expect(driver.liveMappings == 0)
        try cam.start()  // the other process let go
    }

    @Test func mmapFailureUnmapsWhatWasMapped() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        let cam = try camera(driver)
        // Two buffers map, the third fails: the two must be unmapped again.
        driver.inject(.outOfMemory, on: .mmap, after: 2)
        #expect(throws: CaptureError.mmap(path: "/dev/video0", .outOfMemory)) { try cam.start() }
        #expect(driver.liveMappings == 0)
        #expect(!cam.isStreaming)
    }

    @Test func driverThatChangesTheSizeIsReported() throws {
        // The table claims 800x600 but S_FMT adjusts to an offered size.
        var caps = CameraProfiles.vivid
        caps.formats[0].sizes = .discrete([SizeOption(Size(width: 640, height: 480))])
        let driver = FakeV4L2Driver(capabilities: caps)
        let cam = try V4L2Camera(path: driver.path, request: CaptureRequest(size: Size(width: 640, height: 480)), syscalls: driver.syscalls)
        try cam.start()
        #expect(cam.active?.negotiated.size == Size(width: 640, height: 480))
    }

    @Test func notACaptureDeviceNamesWhatItLacks() throws {
        let meta = FakeV4L2Driver(capabilities: CameraProfiles.uvcMetadataNode, path: "/dev/video1")
        do {
            _ = try V4L2Camera(path: "/dev/video1", syscalls: meta.syscalls)
            Issue.record("expected an error")
        } catch {
            #expect(error == .notACaptureDevice(path: "/dev/video1", card: "HD Pro Webcam C920", missing: ["video capture (V4L2_CAP_VIDEO_CAPTURE)"]))
        }
        #expect(meta.openFileDescriptors == 0)
        let ro = FakeV4L2Driver(capabilities: CameraProfiles.readOnlyCapture)
        #expect(throws: CaptureError.notACaptureDevice(path: "/dev/video0", card: "Old Camera", missing: ["streaming I/O (V4L2_CAP_STREAMING)"])) {
            try V4L2Camera(path: "/dev/video0", syscalls: ro.syscalls)
        }
        // probe() lists such nodes without complaint.
        #expect(try V4L2Camera.probe(path: "/dev/video1", syscalls: meta.syscalls).driver == "uvcvideo")
    }

    @Test func notAV4L2DeviceAndMissingPaths() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.vivid)
        #expect(throws: CaptureError.open(path: "/dev/video9", .noSuchFile)) {
            try V4L2Camera(path: "/dev/video9", syscalls: driver.syscalls)
        }
        driver.inject(.notATTY, on: .querycap)
        #expect(throws: CaptureError.notAV4L2Device(path: "/dev/video0", .notATTY)) {
            try V4L2Camera(path: "/dev/video0", syscalls: driver.syscalls)
        }
        driver.inject(.busy, on: .open)
        #expect(throws: CaptureError.busy(path: "/dev/video0")) { try V4L2Camera(path: "/dev/video0", syscalls: driver.syscalls) }
        #expect(driver.openFileDescriptors == 0)
    }

    @Test func realDevNullIsNotAV4L2Device() throws {
        // The real libv4l2 path: /dev/null opens, but VIDIOC_QUERYCAP fails with ENOTTY.
        #expect(throws: CaptureError.notAV4L2Device(path: "/dev/null", .notATTY)) { try V4L2Camera(path: "/dev/null") }
        #expect(throws: CaptureError.open(path: "/nonexistent/video0", .noSuchFile)) { try V4L2Camera(path: "/nonexistent/video0") }
    }

    @Test func enumerationFillsTheTable() throws {
        let driver = FakeV4L2Driver(capabilities: CameraProfiles.uvcWebcam)
        let caps = try V4L2Camera.probe(path: "/dev/video0", syscalls: driver.syscalls)
        #expect(caps == CameraProfiles.uvcWebcam.withIntervalsOnlyForDecodable())
    }
}

extension DeviceCapabilities {
    /// Enumeration asks for intervals only for formats Vigil can decode.
    func withIntervalsOnlyForDecodable() -> DeviceCapabilities {
        var c = self
        for i in c.formats.indices where !c.formats[i].format.isDecodable {
            if case .discrete(let l) = c.formats[i].sizes {
                c.formats[i].sizes = .discrete(l.map { SizeOption($0.size) })
            }
        }
        return c
    }
}
