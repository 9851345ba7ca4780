import VigilCore

#if canImport(Glibc)
import Glibc
#endif

/// How a file source hands out frames.
public enum FilePacing: Hashable, Sendable {
    /// Like a camera at `fps`: frames are due at start + k/fps; a slow consumer makes the source
    /// skip frames (counted as dropped), exactly as a driver would.
    case realTime(fps: Double)
    /// Every frame in order, as fast as the consumer asks (tests, benchmarks, batch runs).
    case asFastAsPossible
}

/// A frame source that plays JPEG images from files: either a folder of `*.jpg`/`*.jpeg`
/// (sorted by name) or one Motion-JPEG stream file (concatenated JPEGs). Same interface as a
/// camera, so the demo and tests run the real pipeline without hardware.
public final class FileFrameSource: FrameSource {
    public let path: String
    public let pacing: FilePacing
    public let loop: Bool
    public private(set) var statistics = CaptureStatistics()
    /// Number of frames in one pass.
    public var frameCount: Int { frames.count }

    private let frames: [FrameRef]
    private let clock: any MonotonicClock
    private var startTime: MonotonicInstant?
    private var next = 0  // index of the next frame in the endless sequence

    /// Opens a folder of JPEGs or an MJPEG stream file; throws `.noFrames` naming the path when
    /// there is nothing to play.
    public init(path: String, pacing: FilePacing = .asFastAsPossible, loop: Bool = false,
                clock: any MonotonicClock = SystemMonotonicClock()) throws(CaptureError) {
        self.path = path
        self.pacing = pacing
        self.loop = loop
        self.clock = clock
        var st = stat()
        guard stat(path, &st) == 0 else { throw .open(path: path, Errno.current) }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            frames = try Self.folderFrames(path)
        } else {
            frames = try Self.streamFrames(path)
        }
    }

    /// Frames from memory (tests; embedded clips).
    public init(name: String, mjpegStream: [UInt8], pacing: FilePacing = .asFastAsPossible, loop: Bool = false,
                clock: any MonotonicClock = SystemMonotonicClock()) throws(CaptureError) {
        self.path = name
        self.pacing = pacing
        self.loop = loop
        self.clock = clock
        frames = try Self.split(FileBytes(mjpegStream), path: name)
    }

    public func start() throws(CaptureError) {
        startTime = clock.now()
        next = 0
    }

    public func stop() { startTime = nil }

    public func nextFrame(timeout: Duration) throws(CaptureError) -> Frame {
        guard let t0 = startTime else { throw .notStreaming(path: path) }
        if !loop && next >= frames.count { throw .endOfStream(path: path) }
        var due = t0
        if case .realTime(let fps) = pacing, fps > 0 {
            let period = 1e9 / fps
            let now = clock.now()
            // A slow consumer: skip to the frame that is current now, like a camera would.
            let current = Int(Double(now.nanoseconds - t0.nanoseconds) / period)
            if current > next {
                let skip = loop ? current - next : min(current, frames.count - 1) - next
                if skip > 0 { statistics.dropped += skip; next += skip }
            }
            due = t0.advanced(by: .nanoseconds(Int64(Double(next) * period)))
            let deadline = now.advanced(by: timeout)
            if due > deadline {
                clock.sleep(until: deadline)
                throw .noFrame(path: path, timeout: timeout)
            }
            clock.sleep(until: due)
        }
        let ref = frames[next % frames.count]
        let sequence = UInt32(truncatingIfNeeded: next)
        next += 1
        let bytes: FileBytes
        do { bytes = try ref.load() } catch {
            statistics.corrupt += 1
            throw error
        }
        statistics.delivered += 1
        let info = FrameInfo(
            sequence: sequence, driverTimestamp: .nanoseconds(Int64(due.nanoseconds)),
            captureTime: clock.now(), format: .mjpeg,
            size: ref.size ?? bytes.withBytes { JPEGStream.imageSize($0) } ?? Size(width: 0, height: 0),
            bytesPerLine: 0)
        return Frame(info: info, bytes: bytes.view(ref.range), lease: bytes)
    }

    // MARK: loading

    private struct FrameRef {
        var storage: FileBytes?  // nil: read `file` when due (folders)
        var file: String?
        var range: Range<Int>?
        var size: Size?

        func load() throws(CaptureError) -> FileBytes {
            if let storage { return storage }
            guard let file else { throw .noFrames(path: "?", reason: "no data") }
            return try FileBytes(contentsOf: file)
        }
    }

    private static func folderFrames(_ dir: String) throws(CaptureError) -> [FrameRef] {
        guard let d = opendir(dir) else { throw .open(path: dir, Errno.current) }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            let lower = name.lowercased()
            if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") { names.append(name) }
        }
        guard !names.isEmpty else { throw .noFrames(path: dir, reason: "folder has no .jpg or .jpeg files") }
        return names.sorted().map { name in
            let file = dir.hasSuffix("/") ? dir + name : dir + "/" + name
            return FrameRef(storage: nil, file: file, range: nil, size: nil)
        }
    }

    private static func streamFrames(_ file: String) throws(CaptureError) -> [FrameRef] {
        try split(FileBytes(contentsOf: file), path: file)
    }

    private static func split(_ data: FileBytes, path: String) throws(CaptureError) -> [FrameRef] {
        let segments = data.withBytes { JPEGStream.split($0) }
        guard !segments.isEmpty else {
            throw .noFrames(path: path, reason: data.count == 0 ? "file is empty" : "no JPEG start-of-image marker found")
        }
        return segments.map { FrameRef(storage: data, file: nil, range: $0.range, size: $0.size) }
    }
}

/// File contents held in memory; a frame's lease keeps them alive while the frame is in use.
final class FileBytes: FrameLease, @unchecked Sendable {
    // @unchecked: immutable after init.
    private let storage: UnsafeMutableRawBufferPointer
    var count: Int { byteCount }

    private let byteCount: Int

    init(_ bytes: [UInt8]) {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { buf.copyMemory(from: $0) }
        storage = buf
        byteCount = bytes.count
    }

    /// Reads a whole file (at most 1 GiB: a bigger "MJPEG clip" is a mistake, not a clip).
    init(contentsOf path: String) throws(CaptureError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .open(path: path, Errno.current) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .read(path: path, Errno.current) }
        let size = Int(st.st_size)
        guard size <= 1 << 30 else { throw .noFrames(path: path, reason: "file larger than 1 GiB") }
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 16)
        var done = 0
        while done < size {
            let r = read(fd, buf.baseAddress! + done, size - done)
            if r < 0 {
                if errno == EINTR { continue }
                let e = Errno.current
                buf.deallocate()
                throw .read(path: path, e)
            }
            if r == 0 { break }  // file shrank while reading: keep what we got
            done += r
        }
        storage = buf
        byteCount = done
    }

    deinit { storage.deallocate() }

    func release() {}

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(UnsafeRawBufferPointer(rebasing: storage[0..<byteCount]))
    }

    func view(_ range: Range<Int>?) -> UnsafeRawBufferPointer {
        let r = range ?? 0..<byteCount
        return UnsafeRawBufferPointer(rebasing: storage[r])
    }
}
