import Audit
import Crypto
import Foundation
import Hits
import Station
import Testing
import VigilCore
import VigilTestSupport
import Watchlist

/// Decisions through the station's store: the rule in the transaction, signed, audited.
@Suite("Station review desk")
struct ReviewDeskTests {
    let dir = makeTempDirectory("desk")

    func fixture() throws -> (ReviewDesk, StoredHit, String) {
        let store = try StationStore(path: dir + "/station.sqlite")
        let agency = AgencyPrivateKey(), device = DeviceSigningKey()
        let body = HitBody(captureWallMillis: 1_800_000_000_000, captureMonotonicNanos: 1, cameraID: "door", watchlistVersion: 7,
                           entryID: [UInt8](repeating: 0x42, count: 16), score: 0.95, threshold: 0.93, embedderID: "dlib_resnet_int8",
                           quality: 0.8, box: [10, 20, 64, 80], mode: .investigative, auditHead: [UInt8](repeating: 0xA5, count: 32))
        let r = try SealedRecord.seal(body, id: makeUUIDv7(millis: 1_800_000_000_000), sequence: 1, createdMillis: 1_800_000_000_000,
                                      device: device, agency: agency.publicKey)
        mkdir(dir + "/drop", 0o700)
        writeTestFile(dir + "/drop/" + r.idString, r.bytes)
        let ingest = Ingestor(store: store, agency: agency, devices: [RegisteredDevice(name: "cam", key: device.publicKey)],
                              drop: dir + "/drop", archive: dir + "/archive", quarantine: dir + "/quarantine", now: { 1_800_000_100 })
        _ = try ingest.scan()
        let hit = try #require(try store.hits().first)
        let desk = ReviewDesk(store: store, key: Curve25519.Signing.PrivateKey(), audit: try AuditLog(directory: dir + "/audit"))
        return (desk, hit, dir + "/audit")
    }

    func d(_ user: String, _ v: Verdict, kind: ReviewDecision.Kind = .review) -> ReviewDecision {
        ReviewDecision(kind: kind, user: user, verdict: v, reason: "looked", reference: "case 7", time: 1_800_000_200)
    }

    @Test func aVerifiedHitCarriesTwoSignedVerdictsAndEveryDecisionIsAudited() throws {
        let (desk, hit, auditDir) = try fixture()
        #expect(try desk.decide(recordID: hit.recordID, d("ana", .confirm), role: .reviewer) == .awaitingSecond)
        #expect(throws: ReviewError.alreadyDecided(user: "ana")) { try desk.decide(recordID: hit.recordID, d("ana", .confirm), role: .reviewer) }
        #expect(try desk.decide(recordID: hit.recordID, d("ben", .confirm), role: .reviewer) == .verified)
        let stored = try desk.store.decisions(recordID: hit.recordID)
        #expect(stored.count == 2)
        #expect(stored.allSatisfy { ReviewDesk.verify($0, recordSHA256: hit.sha256, publicKey: desk.publicKey) })
        // a decision edited in the database no longer verifies
        var edited = stored[1]
        edited.decision.verdict = .reject
        #expect(!ReviewDesk.verify(edited, recordSHA256: hit.sha256, publicKey: desk.publicKey))
        let report = try verifyAuditLog(directory: auditDir)
        #expect(report.isIntact)
        let lines = try tailAuditLog(directory: auditDir, count: 10).filter { $0.contains("\"station.decision\"") }
        #expect(lines.count == 2 && lines[1].contains("\"state\":\"verified\""))
    }

    @Test func theRuleHoldsAcrossStoreInstances() throws {
        let (desk, hit, _) = try fixture()
        try desk.decide(recordID: hit.recordID, d("ana", .confirm), role: .reviewer)
        // a second station process sharing the database
        let other = ReviewDesk(store: try StationStore(path: dir + "/station.sqlite"), key: Curve25519.Signing.PrivateKey(),
                               audit: try AuditLog(directory: dir + "/audit"))
        #expect(throws: ReviewError.alreadyDecided(user: "ana")) { try other.decide(recordID: hit.recordID, d("ana", .reject), role: .reviewer) }
        #expect(try other.decide(recordID: hit.recordID, d("ben", .reject), role: .reviewer) == .disputed)
        #expect(try desk.decide(recordID: hit.recordID, d("sam", .confirm, kind: .ruling), role: .supervisor) == .ruled(.confirm))
    }

    @Test func noDecisionOnAnUnknownHit() throws {
        let (desk, _, _) = try fixture()
        #expect(throws: (any Error).self) { try desk.decide(recordID: "0190f5a0-0000-7000-8000-000000000009", d("ana", .confirm), role: .reviewer) }
    }
}

@Suite("Station retention job")
struct RetentionJobTests {
    @Test func aRejectedHitLosesItsCropAfterAWeekAndKeepsItsRecordOfDecisions() throws {
        let f = ReviewDeskTests()
        let (desk, hit, auditDir) = try f.fixture()
        try desk.decide(recordID: hit.recordID, f.d("ana", .reject), role: .reviewer)
        try desk.decide(recordID: hit.recordID, f.d("ben", .reject), role: .reviewer)
        let job = RetentionJob(store: desk.store, audit: try AuditLog(directory: auditDir))
        #expect(try job.run(now: 1_800_000_200 + 6 * 86_400).isEmpty)
        #expect(try job.run(now: 1_800_000_200 + 7 * 86_400) == [hit.recordID])
        let after = try #require(try desk.store.hits().first)
        #expect(after.sealed.isEmpty && after.camera == "door")
        #expect(try desk.store.decisions(recordID: hit.recordID).count == 2)
        #expect(try desk.store.purgedAt(recordID: hit.recordID) == 1_800_000_200 + 7 * 86_400)
        #expect(try job.run(now: 1_800_000_200 + 30 * 86_400).isEmpty)  // once
        #expect(try tailAuditLog(directory: auditDir, count: 3).contains { $0.contains("\"station.purge\"") && $0.contains("rejected") })
        #expect(try verifyAuditLog(directory: auditDir).isIntact)
    }

    @Test func aVerifiedHitIsKept() throws {
        let f = ReviewDeskTests()
        let (desk, hit, auditDir) = try f.fixture()
        try desk.decide(recordID: hit.recordID, f.d("ana", .confirm), role: .reviewer)
        try desk.decide(recordID: hit.recordID, f.d("ben", .confirm), role: .reviewer)
        let job = RetentionJob(store: desk.store, audit: try AuditLog(directory: auditDir))
        #expect(try job.run(now: 1_800_000_200 + 3650 * 86_400).isEmpty)
    }
}
