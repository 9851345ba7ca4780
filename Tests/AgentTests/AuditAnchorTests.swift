// Issue 16, item 8: rotation never deletes audit records that have not left the device, the
// pressure that builds up shows in health, and an acknowledged hit record anchors the log
// through the head it carries.
import Agent
import Audit
import HitUpload
import LEDs
import Testing
import VigilCore
import VigilTestSupport

@Suite("Audit anchoring through uploads (issue 16)")
struct AuditAnchorTests {
    @Test func anAcknowledgedRecordAnchorsTheLogThroughTheHeadItCarries() throws {
        let dir = makeTempDirectory("anchor")
        let audit = try AuditLog(directory: dir + "/audit", maxFileBytes: 400, keepFiles: 1)
        for i in 0..<30 { _ = try audit.append("test.filler", [("i", .int(Int64(i)))]) }
        guard case .unanchoredFilesKept = audit.pressure else { Issue.record("no pressure: \(audit.pressure)"); return }

        let state = AgentState()
        let sealedAt = audit.lastSequence
        state.noteSealed(id: "record-a", auditSequence: sealedAt)
        let config = UploadConfig(server: "https://127.0.0.1:1", caFile: dir + "/ca.pem", clientCertificate: nil, clientKey: nil, outbox: dir + "/outbox")
        let service = UploadService(config: config, state: state, audit: audit, log: { _ in }, clock: TestClock())

        var report = UploadReport()
        report.acknowledged = ["record-b"]  // not one this start sealed: anchors nothing
        service.anchorAudit(after: report)
        #expect(audit.anchoredSequence == 0)
        #expect(state.health.reports["audit"]?.level == .degraded)
        #expect(state.health.reports["audit"]?.reason.contains("not yet anchored off the device") == true)

        report.acknowledged = ["record-a"]
        service.anchorAudit(after: report)
        #expect(audit.anchoredSequence == sealedAt)
        // the next rotation prunes what lies at or before the anchor; records written since are
        // not anchored yet, so some pressure may remain, but far less
        guard case .unanchoredFilesKept(let before) = audit.pressure else { Issue.record("\(audit.pressure)"); return }
        for i in 0..<3 { _ = try audit.append("test.filler", [("i", .int(Int64(100 + i)))]) }
        let after: Int
        switch audit.pressure { case .none: after = 0; case .unanchoredFilesKept(let n): after = n }
        #expect(after < before, "kept \(before) → \(after)")
        #expect(try audit.tail(20).contains { $0.contains("\"audit.pruned\"") })
        // and once the newest head is anchored too, the next rotation keeps at most the one file
        // that also holds records written after that head
        state.noteSealed(id: "record-c", auditSequence: audit.lastSequence)
        report.acknowledged = ["record-c"]
        service.anchorAudit(after: report)
        for i in 0..<3 { _ = try audit.append("test.filler", [("i", .int(Int64(200 + i)))]) }
        service.anchorAudit(after: UploadReport())
        #expect(audit.pressure == .none || audit.pressure == .unanchoredFilesKept(1), "\(audit.pressure)")
        #expect(state.anchorable(acknowledged: ["record-a"]) == nil)  // used once
        #expect(try verifyAuditLog(directory: dir + "/audit").problems.isEmpty)
    }
}
