import VigilCore

/// Everything that can go wrong while capturing, with the device (or file) path and, for
/// system-call failures, the errno. The agent reacts to the kind: `disconnected` → reconnect with
/// backoff; `noFrame` → a watchdog state; the rest → a configuration fault to report.
public enum CaptureError: Error, Equatable, CustomStringConvertible {
    /// The path does not exist, or cannot be opened.
    case open(path: String, Errno)
    /// The path answers, but is not a V4L2 device (VIDIOC_QUERYCAP failed with ENOTTY/EINVAL).
    case notAV4L2Device(path: String, Errno)
    /// A V4L2 device that cannot be used as a camera: `missing` names what it lacks.
    case notACaptureDevice(path: String, card: String, missing: [String])
    /// Another process holds the device (EBUSY).
    case busy(path: String)
    /// The camera went away (ENODEV, ENXIO, EIO): unplugged, driver unbound, or USB reset.
    case disconnected(path: String, Errno)
    /// No frame arrived within the timeout.
    case noFrame(path: String, timeout: Duration)
    /// The requested pixel format is not offered (natively) by the device.
    case unsupportedFormat(path: String, requested: PixelFormat, available: [PixelFormat])
    /// No usable format offers the requested size.
    case unsupportedSize(path: String, requested: Size, available: [Size])
    /// The device offers none of the formats Vigil can decode.
    case noUsableFormat(path: String, available: [PixelFormat])
    /// The driver changed the negotiated format (VIDIOC_S_FMT answered with something else).
    case formatRejected(path: String, requested: String, got: String)
    /// Any other failing ioctl, named.
    case ioctl(path: String, request: String, Errno)
    /// Mapping a driver buffer failed.
    case mmap(path: String, Errno)
    /// A file source has nothing to play.
    case noFrames(path: String, reason: String)
    /// A file source's data could not be read.
    case read(path: String, Errno)
    /// A non-looping file source has played all its frames.
    case endOfStream(path: String)
    /// The source is not streaming (start() was not called, or stop() was).
    case notStreaming(path: String)

    public var path: String {
        switch self {
        case .open(let p, _), .notAV4L2Device(let p, _), .notACaptureDevice(let p, _, _), .busy(let p),
            .disconnected(let p, _), .noFrame(let p, _), .unsupportedFormat(let p, _, _),
            .unsupportedSize(let p, _, _), .noUsableFormat(let p, _), .formatRejected(let p, _, _),
            .ioctl(let p, _, _), .mmap(let p, _), .noFrames(let p, _), .read(let p, _),
            .endOfStream(let p), .notStreaming(let p):
            return p
        }
    }

    /// One line for a technician: path first, then the reason.
    public var description: String {
        switch self {
        case .open(let p, let e):
            let hint = e == .permissionDenied ? " (is the user in group 'video'?)" : ""
            return "\(p): cannot open: \(e)\(hint)"
        case .notAV4L2Device(let p, let e): return "\(p): not a V4L2 video device (VIDIOC_QUERYCAP: \(e))"
        case .notACaptureDevice(let p, let card, let missing):
            return "\(p): '\(card)' is not a usable camera: it lacks \(missing.joined(separator: " and "))"
        case .busy(let p): return "\(p): device is in use by another process (EBUSY)"
        case .disconnected(let p, let e): return "\(p): camera disconnected (\(e))"
        case .noFrame(let p, let t): return "\(p): no frame within \(t.milliseconds) ms"
        case .unsupportedFormat(let p, let r, let a):
            return "\(p): format \(r) not offered; the device offers \(shortList(a.map(\.description)))"
        case .unsupportedSize(let p, let r, let a):
            return "\(p): size \(r) not offered in a usable format; offered: \(shortList(a.map(\.description)))"
        case .noUsableFormat(let p, let a):
            return "\(p): none of the device's formats can be decoded (offers \(shortList(a.map(\.description))); Vigil reads MJPEG, YUYV, NV12, GREY)"
        case .formatRejected(let p, let r, let g): return "\(p): driver changed format \(r) to \(g)"
        case .ioctl(let p, let r, let e): return "\(p): \(r) failed: \(e)"
        case .mmap(let p, let e): return "\(p): cannot map capture buffers: \(e)"
        case .noFrames(let p, let r): return "\(p): no frames: \(r)"
        case .read(let p, let e): return "\(p): cannot read: \(e)"
        case .endOfStream(let p): return "\(p): end of stream"
        case .notStreaming(let p): return "\(p): not streaming"
        }
    }

    /// Maps an errno from a V4L2 call to the error the agent acts on: the three "device gone"
    /// errnos become `disconnected`, EBUSY becomes `busy`, anything else names the ioctl.
    public static func from(_ errno: Errno, path: String, request: String) -> CaptureError {
        switch errno {
        case .noSuchDevice, .noSuchDeviceOrAddress, .ioError: .disconnected(path: path, errno)
        case .busy: .busy(path: path)
        default: .ioctl(path: path, request: request, errno)
        }
    }
}

/// At most 12 items, then how many more: error lines stay readable for devices like vivid that
/// offer 83 formats.
func shortList(_ items: [String]) -> String {
    items.count <= 12 ? items.joined(separator: ", ") : items.prefix(12).joined(separator: ", ") + " and \(items.count - 12) more"
}
