#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Hits
import Station
import Testing
import VigilCore
import VigilTestSupport
import Watchlist

/// Ingest from a hits drop into the station's SQLite store (issue 17, item 3).
@Suite("Station ingest")
struct IngestTests {
    let dir = makeTempDirectory("ingest")
    let agency = AgencyPrivateKey()
    let device = DeviceSigningKey()
    static let crop = [UInt8](repeating: 0, count: 0) + Array(String(repeating: "FACE-CROP-PIXELS:", count: 200).utf8)
    var drop: String { dir + "/drop" }
    var clock: @Sendable () -> Int64 { { 1_800_000_100 } }

    init() { mkdir(dir + "/drop", 0o700) }

    func store() throws -> StationStore { try StationStore(path: dir + "/station.sqlite") }

    func ingestor(_ s: StationStore, devices: [RegisteredDevice]? = nil, now: @escaping @Sendable () -> Int64 = { 1_800_000_100 }) -> Ingestor {
        Ingestor(store: s, agency: agency, devices: devices ?? [RegisteredDevice(name: "cam-north", key: device.publicKey)],
                 drop: drop, archive: dir + "/archive", quarantine: dir + "/quarantine", now: now)
    }

    func seal(_ seq: UInt64, device d: DeviceSigningKey? = nil, agency a: AgencyPublicKey? = nil) throws -> SealedRecord {
        let body = HitBody(captureWallMillis: 1_800_000_000_000 + Int64(seq), captureMonotonicNanos: seq, cameraID: "door", watchlistVersion: 7,
                           entryID: [UInt8](repeating: 0x42, count: 16), score: 0.95, threshold: 0.93, embedderID: "dlib_resnet_int8",
                           quality: 0.8, box: [10, 20, 64, 80], mode: .investigative, auditHead: [UInt8](repeating: 0xA5, count: 32),
                           crop: Self.crop, clockSynchronized: true, estimatedFalseMatchRate: 1e-4)
        return try SealedRecord.seal(body, id: makeUUIDv7(millis: 1_800_000_000_000 + Int64(seq)), sequence: seq,
                                     createdMillis: 1_800_000_000_000 + Int64(seq), device: d ?? device, agency: a ?? agency.publicKey)
    }

    @discardableResult
    func drop(_ r: SealedRecord, as name: String? = nil, bytes: [UInt8]? = nil) -> String {
        let p = drop + "/" + (name ?? r.idString)
        writeTestFile(p, bytes ?? r.bytes)
        return p
    }

    @Test func goodRecordsAreStoredSealedAndMovedOutOfTheDrop() throws {
        let s = try store()
        let records = try (1...3).map { try seal($0) }
        for r in records { drop(r) }
        let report = try ingestor(s).scan()
        #expect(report.ingested == 3 && report.quarantined == 0)
        let hits = try s.hits()
        #expect(hits.map(\.recordID) == records.map(\.idString))
        #expect(hits[0].device == "cam-north" && hits[0].camera == "door" && hits[0].listVersion == 7)
        #expect(hits[0].clockSynchronized == true && hits[0].estimatedFalseMatchRate == 1e-4)
        #expect(hits[0].sealed == records[0].bytes)
        #expect(try RecordFileListing.collect([drop]).files.isEmpty)
        #expect(try RecordFileListing.collect([dir + "/archive"]).files.count == 3)
        // the crop is nowhere in plaintext: not in the database file nor its WAL
        for f in ["/station.sqlite", "/station.sqlite-wal"] {
            guard let bytes = try? readFile(dir + f, maximumBytes: 64 << 20) else { continue }
            #expect(bytes.withUnsafeBufferPointer { b in Data(b).range(of: Data("FACE-CROP-PIXELS".utf8)) } == nil, "\(f) holds the crop")
        }
    }

    @Test func badRecordsAreQuarantinedWithTheirReason() throws {
        let s = try store()
        let stranger = DeviceSigningKey()
        let one = try seal(1)
        var tampered = one.bytes
        tampered[200] ^= 0x01
        drop(one, bytes: tampered)
        drop(try seal(2, device: stranger))
        drop(try seal(3, agency: AgencyPrivateKey().publicKey))
        let four = try seal(4)
        drop(four, bytes: Array(four.bytes.prefix(100)))
        let other = try seal(5)
        drop(other, as: try seal(6).idString)  // a record under another record's name
        writeTestFile(drop + "/not-a-record.txt", Array("hello".utf8))
        let report = try ingestor(s).scan()
        #expect(report.ingested == 0 && report.quarantined == 6)
        let reasons = try s.quarantined().map(\.reason)
        #expect(reasons.contains { $0.contains("signature does not verify") })
        #expect(reasons.contains { $0.contains("unknown device key") })
        #expect(reasons.contains { $0.contains("not for this agency") || $0.contains("agency") })
        #expect(reasons.contains { $0.contains("truncated") })
        #expect(reasons.contains { $0.contains("but the record is \(other.idString)") })
        #expect(reasons.contains { $0 == "the name is not a record id" })
        #expect(try s.hits().isEmpty)
        #expect(try RecordFileListing.collect([dir + "/quarantine"]).files.count == 6)
    }

    @Test func replaysAreRefusedAcrossRestarts() throws {
        let r = try seal(1)
        do {
            let s = try store()
            drop(r)
            #expect(try ingestor(s).scan().ingested == 1)
        }
        // a new station process, the same file PUT again
        let s = try store()
        drop(r)
        let report = try ingestor(s).scan()
        #expect(report.quarantined == 1 && report.ingested == 0)
        #expect(try s.quarantined().first?.reason.hasPrefix("replayed") == true)
        #expect(try s.hits().count == 1)
        // a re-sealed record under a sequence number already used
        drop(try seal(1))  // same sequence, new id and bytes
        #expect(try ingestor(s).scan().quarantined == 1)
        #expect(try s.hits().count == 1)
    }

    @Test func aCutBetweenStoringAndMovingDoublesNothing() throws {
        let s = try store()
        let r = try seal(1)
        drop(r)
        #expect(try ingestor(s).scan().ingested == 1)
        // as if kill -9 had struck after the row was written and before the move: the file is
        // back in the drop and not in the archive
        #expect(rename(dir + "/archive/" + r.idString, drop + "/" + r.idString) == 0)
        let report = try ingestor(s).scan()
        #expect(report.finished == 1 && report.ingested == 0 && report.quarantined == 0)
        #expect(try s.hits().count == 1)
    }

    @Test func sequenceGapsAreReportedPerDevice() throws {
        let s = try store()
        for q: UInt64 in [1, 2, 5, 9] { drop(try seal(q)) }
        #expect(try ingestor(s).scan().ingested == 4)
        let gaps = try s.sequenceGaps()
        #expect(gaps[Watchlist.hex(device.publicKey.keyID)] == [3...4, 6...8])
    }

    @Test func aRetiredKeyIsJudgedByArrivalNotByTheDateItClaims() throws {
        let s = try store()
        drop(try seal(1))  // created long before the retirement
        let retired = [RegisteredDevice(name: "cam-north", key: device.publicKey, retiredAt: 1_800_000_050)]
        let report = try ingestor(s, devices: retired, now: { 1_800_000_100 }).scan()
        #expect(report.quarantined == 1)
        #expect(try s.quarantined().first?.reason.contains("retired") == true)
        // before the retirement it would have been taken
        drop(try seal(2))
        #expect(try ingestor(s, devices: retired, now: { 1_800_000_000 }).scan().ingested == 1)
    }

    @Test func temporaryAndHiddenFilesAreLeftAlone() throws {
        let s = try store()
        writeTestFile(drop + "/.upload.tmp", [1, 2, 3])
        writeTestFile(drop + "/x.tmp", [1, 2, 3])
        #expect(symlink("/etc/passwd", drop + "/0190f5a0-0000-7000-8000-000000000001") == 0)
        let report = try ingestor(s).scan()
        #expect(report.skipped == 3 && report.ingested == 0 && report.quarantined == 0)
    }
}
