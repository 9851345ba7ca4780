#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A POSIX error number, kept as a value so that every I/O error in Vigil can carry the errno
/// that caused it (modelled on swift-system's `Errno`).
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(rawValue: errno) }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let noSuchDevice = Errno(rawValue: ENODEV)
    public static let noSuchDeviceOrAddress = Errno(rawValue: ENXIO)
    public static let ioError = Errno(rawValue: EIO)
    public static let busy = Errno(rawValue: EBUSY)
    public static let noSuchFile = Errno(rawValue: ENOENT)
    public static let permissionDenied = Errno(rawValue: EACCES)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    public static let notATTY = Errno(rawValue: ENOTTY)
    public static let outOfMemory = Errno(rawValue: ENOMEM)
    public static let noSpace = Errno(rawValue: ENOSPC)
    /// A read refused because the file is larger than the reader's limit (`readFile`).
    public static let fileTooLarge = Errno(rawValue: EFBIG)
    public static let isADirectory = Errno(rawValue: EISDIR)
    /// What `open` gives for a symbolic link opened with O_NOFOLLOW.
    public static let tooManySymlinks = Errno(rawValue: ELOOP)

    /// The symbolic name (`ENODEV`) where Vigil knows it, for logs a technician can search for.
    public var name: String {
        switch rawValue {
        case EINTR: "EINTR"
        case ENODEV: "ENODEV"
        case ENXIO: "ENXIO"
        case EIO: "EIO"
        case EBUSY: "EBUSY"
        case ENOENT: "ENOENT"
        case EACCES: "EACCES"
        case EPERM: "EPERM"
        case EINVAL: "EINVAL"
        case EAGAIN: "EAGAIN"
        case EBADF: "EBADF"
        case ENOTTY: "ENOTTY"
        case ENOMEM: "ENOMEM"
        case ENOSPC: "ENOSPC"
        case EPIPE: "EPIPE"
        case ETIMEDOUT: "ETIMEDOUT"
        case EFBIG: "EFBIG"
        case EISDIR: "EISDIR"
        case ELOOP: "ELOOP"
        case EEXIST: "EEXIST"
        default: "errno \(rawValue)"
        }
    }

    public var description: String { "\(name): \(String(cString: strerror(rawValue)))" }
}
