// The audit log as the device reads it back: a crafted `audit.log` (and `audit.checkpoint`) in its
// directory must give a report or a typed error, never a trap (issue 16: a sequence number of
// 2^64 − 1 crashed `audit verify` and every writer; two bad first lines crashed the writer at open).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Audit
import Crypto

enum FuzzAudit {
    /// One directory for the whole run, emptied before each input (the harness must stay fast).
    nonisolated(unsafe) static var directory: String = {
        var t = Array("/tmp/vigil-fuzz-audit-XXXXXX".utf8CString)
        return t.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }()
    nonisolated(unsafe) static let key = try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 7, count: 32))

    /// Input: the log's bytes, then (after the first NUL, if any) the checkpoint file's.
    static func run(_ bytes: [UInt8]) {
        empty(directory)
        let cut = bytes.firstIndex(of: 0) ?? bytes.endIndex
        put(directory + "/" + auditCurrentFileName, Array(bytes[..<cut]))
        if cut < bytes.endIndex { put(directory + "/" + auditCheckpointFileName, Array(bytes[(cut + 1)...])) }
        if let report = try? verifyAuditLog(directory: directory, devicePublicKey: Array(key.publicKey.rawRepresentation)) {
            note("audit: \(report.records) records, \(report.problems.count) problems")
        }
        _ = try? tailAuditLog(directory: directory, count: 3)
        // the writer opens the same files and appends: what a device does at its next start
        guard let log = try? AuditLog(directory: directory, maxFileBytes: 4096, keepFiles: 2, checkpointKey: key) else { return }
        _ = try? log.append("fuzz.append", [("n", .int(1))])
        _ = log.pressure
        _ = try? log.noteAnchored(through: log.lastSequence)
    }

    static func empty(_ dir: String) {
        guard let d = opendir(dir) else { return }
        defer { closedir(d) }
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if n != "." && n != ".." { unlink(dir + "/" + n) }
        }
    }

    static func put(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        bytes.withUnsafeBytes { b in _ = write(fd, b.baseAddress, b.count) }
        close(fd)
    }
}
