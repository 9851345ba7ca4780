// The append-only, hash-chained audit log. Everything an operator does on the device (console
// logins, config changes, watchlist installs) and everything the agent decides on its own
// (hits, sync results, start/stop) is one record. Each record names the SHA-256 of the one before
// it, so deleting, editing, inserting or reordering records shows up in `verifyAuditLog` even
// though the files are plain text anyone with root can edit; the newest hash is what other
// records (hit records carry it) anchor to, which also pins the tail of the log.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import Synchronization
import VigilCore

/// The current wall-clock time (CLOCK_REALTIME) as seconds and nanoseconds since the epoch.
@Sendable public func realtimeNow() -> (seconds: Int64, nanos: Int32) {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return (Int64(ts.tv_sec), Int32(ts.tv_nsec))
}

/// An append-only audit log in a directory: `audit.log` plus rotated `audit-<first seq>.log`.
/// Thread-safe and process-safe: appends from any thread are serialised by a mutex, and appends
/// from different processes (the agent, and root's `vigil watchlist install --audit-dir …` or a
/// standalone console on the same directory) by an advisory lock on `<dir>/.lock`; under it each
/// writer first re-reads the head if another process appended or rotated since, so sequence
/// numbers stay unique and contiguous and the chain never forks. (Found by the power-cut test:
/// two processes appending to one log interleaved their sequence numbers.)
public final class AuditLog: Sendable {
    struct State {
        var fd: Int32 = -1
        /// The inode of the `audit.log` that `fd` and `fileBytes` describe (0: none yet).
        var ino: UInt64 = 0
        /// `<dir>/.lock`, flock'ed around every append (-1 if it could not be opened).
        var lockFD: Int32 = -1
        var fileBytes = 0
        /// The seq of the first record in the current `audit.log` (names it when it is rotated).
        var firstSeqInFile: UInt64?
        var lastSeq: UInt64 = 0
        var lastHash = auditZeroHash
        /// Rotated files kept beyond `keepFiles` because their records are not anchored off the
        /// device yet (`pressure`).
        var excessFiles = 0
    }

    /// A record the log writes about itself (a repair, a missing checkpoint).
    typealias Note = (event: String, fields: [(String, AuditValue)])

    public let directory: String
    public let maxFileBytes: Int
    public let keepFiles: Int
    let wallClock: @Sendable () -> (seconds: Int64, nanos: Int32)
    let checkpointKey: CheckpointKey?
    let state: Mutex<State>

    var currentPath: String { directory + "/" + auditCurrentFileName }
    var checkpointPath: String { directory + "/" + auditCheckpointFileName }

    /// Opens (or creates) the log in `directory` (created 0750: records name operators and
    /// watchlist versions, not for every local user). A partial last line, which only a power
    /// cut in the middle of an append can leave, is cut off and an `audit.recovered` record says
    /// how many bytes were dropped, so the loss is itself on the record; the chain continues from
    /// the last complete line.
    /// - Parameters:
    ///   - maxFileBytes: `audit.log` is rotated before an append would make it larger.
    ///
    /// The checkpoint (`audit.checkpoint`) is checked first: a tail that was cut or edited since
    /// the last append is refused with `checkpointMismatch` (never chained onto), a last record
    /// lost between the checkpoint and the log is restored from it, and a missing checkpoint (a
    /// log from before checkpoints, or one deleted) is put on the record as
    /// `audit.checkpoint_missing`, which `verifyAuditLog` keeps reporting.
    /// - Parameters:
    ///   - keepFiles: how many rotated files are kept: the device's flash is finite, and the chain
    ///     still verifies from whatever the oldest kept file is. Older files are deleted only once
    ///     their records are anchored off the device (`noteAnchored`); until then they are kept
    ///     and `pressure` says so.
    ///   - wallClock: the time written into records (injectable for tests).
    ///   - checkpointKey: the device's Ed25519 key: checkpoints are signed with it, and a signed
    ///     checkpoint is checked against it at open. nil: unsigned checkpoints (a writer without
    ///     access to the key); `vigil audit verify --device-key` reports those.
    public init(directory: String, maxFileBytes: Int = 1 << 20, keepFiles: Int = 16,
                wallClock: @escaping @Sendable () -> (seconds: Int64, nanos: Int32) = realtimeNow,
                checkpointKey: Curve25519.Signing.PrivateKey? = nil) throws(AuditError) {
        self.directory = directory
        self.maxFileBytes = max(1, maxFileBytes)
        self.keepFiles = max(0, keepFiles)
        self.wallClock = wallClock
        let key = checkpointKey.map(CheckpointKey.init)
        self.checkpointKey = key
        var s = State()
        if let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            do throws(FileError) { try makeDirectories(String(directory[..<slash])) } catch { throw .file(error) }
        }
        if mkdir(directory, 0o750) != 0 && errno != EEXIST {
            throw .file(FileError(path: directory, operation: "create directory", errno: .current))
        }
        s.lockFD = open(directory + "/.lock", O_RDONLY | O_CREAT | O_CLOEXEC, 0o660)
        let lockFD = s.lockFD, keep = self.keepFiles
        let notes: [Note]
        do {
            notes = try Self.locked(lockFD) { () throws(AuditError) -> [Note] in
                try Self.loadHead(directory, &s, key: key, keepFiles: keep)
            }
        } catch {
            // `deinit` does not run for an instance whose properties were never all set: a refused
            // log must not leak its descriptors (found by the audit-log fuzz target: a writer
            // retried on a bad head ran out of file descriptors)
            if s.fd >= 0 { close(s.fd) }
            if s.lockFD >= 0 { close(s.lockFD) }
            throw error
        }
        state = Mutex(s)
        for n in notes { try append(n.event, n.fields) }
        // A writer that cannot append must say so now, not at the first audited action.
        if s.lastSeq == .max { throw .sequenceExhausted(path: currentPath) }
    }

    /// Runs `body` holding the cross-process lock (no lock if the lock file could not be opened:
    /// auditing must not stop because of it).
    static func locked<T>(_ fd: Int32, _ body: () throws(AuditError) -> T) throws(AuditError) -> T {
        if fd >= 0 { while flock(fd, LOCK_EX) != 0 && errno == EINTR {} }
        defer { if fd >= 0 { _ = flock(fd, LOCK_UN) } }
        return try body()
    }

    /// Reads the chain's head from disk into `s` (closing a descriptor that may point at a file
    /// another process rotated away): the last complete line of `audit.log`, or of the newest
    /// rotated file when `audit.log` is empty or absent; then holds it against the checkpoint.
    /// A partial last line — only a power cut or a killed writer leaves one — is cut off. Returns
    /// the records to write about what was found (repairs, a missing checkpoint).
    static func loadHead(_ directory: String, _ s: inout State, key: CheckpointKey?, keepFiles: Int) throws(AuditError) -> [Note] {
        if s.fd >= 0 { close(s.fd); s.fd = -1 }
        s.ino = 0; s.fileBytes = 0; s.firstSeqInFile = nil; s.lastSeq = 0; s.lastHash = auditZeroHash
        let path = directory + "/" + auditCurrentFileName
        var notes: [Note] = []
        var empty = true
        if let bytes = try readIfExists(path) {
            let (lines, partial) = splitLines(bytes)
            if !partial.isEmpty {
                try Self.truncate(path, to: bytes.count - partial.count)
                notes.append(("audit.recovered", [("file", .string(auditCurrentFileName)), ("dropped_bytes", .int(Int64(partial.count))),
                                                  ("reason", "partial last line (interrupted write)")]))
            }
            s.fileBytes = bytes.count - partial.count
            var st = stat()
            if stat(path, &st) == 0 { s.ino = UInt64(st.st_ino) }
            if let last = lines.last {
                guard let rec = parseAuditRecord(last).record else {
                    throw .unreadableHead(path: path, line: lines.count, reason: parseAuditRecord(last).error)
                }
                s.lastSeq = rec.seq
                s.lastHash = auditLineHash(last)
                empty = false
                // Names the file when it is rotated: its first record's seq, or (the first
                // lines are damaged) the first seq that can be read — never arithmetic on
                // values read from the file, which a crafted line could make wrap.
                s.firstSeqInFile = lines.lazy.compactMap { parseAuditRecord($0).record?.seq }.first ?? rec.seq
            }
        }
        let rotated = try listRotatedFiles(directory)
        s.excessFiles = max(0, rotated.count - keepFiles)
        if s.firstSeqInFile == nil {
            // audit.log is empty or absent (fresh log, or a crash right after a rotation): the
            // chain continues from the newest rotated file.
            if let newest = rotated.last {
                let rpath = directory + "/" + newest.name
                let lines = splitLines(try readIfExists(rpath) ?? []).lines
                if let last = lines.last {
                    guard let rec = parseAuditRecord(last).record else {
                        throw .unreadableHead(path: rpath, line: lines.count, reason: parseAuditRecord(last).error)
                    }
                    s.lastSeq = rec.seq
                    s.lastHash = auditLineHash(last)
                    empty = false
                }
            }
        }
        try checkHead(directory, &s, empty: empty, key: key, notes: &notes)
        return notes
    }

    /// Holds the head in `s` against `audit.checkpoint` (see Checkpoint.swift): refuses a tail
    /// that was cut or edited, restores a last record the checkpoint holds but the log lost.
    static func checkHead(_ directory: String, _ s: inout State, empty: Bool, key: CheckpointKey?, notes: inout [Note]) throws(AuditError) {
        let cpPath = directory + "/" + auditCheckpointFileName
        let (loaded, error) = try AuditCheckpoint.load(directory)
        if let error { throw .checkpointMismatch(path: cpPath, reason: "the checkpoint cannot be read (\(error))") }
        guard let cp = loaded else {
            if !empty {
                notes.append(("audit.checkpoint_missing", [("last_seq", .string(String(s.lastSeq))),
                    ("reason", "no checkpoint beside a non-empty log: the tail before this record is not anchored")]))
            }
            return
        }
        if let key {
            if cp.signature == nil {
                notes.append(("audit.checkpoint_unsigned", [("seq", .string(String(cp.record.seq))),
                    ("reason", "the checkpoint was written without the device key")]))
            } else if !cp.isSigned(by: key.publicKey) {
                throw .checkpointMismatch(path: cpPath, reason: "the checkpoint is not signed by this device's key")
            }
        }
        switch cp.fit(lastSeq: empty ? nil : s.lastSeq, lastHash: empty ? nil : s.lastHash) {
        case .matches: return
        case .mismatch(let why): throw .checkpointMismatch(path: cpPath, reason: why)
        case .oneAhead:
            // The append after the checkpoint never reached the log (a power cut): write it now.
            let path = directory + "/" + auditCurrentFileName
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw .file(FileError(path: path, operation: "open for repair", errno: .current)) }
            defer { close(fd) }
            let bytes = cp.line + [0x0A]
            let r = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard r == bytes.count, fdatasync(fd) == 0 else {
                throw .file(FileError(path: path, operation: "restore the last record", errno: .current))
            }
            var st = stat()
            if fstat(fd, &st) == 0 { s.fileBytes = Int(st.st_size); s.ino = UInt64(st.st_ino) }
            if s.firstSeqInFile == nil { s.firstSeqInFile = cp.record.seq }
            s.lastSeq = cp.record.seq
            s.lastHash = cp.hash
            notes.append(("audit.recovered", [("file", .string(auditCurrentFileName)), ("seq", .string(String(cp.record.seq))),
                                              ("reason", "last record restored from the checkpoint (interrupted write)")]))
        }
    }

    deinit {
        state.withLock { s in
            if s.fd >= 0 { close(s.fd); s.fd = -1 }
            if s.lockFD >= 0 { close(s.lockFD); s.lockFD = -1 }
        }
    }

    /// The seq of the newest record (0 for an empty log).
    public var lastSequence: UInt64 { state.withLock { $0.lastSeq } }

    /// The newest record's seq and the SHA-256 of its line: the head other records (hits) can
    /// carry to pin the log's tail, which the chain alone cannot protect.
    public var head: (sequence: UInt64, hash: [UInt8]) { state.withLock { ($0.lastSeq, $0.lastHash) } }

    /// Whether rotation is holding back files it would delete: the agent shows
    /// `.unanchoredFilesKept` as a health fault (the flash fills until the head goes off the
    /// device, and an operator should know why).
    public var pressure: AuditPressure {
        state.withLock { $0.excessFiles > 0 ? .unanchoredFilesKept($0.excessFiles) : .none }
    }

    /// The seq up to which records are anchored off the device (0: none).
    public var anchoredSequence: UInt64 { readAnchor(directory) }

    /// Says that the head up to `sequence` has left the device (a hit record carrying it was
    /// uploaded, or a technician copied the log off): rotation may delete files whose records
    /// all lie at or before it. Never moves back; refuses a seq the log has not reached (an
    /// anchor beyond the head would let rotation delete what nobody has seen).
    public func noteAnchored(through sequence: UInt64) throws(AuditError) {
        let now = wallClock()
        let time = auditTimestamp(seconds: now.seconds, nanos: now.nanos)
        try state.withLock { (s: inout State) throws(AuditError) in
            try Self.locked(s.lockFD) { () throws(AuditError) in
                try syncWithDisk(&s, time)
                guard sequence <= s.lastSeq else {
                    throw .invalidArgument("cannot anchor seq \(sequence): the log ends at seq \(s.lastSeq)")
                }
                guard sequence > readAnchor(directory) else { return }
                do throws(FileError) {
                    try writeFileAtomically(directory + "/" + auditAnchorFileName, Array("anchored \(sequence)\n".utf8), mode: 0o640)
                } catch { throw .file(error) }
            }
        }
    }

    /// Appends one record and makes it durable before returning (fdatasync): an audited action
    /// must not be able to happen without its record surviving a power cut right after it.
    /// The line goes out in a single `write()` on an O_APPEND descriptor, so a crash leaves at
    /// most one partial last line, which the next open repairs.
    /// - Parameters:
    ///   - event: a short dotted name (`console.login`, `config.change`, `hit`, ...).
    ///   - fields: written in the given order; the log never looks at them. Use `.masked` for
    ///     secrets.
    /// - Returns: the record's sequence number.
    @discardableResult
    public func append(_ event: String, _ fields: [(String, AuditValue)] = []) throws(AuditError) -> UInt64 {
        let now = wallClock()
        let time = auditTimestamp(seconds: now.seconds, nanos: now.nanos)
        return try state.withLock { (s: inout State) throws(AuditError) -> UInt64 in
            try Self.locked(s.lockFD) { () throws(AuditError) -> UInt64 in
                try syncWithDisk(&s, time)
                return try appendLocked(&s, time, event, fields)
            }
        }
    }

    /// Re-reads the head if another process appended or rotated since this one last wrote, and
    /// writes what it found (with the mutex and the file lock held).
    func syncWithDisk(_ s: inout State, _ time: String) throws(AuditError) {
        var st = stat()
        let exists = stat(currentPath, &st) == 0
        guard !exists || UInt64(st.st_ino) != s.ino || Int(st.st_size) != s.fileBytes else { return }
        for n in try Self.loadHead(directory, &s, key: checkpointKey, keepFiles: keepFiles) {
            try appendLocked(&s, time, n.event, n.fields)
        }
    }

    /// The append itself, with the mutex and the file lock held: the checkpoint first, then the
    /// line (see Checkpoint.swift for why in this order).
    @discardableResult
    func appendLocked(_ s: inout State, _ time: String, _ event: String, _ fields: [(String, AuditValue)]) throws(AuditError) -> UInt64 {
        guard s.lastSeq < .max else { throw .sequenceExhausted(path: currentPath) }
        var bytes = line(&s, time, event, fields)
        if s.fileBytes > 0 && s.fileBytes + bytes.count > maxFileBytes {
            let notes = try rotate(&s)
            for n in notes { try appendLocked(&s, time, n.event, n.fields) }
            if !notes.isEmpty { bytes = line(&s, time, event, fields) }
        }
        let seq = s.lastSeq + 1
        var record = bytes
        record.removeLast()
        let hash = auditLineHash(record)
        let checkpoint = try AuditCheckpoint.text(line: record, key: checkpointKey)
        do throws(FileError) { try writeFileAtomically(checkpointPath, checkpoint, mode: 0o640) } catch { throw .file(error) }
        if s.fd < 0 { try openCurrent(&s) }
        try writeRecord(&s, bytes)
        s.fileBytes += bytes.count
        if s.firstSeqInFile == nil { s.firstSeqInFile = seq }
        s.lastSeq = seq
        s.lastHash = hash
        return seq
    }

    /// The next record's line, newline included.
    func line(_ s: inout State, _ time: String, _ event: String, _ fields: [(String, AuditValue)]) -> [UInt8] {
        Array(formatRecord(seq: s.lastSeq + 1, time: time, monoNanos: MonotonicInstant.now().nanoseconds,
                           event: event, fields: fields, prev: s.lastHash).utf8) + [0x0A]
    }

    /// The last `n` records (complete lines, oldest first), across rotated files if needed.
    public func tail(_ n: Int) throws(AuditError) -> [String] {
        // Under the lock so a rotation cannot move a file away between listing and reading.
        try state.withLock { (_: inout State) throws(AuditError) -> [String] in
            try tailAuditLog(directory: directory, count: n)
        }
    }

    // MARK: - internals

    static func truncate(_ path: String, to length: Int) throws(AuditError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .file(FileError(path: path, operation: "open for repair", errno: .current)) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(length)) == 0 else {
            throw .file(FileError(path: path, operation: "truncate partial last line", errno: .current))
        }
        guard fsync(fd) == 0 else { throw .file(FileError(path: path, operation: "fsync", errno: .current)) }
    }

    func openCurrent(_ s: inout State) throws(AuditError) {
        let path = currentPath
        let existed = fileExists(path)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .file(FileError(path: path, operation: "open for append", errno: .current)) }
        var st = stat()
        if fstat(fd, &st) == 0 { s.fileBytes = Int(st.st_size); s.ino = UInt64(st.st_ino) }
        s.fd = fd
        if !existed {
            // The new file's directory entry must survive a power cut as much as its records.
            do throws(FileError) { try syncDirectory(containing: path) } catch { throw .file(error) }
        }
    }

    /// Writes the whole line, then fdatasyncs. If the write fails half-way (ENOSPC), the partial
    /// line is cut off again so the file stays a sequence of complete records.
    func writeRecord(_ s: inout State, _ bytes: [UInt8]) throws(AuditError) {
        var done = 0
        var failure: Errno?
        while done < bytes.count {
            let r = bytes.withUnsafeBytes { write(s.fd, $0.baseAddress! + done, $0.count - done) }
            if r < 0 {
                if errno == EINTR { continue }
                failure = .current
                break
            }
            done += r
        }
        if let failure {
            if done > 0 { _ = ftruncate(s.fd, off_t(s.fileBytes)) }
            throw .file(FileError(path: currentPath, operation: "append record", errno: failure))
        }
        guard fdatasync(s.fd) == 0 else {
            throw .file(FileError(path: currentPath, operation: "fdatasync", errno: .current))
        }
    }

    /// Moves the full `audit.log` aside as `audit-<first seq>.log` and prunes old files. The new
    /// `audit.log` starts empty; its first record's `prev` is the hash of the rotated file's last
    /// line (`lastHash` is simply kept), which carries the chain across files.
    ///
    /// Pruning deletes the oldest files beyond `keepFiles`, but only those whose records are all
    /// anchored off the device (`noteAnchored`); the first file that is not stops it, and is kept
    /// with everything newer (`pressure`). Otherwise flooding the log with cheap records (failed
    /// logins on the serial line) would push the records that matter off the flash. Returns the
    /// records to write first in the new file: `audit.pruned` (which records are gone, so the
    /// verifier can tell pruning from deletion) and `audit.pressure`.
    func rotate(_ s: inout State) throws(AuditError) -> [Note] {
        let path = currentPath
        if s.fd >= 0 {
            let r = fsync(s.fd)
            let e = Errno.current
            close(s.fd)
            s.fd = -1
            guard r == 0 else { throw .file(FileError(path: path, operation: "fsync before rotation", errno: e)) }
        }
        let first = s.firstSeqInFile ?? s.lastSeq
        let target = directory + "/" + auditRotatedFileName(firstSeq: first)
        guard rename(path, target) == 0 else {
            throw .file(FileError(path: path, operation: "rename to \(target)", errno: .current))
        }
        do throws(FileError) { try syncDirectory(containing: path) } catch { throw .file(error) }
        s.fileBytes = 0
        s.firstSeqInFile = nil
        s.ino = 0
        let rotated = try listRotatedFiles(directory)
        guard rotated.count > keepFiles else { s.excessFiles = 0; return [] }
        let anchored = readAnchor(directory)
        var deleted = 0
        for (k, old) in rotated.prefix(rotated.count - keepFiles).enumerated() {
            // the file's last record is the one before the next file's first (or the head)
            let next = k + 1 < rotated.count ? rotated[k + 1].firstSeq : nil
            guard let next, next > 0, next - 1 <= anchored else { break }
            let p = directory + "/" + old.name
            guard unlink(p) == 0 || errno == ENOENT else {
                throw .file(FileError(path: p, operation: "delete old rotated file", errno: .current))
            }
            deleted += 1
        }
        var notes: [Note] = []
        if deleted > 0 {
            do throws(FileError) { try syncDirectory(containing: path) } catch { throw .file(error) }
            // the loop deleted a file only when the one after it exists and starts above 0
            let firstKept = rotated[deleted].firstSeq, through = firstKept - 1
            notes.append(("audit.pruned", [("deleted_files", .int(Int64(deleted))), ("through_seq", .string(String(through))),
                                           ("first_kept_seq", .string(String(firstKept)))]))
        }
        s.excessFiles = max(0, rotated.count - deleted - keepFiles)
        if s.excessFiles > 0 {
            notes.append(("audit.pressure", [("kept_files", .int(Int64(s.excessFiles))), ("anchored_seq", .string(String(anchored))),
                                             ("reason", "rotated files kept beyond the limit: their records are not anchored off the device yet")]))
        }
        return notes
    }
}

/// Whether the log can rotate as configured.
public enum AuditPressure: Equatable, Sendable {
    case none
    /// This many rotated files are kept beyond `keepFiles` because their records are not
    /// anchored off the device: the log grows until the head is (a hit uploaded, or
    /// `vigil audit anchor`).
    case unanchoredFilesKept(Int)
}

/// The anchored seq recorded in `directory` (0 when none, or unreadable: then nothing is
/// deleted, which is the safe side).
func readAnchor(_ directory: String) -> UInt64 {
    guard let bytes = try? readIfExists(directory + "/" + auditAnchorFileName) else { return 0 }
    let text = String(decoding: bytes, as: UTF8.self)
    guard text.hasPrefix("anchored "), text.hasSuffix("\n"), let n = UInt64(text.dropFirst(9).dropLast()) else { return 0 }
    return n
}
