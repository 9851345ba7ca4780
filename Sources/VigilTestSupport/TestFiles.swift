// Temporary directories and deterministic randomness shared by the test targets.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A fresh directory `/tmp/vigil-<prefix>-XXXXXX` (mkdtemp, mode 0700).
public func makeTempDirectory(_ prefix: String = "test") -> String {
    var template = Array("/tmp/vigil-\(prefix)-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}

/// `rm -rf path` (does not follow symlinks).
public func removeTree(_ path: String) {
    guard let d = opendir(path) else { unlink(path); return }
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name == "." || name == ".." { continue }
        let full = path + "/" + name
        var st = stat()
        if lstat(full, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { removeTree(full) } else { unlink(full) }
    }
    closedir(d)
    rmdir(path)
}

/// SplitMix64 for fuzz loops: the generator `SyntheticImages` already ships (same sequence on
/// every machine), under the name the test targets use.
public typealias SplitMix64 = SyntheticImages.PRNG

/// Writes `bytes` to `path` with `mode` (created or truncated); a test's own fixture files.
public func writeTestFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    precondition(fd >= 0, "open \(path)")
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}
