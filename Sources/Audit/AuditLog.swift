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
    }

    public let directory: String
    public let maxFileBytes: Int
    public let keepFiles: Int
    let wallClock: @Sendable () -> (seconds: Int64, nanos: Int32)
    let state: Mutex<State>

    var currentPath: String { directory + "/" + auditCurrentFileName }

    /// Opens (or creates) the log in `directory` (created 0750: records name operators and
    /// watchlist versions, not for every local user). A partial last line, which only a power
    /// cut in the middle of an append can leave, is cut off and an `audit.recovered` record says
    /// how many bytes were dropped, so the loss is itself on the record; the chain continues from
    /// the last complete line.
    /// - Parameters:
    ///   - maxFileBytes: `audit.log` is rotated before an append would make it larger.
    ///   - keepFiles: how many rotated files are kept (the oldest are deleted): the device's
    ///     flash is finite, and the chain still verifies from whatever the oldest kept file is.
    ///   - wallClock: the time written into records (injectable for tests).
    public init(directory: String, maxFileBytes: Int = 1 << 20, keepFiles: Int = 16,
                wallClock: @escaping @Sendable () -> (seconds: Int64, nanos: Int32) = realtimeNow) throws(AuditError) {
        self.directory = directory
        self.maxFileBytes = max(1, maxFileBytes)
        self.keepFiles = max(0, keepFiles)
        self.wallClock = wallClock
        var s = State()
        if let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            do throws(FileError) { try makeDirectories(String(directory[..<slash])) } catch { throw .file(error) }
        }
        if mkdir(directory, 0o750) != 0 && errno != EEXIST {
            throw .file(FileError(path: directory, operation: "create directory", errno: .current))
        }
        s.lockFD = open(directory + "/.lock", O_RDONLY | O_CREAT | O_CLOEXEC, 0o660)
        let lockFD = s.lockFD
        let dropped = try Self.locked(lockFD) { () throws(AuditError) -> Int in try Self.loadHead(directory, &s) }
        state = Mutex(s)
        if dropped > 0 {
            try append("audit.recovered", [("file", .string(auditCurrentFileName)), ("dropped_bytes", .int(Int64(dropped))),
                                           ("reason", "partial last line (interrupted write)")])
        }
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
    /// rotated file when `audit.log` is empty or absent. A partial last line — only a power cut
    /// or a killed writer leaves one — is cut off; returns how many bytes were dropped.
    static func loadHead(_ directory: String, _ s: inout State) throws(AuditError) -> Int {
        if s.fd >= 0 { close(s.fd); s.fd = -1 }
        s.ino = 0; s.fileBytes = 0; s.firstSeqInFile = nil; s.lastSeq = 0; s.lastHash = auditZeroHash
        let path = directory + "/" + auditCurrentFileName
        var dropped = 0
        if let bytes = try readIfExists(path) {
            let (lines, partial) = splitLines(bytes)
            if !partial.isEmpty {
                dropped = partial.count
                try Self.truncate(path, to: bytes.count - partial.count)
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
                s.firstSeqInFile = parseAuditRecord(lines[0]).record?.seq ?? rec.seq - UInt64(lines.count - 1)
            }
        }
        if s.firstSeqInFile == nil {
            // audit.log is empty or absent (fresh log, or a crash right after a rotation): the
            // chain continues from the newest rotated file.
            if let newest = try listRotatedFiles(directory).last {
                let rpath = directory + "/" + newest.name
                let lines = splitLines(try readIfExists(rpath) ?? []).lines
                if let last = lines.last {
                    guard let rec = parseAuditRecord(last).record else {
                        throw .unreadableHead(path: rpath, line: lines.count, reason: parseAuditRecord(last).error)
                    }
                    s.lastSeq = rec.seq
                    s.lastHash = auditLineHash(last)
                }
            }
        }
        return dropped
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
                // another process may have appended or rotated since this one last wrote
                var st = stat()
                let exists = stat(currentPath, &st) == 0
                if !exists || UInt64(st.st_ino) != s.ino || Int(st.st_size) != s.fileBytes {
                    let dropped = try Self.loadHead(directory, &s)
                    if dropped > 0 {
                        try appendLocked(&s, time, "audit.recovered", [("file", .string(auditCurrentFileName)), ("dropped_bytes", .int(Int64(dropped))),
                                                                         ("reason", "partial last line (interrupted write)")])
                    }
                }
                return try appendLocked(&s, time, event, fields)
            }
        }
    }

    /// The append itself, with the mutex and the file lock held.
    @discardableResult
    func appendLocked(_ s: inout State, _ time: String, _ event: String, _ fields: [(String, AuditValue)]) throws(AuditError) -> UInt64 {
        let seq = s.lastSeq + 1
        let line = formatRecord(seq: seq, time: time, monoNanos: MonotonicInstant.now().nanoseconds,
                                event: event, fields: fields, prev: s.lastHash)
        var bytes = Array(line.utf8)
        let hash = auditLineHash(bytes)
        bytes.append(0x0A)
        if s.fileBytes > 0 && s.fileBytes + bytes.count > maxFileBytes { try rotate(&s) }
        if s.fd < 0 { try openCurrent(&s) }
        try writeRecord(&s, bytes)
        s.fileBytes += bytes.count
        if s.firstSeqInFile == nil { s.firstSeqInFile = seq }
        s.lastSeq = seq
        s.lastHash = hash
        return seq
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
    func rotate(_ s: inout State) throws(AuditError) {
        let path = currentPath
        if s.fd >= 0 {
            let r = fsync(s.fd)
            let e = Errno.current
            close(s.fd)
            s.fd = -1
            guard r == 0 else { throw .file(FileError(path: path, operation: "fsync before rotation", errno: e)) }
        }
        let first = s.firstSeqInFile ?? (s.lastSeq + 1)
        let target = directory + "/" + auditRotatedFileName(firstSeq: first)
        guard rename(path, target) == 0 else {
            throw .file(FileError(path: path, operation: "rename to \(target)", errno: .current))
        }
        do throws(FileError) { try syncDirectory(containing: path) } catch { throw .file(error) }
        s.fileBytes = 0
        s.firstSeqInFile = nil
        s.ino = 0
        let rotated = try listRotatedFiles(directory)
        if rotated.count > keepFiles {
            for old in rotated.prefix(rotated.count - keepFiles) {
                let p = directory + "/" + old.name
                guard unlink(p) == 0 || errno == ENOENT else {
                    throw .file(FileError(path: p, operation: "delete old rotated file", errno: .current))
                }
            }
            do throws(FileError) { try syncDirectory(containing: path) } catch { throw .file(error) }
        }
    }
}
