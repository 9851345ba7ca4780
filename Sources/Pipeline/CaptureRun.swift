import Capture
import Imaging
import VigilCore

#if canImport(Glibc)
import Glibc
#endif

/// The outcome of pulling frames from a source: what a technician wants to know after
/// `vigil capture` — how many frames, at what rate, how many were lost.
public struct CaptureRunReport: Sendable, Equatable, CustomStringConvertible {
    public var frames: Int
    /// Frames the driver dropped (V4L2 sequence gaps) or the consumer skipped.
    public var dropped: Int
    /// Frames that could not be used (driver error flag, undecodable payload).
    public var corrupt: Int
    /// Frame rate measured from the first to the last frame's capture time.
    public var measuredFPS: Double?
    public var elapsed: Duration

    public var description: String {
        let fps = measuredFPS.map { String(format2($0)) } ?? "n/a"
        return "\(frames) frames, measured \(fps) fps, \(dropped) dropped, \(corrupt) corrupt, \(format2(elapsed.milliseconds / 1000)) s"
    }
}

/// Formats a number with two decimals without Foundation.
public func format2(_ v: Double) -> String {
    guard v.isFinite else { return "\(v)" }
    let scaled = (abs(v) * 100).rounded()
    let whole = Int(scaled) / 100, frac = Int(scaled) % 100
    return (v < 0 ? "-" : "") + "\(whole)." + (frac < 10 ? "0" : "") + "\(frac)"
}

/// Pulls up to `count` frames from a started source and hands each to `body`, then reports rate
/// and losses. The end of a non-looping file source ends the run normally; any other source
/// error (including `noFrame` after `timeout`, so a dead camera never hangs the command) is
/// thrown for the caller to report. An `ImagingError` from `body` counts the frame as corrupt.
public func runCapture(
    from source: any FrameSource, count: Int, timeout: Duration,
    _ body: (borrowing Frame) throws -> Void
) throws -> CaptureRunReport {
    let start = MonotonicInstant.now()
    var first: MonotonicInstant?
    var last: MonotonicInstant?
    var n = 0
    var bodyFailures = 0
    let before = source.statistics
    while n < count {
        let frame: Frame
        do { frame = try source.nextFrame(timeout: timeout) } catch CaptureError.endOfStream { break }
        if first == nil { first = frame.info.captureTime }
        last = frame.info.captureTime
        n += 1
        do { try body(frame) } catch is ImagingError {
            bodyFailures += 1  // an undecodable frame is skipped and counted, the run goes on
        }
    }
    let after = source.statistics
    var fps: Double?
    if let first, let last, n > 1, last > first {
        fps = Double(n - 1) / (Double(last.nanoseconds - first.nanoseconds) / 1e9)
    }
    return CaptureRunReport(
        frames: n, dropped: after.dropped - before.dropped,
        corrupt: after.corrupt - before.corrupt + bodyFailures, measuredFPS: fps,
        elapsed: start.duration(to: .now()))
}

/// Writes frames as JPEG files: MJPEG payloads as they came (no re-encoding, so what is saved
/// is exactly what the camera sent), raw formats converted to RGB and encoded.
public final class FrameSaver {
    public let directory: String
    public let quality: Int
    private let decoder: FrameDecoder
    private let encoder: JPEGEncoder
    private var index = 0

    public init(directory: String, quality: Int = 90) throws {
        self.directory = directory
        self.quality = quality
        self.decoder = try FrameDecoder()
        self.encoder = try JPEGEncoder()
        try makeDirectories(directory)
    }

    /// Saves one frame; returns the file path. Throws `ImagingError` when the frame cannot be
    /// decoded (the caller counts it as corrupt; nothing is written).
    @discardableResult
    public func save(_ frame: borrowing Frame) throws -> String {
        let name = directory + "/frame-" + pad(index, 6) + ".jpg"
        let bytes: [UInt8]
        if frame.info.format == .mjpeg {
            _ = try decoder.decode(frame, atLeast: Size(width: 1, height: 1))  // validate: never save a broken frame
            bytes = frame.copyBytes()
        } else {
            bytes = try encoder.encode(try decoder.decode(frame), quality: quality)
        }
        try writeFileAtomically(name, bytes)
        index += 1
        return name
    }
}

func pad(_ n: Int, _ width: Int) -> String {
    let s = String(n)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}

