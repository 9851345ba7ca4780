// The outbox: sealed records waiting for the server, one file each, durable before anything
// reports them as recorded, deleted only after the server acknowledged that id.
//
//   <dir>/<sequence, 20 digits>-<uuid>.hit     a sealed record (mode 0600)
//   <dir>/sequence                              the next sequence number (written before use)
//   <dir>/.tmp-*                                a record being written; removed at open (crash)
//   <dir>/sequence.tmp                          the sequence file being replaced; removed at open
//   <dir>/quarantine/<name>                     an entry refused for upload (a link, not a record,
//                                               or a name that disagrees with its record)
//
// Every file here is opened O_NOFOLLOW and must be a regular file: whoever can write to the
// outbox (the agent's user) must not make a root-run `hits upload` send another file.
//
// Full outbox policy (documented in the README): hits are never dropped. When a new record would
// exceed the capacity, it is first sealed again without its face crop (the crop is optional
// evidence; the hit is not); if it still does not fit, it is refused with `OutboxError.full` —
// the caller raises the fault LED and audits the refusal — and nothing already sealed is
// touched. `health` reports `nearlyFull` from 80 %.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VigilCore
import Watchlist

public struct OutboxItem: Sendable, Equatable {
    public let id: String
    public let sequence: UInt64
    public let path: String
    public let size: Int
}

/// An outbox entry checked for upload (`Outbox.readEntry`).
public struct OutboxEntry: Sendable, Equatable {
    public let item: OutboxItem
    public let record: SealedRecord
    /// The record's own id (UUID text): the one to upload under.
    public var id: String { record.idString }
    public var bytes: [UInt8] { record.bytes }
}

public enum OutboxError: Error, Equatable, CustomStringConvertible {
    case storage(FileError)
    /// An entry that is not a record this outbox wrote (a symbolic link, a FIFO, an unparsable
    /// record, a name that disagrees with the record's own id or sequence): never uploaded; the
    /// caller quarantines it (`Outbox.quarantine`) and goes on with the next.
    case refusedEntry(path: String, reason: String)
    /// Capacity reached: the record was NOT written (the caller must raise a fault).
    case full(capacity: Int, used: Int, needed: Int)
    case corrupt(String)
    case record(HitRecordError)

    public var description: String {
        switch self {
        case .storage(let e): "outbox: \(e)"
        case .refusedEntry(let p, let r): "outbox: \(p): \(r); not uploaded"
        case .full(let c, let u, let n): "outbox full (\(u) of \(c) bytes used, record needs \(n)): hit refused, fault raised"
        case .corrupt(let s): "outbox: \(s)"
        case .record(let e): "outbox: \(e)"
        }
    }
}

public enum OutboxHealth: Sendable, Equatable {
    case ok(used: Int, capacity: Int)
    /// At or above 80 % of the capacity: the uploader is behind (offline?).
    case nearlyFull(used: Int, capacity: Int)
}

public final class Outbox: @unchecked Sendable {
    public let directory: String
    public let capacityBytes: Int
    private let lock = Lock()

    public init(directory: String, capacityBytes: Int) throws(OutboxError) {
        self.directory = directory
        self.capacityBytes = capacityBytes
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .storage(FileError(path: directory, operation: "create directory", errno: .current))
        }
        // A crash mid-write leaves only a temp file: it never became a record, so it is removed.
        // records being written, and the sequence file's own temp file (writeFileAtomically),
        // left by a crash or power cut
        for name in try names() where name.hasPrefix(".tmp-") || name == "sequence.tmp" { unlink(directory + "/" + name) }
    }

    /// Every file name in the outbox directory (records, the sequence file, temp files).
    public func names() throws(OutboxError) -> [String] {
        guard let d = opendir(directory) else { throw .storage(FileError(path: directory, operation: "open directory", errno: .current)) }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if n != "." && n != ".." { out.append(n) }
        }
        return out
    }

    /// Sealed records not yet acknowledged, in sequence order.
    public func pending() throws(OutboxError) -> [OutboxItem] {
        var items: [OutboxItem] = []
        for n in try names() where n.hasSuffix(".hit") {
            let parts = n.dropLast(4).split(separator: "-", maxSplits: 1)
            guard parts.count == 2, let seq = UInt64(parts[0]) else { continue }
            var st = stat()
            // lstat: a link's target is not ours to count (the entry is refused at read)
            guard lstat(directory + "/" + n, &st) == 0 else { continue }
            items.append(OutboxItem(id: String(parts[1]), sequence: seq, path: directory + "/" + n, size: Int(st.st_size)))
        }
        return items.sorted { $0.sequence < $1.sequence }
    }

    public var usedBytes: Int { ((try? pending()) ?? []).reduce(0) { $0 + $1.size } }

    public var health: OutboxHealth {
        let u = usedBytes
        return u * 5 >= capacityBytes * 4 ? .nearlyFull(used: u, capacity: capacityBytes) : .ok(used: u, capacity: capacityBytes)
    }

    /// The raw bytes of an entry: a regular file (no link followed) of at most one record's size.
    public func read(_ item: OutboxItem) throws(OutboxError) -> [UInt8] {
        do { return try readFile(item.path, maximumBytes: ReadLimit.hitRecord, symlinks: .refuse) } catch {
            if error.errno == .noSuchFile { throw .storage(error) }  // acknowledged meanwhile
            throw .refusedEntry(path: item.path, reason: "\(error)")
        }
    }

    /// An entry as the uploader must send it: read as `read` does, parsed, and checked against
    /// its file name. The id to upload under is `entry.id`, the record's own, never the name's:
    /// a record copied under another name must not overwrite that other record on the server.
    public func readEntry(_ item: OutboxItem) throws(OutboxError) -> OutboxEntry {
        let bytes = try read(item)
        let record: SealedRecord
        do throws(HitRecordError) { record = try SealedRecord(parsing: bytes) } catch {
            throw .refusedEntry(path: item.path, reason: "not a sealed record: \(error)")
        }
        guard record.idString == item.id, record.sequence == item.sequence else {
            throw .refusedEntry(path: item.path, reason: "the name says record \(item.id) sequence \(item.sequence), the record is \(record.idString) sequence \(record.sequence)")
        }
        return OutboxEntry(item: item, record: record)
    }

    /// Moves a refused entry (the link itself, never its target) to `<dir>/quarantine/` for the
    /// technician: out of the upload queue, nothing deleted. Returns the new path.
    @discardableResult
    public func quarantine(_ item: OutboxItem) throws(OutboxError) -> String {
        let q = directory + "/quarantine"
        if mkdir(q, 0o700) != 0 && errno != EEXIST {
            throw .storage(FileError(path: q, operation: "create directory", errno: .current))
        }
        let name = item.path.split(separator: "/").last.map(String.init) ?? item.path
        let to = q + "/" + name
        guard rename(item.path, to) == 0 else { throw .storage(FileError(path: item.path, operation: "move to quarantine", errno: .current)) }
        do { try syncDirectory(containing: item.path); try syncDirectory(containing: to) } catch { throw .storage(error) }
        return to
    }

    /// The server acknowledged `item`: delete it durably.
    public func acknowledge(_ item: OutboxItem) throws(OutboxError) {
        guard unlink(item.path) == 0 || errno == ENOENT else { throw .storage(FileError(path: item.path, operation: "delete", errno: .current)) }
        do { try syncDirectory(containing: item.path) } catch { throw .storage(error) }
    }

    /// Writes a sealed record: temp → fsync → rename → fsync directory. Returns only once durable.
    func store(_ r: SealedRecord) throws(OutboxError) -> OutboxItem {
        let used = usedBytes
        guard used + r.bytes.count <= capacityBytes else { throw .full(capacity: capacityBytes, used: used, needed: r.bytes.count) }
        let name = String(repeating: "0", count: max(0, 20 - String(r.sequence).count)) + String(r.sequence) + "-" + r.idString + ".hit"
        let path = directory + "/" + name
        let tmp = directory + "/.tmp-" + name
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .storage(FileError(path: tmp, operation: "create", errno: .current)) }
        var err: Errno?
        r.bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 { if errno == EINTR { continue }; err = .current; return }
                done += n
            }
        }
        if err == nil && fsync(fd) != 0 { err = .current }
        close(fd)
        if let e = err { unlink(tmp); throw .storage(FileError(path: path, operation: "write", errno: e)) }
        guard rename(tmp, path) == 0 else { let e = Errno.current; unlink(tmp); throw .storage(FileError(path: path, operation: "rename", errno: e)) }
        do { try syncDirectory(containing: path) } catch { throw .storage(error) }
        return OutboxItem(id: r.idString, sequence: r.sequence, path: path, size: r.bytes.count)
    }

    /// The next per-device sequence number, persisted before it is used: a crash can leave a gap
    /// in the sequence (visible to the agency), never a repeat.
    func nextSequence() throws(OutboxError) -> UInt64 {
        let path = directory + "/sequence"
        var next: UInt64 = 1
        if access(path, F_OK) == 0 {
            let b: [UInt8]
            do { b = try readFile(path, maximumBytes: ReadLimit.state, symlinks: .refuse) } catch { throw .storage(error) }
            guard let v = UInt64(String(decoding: b, as: UTF8.self).split(separator: "\n").first ?? "") else {
                throw .corrupt("\(path): unreadable sequence")
            }
            next = v
        }
        // Never below what is still pending (e.g. a restored sequence file).
        if let last = try pending().last?.sequence, last >= next { next = last + 1 }
        do { try writeFileAtomically(path, Array("\(next + 1)\n".utf8), mode: 0o600) } catch { throw .storage(error) }
        return next
    }

    /// Seals `body` and stores it. Applies the full-outbox policy (crop dropped first, then refusal).
    public func record(_ body: HitBody, device: DeviceSigningKey, agency: AgencyPublicKey,
                       nowMillis: Int64) throws(OutboxError) -> OutboxItem {
        try lock.withLock { () throws(OutboxError) -> OutboxItem in
            let seq = try nextSequence()
            let id = makeUUIDv7(millis: nowMillis)
            var b = body
            while true {
                let r: SealedRecord
                do throws(HitRecordError) { r = try SealedRecord.seal(b, id: id, sequence: seq, createdMillis: nowMillis, device: device, agency: agency) } catch {
                    throw .record(error)
                }
                do throws(OutboxError) { return try store(r) } catch {
                    if case .full = error, !b.crop.isEmpty { b.crop = []; continue }
                    throw error
                }
            }
        }
    }
}

/// A plain pthread mutex (records may be sealed from the frame path and the console).
final class Lock: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return try body()
    }
}
