import VigilCore

/// What the caller asks of a camera. Every field is optional: unset means "Vigil's default".
public struct CaptureRequest: Hashable, Sendable {
    /// Exact frame size wanted; nil = the default (640x480 if offered, else the nearest size).
    public var size: Size?
    /// Frames per second wanted; nil = leave the driver's rate.
    public var fps: Double?
    /// Force one pixel format; nil = the first of `PixelFormat.preference` that offers the size.
    public var format: PixelFormat?
    /// Driver buffers to map (2...32): more buffers ride out stalls, each costs a frame of RAM.
    public var bufferCount: Int

    public init(size: Size? = nil, fps: Double? = nil, format: PixelFormat? = nil, bufferCount: Int = 4) {
        self.size = size; self.fps = fps; self.format = format
        self.bufferCount = min(max(bufferCount, 2), 32)
    }

    /// The size picked when none is configured: enough for faces at a few metres, cheap to decode.
    public static let defaultSize = Size(width: 640, height: 480)
}

/// The outcome of negotiation: what will be set on the device, and why.
public struct NegotiatedFormat: Hashable, Sendable, CustomStringConvertible {
    public var format: PixelFormat
    public var size: Size
    /// The frame interval to request, if the device enumerates intervals.
    public var interval: Fraction?
    /// Human-readable reasons for the choice ("MJPEG preferred over YUYV").
    public var notes: [String]

    public var description: String {
        var s = "\(format) \(size)"
        if let i = interval { s += " @ \(formatFPS(i.fps)) fps" }
        return s
    }
}

func formatFPS(_ fps: Double) -> String {
    fps == fps.rounded() ? String(Int(fps)) : String(Double(Int(fps * 100)) / 100)
}

/// Chooses a format, size and frame interval from a device's capability table.
///
/// Pure: no I/O, so it is tested against recorded tables of real cameras. Rules:
/// 1. Only native (not libv4l-emulated), decodable formats, in the order MJPEG, YUYV, NV12, GREY
///    (or just the requested format).
/// 2. A requested size must be offered exactly; the first format (in that order) that offers it
///    wins. Unset size: 640x480 if offered, else the smallest offered size covering it, else the
///    largest offered.
/// 3. A requested fps picks the offered interval closest to it (ties: the faster one).
public enum FormatNegotiator {
    public static func negotiate(_ caps: DeviceCapabilities, request: CaptureRequest, path: String) throws(CaptureError) -> NegotiatedFormat {
        let native = caps.nativeFormats
        let nativeFormats = native.map(\.format)
        var candidates = native.filter { $0.format.isDecodable }
        if let wanted = request.format {
            candidates = candidates.filter { $0.format == wanted }
            if candidates.isEmpty {
                throw .unsupportedFormat(path: path, requested: wanted, available: nativeFormats)
            }
        }
        guard !candidates.isEmpty else { throw .noUsableFormat(path: path, available: nativeFormats) }
        candidates.sort { rank($0.format) < rank($1.format) }

        var notes: [String] = []
        let chosenFormat: FormatOption
        let chosenSize: Size
        if let size = request.size {
            guard let f = candidates.first(where: { $0.sizes.offers(size) }) else {
                let all = Set(candidates.flatMap { $0.sizes.listed }).sorted()
                throw .unsupportedSize(path: path, requested: size, available: all)
            }
            chosenFormat = f
            chosenSize = size
        } else {
            // The best format that has any size; then its best default size.
            guard let f = candidates.first(where: { !$0.sizes.listed.isEmpty }) else {
                throw .noUsableFormat(path: path, available: nativeFormats)
            }
            chosenFormat = f
            chosenSize = defaultSize(in: f.sizes)
            if chosenSize != CaptureRequest.defaultSize {
                notes.append("\(CaptureRequest.defaultSize) not offered, using \(chosenSize)")
            }
        }
        let skipped = candidates.prefix { $0.format != chosenFormat.format }.map(\.format)
        if !skipped.isEmpty, request.size != nil {
            notes.append("\(skipped.map(\.description).joined(separator: ", ")) lacks \(chosenSize)")
        } else if let next = candidates.first(where: { $0.format != chosenFormat.format }) {
            notes.append("\(chosenFormat.format) preferred over \(next.format)")
        }

        var interval: Fraction?
        let intervals: FrameIntervals
        if case .discrete(let l) = chosenFormat.sizes, let opt = l.first(where: { $0.size == chosenSize }) {
            intervals = opt.intervals
        } else {
            intervals = .unknown
        }
        if let fps = request.fps, fps > 0 {
            interval = pickInterval(intervals, fps: fps)
            if interval == nil {
                // The driver enumerates no intervals: ask for the rate and let S_PARM say.
                interval = Fraction(1000, UInt32(max(1, min(fps * 1000, 1_000_000))))
            } else if let i = interval, abs(i.fps - fps) > 0.01 {
                notes.append("\(formatFPS(fps)) fps not offered, closest is \(formatFPS(i.fps))")
            }
        }
        return NegotiatedFormat(format: chosenFormat.format, size: chosenSize, interval: interval, notes: notes)
    }

    static func rank(_ f: PixelFormat) -> Int { PixelFormat.preference.firstIndex(of: f) ?? Int.max }

    static func defaultSize(in sizes: FrameSizes) -> Size {
        let target = CaptureRequest.defaultSize
        switch sizes {
        case .discrete(let l):
            let all = l.map(\.size)
            if all.contains(target) { return target }
            if let cover = all.filter({ $0.covers(target) }).min() { return cover }
            return all.max() ?? target
        case .stepwise(let mn, let mx, _):
            if sizes.offers(target) { return target }
            return Size(width: min(max(target.width, mn.width), mx.width), height: min(max(target.height, mn.height), mx.height))
        case .unknown:
            return target
        }
    }

    static func pickInterval(_ intervals: FrameIntervals, fps: Double) -> Fraction? {
        switch intervals {
        case .discrete(let l):
            return l.filter { $0.numerator > 0 }.min { a, b in
                let da = abs(a.fps - fps), db = abs(b.fps - fps)
                return da != db ? da < db : a.fps > b.fps
            }
        case .stepwise(let mn, let mx, _):
            let clamped = min(max(fps, mx.fps), mn.fps)
            return Fraction(1000, UInt32(clamped * 1000))
        case .unknown:
            return nil
        }
    }
}
