// Errors of the audit log. Every I/O failure carries the path, the operation and errno, because an
// audit log that cannot be written is a reportable fault on a device in the field, and the
// technician needs to know whether it is a full disk (ENOSPC), a read-only mount (EROFS) or worse.
import VigilCore

/// Why the audit log could not be opened, appended to, read or verified.
public enum AuditError: Error, CustomStringConvertible, Equatable {
    /// A file-system call failed (the path, what was being done, errno).
    case file(FileError)
    /// The log's last complete record cannot be parsed, so the sequence number and the chain
    /// cannot be continued. The log refuses to guess: continuing from a made-up head would hide
    /// the damage. Run `vigil audit verify` and move the damaged file aside.
    case unreadableHead(path: String, line: Int, reason: String)
    /// The last record has the largest possible seq (2^64−1: never reached by appending, so
    /// the line was crafted): the log cannot be continued without wrapping the sequence. The
    /// writer refuses rather than start a second chain in the same directory; move the directory
    /// aside (after `vigil audit verify`) and a fresh log starts.
    case sequenceExhausted(path: String)
    /// The log's newest records and its checkpoint (`audit.checkpoint`) disagree: the tail was
    /// cut or edited, or the checkpoint was not signed by this device's key. The writer refuses to
    /// chain new records onto a tail it cannot vouch for.
    case checkpointMismatch(path: String, reason: String)
    /// The caller gave an invalid argument (e.g. a negative count).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .file(let e): "audit: \(e)"
        case .unreadableHead(let path, let line, let reason):
            "audit: \(path):\(line): last record cannot be parsed (\(reason)); cannot continue the chain"
        case .sequenceExhausted(let path):
            "audit: \(path): the last record has seq \(UInt64.max), the largest possible: the log cannot be continued; run `vigil audit verify` and move the directory aside"
        case .checkpointMismatch(let path, let reason):
            "audit: \(path): \(reason); not continuing a chain whose tail cannot be vouched for (run `vigil audit verify`, then move the directory aside)"
        case .invalidArgument(let m): "audit: \(m)"
        }
    }

    /// The errno behind the failure, if it came from the system.
    public var errno: Errno? {
        if case .file(let e) = self { return e.errno }
        return nil
    }
}
