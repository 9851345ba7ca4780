// Ingest from the hits drop (the nginx WebDAV root of docs/HITS-SERVER.md): every record is
// verified against the registered device keyring, opened with the agency key, stored sealed, and
// its file moved out of the drop. What fails is quarantined with its reason and never shown as a
// hit (issue 17, item 3).
//
// Crash safety (kill -9 at any point loses nothing, doubles nothing): the database row is written
// first, in one transaction; the file is moved after. A cut between the two leaves a file whose
// id is already stored with the same bytes (`alreadyStored`): the next scan only finishes the move.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import Hits
import VigilCore
import Watchlist

/// A registered device: its name on the station's pages and its signing key. `retiredAt` is the
/// station's time (seconds) at which the key was retired. It is judged by *arrival*: a record
/// arriving later is refused whatever creation time it claims, since whoever holds a stolen key
/// chooses that time (docs/SECURITY.md 4.1).
public struct RegisteredDevice: Sendable {
    public var name: String
    public var key: DevicePublicKey
    public var retiredAt: Int64?
    public init(name: String, key: DevicePublicKey, retiredAt: Int64? = nil) {
        self.name = name; self.key = key; self.retiredAt = retiredAt
    }
}

public struct IngestReport: Sendable, Equatable {
    public var ingested = 0
    /// Files whose record was stored by an earlier scan cut short: moved now, not doubled.
    public var finished = 0
    public var quarantined = 0
    /// Names passed over (temporary uploads, hidden files, links, directories): left in place.
    public var skipped = 0
    public init() {}
}

public struct Ingestor: Sendable {
    public let store: StationStore
    public let agency: AgencyPrivateKey
    public let devices: [RegisteredDevice]
    /// The drop: record files arrive here (nginx writes `<uuid>` files, temp files first).
    public let drop: String
    /// Ingested files are moved here (kept as the evidence they are; the database holds a copy).
    public let archive: String
    /// Refused files are moved here, with their reason in the database.
    public let quarantineDirectory: String
    let now: @Sendable () -> Int64

    public init(store: StationStore, agency: AgencyPrivateKey, devices: [RegisteredDevice], drop: String,
                archive: String, quarantine: String, now: @escaping @Sendable () -> Int64 = { Int64(time(nil)) }) {
        self.store = store; self.agency = agency; self.devices = devices; self.drop = drop
        self.archive = archive; self.quarantineDirectory = quarantine; self.now = now
    }

    /// One pass over the drop.
    public func scan() throws -> IngestReport {
        var report = IngestReport()
        for d in [archive, quarantineDirectory] where mkdir(d, 0o700) != 0 && errno != EEXIST {
            throw FileError(path: d, operation: "create directory", errno: .current)
        }
        let listing = try RecordFileListing.collect([drop])
        report.skipped = listing.skipped.count
        for path in listing.files {
            switch try ingest(path) {
            case .ingested: report.ingested += 1
            case .finished: report.finished += 1
            case .quarantined: report.quarantined += 1
            case .gone: break
            }
        }
        return report
    }

    enum FileOutcome { case ingested, finished, quarantined, gone }

    func ingest(_ path: String) throws -> FileOutcome {
        let name = String(path.split(separator: "/").last ?? "")
        let received = now()
        let bytes: [UInt8]
        do { bytes = try readFile(path, maximumBytes: ReadLimit.hitRecord, symlinks: .refuse) } catch {
            if error.errno == .noSuchFile { return .gone }
            return try refuse(path, name: name, reason: "\(error)", bytes: [], received: received)
        }
        let digest = Watchlist.hex(SHA256.hash(data: bytes))
        // the name nginx accepts is the record's id; anything else is not a record (traversal,
        // another record's name)
        guard isRecordID(name) else {
            return try refuse(path, name: name, reason: "the name is not a record id", bytes: bytes, received: received)
        }
        let record: SealedRecord
        do { record = try SealedRecord(parsing: bytes) } catch {
            return try refuse(path, name: name, reason: "\(error)", bytes: bytes, received: received)
        }
        guard record.idString == name else {
            return try refuse(path, name: name, reason: "stored under \(name) but the record is \(record.idString)", bytes: bytes, received: received)
        }
        guard let device = devices.first(where: { $0.key.keyID == record.deviceKeyID }) else {
            return try refuse(path, name: name, reason: "\(HitRecordError.unknownDevice(keyID: Watchlist.hex(record.deviceKeyID.prefix(8))))", bytes: bytes, received: received)
        }
        let body: HitBody
        do { body = try record.open(agency: agency, devices: [device.key]) } catch {
            return try refuse(path, name: name, reason: "\(error)", bytes: bytes, received: received)
        }
        if let retired = device.retiredAt, received >= retired {
            return try refuse(path, name: name, reason: "device \(device.name)'s key was retired at \(retired); this record arrived at \(received) (judged by arrival, not by the date it claims)", bytes: bytes, received: received)
        }
        let hit = StoredHit(recordID: record.idString, deviceKeyID: Watchlist.hex(record.deviceKeyID), device: device.name,
                            sequence: record.sequence, createdMillis: record.createdMillis, receivedSeconds: received,
                            captureMillis: body.captureWallMillis, clockSynchronized: body.clockSynchronized,
                            camera: body.cameraID, listVersion: body.watchlistVersion, entryID: Watchlist.hex(body.entryID),
                            score: Double(body.score), threshold: Double(body.threshold),
                            estimatedFalseMatchRate: body.estimatedFalseMatchRate, mode: "\(body.mode)", sealed: bytes, sha256: digest)
        switch try store.insert(hit) {
        case .inserted:
            try move(path, to: archive + "/" + name)
            return .ingested
        case .alreadyStored:
            // Our own ingest cut short leaves the file in the drop and none in the archive. The
            // same bytes arriving again after the archive has them is a replay.
            var st = stat()
            if lstat(archive + "/" + name, &st) == 0 {
                return try refuse(path, name: name, reason: "replayed: record \(record.idString) was already received (identical bytes)", bytes: bytes, received: received)
            }
            try move(path, to: archive + "/" + name)
            return .finished
        case .conflicting:
            return try refuse(path, name: name, reason: "replayed: record \(record.idString) or sequence \(record.sequence) of \(device.name) was already received with other bytes", bytes: bytes, received: received)
        }
    }

    /// Quarantines a file: the reason goes to the database first, then the file moves (a cut in
    /// between quarantines it again on the next scan: one more row, nothing lost).
    func refuse(_ path: String, name: String, reason: String, bytes: [UInt8], received: Int64) throws -> FileOutcome {
        let digest = bytes.isEmpty ? "" : Watchlist.hex(SHA256.hash(data: bytes))
        try store.quarantine(QuarantinedRecord(name: TerminalText.safe(name), reason: reason, sha256: digest, receivedSeconds: received))
        // a unique name in quarantine: a second file of the same name must not overwrite the first
        let target = quarantineDirectory + "/" + String(received) + "-" + (digest.isEmpty ? "unread" : String(digest.prefix(16))) + "-" + safeFileName(name)
        try move(path, to: target)
        return .quarantined
    }

    func move(_ from: String, to: String) throws {
        guard rename(from, to) == 0 else {
            if errno == ENOENT { return }  // moved by another scan meanwhile
            throw FileError(path: from, operation: "move to \(to)", errno: .current)
        }
        try syncDirectory(containing: from)
        try syncDirectory(containing: to)
    }
}

/// A name safe to use as one path component: letters, digits, '-', '_', '.', at most 64 bytes.
func safeFileName(_ s: String) -> String {
    let kept = s.utf8.prefix(64).map { c -> UInt8 in
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F ? c : 0x5F
    }
    return kept.isEmpty ? "_" : String(decoding: kept, as: UTF8.self)
}
