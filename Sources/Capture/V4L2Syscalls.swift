import CV4L2
import VigilCore

#if canImport(Glibc)
import Glibc
#endif

/// The system calls the V4L2 camera makes, as swappable closures.
///
/// Why: the retry, error-mapping and buffer-ownership logic is tested without a kernel by
/// plugging in `FakeV4L2Driver` (VigilTestSupport), which emulates a driver at this ioctl level
/// and injects EINTR, ENODEV, EBUSY; production uses `.libv4l2`. Each closure returns the errno
/// as a value, read right after the call, so nothing can clobber it in between.
public struct V4L2Syscalls: Sendable {
    public var open: @Sendable (_ path: String, _ flags: Int32) -> Result<Int32, Errno>
    public var close: @Sendable (_ fd: Int32) -> Result<Void, Errno>
    public var ioctl: @Sendable (_ fd: Int32, _ request: UInt, _ arg: UnsafeMutableRawPointer) -> Result<Void, Errno>
    public var mmap: @Sendable (_ fd: Int32, _ length: Int, _ offset: Int64) -> Result<UnsafeMutableRawPointer, Errno>
    public var munmap: @Sendable (_ address: UnsafeMutableRawPointer, _ length: Int) -> Result<Void, Errno>
    /// poll(2) on one fd: the returned events, or 0 on timeout.
    public var poll: @Sendable (_ fd: Int32, _ events: Int16, _ timeoutMilliseconds: Int32) -> Result<Int16, Errno>

    public init(
        open: @escaping @Sendable (String, Int32) -> Result<Int32, Errno>,
        close: @escaping @Sendable (Int32) -> Result<Void, Errno>,
        ioctl: @escaping @Sendable (Int32, UInt, UnsafeMutableRawPointer) -> Result<Void, Errno>,
        mmap: @escaping @Sendable (Int32, Int, Int64) -> Result<UnsafeMutableRawPointer, Errno>,
        munmap: @escaping @Sendable (UnsafeMutableRawPointer, Int) -> Result<Void, Errno>,
        poll: @escaping @Sendable (Int32, Int16, Int32) -> Result<Int16, Errno>
    ) {
        self.open = open; self.close = close; self.ioctl = ioctl
        self.mmap = mmap; self.munmap = munmap; self.poll = poll
    }

    /// The real thing: libv4l2's `v4l2_open`/`v4l2_ioctl`/`v4l2_mmap` (which pass native formats
    /// straight through and handle quirky cameras), and poll(2) on the same fd.
    public static let libv4l2 = V4L2Syscalls(
        open: { path, flags in
            quietLibV4L2
            // Plain open + VIDIOC_QUERYCAP first: libv4l2 prints its own complaints to stderr
            // when handed something that is not a V4L2 device, and a technician should see one
            // clear line from Vigil instead.
            let fd = cv4l2_sys_open(path, flags)
            guard fd >= 0 else { return .failure(Errno(rawValue: cv4l2_errno())) }
            var cap = v4l2_capability()
            var r: Int32
            repeat { r = cv4l2_sys_ioctl(fd, CV4L2_VIDIOC_QUERYCAP, &cap) } while r != 0 && cv4l2_errno() == EINTR
            if r != 0 {
                let e = Errno(rawValue: cv4l2_errno())
                _ = cv4l2_sys_close(fd)
                return .failure(e)
            }
            // libv4l2 refuses devices it cannot fully query (e.g. v4l2loopback before a writer
            // has set a format: G_FMT fails). Its calls pass an fd they do not manage straight
            // to the kernel, so the plain fd still works; the device is then used without
            // libv4l2's quirk handling.
            let wrapped = cv4l2_fd_open(fd, 0)
            return .success(wrapped >= 0 ? wrapped : fd)
        },
        close: { fd in
            cv4l2_close(fd) == 0 ? .success(()) : .failure(Errno(rawValue: cv4l2_errno()))
        },
        ioctl: { fd, request, arg in
            cv4l2_ioctl(fd, request, arg) == 0 ? .success(()) : .failure(Errno(rawValue: cv4l2_errno()))
        },
        mmap: { fd, length, offset in
            let p = cv4l2_mmap(length, fd, offset)
            guard let p, p != cv4l2_map_failed() else { return .failure(Errno(rawValue: cv4l2_errno())) }
            return .success(p)
        },
        munmap: { address, length in
            cv4l2_munmap(address, length) == 0 ? .success(()) : .failure(Errno(rawValue: cv4l2_errno()))
        },
        poll: { fd, events, timeout in
            var p = pollfd(fd: fd, events: events, revents: 0)
            let n = CV4L2.poll(&p, 1, timeout)
            if n < 0 { return .failure(Errno(rawValue: cv4l2_errno())) }
            return .success(n == 0 ? 0 : p.revents)
        }
    )
}

/// Sends libv4l2's own stderr messages to /dev/null (or $VIGIL_V4L2_LOG), once per process.
private let quietLibV4L2: Void = {
    let target = getenv("VIGIL_V4L2_LOG").map { String(cString: $0) } ?? "/dev/null"
    cv4l2_redirect_log(target)
}()

extension V4L2Syscalls {
    /// Runs an ioctl, retrying while it fails with EINTR (a signal arrived mid-call; the call
    /// did nothing and must simply be repeated).
    @inline(__always)
    func retryingIoctl(_ fd: Int32, _ request: UInt, _ arg: UnsafeMutableRawPointer) -> Result<Void, Errno> {
        while true {
            let r = ioctl(fd, request, arg)
            if case .failure(.interrupted) = r { continue }
            return r
        }
    }

    /// `retryingIoctl` on a typed struct.
    func ioctl<T>(_ fd: Int32, _ request: UInt, _ value: inout T) -> Result<Void, Errno> {
        withUnsafeMutableBytes(of: &value) { retryingIoctl(fd, request, $0.baseAddress!) }
    }
}
