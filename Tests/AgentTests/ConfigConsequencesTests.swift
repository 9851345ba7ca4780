// Issue 16 items 2 and 3 seen from the agent: a setting that lowers recall shows in health (the
// running agent's and the standalone console's), and every camera name the configuration
// accepts is one a hit record can be sealed with.
import Agent
import Config
import Hits
import Testing
import VigilCore
import VigilTestSupport
import Watchlist

@Suite("What the configuration does downstream")
struct ConfigConsequencesTests {
    func backend(_ doc: ConfigDocument) -> DeviceConsoleBackend {
        DeviceConsoleBackend(config: doc, audit: nil, leds: nil, ledError: nil)
    }

    @Test func aCommitThatLowersRecallShowsInTheAgentsHealth() throws {
        let state = AgentState()
        let old = ConfigDocument.defaults
        let b = backend(old)
        b.agent = state
        var new = old
        try new.set("policy.hit_cooldown_s", text: "900")
        try new.set("detection.min_face_px", text: "80")
        _ = b.configCommitted(new, previous: old)
        let line = state.health.reasons.first { $0.contains("recall lowered by:") }
        #expect(line?.contains("detection.min_face_px=80 (default 40)") == true && line?.contains("policy.hit_cooldown_s=900 (default 300)") == true,
                "\(state.health.reasons)")
        #expect(state.health.level == .degraded)
        // back to the defaults: the reason goes away
        _ = b.configCommitted(old, previous: new)
        #expect(!state.health.reasons.contains { $0.contains("recall lowered") })
    }

    @Test func theStandaloneConsoleShowsLoweredRecallToo() throws {
        var doc = ConfigDocument.defaults
        try doc.set("matching.min_quality", text: "0.7")
        #expect(backend(doc).health().reasons.contains { $0.contains("recall lowered by: matching.min_quality=0.7 (default 0.5)") })
        #expect(!backend(.defaults).health().reasons.contains { $0.contains("recall lowered") })
    }

    /// The sealing end to end: a camera name `config set` takes goes into a hit body that seals.
    @Test func everyCameraNameTheConfigAcceptsSeals() throws {
        var rng = SplitMix64(seed: 3)
        var names = ["cam0", "door\\", "a\"b", String(repeating: "x", count: 255), String(repeating: "x", count: 256), "Tür", "门口",
                     "\u{7F}", "a\u{85}b", String(repeating: "é", count: 100)]
        for _ in 0..<200 {
            let n = 1 + Int(rng.next() % 300)
            names.append(String(decoding: (0..<n).map { _ in UInt8(0x20 + rng.next() % 95) }, as: UTF8.self))
            let scalars = (0..<(1 + Int(rng.next() % 20))).compactMap { _ in Unicode.Scalar(UInt32(0x20 + rng.next() % 0x800)) }
            names.append(String(String.UnicodeScalarView(scalars)))
        }
        var accepted = 0
        for name in names {
            var doc = ConfigDocument.defaults
            guard (try? doc.set("camera.0.name", text: name)) != nil else { continue }
            accepted += 1
            let body = HitBody(captureWallMillis: 1_795_000_000_000, captureMonotonicNanos: 1, cameraID: doc.cameras[0].name, watchlistVersion: 1,
                               entryID: [UInt8](repeating: 1, count: 16), score: 0.95, threshold: 0.93, embedderID: "dlib",
                               quality: 0.9, box: [1, 2, 3, 4], mode: .investigative, auditHead: [UInt8](repeating: 0, count: 32))
            do { _ = try SealedRecord.encodeBody(body) } catch {
                Issue.record("camera name \(name.debugDescription) accepted by the configuration, refused by sealing: \(error)")
            }
        }
        #expect(accepted > 100)
    }
}
