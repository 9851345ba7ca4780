import VigilCore

/// Anything that yields frames: a V4L2 camera, a folder of JPEGs, an MJPEG stream file.
///
/// Sources are driven by one thread at a time (the capture loop); frames they return may be
/// released on any thread.
public protocol FrameSource: AnyObject {
    /// The device path or file path, for messages.
    var path: String { get }
    /// Starts streaming. Calling it again after `stop()` restarts.
    func start() throws
    /// Waits up to `timeout` for the next frame.
    ///
    /// Throws `CaptureError.noFrame` on timeout, `.disconnected` when the device went away, and
    /// `.endOfStream` when a non-looping file source has played everything.
    func nextFrame(timeout: Duration) throws -> Frame
    /// Stops streaming; frames still held stay valid until released.
    func stop()
    /// Counters since the source was created.
    var statistics: CaptureStatistics { get }
}

/// Counters a source keeps for reports and health.
public struct CaptureStatistics: Sendable, Equatable {
    /// Frames handed out by `nextFrame`.
    public var delivered: Int = 0
    /// Frames the driver skipped, from gaps in V4L2 sequence numbers.
    public var dropped: Int = 0
    /// Buffers the driver flagged as corrupt (V4L2_BUF_FLAG_ERROR or empty), or file-source
    /// frames that could not be read; they are skipped, never handed out.
    public var corrupt: Int = 0
    public init() {}
}
