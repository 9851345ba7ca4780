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
