import CV4L2
import Capture
import Synchronization
import VigilCore

/// A V4L2 driver emulated at the ioctl level, plugged into `V4L2Camera` through `V4L2Syscalls`.
///
/// Why at this level: the camera's real code (QUERYCAP checks, enumeration, S_FMT read-back,
/// REQBUFS/QUERYBUF/mmap, the QBUF/DQBUF ring, STREAMOFF, errno mapping, EINTR retries, fd and
/// mapping ownership) runs unchanged in unit tests; the kernel-level tests in the VM then run
/// the same code against vivid and v4l2loopback. This file imports CV4L2 only to fill the same
/// C structs the kernel would.
public final class FakeV4L2Driver: @unchecked Sendable {
    // @unchecked: all mutable state is inside `state`.

    /// System calls a test can make fail.
    public enum Call: Hashable, Sendable {
        case open, close, mmap, poll
        case ioctl(UInt)
        public static let querycap = Call.ioctl(CV4L2_VIDIOC_QUERYCAP)
        public static let enumFormats = Call.ioctl(CV4L2_VIDIOC_ENUM_FMT)
        public static let setFormat = Call.ioctl(CV4L2_VIDIOC_S_FMT)
        public static let setParm = Call.ioctl(CV4L2_VIDIOC_S_PARM)
        public static let reqbufs = Call.ioctl(CV4L2_VIDIOC_REQBUFS)
        public static let querybuf = Call.ioctl(CV4L2_VIDIOC_QUERYBUF)
        public static let qbuf = Call.ioctl(CV4L2_VIDIOC_QBUF)
        public static let dqbuf = Call.ioctl(CV4L2_VIDIOC_DQBUF)
        public static let streamon = Call.ioctl(CV4L2_VIDIOC_STREAMON)
        public static let streamoff = Call.ioctl(CV4L2_VIDIOC_STREAMOFF)
    }

    /// Produces a frame's payload: (sequence, format, size, bytesPerLine) → bytes.
    public typealias Content = @Sendable (UInt32, PixelFormat, Size, Int) -> [UInt8]

    struct Buffer {
        var memory: UnsafeMutableRawBufferPointer
        var queued = false
        var mapped = 0
    }

    struct State {
        var openFDs: Set<Int32> = []
        var nextFD: Int32 = 100
        var format: (PixelFormat, Size)?
        var bytesPerLine = 0
        var sizeImage = 0
        var interval = Fraction(1, 30)
        var buffers: [Buffer] = []
        var orphans: [UnsafeMutableRawBufferPointer] = []
        var queue: [Int] = []
        var streaming = false
        var sequence: UInt32 = 0
        var unplugged = false
        var faults: [Call: [Errno?]] = [:]  // nil: let that call succeed
        var log: [String] = []
        var liveMappings = 0
        var streamOnCount = 0
    }

    public let capabilities: DeviceCapabilities
    public let path: String
    /// Skip this many sequence numbers after every delivered frame (simulates driver drops).
    public let sequenceStride: UInt32
    /// Flag every n-th buffer with V4L2_BUF_FLAG_ERROR (0 = never).
    public let errorEvery: Int
    private let content: Content
    // Pointers in State make it non-Sendable, so it is guarded by a plain lock instead of
    // living inside the Mutex.
    private let lock = Mutex(())
    private var stateStorage = State()
    private func withLock<R>(_ body: (inout State) -> R) -> R {
        lock.withLock { _ in body(&stateStorage) }
    }

    public init(capabilities: DeviceCapabilities, path: String = "/dev/video0", sequenceStride: UInt32 = 1,
                errorEvery: Int = 0, content: Content? = nil) {
        self.capabilities = capabilities
        self.path = path
        self.sequenceStride = max(sequenceStride, 1)
        self.errorEvery = errorEvery
        self.content = content ?? FakeV4L2Driver.colourBars
    }

    deinit {
        withLock { s in
            for b in s.buffers { b.memory.deallocate() }
            for o in s.orphans { o.deallocate() }
        }
    }

    // MARK: test controls

    /// Makes `times` calls of `call` fail with `errno`, after letting `after` calls succeed.
    public func inject(_ errno: Errno, on call: Call, times: Int = 1, after: Int = 0) {
        withLock {
            $0.faults[call, default: []] += Array(repeating: nil, count: after) + Array(repeating: errno, count: times)
        }
    }

    /// The camera is unplugged: every later call fails with ENODEV, poll reports POLLERR|POLLHUP.
    public func unplug() { withLock { $0.unplugged = true } }

    public var openFileDescriptors: Int { withLock { $0.openFDs.count } }
    public var liveMappings: Int { withLock { $0.liveMappings } }
    public var isStreaming: Bool { withLock { $0.streaming } }
    public var streamOnCount: Int { withLock { $0.streamOnCount } }
    public var queuedBuffers: Int { withLock { $0.queue.count } }
    /// Every call in order, e.g. `ioctl VIDIOC_S_FMT` or `mmap`.
    public var callLog: [String] { withLock { $0.log } }

    public var syscalls: V4L2Syscalls {
        V4L2Syscalls(
            open: { [self] p, _ in open(p) },
            close: { [self] fd in close(fd) },
            ioctl: { [self] fd, req, arg in ioctl(fd, req, arg) },
            mmap: { [self] fd, len, off in mmap(fd, len, off) },
            munmap: { [self] addr, len in munmap(addr, len) },
            poll: { [self] fd, ev, tmo in poll(fd, ev, tmo) })
    }

    /// vivid-like 75% colour bars for raw formats; MJPEG gets no default content (bytesused 0).
    public static let colourBars: Content = { _, format, size, bpl in
        // BT.601 limited-range Y'CbCr of 75% bars: white, yellow, cyan, green, magenta, red, blue, black.
        let bars: [(UInt8, UInt8, UInt8)] = [
            (180, 128, 128), (162, 44, 142), (131, 156, 44), (112, 72, 58),
            (84, 184, 198), (65, 100, 212), (35, 212, 114), (16, 128, 128),
        ]
        let w = size.width, h = size.height
        func bar(_ x: Int) -> (UInt8, UInt8, UInt8) { bars[min(7, x * 8 / max(w, 1))] }
        switch format {
        case .yuyv:
            var out = [UInt8](repeating: 0, count: bpl * h)
            for y in 0..<h {
                for x in stride(from: 0, to: w - 1, by: 2) {
                    let (yy, cb, cr) = bar(x)
                    let o = y * bpl + x * 2
                    out[o] = yy; out[o + 1] = cb; out[o + 2] = yy; out[o + 3] = cr
                }
            }
            return out
        case .grey:
            var out = [UInt8](repeating: 0, count: bpl * h)
            for y in 0..<h { for x in 0..<w { out[y * bpl + x] = bar(x).0 } }
            return out
        case .nv12:
            var out = [UInt8](repeating: 0, count: bpl * h + bpl * ((h + 1) / 2))
            for y in 0..<h { for x in 0..<w { out[y * bpl + x] = bar(x).0 } }
            for y in 0..<(h + 1) / 2 {
                for x in stride(from: 0, to: w - 1, by: 2) {
                    let (_, cb, cr) = bar(x)
                    out[bpl * h + y * bpl + x] = cb; out[bpl * h + y * bpl + x + 1] = cr
                }
            }
            return out
        default:
            return []
        }
    }

    // MARK: the emulated system calls

    private func fault(_ s: inout State, _ call: Call) -> Errno? {
        guard var list = s.faults[call], !list.isEmpty else { return nil }
        let e = list.removeFirst()
        s.faults[call] = list
        return e ?? nil
    }

    private func open(_ p: String) -> Result<Int32, Errno> {
        withLock { s in
            s.log.append("open \(p)")
            if let e = fault(&s, .open) { return .failure(e) }
            guard p == path else { return .failure(.noSuchFile) }
            if s.unplugged { return .failure(.noSuchDevice) }
            let fd = s.nextFD
            s.nextFD += 1
            s.openFDs.insert(fd)
            return .success(fd)
        }
    }

    private func close(_ fd: Int32) -> Result<Void, Errno> {
        withLock { s in
            s.log.append("close")
            guard s.openFDs.remove(fd) != nil else { return .failure(.badFileDescriptor) }
            if s.openFDs.isEmpty {  // last close: the driver stops streaming and frees buffers
                s.streaming = false
                s.queue = []
                freeBuffers(&s)
            }
            return .success(())
        }
    }

    private func freeBuffers(_ s: inout State) {
        for b in s.buffers {
            if b.mapped > 0 { s.orphans.append(b.memory) } else { b.memory.deallocate() }
        }
        s.buffers = []
    }

    private func mmap(_ fd: Int32, _ length: Int, _ offset: Int64) -> Result<UnsafeMutableRawPointer, Errno> {
        withLock { s in
            s.log.append("mmap")
            if let e = fault(&s, .mmap) { return .failure(e) }
            guard s.openFDs.contains(fd) else { return .failure(.badFileDescriptor) }
            let index = Int(offset / 0x10000)
            guard offset % 0x10000 == 0, index < s.buffers.count, length == s.buffers[index].memory.count else {
                return .failure(.invalidArgument)
            }
            s.buffers[index].mapped += 1
            s.liveMappings += 1
            return .success(s.buffers[index].memory.baseAddress!)
        }
    }

    private func munmap(_ address: UnsafeMutableRawPointer, _ length: Int) -> Result<Void, Errno> {
        withLock { s in
            s.log.append("munmap")
            if let i = s.buffers.firstIndex(where: { $0.memory.baseAddress == address && $0.mapped > 0 }) {
                s.buffers[i].mapped -= 1
            } else if let o = s.orphans.firstIndex(where: { $0.baseAddress == address }) {
                s.orphans.remove(at: o).deallocate()
            } else {
                return .failure(.invalidArgument)
            }
            s.liveMappings -= 1
            return .success(())
        }
    }

    private func poll(_ fd: Int32, _ events: Int16, _ timeout: Int32) -> Result<Int16, Errno> {
        withLock { s in
            if let e = fault(&s, .poll) { return .failure(e) }
            guard s.openFDs.contains(fd) else { return .success(CV4L2_POLLNVAL) }
            if s.unplugged { return .success(CV4L2_POLLERR | CV4L2_POLLHUP) }
            if !s.streaming { return .success(CV4L2_POLLERR) }
            return .success(s.queue.isEmpty ? 0 : CV4L2_POLLIN)  // no queued buffer: a timeout
        }
    }

    private func ioctl(_ fd: Int32, _ req: UInt, _ arg: UnsafeMutableRawPointer) -> Result<Void, Errno> {
        withLock { s in
            s.log.append("ioctl \(Self.name(req))")
            if let e = fault(&s, .ioctl(req)) { return .failure(e) }
            guard s.openFDs.contains(fd) else { return .failure(.badFileDescriptor) }
            if s.unplugged { return .failure(.noSuchDevice) }
            return handle(&s, req, arg)
        }
    }

    static func name(_ req: UInt) -> String {
        switch req {
        case CV4L2_VIDIOC_QUERYCAP: "VIDIOC_QUERYCAP"
        case CV4L2_VIDIOC_ENUM_FMT: "VIDIOC_ENUM_FMT"
        case CV4L2_VIDIOC_ENUM_FRAMESIZES: "VIDIOC_ENUM_FRAMESIZES"
        case CV4L2_VIDIOC_ENUM_FRAMEINTERVALS: "VIDIOC_ENUM_FRAMEINTERVALS"
        case CV4L2_VIDIOC_S_FMT: "VIDIOC_S_FMT"
        case CV4L2_VIDIOC_G_FMT: "VIDIOC_G_FMT"
        case CV4L2_VIDIOC_G_PARM: "VIDIOC_G_PARM"
        case CV4L2_VIDIOC_S_PARM: "VIDIOC_S_PARM"
        case CV4L2_VIDIOC_REQBUFS: "VIDIOC_REQBUFS"
        case CV4L2_VIDIOC_QUERYBUF: "VIDIOC_QUERYBUF"
        case CV4L2_VIDIOC_QBUF: "VIDIOC_QBUF"
        case CV4L2_VIDIOC_DQBUF: "VIDIOC_DQBUF"
        case CV4L2_VIDIOC_STREAMON: "VIDIOC_STREAMON"
        case CV4L2_VIDIOC_STREAMOFF: "VIDIOC_STREAMOFF"
        default: "ioctl \(req)"
        }
    }

    private func option(_ fourcc: UInt32) -> FormatOption? {
        capabilities.formats.first { $0.fourcc == fourcc }
    }

    private func handle(_ s: inout State, _ req: UInt, _ arg: UnsafeMutableRawPointer) -> Result<Void, Errno> {
        switch req {
        case CV4L2_VIDIOC_QUERYCAP:
            let c = arg.assumingMemoryBound(to: v4l2_capability.self)
            c.pointee = v4l2_capability()
            fill(&c.pointee.driver, capabilities.driver)
            fill(&c.pointee.card, capabilities.card)
            fill(&c.pointee.bus_info, capabilities.busInfo)
            c.pointee.device_caps = capabilities.deviceCaps
            c.pointee.capabilities = capabilities.deviceCaps | CV4L2_CAP_DEVICE_CAPS
            return .success(())

        case CV4L2_VIDIOC_ENUM_FMT:
            let d = arg.assumingMemoryBound(to: v4l2_fmtdesc.self)
            let i = Int(d.pointee.index)
            guard i < capabilities.formats.count else { return .failure(.invalidArgument) }
            let f = capabilities.formats[i]
            d.pointee.pixelformat = f.fourcc
            d.pointee.flags = (f.compressed ? CV4L2_FMT_FLAG_COMPRESSED : 0) | (f.emulated ? CV4L2_FMT_FLAG_EMULATED : 0)
            fill(&d.pointee.description, f.description)
            return .success(())

        case CV4L2_VIDIOC_ENUM_FRAMESIZES:
            let e = arg.assumingMemoryBound(to: v4l2_frmsizeenum.self)
            guard let f = option(e.pointee.pixel_format) else { return .failure(.invalidArgument) }
            switch f.sizes {
            case .discrete(let l):
                let i = Int(e.pointee.index)
                guard i < l.count else { return .failure(.invalidArgument) }
                e.pointee.type = CV4L2_FRMSIZE_TYPE_DISCRETE
                e.pointee.discrete.width = UInt32(l[i].size.width)
                e.pointee.discrete.height = UInt32(l[i].size.height)
            case .stepwise(let mn, let mx, let st):
                guard e.pointee.index == 0 else { return .failure(.invalidArgument) }
                e.pointee.type = CV4L2_FRMSIZE_TYPE_STEPWISE
                e.pointee.stepwise = v4l2_frmsize_stepwise(
                    min_width: UInt32(mn.width), max_width: UInt32(mx.width), step_width: UInt32(st.width),
                    min_height: UInt32(mn.height), max_height: UInt32(mx.height), step_height: UInt32(st.height))
            case .unknown:
                return .failure(.invalidArgument)
            }
            return .success(())

        case CV4L2_VIDIOC_ENUM_FRAMEINTERVALS:
            let e = arg.assumingMemoryBound(to: v4l2_frmivalenum.self)
            let size = Size(width: Int(e.pointee.width), height: Int(e.pointee.height))
            guard let f = option(e.pointee.pixel_format), case .discrete(let l) = f.sizes,
                  let opt = l.first(where: { $0.size == size }), case .discrete(let iv) = opt.intervals,
                  Int(e.pointee.index) < iv.count
            else { return .failure(.invalidArgument) }
            e.pointee.type = CV4L2_FRMIVAL_TYPE_DISCRETE
            e.pointee.discrete = v4l2_fract(numerator: iv[Int(e.pointee.index)].numerator, denominator: iv[Int(e.pointee.index)].denominator)
            return .success(())

        case CV4L2_VIDIOC_S_FMT, CV4L2_VIDIOC_G_FMT:
            let f = arg.assumingMemoryBound(to: v4l2_format.self)
            guard f.pointee.type == CV4L2_BUF_TYPE_VIDEO_CAPTURE else { return .failure(.invalidArgument) }
            if req == CV4L2_VIDIOC_S_FMT {
                if s.streaming || !s.buffers.isEmpty { return .failure(.busy) }
                // Like real drivers: an unknown format falls back to the first; a size not
                // offered is adjusted to the nearest offered one.
                let opt = option(f.pointee.fmt.pix.pixelformat) ?? capabilities.formats[0]
                var size = Size(width: Int(f.pointee.fmt.pix.width), height: Int(f.pointee.fmt.pix.height))
                if !opt.sizes.offers(size), let nearest = opt.sizes.listed.min(by: {
                    abs($0.area - size.area) < abs($1.area - size.area)
                }) { size = nearest }
                let format = opt.format
                s.format = (format, size)
                s.bytesPerLine = format == .yuyv ? size.width * 2 : (format == .mjpeg ? 0 : size.width)
                s.sizeImage = format.packedSize(width: size.width, height: size.height) ?? size.width * size.height
                if format == .nv12 { s.sizeImage = s.bytesPerLine * size.height * 3 / 2 }
            }
            guard let (format, size) = s.format else { return .failure(.invalidArgument) }
            f.pointee.fmt.pix.pixelformat = format.fourcc
            f.pointee.fmt.pix.width = UInt32(size.width)
            f.pointee.fmt.pix.height = UInt32(size.height)
            f.pointee.fmt.pix.bytesperline = UInt32(s.bytesPerLine)
            f.pointee.fmt.pix.sizeimage = UInt32(s.sizeImage)
            f.pointee.fmt.pix.field = CV4L2_FIELD_NONE
            return .success(())

        case CV4L2_VIDIOC_G_PARM, CV4L2_VIDIOC_S_PARM:
            let p = arg.assumingMemoryBound(to: v4l2_streamparm.self)
            if req == CV4L2_VIDIOC_S_PARM, let (format, size) = s.format {
                let want = p.pointee.parm.capture.timeperframe
                let wantFPS = Fraction(want.numerator, want.denominator).fps
                if let opt = option(format.fourcc), case .discrete(let l) = opt.sizes,
                   let so = l.first(where: { $0.size == size }), case .discrete(let iv) = so.intervals,
                   let best = iv.min(by: { abs($0.fps - wantFPS) < abs($1.fps - wantFPS) }) {
                    s.interval = best
                }
            }
            p.pointee.parm.capture.capability = CV4L2_CAP_TIMEPERFRAME
            p.pointee.parm.capture.timeperframe = v4l2_fract(numerator: s.interval.numerator, denominator: s.interval.denominator)
            return .success(())

        case CV4L2_VIDIOC_REQBUFS:
            let r = arg.assumingMemoryBound(to: v4l2_requestbuffers.self)
            guard r.pointee.memory == CV4L2_MEMORY_MMAP else { return .failure(.invalidArgument) }
            if s.streaming { return .failure(.busy) }
            s.queue = []
            freeBuffers(&s)
            guard r.pointee.count > 0 else { return .success(()) }
            guard s.format != nil else { return .failure(.invalidArgument) }
            let n = min(Int(r.pointee.count), 8)
            let len = max(s.sizeImage, 4096)
            s.buffers = (0..<n).map { _ in
                let m = UnsafeMutableRawBufferPointer.allocate(byteCount: len, alignment: 4096)
                m.initializeMemory(as: UInt8.self, repeating: 0)
                return Buffer(memory: m)
            }
            r.pointee.count = UInt32(n)
            return .success(())

        case CV4L2_VIDIOC_QUERYBUF, CV4L2_VIDIOC_QBUF:
            let b = arg.assumingMemoryBound(to: v4l2_buffer.self)
            let i = Int(b.pointee.index)
            guard i < s.buffers.count, b.pointee.memory == CV4L2_MEMORY_MMAP else { return .failure(.invalidArgument) }
            if req == CV4L2_VIDIOC_QUERYBUF {
                b.pointee.length = UInt32(s.buffers[i].memory.count)
                b.pointee.m.offset = UInt32(i * 0x10000)
                return .success(())
            }
            guard !s.buffers[i].queued else { return .failure(.invalidArgument) }
            s.buffers[i].queued = true
            s.queue.append(i)
            return .success(())

        case CV4L2_VIDIOC_DQBUF:
            let b = arg.assumingMemoryBound(to: v4l2_buffer.self)
            guard s.streaming else { return .failure(.invalidArgument) }
            guard !s.queue.isEmpty, let (format, size) = s.format else { return .failure(.wouldBlock) }
            let i = s.queue.removeFirst()
            s.buffers[i].queued = false
            let seq = s.sequence
            s.sequence &+= sequenceStride
            let payload = content(seq, format, size, s.bytesPerLine)
            let used = min(payload.count, s.buffers[i].memory.count)
            payload.withUnsafeBytes { src in
                s.buffers[i].memory.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<used]))
            }
            b.pointee.index = UInt32(i)
            b.pointee.bytesused = UInt32(used)
            b.pointee.sequence = seq
            b.pointee.flags = CV4L2_BUF_FLAG_TIMESTAMP_MONOTONIC
            if errorEvery > 0, (Int(seq / sequenceStride) + 1) % errorEvery == 0 { b.pointee.flags |= CV4L2_BUF_FLAG_ERROR }
            let now = MonotonicInstant.now().nanoseconds
            b.pointee.timestamp.tv_sec = Int(now / 1_000_000_000)
            b.pointee.timestamp.tv_usec = Int(now % 1_000_000_000 / 1000)
            return .success(())

        case CV4L2_VIDIOC_STREAMON:
            guard !s.buffers.isEmpty else { return .failure(.invalidArgument) }
            s.streaming = true
            s.streamOnCount += 1
            return .success(())

        case CV4L2_VIDIOC_STREAMOFF:
            s.streaming = false
            s.queue = []
            for i in s.buffers.indices { s.buffers[i].queued = false }
            return .success(())

        default:
            return .failure(.notATTY)
        }
    }

    private func fill<T>(_ field: inout T, _ text: String) {
        withUnsafeMutableBytes(of: &field) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            let bytes = Array(text.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
        }
    }
}
