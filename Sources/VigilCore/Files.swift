// Whole-file reads and crash-safe writes, shared by every module that persists something
// (frames, keys, watchlists, state). Typed errors carry the path, the operation and errno.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file-system failure: the path, what was being done, and errno.
public struct FileError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var operation: String
    public var errno: Errno
    public init(path: String, operation: String, errno: Errno) {
        self.path = path; self.operation = operation; self.errno = errno
    }
    public var description: String { "\(path): cannot \(operation): \(errno)" }
}

/// `mkdir -p`.
public func makeDirectories(_ path: String) throws(FileError) {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw FileError(path: current, operation: "create directory", errno: .current)
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, fsyncs, then renames it into place, so a
/// crash or power cut leaves either no file or the whole file, never a partial one.
/// The rename is made durable too: the directory is fsynced after it (a power cut right after
/// the call must not bring the old file back). `mode` is applied at creation (0600 for secrets:
/// the file is never readable by others, not even for a moment). The temporary file is created
/// O_EXCL | O_NOFOLLOW: a link planted under its name is refused, never written through; the
/// rename replaces a link at `path` itself, never its target.
public func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(FileError) {
    var failure: FileError?
    bytes.withUnsafeBytes { raw in
        do throws(FileError) { try writeFileAtomically(path, raw, mode: mode) } catch { failure = error }
    }
    if let failure { throw failure }
}

/// As above, from any contiguous bytes (no copy into an array first).
public func writeFileAtomically(_ path: String, _ raw: UnsafeRawBufferPointer, mode: mode_t = 0o644) throws(FileError) {
    let tmp = path + ".tmp"
    unlink(tmp)  // a leftover from a crash may have other permissions
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
    guard fd >= 0 else { throw FileError(path: tmp, operation: "create", errno: .current) }
    var ok = true
    var err = Errno(rawValue: 0)
    var done = 0
    while done < raw.count {
        let r = write(fd, raw.baseAddress! + done, raw.count - done)
        if r < 0 {
            if errno == EINTR { continue }
            ok = false; err = .current; break
        }
        done += r
    }
    if ok && fsync(fd) != 0 { ok = false; err = .current }
    close(fd)
    guard ok else {
        unlink(tmp)
        throw FileError(path: path, operation: "write", errno: err)
    }
    guard rename(tmp, path) == 0 else {
        let e = Errno.current
        unlink(tmp)
        throw FileError(path: path, operation: "rename into place", errno: e)
    }
    try syncDirectory(containing: path)
}

/// fsyncs the directory holding `path`, so a rename or unlink inside it survives a power cut.
public func syncDirectory(containing path: String) throws(FileError) {
    let dir: String
    if let slash = path.lastIndex(of: "/") { dir = slash == path.startIndex ? "/" : String(path[..<slash]) } else { dir = "." }
    let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError(path: dir, operation: "open directory", errno: .current) }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw FileError(path: dir, operation: "fsync directory", errno: .current) }
}

/// How large a whole-file read may be, named by what is read. Every reader says what it expects,
/// so a wrong path (`/dev/zero`, a disk image, a log that never stops growing) costs at most that
/// much memory and one clear error, never the device (the README promises bounded memory).
/// The limits are generous for the real thing and small for everything else.
public enum ReadLimit {
    /// A configuration file (TOML, the sync and upload key files): the whole schema is a few KiB.
    public static let config = 1 << 20
    /// A key or certificate file (PEM or raw): a CA chain of several certificates fits many times.
    public static let key = 64 << 10
    /// A small state file Vigil writes itself (outbox sequence, rollback state, counters, lockout).
    public static let state = 64 << 10
    /// A sealed hit record: a body of at most 1 MiB (`SealedRecord`) plus envelope and signature.
    public static let hitRecord = 2 << 20
    /// A watchlist bundle: 300,000 entries are 78 MB; 512 MiB is ~2 million entries, more than a
    /// 1 GiB board can match against.
    public static let bundle = 512 << 20
    /// A model file (ONNX, dlib shape predictor): the largest Vigil uses is 22 MB.
    public static let model = 64 << 20
    /// A still photo: more than a 64 Mpx PNG stored uncompressed.
    public static let photo = 512 << 20
    /// A text table for the offline tools (labels, pairs, subject lists).
    public static let table = 64 << 20
    /// Only for the transitional `readFile(_:)` overload: the largest of the kinds above.
    public static let largest = 512 << 20
}

/// Whether the last component of a path may be a symbolic link.
///
/// `.refuse` (O_NOFOLLOW) is for the files in Vigil's own directories (outbox, store, state,
/// keys): whoever can write there (a compromised agent running as `vigil`) must not be able to
/// make a root-run command read or overwrite another file through a link. Paths an operator
/// names on the command line are followed (`.follow`), as every tool does.
public enum SymlinkPolicy: Sendable, Equatable {
    case follow
    case refuse
}

extension FileError {
    /// The size limit was reached: before reading (fstat) or while reading (the file grew).
    /// errno is EFBIG.
    static func tooLarge(_ path: String, limit: Int) -> FileError {
        FileError(path: path, operation: "read (more than \(byteCount(limit)), the limit for this kind of file)", errno: .fileTooLarge)
    }

    /// Not a regular file. errno is EISDIR for a directory, EINVAL for anything else (FIFO,
    /// device, socket): Linux has no EFTYPE, and EINVAL is what read(2) gives for an unsuitable
    /// object; the operation names the kind so the message is clear without the errno.
    static func notRegular(_ path: String, mode: mode_t) -> FileError {
        let kind: String = switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
        return FileError(path: path, operation: "read (\(kind), not a regular file)",
                         errno: mode & S_IFMT == S_IFDIR ? .isADirectory : .invalidArgument)
    }
}

/// "1 MiB", "64 KiB", "100 bytes": limits in messages.
func byteCount(_ n: Int) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
    if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10) KiB" }
    return "\(n) byte\(n == 1 ? "" : "s")"
}

/// A regular file open for reading, checked before a byte is read: the open never blocks
/// (O_NONBLOCK, so a FIFO without a writer is refused instead of waiting forever), anything but a
/// regular file is refused (fstat, on the descriptor actually opened: no check-then-open race),
/// and with `.refuse` a symbolic link is refused (O_NOFOLLOW). The descriptor is closed in deinit.
public final class ReadableFile {
    public let path: String
    /// The size fstat gave at open; the file may still grow or shrink while it is read.
    public let size: Int
    private let fd: Int32

    public init(_ path: String, symlinks: SymlinkPolicy = .follow) throws(FileError) {
        let flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (symlinks == .refuse ? O_NOFOLLOW : 0)
        var fd: Int32
        repeat { fd = open(path, flags) } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            let e = Errno.current
            if e == .tooManySymlinks && symlinks == .refuse {
                throw FileError(path: path, operation: "open (a symbolic link, refused in Vigil's own directories)", errno: e)
            }
            throw FileError(path: path, operation: "open", errno: e)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = Errno.current
            close(fd)
            throw FileError(path: path, operation: "stat", errno: e)
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw .notRegular(path, mode: st.st_mode)
        }
        // blocking reads again (O_NONBLOCK was only for the open)
        let fl = fcntl(fd, F_GETFL)
        if fl >= 0 { _ = fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) }
        self.path = path
        self.fd = fd
        self.size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// Up to `buffer.count` bytes from the current position; 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(FileError) -> Int {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
        while true {
            let r = systemRead(fd, base, buffer.count)
            if r >= 0 { return r }
            if errno != EINTR { throw FileError(path: path, operation: "read", errno: .current) }
        }
    }

    /// The rest of the file in one buffer sized from fstat (no regrowth: a 78 MB watchlist costs
    /// 78 MB, not twice that while it is read). Refused with EFBIG if larger than `maximumBytes`:
    /// by its size before reading, and while reading, so a file that grows (or that fstat sizes
    /// at 0, as /proc does) stops one byte past the limit.
    public func readAll(maximumBytes: Int) throws(FileError) -> [UInt8] {
        let limit = max(0, maximumBytes)
        guard size <= limit else { throw .tooLarge(path, limit: limit) }
        // one byte more than expected, to see the end of file (or growth) without a regrowth
        var out = [UInt8](repeating: 0, count: max(size, 0) + 1)
        var have = 0
        while true {
            if have == out.count {
                guard have <= limit else { throw .tooLarge(path, limit: limit) }
                out += [UInt8](repeating: 0, count: min(limit + 1, max(2 * out.count, 1 << 16)) - out.count)
            }
            let start = have
            var failure: FileError?
            // (withUnsafeMutableBytes rethrows untyped, hence the variable.)
            let r = out.withUnsafeMutableBytes { b -> Int in
                do throws(FileError) { return try read(into: UnsafeMutableRawBufferPointer(rebasing: b[start...])) } catch {
                    failure = error
                    return 0
                }
            }
            if let failure { throw failure }
            if r == 0 { break }
            have += r
        }
        out.removeLast(out.count - have)
        return out
    }
}

/// read(2), named apart from `ReadableFile.read(into:)`.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, buffer, count) }

/// Reads a whole regular file of at most `maximumBytes` (a `ReadLimit`). Refused with a typed
/// FileError, before anything is read where possible: larger than the limit, or grew past it
/// while read (EFBIG); a directory (EISDIR); a FIFO, device or socket (EINVAL; a FIFO never
/// blocks); with `.refuse`, a symbolic link (ELOOP).
public func readFile(_ path: String, maximumBytes: Int, symlinks: SymlinkPolicy = .follow) throws(FileError) -> [UInt8] {
    try ReadableFile(path, symlinks: symlinks).readAll(maximumBytes: maximumBytes)
}

/// Transitional: call sites not yet naming their limit. Already safe against /dev/zero, FIFOs
/// and devices (refused) and bounded at `ReadLimit.largest`; each caller should pass its own
/// `maximumBytes` (the list is in the issue 16 notes), then this overload goes.
public func readFile(_ path: String) throws(FileError) -> [UInt8] {
    try readFile(path, maximumBytes: ReadLimit.largest)
}
