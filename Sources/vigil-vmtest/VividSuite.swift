import Capture
import Imaging
import VigilCore

/// Tests against vivid, the kernel's virtual camera (raw formats only, 75% colour bars).
struct VividSuite {
    let device: String
    let unbindPath: String?
    let unbindID: String?
    let timeout = Duration.seconds(5)

    /// 75% colour bars in RGB, left to right: what vivid's default pattern decodes to.
    static let bars: [(Int, Int, Int)] = [
        (191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0),
        (191, 0, 191), (191, 0, 0), (0, 0, 191), (0, 0, 0),
    ]

    func run() {
        test("probe", probe)
        // Measured after the first open: libv4l2's log stream (redirected to /dev/null once
        // per process) is one fd that stays open by design.
        let fdBaseline = openFDCount()
        test("YUYV 640x480 stream", streamYUYV)
        test("GREY and NV12", otherFormats)
        test("bad input", badInput)
        test("busy", busy)
        test("unplug", unplug)
        check("no fd leaked over the whole suite", openFDCount() == fdBaseline, "\(fdBaseline) fds before, \(openFDCount()) after")
        check("no mapping of \(device) left", mappings(of: device) == 0, "\(mappings(of: device)) mappings remain")
    }

    func probe() throws {
        let caps = try V4L2Camera.probe(path: device)
        log("\(device): driver=\(caps.driver) card=\(caps.card) bus=\(caps.busInfo) formats=\(caps.formats.count)")
        check("QUERYCAP says vivid, capture + streaming", caps.driver == "vivid" && caps.missingForCapture.isEmpty, "driver \(caps.driver), missing \(caps.missingForCapture)")
        let native = caps.nativeFormats.map(\.format)
        check("formats enumerated (YUYV, NV12, GREY among them; no MJPEG)",
              native.contains(.yuyv) && native.contains(.nv12) && native.contains(.grey) && !native.contains(.mjpeg),
              "native formats: \(native)")
        let yuyv = caps.formats.first { $0.format == .yuyv }
        check("frame sizes and intervals enumerated for YUYV",
              yuyv?.sizes.offers(Size(width: 640, height: 480)) == true && { () -> Bool in
                  if case .discrete(let l)? = yuyv?.sizes, let o = l.first(where: { $0.size == Size(width: 640, height: 480) }) {
                      return !o.intervals.fpsValues.isEmpty
                  }
                  return false
              }(),
              "YUYV sizes: \(String(describing: yuyv?.sizes.listed))")
    }

    func streamYUYV() throws {
        let cam = try V4L2Camera(path: device, request: CaptureRequest(size: Size(width: 640, height: 480), fps: 25))
        try cam.start()
        log("negotiated: \(cam.active.map(\.description) ?? "-")")
        check("negotiation picks YUYV 640x480 (vivid has no MJPEG)",
              cam.active?.negotiated.format == .yuyv && cam.active?.negotiated.size == Size(width: 640, height: 480),
              "got \(String(describing: cam.active))")
        check("S_PARM set 25 fps", cam.active?.fps.map { abs($0 - 25) < 0.5 } == true, "fps \(String(describing: cam.active?.fps))")

        var seqs: [UInt32] = []
        var stamps: [Duration] = []
        var barErrors: [String] = []
        for i in 0..<32 {
            let f = try cam.nextFrame(timeout: timeout)
            seqs.append(f.info.sequence)
            if let t = f.info.driverTimestamp { stamps.append(t) }
            if f.bytes.count != 640 * 480 * 2 { barErrors.append("frame \(i): \(f.bytes.count) bytes") }
            if i % 8 == 0 {
                let rgb = try ColorConversion.yuyvToRGB(f.bytes, size: f.info.size, bytesPerLine: f.info.bytesPerLine)
                if let e = Self.checkBars(rgb) { barErrors.append("frame \(i): \(e)") }
            }
        }
        let increasing = zip(seqs, seqs.dropFirst()).allSatisfy { $0 < $1 }
        check("32 frames with increasing sequence numbers", seqs.count == 32 && increasing, "sequences \(seqs)")
        check("driver timestamps increase", zip(stamps, stamps.dropFirst()).allSatisfy { $0 < $1 } && stamps.count == 32, "\(stamps.count) stamps")
        check("frame content is vivid's 75% colour bars", barErrors.isEmpty, barErrors.joined(separator: "; "))
        log("dropped \(cam.statistics.dropped), corrupt \(cam.statistics.corrupt)")

        // Stop, then restart on the same open device.
        cam.stop()
        check("stop: no mapping left", mappings(of: device) == 0, "\(mappings(of: device)) mappings")
        try cam.start()
        var again = 0
        for _ in 0..<5 { _ = try cam.nextFrame(timeout: timeout); again += 1 }
        check("restart after stop streams again", again == 5, "\(again) frames")
        // A frame held across stop() stays readable and is unmapped when released.
        let held = try cam.nextFrame(timeout: timeout)
        cam.stop()
        let stillMapped = mappings(of: device)
        let first = held.bytes[0]
        _ = consume held
        check("a frame held across stop stays mapped until released", stillMapped > 0 && mappings(of: device) == 0 && first > 0,
              "mapped while held: \(stillMapped), after release: \(mappings(of: device))")
    }

    /// Checks the bottom quarter (below vivid's text overlay) against the 8 bars.
    static func checkBars(_ img: RGBImage) -> String? {
        let w = img.width, h = img.height
        for (k, expected) in bars.enumerated() {
            var sum = (0, 0, 0), n = 0
            let x0 = k * w / 8 + w / 32, x1 = (k + 1) * w / 8 - w / 32
            for y in stride(from: h * 3 / 4, to: h - 4, by: 4) {
                for x in stride(from: x0, to: x1, by: 2) {
                    let p = img.pixel(x: x, y: y)
                    sum.0 += Int(p.0); sum.1 += Int(p.1); sum.2 += Int(p.2); n += 1
                }
            }
            let mean = (sum.0 / max(n, 1), sum.1 / max(n, 1), sum.2 / max(n, 1))
            if abs(mean.0 - expected.0) > 12 || abs(mean.1 - expected.1) > 12 || abs(mean.2 - expected.2) > 12 {
                return "bar \(k) mean \(mean), expected \(expected)"
            }
        }
        return nil
    }

    func otherFormats() throws {
        for (format, size) in [(PixelFormat.grey, Size(width: 320, height: 180)), (.nv12, Size(width: 640, height: 360))] {
            let cam = try V4L2Camera(path: device, request: CaptureRequest(size: size, format: format))
            try cam.start()
            let decoder = try FrameDecoder()
            let f = try cam.nextFrame(timeout: timeout)
            let rgb = try decoder.decode(f)
            if format == .grey {
                // Luma only: bars become greys, brightness falling left to right.
                let means = (0..<8).map { k in Int(rgb.pixel(x: k * size.width / 8 + size.width / 16, y: size.height - 8).0) }
                check("GREY \(size): luma falls across the bars", zip(means, means.dropFirst()).allSatisfy { $0 >= $1 } && means[0] > 150 && means[7] < 30, "\(means)")
            } else {
                let e = Self.checkBars(rgb)
                check("NV12 \(size): colour bars decode", e == nil, e ?? "")
            }
        }
    }

    func badInput() throws {
        expectError("/dev/null is not a V4L2 device", { _ = try V4L2Camera(path: "/dev/null") }) {
            if case .notAV4L2Device(path: "/dev/null", _) = $0 { return true } else { return false }
        }
        expectError("missing device path", { _ = try V4L2Camera(path: "/dev/video99") }) {
            $0 == .open(path: "/dev/video99", .noSuchFile)
        }
        expectError("unsupported size is refused naming the offered sizes", {
            let c = try V4L2Camera(path: device, request: CaptureRequest(size: Size(width: 801, height: 601)))
            try c.start()
        }) {
            if case .unsupportedSize(_, Size(width: 801, height: 601), let avail) = $0 { return avail.contains(Size(width: 640, height: 480)) }
            return false
        }
        expectError("MJPEG is refused on vivid", {
            let c = try V4L2Camera(path: device, request: CaptureRequest(format: .mjpeg))
            try c.start()
        }) {
            if case .unsupportedFormat(_, .mjpeg, _) = $0 { return true } else { return false }
        }
    }

    func busy() throws {
        let a = try V4L2Camera(path: device, request: CaptureRequest(size: Size(width: 320, height: 180)))
        try a.start()
        _ = try a.nextFrame(timeout: timeout)
        expectError("a second user gets EBUSY", {
            let b = try V4L2Camera(path: device, request: CaptureRequest(size: Size(width: 640, height: 480)))
            try b.start()
        }) { $0 == .busy(path: device) }
        a.stop()
    }

    func unplug() throws {
        guard let unbindPath, let unbindID else {
            fail("unplug", "no --unbind/--unbind-id given")
            return
        }
        let fdsBefore = openFDCount()
        var outcome: CaptureError?
        var framesBefore = 0
        do {
            let cam = try V4L2Camera(path: device, request: CaptureRequest(size: Size(width: 640, height: 480), fps: 25))
            try cam.start()
            for _ in 0..<3 { _ = try cam.nextFrame(timeout: timeout); framesBefore += 1 }
            let held = try cam.nextFrame(timeout: timeout)
            // Unbind from another thread while this one waits in poll/DQBUF. A plain pthread,
            // not a Task: the concurrency runtime would open fds of its own and spoil the
            // fd-leak check.
            let unbinder = DelayedWrite(path: unbindPath, value: unbindID, afterMilliseconds: 300)
            let deadline = MonotonicInstant.now().advanced(by: .seconds(20))
            while MonotonicInstant.now() < deadline {
                do {
                    _ = try cam.nextFrame(timeout: timeout)
                    framesBefore += 1
                } catch {
                    outcome = error
                    break
                }
            }
            if let e = unbinder.join() { log("unbind write failed: \(e)") }
            // The held frame is still readable after the device vanished.
            log("held frame after unplug: first byte \(held.bytes[0]), \(held.bytes.count) bytes")
            _ = consume held
            cam.stop()
        }
        log("unplug after \(framesBefore) frames: \(outcome.map { "\($0)" } ?? "no error")")
        if case .disconnected(path: device, _)? = outcome {
            pass("device unbound mid-stream → disconnected")
        } else {
            fail("device unbound mid-stream → disconnected", "got \(outcome.map { "\($0)" } ?? "no error within 20 s")")
        }
        check("after unplug: fd closed", openFDCount() == fdsBefore, "fds \(fdsBefore) → \(openFDCount())")
        check("after unplug: buffers unmapped", mappings(of: device) == 0, "\(mappings(of: device)) mappings")
        expectError("reopening the vanished device fails cleanly", { _ = try V4L2Camera(path: device) }) {
            if case .open(path: device, _) = $0 { return true }
            if case .disconnected = $0 { return true }
            return false
        }
    }

    func expectError(_ name: String, _ body: () throws -> Void, _ matches: (CaptureError) -> Bool) {
        do {
            try body()
            fail(name, "no error")
        } catch let e as CaptureError {
            log("\(name): \(e)")
            check(name, matches(e), "wrong error: \(e)")
        } catch {
            fail(name, "unexpected error type: \(error)")
        }
    }
}
