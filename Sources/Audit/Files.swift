// Directory and file plumbing shared by the log, the tail reader and the verifier.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VigilCore

/// The file being appended to.
public let auditCurrentFileName = "audit.log"

/// The signed copy of the newest record beside the log (`AuditCheckpoint`).
public let auditCheckpointFileName = "audit.checkpoint"

/// How far the log is anchored off the device (`AuditLog.noteAnchored`): `anchored <seq>`.
public let auditAnchorFileName = "audit.anchored"

/// The name a full `audit.log` is renamed to: the seq of its first record, at least 12 digits, so
/// the names sort in sequence order and a reader can tell which records a file holds. (Readers
/// sort by the parsed number, so a seq beyond 12 digits keeps its whole value in the name rather
/// than wrapping into a negative number that no reader would list.)
public func auditRotatedFileName(firstSeq: UInt64) -> String {
    "audit-" + zeroPadded(firstSeq, 12) + ".log"
}

/// The first seq a rotated file's name claims, or nil for any other name.
func rotatedFileSeq(_ name: String) -> UInt64? {
    guard name.hasPrefix("audit-"), name.hasSuffix(".log") else { return nil }
    let digits = name.dropFirst(6).dropLast(4)
    guard digits.count >= 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return UInt64(digits)
}

/// The rotated files in `directory`, oldest (lowest first seq) first.
func listRotatedFiles(_ directory: String) throws(AuditError) -> [(name: String, firstSeq: UInt64)] {
    guard let d = opendir(directory) else {
        throw .file(FileError(path: directory, operation: "open directory", errno: .current))
    }
    defer { closedir(d) }
    var out: [(name: String, firstSeq: UInt64)] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if let seq = rotatedFileSeq(name) { out.append((name, seq)) }
    }
    return out.sorted { $0.firstSeq < $1.firstSeq }
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
}

/// The most an audit file may hold when read back: rotation keeps files far smaller (the
/// `audit.max_file_kb` setting is bounded well below this); a larger file is not ours.
let auditFileReadLimit = 64 << 20

/// Reads a file; a missing file is nil (not an error: a fresh log or a rotation in between).
func readIfExists(_ path: String) throws(AuditError) -> [UInt8]? {
    do throws(FileError) {
        // Bounded and never through a link: the audit directory is Vigil's own (issue 16).
        return try readFile(path, maximumBytes: auditFileReadLimit, symlinks: .refuse)
    } catch {
        if error.errno == .noSuchFile { return nil }
        throw .file(error)
    }
}

/// Splits file contents into complete lines (without newlines) and the bytes after the last
/// newline (a partial line, empty when the file ends in a newline).
func splitLines(_ bytes: [UInt8]) -> (lines: [ArraySlice<UInt8>], partial: ArraySlice<UInt8>) {
    var lines: [ArraySlice<UInt8>] = []
    var start = 0
    for (k, b) in bytes.enumerated() where b == 0x0A {
        lines.append(bytes[start..<k])
        start = k + 1
    }
    return (lines, bytes[start...])
}

/// The last `count` complete records of the log in `directory`, oldest first, without opening it
/// for writing (so `vigil audit tail` never repairs or extends a log it is only looking at).
/// A partial last line is not a record and is left out.
public func tailAuditLog(directory: String, count: Int) throws(AuditError) -> [String] {
    guard count >= 0 else { throw .invalidArgument("tail count must not be negative") }
    if count == 0 { return [] }
    var names = try listRotatedFiles(directory).map(\.name)
    names.append(auditCurrentFileName)
    var collected: [[String]] = []  // newest file first
    var have = 0
    for name in names.reversed() {
        guard let bytes = try readIfExists(directory + "/" + name) else { continue }
        let lines = splitLines(bytes).lines
        let take = lines.suffix(count - have).map { String(decoding: $0, as: UTF8.self) }
        collected.append(take)
        have += take.count
        if have >= count { break }
    }
    return collected.reversed().flatMap { $0 }
}
