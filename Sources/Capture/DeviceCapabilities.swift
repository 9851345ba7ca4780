import VigilCore

/// A frame interval (seconds per frame) as V4L2 gives it: numerator / denominator.
public struct Fraction: Hashable, Sendable, CustomStringConvertible {
    public var numerator: UInt32
    public var denominator: UInt32
    public init(_ numerator: UInt32, _ denominator: UInt32) { self.numerator = numerator; self.denominator = denominator }
    /// Frames per second this interval means (0 for a degenerate interval).
    public var fps: Double { numerator == 0 ? 0 : Double(denominator) / Double(numerator) }
    public var description: String { "\(numerator)/\(denominator)" }
}

/// The frame intervals a device offers for one format and size.
public enum FrameIntervals: Hashable, Sendable {
    case discrete([Fraction])
    /// Continuous is stepwise with step 1/… ; min is the shortest interval (highest fps).
    case stepwise(min: Fraction, max: Fraction, step: Fraction)
    /// The driver does not enumerate intervals (many don't); fps cannot be negotiated.
    case unknown

    /// Offered fps values, highest first (for stepwise: the two ends).
    public var fpsValues: [Double] {
        switch self {
        case .discrete(let l): l.map(\.fps).sorted(by: >)
        case .stepwise(let mn, let mx, _): [mn.fps, mx.fps]
        case .unknown: []
        }
    }
}

/// The frame sizes a device offers for one format.
public enum FrameSizes: Hashable, Sendable {
    case discrete([SizeOption])
    /// Any size in the range on the step grid (continuous = step 1).
    case stepwise(min: Size, max: Size, step: Size)
    case unknown

    /// Whether `size` can be set.
    public func offers(_ size: Size) -> Bool {
        switch self {
        case .discrete(let l): return l.contains { $0.size == size }
        case .stepwise(let mn, let mx, let st):
            guard size.width >= mn.width, size.width <= mx.width, size.height >= mn.height, size.height <= mx.height else { return false }
            return (size.width - mn.width) % max(st.width, 1) == 0 && (size.height - mn.height) % max(st.height, 1) == 0
        case .unknown: return false
        }
    }

    /// The discrete sizes, or the two ends of a range, for listings.
    public var listed: [Size] {
        switch self {
        case .discrete(let l): l.map(\.size)
        case .stepwise(let mn, let mx, _): [mn, mx]
        case .unknown: []
        }
    }
}

/// One discrete frame size with its intervals.
public struct SizeOption: Hashable, Sendable {
    public var size: Size
    public var intervals: FrameIntervals
    public init(_ size: Size, intervals: FrameIntervals = .unknown) { self.size = size; self.intervals = intervals }
}

/// One pixel format a device offers (VIDIOC_ENUM_FMT) with its sizes.
public struct FormatOption: Hashable, Sendable {
    public var fourcc: UInt32
    public var description: String
    public var compressed: Bool
    /// libv4l2 converts this format in user space; Vigil only picks native formats.
    public var emulated: Bool
    public var sizes: FrameSizes
    public var format: PixelFormat { PixelFormat(fourcc: fourcc) }

    public init(fourcc: UInt32, description: String, compressed: Bool = false, emulated: Bool = false, sizes: FrameSizes) {
        self.fourcc = fourcc; self.description = description; self.compressed = compressed
        self.emulated = emulated; self.sizes = sizes
    }
}

/// What VIDIOC_QUERYCAP and the enumeration ioctls said about a device.
public struct DeviceCapabilities: Hashable, Sendable {
    public var driver: String
    public var card: String
    public var busInfo: String
    /// The device node's capabilities (`device_caps` when the driver reports them).
    public var deviceCaps: UInt32
    public var formats: [FormatOption]

    public init(driver: String, card: String, busInfo: String, deviceCaps: UInt32, formats: [FormatOption]) {
        self.driver = driver; self.card = card; self.busInfo = busInfo
        self.deviceCaps = deviceCaps; self.formats = formats
    }

    public static let videoCapture: UInt32 = 0x0000_0001
    public static let videoOutput: UInt32 = 0x0000_0002
    public static let streaming: UInt32 = 0x0400_0000
    public static let readWrite: UInt32 = 0x0100_0000

    public var canCapture: Bool { deviceCaps & Self.videoCapture != 0 }
    public var canStream: Bool { deviceCaps & Self.streaming != 0 }

    /// What a camera must have that this device lacks (empty when it is usable).
    public var missingForCapture: [String] {
        var m: [String] = []
        if !canCapture { m.append("video capture (V4L2_CAP_VIDEO_CAPTURE)") }
        if !canStream { m.append("streaming I/O (V4L2_CAP_STREAMING)") }
        return m
    }

    /// Native (not libv4l-emulated) formats, in the device's order.
    public var nativeFormats: [FormatOption] { formats.filter { !$0.emulated } }
}
