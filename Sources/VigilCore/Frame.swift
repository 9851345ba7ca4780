/// What is known about a captured frame, apart from its bytes.
public struct FrameInfo: Sendable, Equatable {
    /// The driver's frame counter (V4L2 `sequence`); gaps mean the driver dropped frames.
    public var sequence: UInt32
    /// The driver's timestamp (V4L2 `timestamp`, usually CLOCK_MONOTONIC at first byte), if any.
    public var driverTimestamp: Duration?
    /// CLOCK_MONOTONIC when Vigil received the frame (after DQBUF or file read).
    public var captureTime: MonotonicInstant
    public var format: PixelFormat
    public var size: Size
    /// Bytes per row for packed/planar formats (0 for compressed formats).
    public var bytesPerLine: Int

    public init(
        sequence: UInt32, driverTimestamp: Duration? = nil, captureTime: MonotonicInstant,
        format: PixelFormat, size: Size, bytesPerLine: Int
    ) {
        self.sequence = sequence
        self.driverTimestamp = driverTimestamp
        self.captureTime = captureTime
        self.format = format
        self.size = size
        self.bytesPerLine = bytesPerLine
    }
}

/// Gives a frame's buffer back to whoever owns it (a V4L2 driver queue, a file source).
///
/// Called exactly once, from the frame's `deinit`, on whatever thread drops the frame.
public protocol FrameLease: AnyObject, Sendable {
    func release()
}

/// One captured frame whose bytes are *borrowed* from the source (a V4L2 mmap buffer or a file
/// source's storage): no copy is made on the hot path.
///
/// `Frame` is non-copyable so that exactly one owner holds the buffer; dropping it (or calling
/// `release()`) hands the buffer back to the driver (V4L2 `VIDIOC_QBUF`). Keep frames short-lived:
/// a source has only a few buffers, and holding them all stalls capture.
public struct Frame: ~Copyable, @unchecked Sendable {
    // @unchecked: `bytes` is read-only memory kept alive by `lease` until deinit; the frame is
    // the single owner of that view (non-copyable), so handing it to another thread is safe.
    public let info: FrameInfo
    /// The frame's payload, valid until the frame is released.
    public let bytes: UnsafeRawBufferPointer
    private let lease: (any FrameLease)?

    public init(info: FrameInfo, bytes: UnsafeRawBufferPointer, lease: (any FrameLease)?) {
        self.info = info
        self.bytes = bytes
        self.lease = lease
    }

    /// Hands the buffer back now rather than at the end of the scope.
    public consuming func release() {}

    deinit { lease?.release() }

    /// Copies the payload out (for saving frames; not for the hot path).
    public func copyBytes() -> [UInt8] { Array(bytes) }
}
