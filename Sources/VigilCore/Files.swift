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
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
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

/// Reads a whole file into one buffer sized from fstat (no regrowth: a 78 MB watchlist costs
/// 78 MB, not twice that while it is read); files that grow while being read are read to EOF.
public func readFile(_ path: String) throws(FileError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError(path: path, operation: "open", errno: .current) }
    defer { close(fd) }
    var st = stat()
    let expected = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : 0
    var out = [UInt8](repeating: 0, count: max(expected, 0))
    var have = 0
    while true {
        if have == out.count { out += [UInt8](repeating: 0, count: max(65536, out.count / 2)) }
        let r = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + have, $0.count - have) }
        if r < 0 {
            if errno == EINTR { continue }
            throw FileError(path: path, operation: "read", errno: .current)
        }
        if r == 0 { break }
        have += r
    }
    out.removeLast(out.count - have)
    return out
}
