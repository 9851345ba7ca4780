#if canImport(Glibc)
import Glibc
#endif
import Hits
import Testing
import VigilCore
import Watchlist
import VigilTestSupport

func tempDir() -> String { makeTempDirectory("hits") }

func rmTree(_ path: String) { removeTree(path) }

func sampleBody(_ i: Int, crop: Int = 0) -> HitBody {
    var entry = [UInt8](repeating: 0x42, count: 16)
    entry[0] = UInt8(i & 0xff)
    return HitBody(captureWallMillis: 1_795_000_000_000 + Int64(i), captureMonotonicNanos: 123_456_789, cameraID: "bodycam-7",
                   watchlistVersion: 12, entryID: entry, score: 0.951, threshold: 0.93, embedderID: "dlib_resnet_int8",
                   quality: 0.77, box: [100, 80, 64, 72], mode: .alert, auditHead: [UInt8](repeating: 0x5A, count: 32),
                   crop: (0..<crop).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 0x31) })
}

@Suite("Hit records: sealing, signatures, opening")
struct RecordTests {
    let device = DeviceSigningKey(), agency = AgencyPrivateKey()

    func seal(_ i: Int, crop: Int = 0) throws -> SealedRecord {
        try SealedRecord.seal(sampleBody(i, crop: crop), id: makeUUIDv7(millis: 1_795_000_000_000), sequence: UInt64(i + 1),
                              createdMillis: 1_795_000_000_000, device: device, agency: agency.publicKey)
    }

    @Test func roundTrip() throws {
        let r = try seal(3, crop: 500)
        let parsed = try SealedRecord(parsing: r.bytes)
        #expect(parsed.sequence == 4 && parsed.idString.count == 36)
        let body = try parsed.open(agency: agency, devices: [device.publicKey])
        #expect(body == sampleBody(3, crop: 500))
        // The plaintext is nowhere in the sealed bytes: not the entry id, not the crop.
        #expect(!contains(r.bytes, sampleBody(3).entryID))
        #expect(!contains(r.bytes, Array(sampleBody(3, crop: 500).crop[0..<32])))
    }

    @Test func foreignTamperedAndUnknownRecordsAreRefused() throws {
        let r = try seal(1)
        #expect(throws: HitRecordError.notForThisAgency) { try r.open(agency: AgencyPrivateKey(), devices: [device.publicKey]) }
        do { _ = try r.open(agency: agency, devices: [DeviceSigningKey().publicKey]); Issue.record("opened") } catch {
            if case .unknownDevice = error {} else { Issue.record("\(error)") }
        }
        // Every single flipped byte is caught (parse, signature or decryption), never opened.
        for i in 0..<r.bytes.count {
            var t = r.bytes
            t[i] ^= 0x10
            if let p = try? SealedRecord(parsing: t), (try? p.open(agency: agency, devices: [device.publicKey])) != nil {
                Issue.record("byte \(i) flipped and still opened")
            }
        }
    }

    @Test func recordsFromAnExpiredDeviceKeyAreRefused() throws {
        let r = try seal(5)  // created 1_795_000_000_000 ms
        let ok = try r.open(agency: agency, devices: [(device.publicKey, 1_795_000_000_000)])
        #expect(ok.entryID == sampleBody(5).entryID)
        do { _ = try r.open(agency: agency, devices: [(device.publicKey, 1_794_999_999_999)]); Issue.record("opened") } catch {
            if case .deviceKeyExpired = error {} else { Issue.record("\(error)") }
        }
    }

    @Test func fuzzedRecordsNeverCrash() throws {
        let base = try seal(2, crop: 40).bytes
        var g = SystemRandomNumberGenerator()
        for trial in 0..<3000 {
            var t = base
            switch trial % 4 {
            case 0: for _ in 0..<Int.random(in: 1...6, using: &g) { t[Int.random(in: 0..<t.count, using: &g)] = UInt8.random(in: 0...255, using: &g) }
            case 1: t = Array(t.prefix(Int.random(in: 0..<t.count, using: &g)))
            case 2: t += (0..<Int.random(in: 1...64, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            default: t = (0..<Int.random(in: 0...400, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
                if t.count >= 8 { t.replaceSubrange(0..<8, with: SealedRecord.magic) }
            }
            if let p = try? SealedRecord(parsing: t) { _ = try? p.open(agency: agency, devices: [device.publicKey]) }
        }
    }

    func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= hay.count else { return false }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return true }
        return false
    }
}

@Suite("Outbox")
struct OutboxTests {
    let device = DeviceSigningKey(), agency = AgencyPrivateKey()

    @Test func recordsAreDurableOrderedAndDeletedOnlyWhenAcknowledged() throws {
        let dir = tempDir()
        defer { rmTree(dir) }
        let box = try Outbox(directory: dir, capacityBytes: 1 << 20)
        for i in 0..<5 { _ = try box.record(sampleBody(i, crop: 300), device: device, agency: agency.publicKey, nowMillis: 1_795_000_000_000 + Int64(i)) }
        var items = try box.pending()
        #expect(items.map(\.sequence) == [1, 2, 3, 4, 5])
        try box.acknowledge(items[0])
        items = try box.pending()
        #expect(items.count == 4)
        // A stray temp file (crash mid-write) is removed at the next open; sequence continues.
        try writeFileAtomically(dir + "/.tmp-00000000000000000099-x.hit", [1, 2, 3])
        let again = try Outbox(directory: dir, capacityBytes: 1 << 20)
        let next = try again.record(sampleBody(9), device: device, agency: agency.publicKey, nowMillis: 1_795_000_001_000)
        #expect(next.sequence == 6)
        #expect(try again.pending().count == 5)
        #expect(!(try again.names().contains { $0.hasPrefix(".tmp-") }))
        // Every stored record opens on the agency side, in order, with its crop.
        for (i, it) in try again.pending().enumerated() {
            let body = try SealedRecord(parsing: try again.read(it)).open(agency: agency, devices: [device.publicKey])
            #expect(body.mode == .alert)
            if i < 4 { #expect(body.crop.count == 300) }
        }
    }

    /// Full outbox: the crop goes first; then the hit is refused loudly; nothing sealed is lost.
    @Test func fullOutboxDropsCropThenRefusesWithoutLosingAnything() throws {
        let dir = tempDir()
        defer { rmTree(dir) }
        let one = try SealedRecord.seal(sampleBody(0), id: makeUUIDv7(millis: 1), sequence: 1, createdMillis: 1, device: device, agency: agency.publicKey).bytes.count
        let box = try Outbox(directory: dir, capacityBytes: one * 3 + 100)
        for i in 0..<2 { _ = try box.record(sampleBody(i), device: device, agency: agency.publicKey, nowMillis: 1_795_000_000_000) }
        #expect(box.health == .nearlyFull(used: 2 * one, capacity: one * 3 + 100) || box.health == .ok(used: 2 * one, capacity: one * 3 + 100))
        // with a big crop it would not fit: stored without the crop
        let item = try box.record(sampleBody(2, crop: 4000), device: device, agency: agency.publicKey, nowMillis: 1_795_000_000_000)
        let body = try SealedRecord(parsing: try box.read(item)).open(agency: agency, devices: [device.publicKey])
        #expect(body.crop.isEmpty && body.entryID == sampleBody(2).entryID)
        if case .nearlyFull = box.health {} else { Issue.record("health \(box.health)") }
        do { _ = try box.record(sampleBody(3), device: device, agency: agency.publicKey, nowMillis: 1_795_000_000_000); Issue.record("stored past capacity") } catch {
            if case .full = error {} else { Issue.record("\(error)") }
        }
        #expect(try box.pending().count == 3)
    }

    /// The device keeps no plaintext: after sealing, nothing in the outbox directory contains an
    /// entry id or crop bytes.
    @Test func noPlaintextOnDisk() throws {
        let dir = tempDir()
        defer { rmTree(dir) }
        let box = try Outbox(directory: dir, capacityBytes: 1 << 20)
        for i in 0..<10 { _ = try box.record(sampleBody(i, crop: 200), device: device, agency: agency.publicKey, nowMillis: 1_795_000_000_000) }
        var all: [UInt8] = []
        for n in try box.names() { all += try readFile(dir + "/" + n) }
        let crop = Array(sampleBody(0, crop: 200).crop[0..<24])
        for i in 0..<10 {
            let entry = sampleBody(i).entryID
            #expect(!RecordTests().contains(all, entry), "entry \(i) in plaintext")
        }
        #expect(!RecordTests().contains(all, crop))
        #expect(!RecordTests().contains(all, Array("bodycam-7".utf8)))
    }
}
