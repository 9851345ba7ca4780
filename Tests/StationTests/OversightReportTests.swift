import Station
import Testing
import VigilCore

@Suite("Oversight report")
struct OversightReportTests {
    func hit(_ id: String, device: String = "cam-north", camera: String = "door", list: UInt64 = 7, at t: Int64) -> StoredHit {
        StoredHit(recordID: id, deviceKeyID: "k-" + device, device: device, sequence: 1, createdMillis: t * 1000, receivedSeconds: t,
                  captureMillis: t * 1000, clockSynchronized: true, camera: camera, listVersion: list, entryID: "e", score: 0.95,
                  threshold: 0.93, estimatedFalseMatchRate: 1e-4, mode: "alert", sealed: [], sha256: "x")
    }
    func d(_ user: String, _ v: Verdict, _ t: Int64, kind: ReviewDecision.Kind = .review) -> ReviewDecision {
        ReviewDecision(kind: kind, user: user, verdict: v, reason: "r", reference: "c", time: t, amends: nil)
    }

    @Test func countsAndTimesToSettle() {
        let t: Int64 = 1_800_000_000
        let hits = [hit("a", at: t), hit("b", at: t + 10), hit("c", camera: "=HYPERLINK(1)", at: t + 20), hit("d", device: "cam-south", list: 8, at: t + 30),
                    hit("e", at: t + 40), hit("old", at: t - 100_000)]
        let decisions: [String: [ReviewDecision]] = [
            "a": [d("ana", .confirm, t + 100), d("ben", .confirm, t + 300)],            // verified after 300 s
            "b": [d("ana", .reject, t + 110), d("ben", .reject, t + 1010)],             // false alert after 1000 s
            "c": [d("ana", .confirm, t + 120), d("ben", .reject, t + 130)],             // disputed
            "d": [d("ana", .confirm, t + 40), d("ben", .reject, t + 50), d("sam", .reject, t + 2030, kind: .ruling)], // ruled after 2000 s
            "e": [d("ana", .confirm, t + 60)],                                          // awaiting second
        ]
        let q = [QuarantinedRecord(name: "x", reason: "replayed: record …", sha256: "", receivedSeconds: t + 5),
                 QuarantinedRecord(name: "y", reason: "device signature does not verify: the record was altered", sha256: "", receivedSeconds: t + 6)]
        let r = OversightReport.make(from: t, to: t + 86_400, hits: hits, decisions: decisions, quarantined: q, gaps: ["k-cam-north": [3...4]])
        #expect(r.total.received == 5 && r.total.reviewed == 5)
        #expect(r.total.verified == 1 && r.total.rejected == 2 && r.total.disputed == 1 && r.total.awaitingSecond == 1)
        #expect(r.total.secondsToSettle.sorted() == [300, 1000, 2000])
        #expect(r.total.medianSecondsToSettle == 1000 && r.total.p90SecondsToSettle == 2000)
        #expect(r.byDevice["cam-south"]?.rejected == 1 && r.byList["v8"]?.received == 1)
        #expect(r.refused == 2 && r.refusedReasons["replayed"] == 1 && r.refusedReasons["device signature does not verify"] == 1)
        let json = r.json.text
        #expect(json.contains("\"sequence_gaps\": {\"k-cam-north\": [\"3-4\"]}"))
        #expect(json.contains("\"rejected_false_alerts\": 2"))
        // a device-chosen camera name cannot become a spreadsheet formula
        #expect(r.csv.contains("camera,cam-north/=HYPERLINK(1)"))
        #expect(r.csv.split(separator: "\n").first?.hasPrefix("scope,name,received") == true)
        #expect(r.csv.contains("total,all,5,5,1,2,0,1,1,0,1000,2000"))
    }
}
