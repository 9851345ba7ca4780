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
/// the file is never readable by others, not even for a moment).
public func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(FileError) {
    let tmp = path + ".tmp"
    unlink(tmp)  // a leftover from a crash may have other permissions
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard fd >= 0 else { throw FileError(path: tmp, operation: "create", errno: .current) }
    var ok = true
    var err = Errno(rawValue: 0)
    bytes.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
            let r = write(fd, raw.baseAddress! + done, raw.count - done)
            if r < 0 {
                if errno == EINTR { continue }
                ok = false; err = .current; return
            }
            done += r
        }
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

/// Reads a whole (small) file: /proc files, saved frames, reference images.
public func readFile(_ path: String) throws(FileError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError(path: path, operation: "open", errno: .current) }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let r = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if r < 0 {
            if errno == EINTR { continue }
            throw FileError(path: path, operation: "read", errno: .current)
        }
        if r == 0 { return out }
        out += buf[0..<r]
    }
}
