import CV4L2
import Synchronization
import VigilCore

#if canImport(Glibc)
import Glibc
#endif

/// A V4L2 camera, streamed through libv4l2 with mmap buffers.
///
/// Life cycle: `init` opens the node, checks VIDIOC_QUERYCAP (video capture + streaming) and
/// enumerates formats, sizes and intervals; `start()` negotiates (see `FormatNegotiator`), sets
/// the format and rate, maps `request.bufferCount` driver buffers and streams; `nextFrame`
/// polls with a timeout and dequeues; `stop()` (or `deinit`) stops streaming. The fd is closed and
/// the buffers unmapped by their owners' `deinit`s, after the last frame that borrows them is
/// released — a frame can outlive `stop()` safely.
public final class V4L2Camera: FrameSource {
    public let path: String
    public let capabilities: DeviceCapabilities
    public var request: CaptureRequest
    /// What `start()` chose, and the format the driver confirmed.
    public private(set) var active: ActiveFormat?
    public private(set) var statistics = CaptureStatistics()

    private let handle: DeviceHandle
    private var buffers: MappedBufferSet?
    private var lastSequence: UInt32?

    /// Opens and queries the device; throws a `CaptureError` naming the path and the reason.
    public init(path: String, request: CaptureRequest = CaptureRequest(), syscalls: V4L2Syscalls = .libv4l2) throws(CaptureError) {
        self.path = path
        self.request = request
        self.handle = try DeviceHandle(path: path, syscalls: syscalls)
        self.capabilities = try handle.queryCapabilities()
        let missing = capabilities.missingForCapture
        if !missing.isEmpty {
            throw .notACaptureDevice(path: path, card: capabilities.card, missing: missing)
        }
    }

    /// Opens, queries and closes a device, for listings (`vigil cameras`). Does not require the
    /// device to be a capture device.
    public static func probe(path: String, syscalls: V4L2Syscalls = .libv4l2) throws(CaptureError) -> DeviceCapabilities {
        try DeviceHandle(path: path, syscalls: syscalls).queryCapabilities()
    }

    deinit { stop() }

    public var isStreaming: Bool { buffers != nil }

    // MARK: start

    public func start() throws(CaptureError) {
        guard buffers == nil else { return }
        let choice = try FormatNegotiator.negotiate(capabilities, request: request, path: path)
        let fmt = try setFormat(choice)
        var fps: Double?
        if let interval = choice.interval { fps = try setInterval(interval) }
        let set = try MappedBufferSet.allocate(handle: handle, count: request.bufferCount)
        try set.queueAll()
        var type = CV4L2_BUF_TYPE_VIDEO_CAPTURE
        try check(handle.sys.ioctl(handle.fd, CV4L2_VIDIOC_STREAMON, &type), "VIDIOC_STREAMON")
        buffers = set
        lastSequence = nil
        active = ActiveFormat(
            negotiated: choice, bytesPerLine: fmt.bytesPerLine, sizeImage: fmt.sizeImage,
            fps: fps, bufferCount: set.count)
    }

    private func setFormat(_ choice: NegotiatedFormat) throws(CaptureError) -> (bytesPerLine: Int, sizeImage: Int) {
        var f = v4l2_format()
        f.type = CV4L2_BUF_TYPE_VIDEO_CAPTURE
        f.fmt.pix.width = UInt32(choice.size.width)
        f.fmt.pix.height = UInt32(choice.size.height)
        f.fmt.pix.pixelformat = choice.format.fourcc
        f.fmt.pix.field = CV4L2_FIELD_NONE
        try check(handle.sys.ioctl(handle.fd, CV4L2_VIDIOC_S_FMT, &f), "VIDIOC_S_FMT")
        let got = PixelFormat(fourcc: f.fmt.pix.pixelformat)
        let gotSize = Size(width: Int(f.fmt.pix.width), height: Int(f.fmt.pix.height))
        if got != choice.format || gotSize != choice.size {
            throw .formatRejected(path: path, requested: "\(choice.format) \(choice.size)", got: "\(got) \(gotSize)")
        }
        return (Int(f.fmt.pix.bytesperline), Int(f.fmt.pix.sizeimage))
    }

    /// Sets the frame interval with VIDIOC_S_PARM; returns the fps the driver settled on, or nil
    /// when the driver cannot set a rate (no V4L2_CAP_TIMEPERFRAME).
    private func setInterval(_ interval: Fraction) throws(CaptureError) -> Double? {
        var p = v4l2_streamparm()
        p.type = CV4L2_BUF_TYPE_VIDEO_CAPTURE
        switch handle.sys.ioctl(handle.fd, CV4L2_VIDIOC_G_PARM, &p) {
        case .success: break
        case .failure(.invalidArgument), .failure(.notATTY): return nil  // driver has no G_PARM
        case .failure(let e): throw CaptureError.from(e, path: path, request: "VIDIOC_G_PARM")
        }
        guard p.parm.capture.capability & CV4L2_CAP_TIMEPERFRAME != 0 else { return nil }
        p.parm.capture.timeperframe.numerator = interval.numerator
        p.parm.capture.timeperframe.denominator = interval.denominator
        try check(handle.sys.ioctl(handle.fd, CV4L2_VIDIOC_S_PARM, &p), "VIDIOC_S_PARM")
        return Fraction(p.parm.capture.timeperframe.numerator, p.parm.capture.timeperframe.denominator).fps
    }

    // MARK: frames

    public func nextFrame(timeout: Duration) throws(CaptureError) -> Frame {
        guard let set = buffers, let active else { throw .notStreaming(path: path) }
        if let e = set.takeRequeueError() { throw CaptureError.from(e, path: path, request: "VIDIOC_QBUF") }
        let deadline = MonotonicInstant.now().advanced(by: timeout)
        while true {
            if set.allHeld {
                // Every buffer is held by the caller: the driver has nowhere to write.
                throw .noFrame(path: path, timeout: timeout)
            }
            let remaining = MonotonicInstant.now().duration(to: deadline)
            let ms = Int32(clamping: max(0, remaining.nanosecondsClamped / 1_000_000))
            let revents: Int16
            switch handle.sys.poll(handle.fd, CV4L2_POLLIN, ms) {
            case .success(let r): revents = r
            case .failure(.interrupted): continue
            case .failure(let e): throw CaptureError.from(e, path: path, request: "poll")
            }
            if revents == 0 {
                if MonotonicInstant.now() >= deadline { throw .noFrame(path: path, timeout: timeout) }
                continue
            }
            if revents & CV4L2_POLLNVAL != 0 { throw .disconnected(path: path, .badFileDescriptor) }
            let hangup = revents & (CV4L2_POLLERR | CV4L2_POLLHUP) != 0 && revents & CV4L2_POLLIN == 0

            var b = v4l2_buffer()
            b.type = CV4L2_BUF_TYPE_VIDEO_CAPTURE
            b.memory = CV4L2_MEMORY_MMAP
            switch handle.sys.ioctl(handle.fd, CV4L2_VIDIOC_DQBUF, &b) {
            case .success: break
            case .failure(.wouldBlock) where !hangup: continue  // woken, but nothing ready yet
            case .failure(let e) where hangup:
                // POLLERR/POLLHUP and nothing to dequeue: the driver is gone or in error state.
                throw .disconnected(path: path, e == .wouldBlock ? .ioError : e)
            case .failure(let e): throw CaptureError.from(e, path: path, request: "VIDIOC_DQBUF")
            }
            let index = Int(b.index)
            guard index < set.count else {
                throw .ioctl(path: path, request: "VIDIOC_DQBUF", .invalidArgument)
            }
            set.markHeld(index)
            if let last = lastSequence, b.sequence > last &+ 1, b.sequence > last {
                statistics.dropped += Int(b.sequence - last - 1)
            }
            lastSequence = b.sequence
            if b.flags & CV4L2_BUF_FLAG_ERROR != 0 || b.bytesused == 0 {
                statistics.corrupt += 1
                set.requeue(index)
                continue
            }
            statistics.delivered += 1
            let used = min(Int(b.bytesused), set.length(index))
            let info = FrameInfo(
                sequence: b.sequence,
                driverTimestamp: .seconds(Int64(b.timestamp.tv_sec)) + .microseconds(Int64(b.timestamp.tv_usec)),
                captureTime: .now(), format: active.negotiated.format, size: active.negotiated.size,
                bytesPerLine: active.bytesPerLine)
            return Frame(
                info: info, bytes: UnsafeRawBufferPointer(start: set.address(index), count: used),
                lease: BufferLease(set: set, index: index))
        }
    }

    // MARK: stop

    /// Stops streaming (VIDIOC_STREAMOFF) and frees the driver buffers. Frames still held stay
    /// readable; they are unmapped when the last one is released. Safe to call twice, and after
    /// the device vanished.
    public func stop() {
        guard buffers != nil else { return }
        var type = CV4L2_BUF_TYPE_VIDEO_CAPTURE
        _ = handle.sys.ioctl(handle.fd, CV4L2_VIDIOC_STREAMOFF, &type)
        buffers?.retire()
        // Dropping the last reference unmaps the buffers now, unless a frame still borrows one.
        buffers = nil
        // Free the driver's buffers so the format can change at the next start(). libv4l2
        // refuses this (EBUSY) while a held frame keeps a buffer mapped; then the next start()
        // reallocates once that frame is released.
        var rb = v4l2_requestbuffers()
        rb.count = 0
        rb.type = CV4L2_BUF_TYPE_VIDEO_CAPTURE
        rb.memory = CV4L2_MEMORY_MMAP
        _ = handle.sys.ioctl(handle.fd, CV4L2_VIDIOC_REQBUFS, &rb)
    }

    private func check(_ r: Result<Void, Errno>, _ request: String) throws(CaptureError) {
        if case .failure(let e) = r { throw CaptureError.from(e, path: path, request: request) }
    }
}

/// The format a streaming camera is delivering.
public struct ActiveFormat: Hashable, Sendable, CustomStringConvertible {
    public var negotiated: NegotiatedFormat
    public var bytesPerLine: Int
    public var sizeImage: Int
    /// The rate the driver confirmed, if it sets rates.
    public var fps: Double?
    public var bufferCount: Int

    public var description: String {
        var s = "\(negotiated.format) \(negotiated.size)"
        if let fps { s += " @ \(formatFPS(fps)) fps" }
        s += ", \(bufferCount) buffers"
        if !negotiated.notes.isEmpty { s += " (\(negotiated.notes.joined(separator: "; ")))" }
        return s
    }
}

// MARK: - owned resources

/// The open device node. Owns the fd: closed exactly once, in `deinit`, after every mapping
/// that refers to it is gone (buffer sets hold a strong reference).
final class DeviceHandle: @unchecked Sendable {
    // @unchecked: immutable after init; the fd is only closed in deinit.
    let fd: Int32
    let path: String
    let sys: V4L2Syscalls

    init(path: String, syscalls: V4L2Syscalls) throws(CaptureError) {
        self.path = path
        self.sys = syscalls
        var r: Result<Int32, Errno>
        repeat { r = syscalls.open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC) } while r == .failure(.interrupted)
        switch r {
        case .success(let fd): self.fd = fd
        case .failure(.busy): throw .busy(path: path)
        // libv4l2's v4l2_open already asks VIDIOC_QUERYCAP: a non-V4L2 file fails here.
        case .failure(let e) where e == .notATTY || e == .invalidArgument: throw .notAV4L2Device(path: path, e)
        case .failure(let e): throw .open(path: path, e)
        }
    }

    deinit { _ = sys.close(fd) }

    /// VIDIOC_QUERYCAP plus format/size/interval enumeration.
    func queryCapabilities() throws(CaptureError) -> DeviceCapabilities {
        var cap = v4l2_capability()
        switch sys.ioctl(fd, CV4L2_VIDIOC_QUERYCAP, &cap) {
        case .success: break
        case .failure(let e) where e == .notATTY || e == .invalidArgument: throw .notAV4L2Device(path: path, e)
        case .failure(let e): throw CaptureError.from(e, path: path, request: "VIDIOC_QUERYCAP")
        }
        let deviceCaps = cap.capabilities & CV4L2_CAP_DEVICE_CAPS != 0 ? cap.device_caps : cap.capabilities
        var caps = DeviceCapabilities(
            driver: cString(cap.driver), card: cString(cap.card), busInfo: cString(cap.bus_info),
            deviceCaps: deviceCaps, formats: [])
        if deviceCaps & CV4L2_CAP_VIDEO_CAPTURE != 0 {
            caps.formats = try enumerateFormats()
        }
        return caps
    }

    private func enumerateFormats() throws(CaptureError) -> [FormatOption] {
        var out: [FormatOption] = []
        for index in 0..<256 {
            var d = v4l2_fmtdesc()
            d.index = UInt32(index)
            d.type = CV4L2_BUF_TYPE_VIDEO_CAPTURE
            guard try enumerate(CV4L2_VIDIOC_ENUM_FMT, &d, "VIDIOC_ENUM_FMT") else { break }
            let format = PixelFormat(fourcc: d.pixelformat)
            out.append(FormatOption(
                fourcc: d.pixelformat, description: cString(d.description),
                compressed: d.flags & CV4L2_FMT_FLAG_COMPRESSED != 0,
                emulated: d.flags & CV4L2_FMT_FLAG_EMULATED != 0,
                sizes: try enumerateSizes(d.pixelformat, withIntervals: format.isDecodable)))
        }
        return out
    }

    private func enumerateSizes(_ fourcc: UInt32, withIntervals: Bool) throws(CaptureError) -> FrameSizes {
        var list: [SizeOption] = []
        for index in 0..<1024 {
            var s = v4l2_frmsizeenum()
            s.index = UInt32(index)
            s.pixel_format = fourcc
            guard try enumerate(CV4L2_VIDIOC_ENUM_FRAMESIZES, &s, "VIDIOC_ENUM_FRAMESIZES") else { break }
            if s.type == CV4L2_FRMSIZE_TYPE_DISCRETE {
                let size = Size(width: Int(s.discrete.width), height: Int(s.discrete.height))
                let iv = withIntervals ? try enumerateIntervals(fourcc, size) : .unknown
                list.append(SizeOption(size, intervals: iv))
            } else {
                let w = s.stepwise
                return .stepwise(
                    min: Size(width: Int(w.min_width), height: Int(w.min_height)),
                    max: Size(width: Int(w.max_width), height: Int(w.max_height)),
                    step: Size(width: Int(max(w.step_width, 1)), height: Int(max(w.step_height, 1))))
            }
        }
        return list.isEmpty ? .unknown : .discrete(list)
    }

    private func enumerateIntervals(_ fourcc: UInt32, _ size: Size) throws(CaptureError) -> FrameIntervals {
        var list: [Fraction] = []
        for index in 0..<256 {
            var i = v4l2_frmivalenum()
            i.index = UInt32(index)
            i.pixel_format = fourcc
            i.width = UInt32(size.width)
            i.height = UInt32(size.height)
            guard try enumerate(CV4L2_VIDIOC_ENUM_FRAMEINTERVALS, &i, "VIDIOC_ENUM_FRAMEINTERVALS") else { break }
            if i.type == CV4L2_FRMIVAL_TYPE_DISCRETE {
                list.append(Fraction(i.discrete.numerator, i.discrete.denominator))
            } else {
                let w = i.stepwise
                return .stepwise(
                    min: Fraction(w.min.numerator, w.min.denominator),
                    max: Fraction(w.max.numerator, w.max.denominator),
                    step: Fraction(w.step.numerator, w.step.denominator))
            }
        }
        return list.isEmpty ? .unknown : .discrete(list)
    }

    /// One step of an ENUM_* loop: true = got an entry, false = EINVAL (end of list, or the
    /// driver does not enumerate this); anything else is an error.
    private func enumerate<T>(_ request: UInt, _ value: inout T, _ name: String) throws(CaptureError) -> Bool {
        switch sys.ioctl(fd, request, &value) {
        case .success: return true
        case .failure(.invalidArgument), .failure(.notATTY): return false
        case .failure(let e): throw CaptureError.from(e, path: path, request: name)
        }
    }
}

/// The driver buffers of one streaming session, mapped into our address space. Owns the
/// mappings: `deinit` unmaps them, which happens only when the camera has let go of the set
/// *and* every frame borrowing a buffer has been released (each frame's lease holds the set).
final class MappedBufferSet: @unchecked Sendable {
    // @unchecked: the mappings are immutable after allocation; mutable bookkeeping is in `state`.
    private struct State {
        var held: [Bool]
        var retired = false
        var requeueError: Errno?
    }

    let handle: DeviceHandle
    private let mappings: [(address: UnsafeMutableRawPointer, length: Int)]
    private let state: Mutex<State>

    var count: Int { mappings.count }
    func address(_ i: Int) -> UnsafeMutableRawPointer { mappings[i].address }
    func length(_ i: Int) -> Int { mappings[i].length }

    private init(handle: DeviceHandle, mappings: [(UnsafeMutableRawPointer, Int)]) {
        self.handle = handle
        self.mappings = mappings.map { (address: $0.0, length: $0.1) }
        self.state = Mutex(State(held: Array(repeating: true, count: mappings.count)))
    }

    /// VIDIOC_REQBUFS + VIDIOC_QUERYBUF + mmap for each buffer. On failure everything mapped
    /// so far is unmapped (by the partial set's deinit).
    static func allocate(handle: DeviceHandle, count: Int) throws(CaptureError) -> MappedBufferSet {
        let sys = handle.sys, fd = handle.fd, path = handle.path
        var rb = v4l2_requestbuffers()
        rb.count = UInt32(count)
        rb.type = CV4L2_BUF_TYPE_VIDEO_CAPTURE
        rb.memory = CV4L2_MEMORY_MMAP
        if case .failure(let e) = sys.ioctl(fd, CV4L2_VIDIOC_REQBUFS, &rb) {
            throw CaptureError.from(e, path: path, request: "VIDIOC_REQBUFS")
        }
        guard rb.count >= 1 else { throw .mmap(path: path, .outOfMemory) }
        var maps: [(UnsafeMutableRawPointer, Int)] = []
        var failure: CaptureError?
        for i in 0..<Int(rb.count) {
            var b = v4l2_buffer()
            b.index = UInt32(i)
            b.type = CV4L2_BUF_TYPE_VIDEO_CAPTURE
            b.memory = CV4L2_MEMORY_MMAP
            if case .failure(let e) = sys.ioctl(fd, CV4L2_VIDIOC_QUERYBUF, &b) {
                failure = CaptureError.from(e, path: path, request: "VIDIOC_QUERYBUF"); break
            }
            switch sys.mmap(fd, Int(b.length), Int64(b.m.offset)) {
            case .success(let p): maps.append((p, Int(b.length)))
            case .failure(let e):
                failure = [.noSuchDevice, .noSuchDeviceOrAddress, .ioError].contains(e)
                    ? .disconnected(path: path, e) : .mmap(path: path, e)
            }
            if failure != nil { break }
        }
        let set = MappedBufferSet(handle: handle, mappings: maps)
        if let failure { throw failure }
        return set
    }

    deinit {
        for m in mappings { _ = handle.sys.munmap(m.address, m.length) }
    }

    func queueAll() throws(CaptureError) {
        for i in 0..<count {
            if case .failure(let e) = requeue(i) { throw CaptureError.from(e, path: handle.path, request: "VIDIOC_QBUF") }
        }
    }

    var allHeld: Bool { state.withLock { $0.held.allSatisfy { $0 } } }

    func markHeld(_ i: Int) { state.withLock { $0.held[i] = true } }

    /// Gives buffer `i` back to the driver (VIDIOC_QBUF), unless streaming has stopped.
    @discardableResult
    func requeue(_ i: Int) -> Result<Void, Errno> {
        state.withLock { s in
            s.held[i] = false
            guard !s.retired else { return .success(()) }
            var b = v4l2_buffer()
            b.index = UInt32(i)
            b.type = CV4L2_BUF_TYPE_VIDEO_CAPTURE
            b.memory = CV4L2_MEMORY_MMAP
            let r = handle.sys.ioctl(handle.fd, CV4L2_VIDIOC_QBUF, &b)
            if case .failure(let e) = r { s.requeueError = e; s.held[i] = true }
            return r
        }
    }

    func retire() { state.withLock { $0.retired = true } }

    func takeRequeueError() -> Errno? {
        state.withLock { s in defer { s.requeueError = nil }; return s.requeueError }
    }
}

/// One frame's claim on a mapped buffer; requeues it when the frame is released.
final class BufferLease: FrameLease {
    let set: MappedBufferSet
    let index: Int
    init(set: MappedBufferSet, index: Int) { self.set = set; self.index = index }
    func release() { set.requeue(index) }
}

/// A fixed-size C char array (imported as a tuple) to a String.
func cString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}
