import Capture
import Imaging
import VigilCore

/// The demo job: frames from a source → scaled decode → the detector-sized image → one line of
/// statistics per frame. It is the front half of the agent's frame path (detection and
/// matching come later) and what `make demo` runs without a camera.
public struct DemoRunner {
    /// The size frames are brought to (the detector's input size later on).
    public var target: Size
    public var frames: Int
    public var timeout: Duration

    public init(target: Size = Size(width: 320, height: 240), frames: Int = 60, timeout: Duration = .seconds(2)) {
        self.target = target
        self.frames = frames
        self.timeout = timeout
    }

    /// Per-frame statistics.
    public struct FrameLine: Sendable, Equatable, CustomStringConvertible {
        public var sequence: UInt32
        public var format: PixelFormat
        public var size: Size
        public var bytes: Int
        /// Size the JPEG was decoded to (DCT scaling) before the final resize.
        public var decoded: Size?
        public var decodeTime: Duration
        public var meanRGB: (Double, Double, Double)
        public var error: String?

        public var description: String {
            var s = "frame seq=\(sequence) \(format) \(size) \(bytes) B"
            if let error { return s + " skipped: \(error)" }
            if let decoded { s += " → decoded \(decoded)" }
            s += " → \(format2(decodeTime.milliseconds)) ms, mean RGB \(Int(meanRGB.0)),\(Int(meanRGB.1)),\(Int(meanRGB.2))"
            return s
        }

        public static func == (a: Self, b: Self) -> Bool {
            a.sequence == b.sequence && a.format == b.format && a.size == b.size && a.bytes == b.bytes
                && a.decoded == b.decoded && a.error == b.error
        }
    }

    public struct Summary: Sendable, CustomStringConvertible {
        public var report: CaptureRunReport
        public var decoded: Int
        public var skipped: Int
        public var medianDecode: Duration?
        public var description: String {
            let med = medianDecode.map { "\(format2($0.milliseconds)) ms" } ?? "n/a"
            return "demo: \(decoded) frames decoded, \(skipped) skipped (corrupt), \(report.dropped) dropped, median decode+resize \(med), \(report.measuredFPS.map(format2) ?? "n/a") fps"
        }
    }

    /// Runs the demo; `emit` gets one line per frame. Stops at `frames`, or at the end of a
    /// non-looping source.
    public func run(source: any FrameSource, emit: (FrameLine) -> Void) throws -> Summary {
        let decoder = try FrameDecoder()
        var times: [Duration] = []
        var skipped = 0
        try source.start()
        defer { source.stop() }
        let report = try runCapture(from: source, count: frames, timeout: timeout) { frame in
                let t0 = MonotonicInstant.now()
                var line = FrameLine(
                    sequence: frame.info.sequence, format: frame.info.format, size: frame.info.size,
                    bytes: frame.bytes.count, decoded: nil, decodeTime: .zero, meanRGB: (0, 0, 0), error: nil)
                do {
                    let full = try decoder.decode(frame, atLeast: target)
                    line.size = frame.info.size.area > 0 ? frame.info.size : line.size
                    line.decoded = full.size
                    let img = full.size == target ? full : full.resized(to: target)
                    line.decodeTime = t0.duration(to: .now())
                    line.meanRGB = Self.mean(img)
                    times.append(line.decodeTime)
                    emit(line)
                } catch {
                    skipped += 1
                    line.error = "\(error)"
                    emit(line)
                    throw error
                }
        }
        times.sort()
        return Summary(
            report: report, decoded: times.count, skipped: skipped,
            medianDecode: times.isEmpty ? nil : times[times.count / 2])
    }

    static func mean(_ img: RGBImage) -> (Double, Double, Double) {
        var r = 0, g = 0, b = 0
        img.pixels.withUnsafeBufferPointer { p in
            var i = 0
            while i + 2 < p.count { r += Int(p[i]); g += Int(p[i + 1]); b += Int(p[i + 2]); i += 3 }
        }
        let n = Double(max(1, img.width * img.height))
        return (Double(r) / n, Double(g) / n, Double(b) / n)
    }
}
