// Issue 16 item 8: a flood of PIN attempts cannot push the lockout out of the audit log, and the
// PIN typed at `vigil>` never lands in it.
import Audit
import Console
import Testing
import VigilCore
import VigilTestSupport

@Test func aFloodWhileLockedOutIsOneRecord() throws {
    let rig = try Rig()
    for _ in 0..<5 { rig.type("000000\r") }
    let before = try rig.audit.tail(1000).count
    for _ in 0..<500 { rig.type("111111\r") }   // the serial line flooded while locked
    #expect(try rig.audit.tail(1000).count == before)
    #expect(rig.events().suffix(2) == ["console.login_failed", "console.lockout"])
    rig.clock.advance(by: .seconds(601))
    _ = rig.session.tick(now: rig.clock.now())   // the lockout is over: its refused attempts, once
    let refused = rig.records("console.login_refused")
    #expect(refused.count == 1 && refused[0].contains("\"count\":500"), "\(refused)")
    #expect(rig.type("480213\r").contains("logged in"))
}

@Test func failedLoginsAreSummarisedWhenTheBurstGoesQuiet() throws {
    let rig = try Rig()
    rig.type("000000\r")
    rig.type("000001\r")
    #expect(rig.records("console.login_failed").isEmpty)   // the burst is still going
    rig.clock.advance(by: .seconds(30))
    _ = rig.session.tick(now: rig.clock.now())
    #expect(rig.records("console.login_failed").isEmpty)
    rig.clock.advance(by: .seconds(31))
    _ = rig.session.tick(now: rig.clock.now())
    let failed = rig.records("console.login_failed")
    #expect(failed.count == 1 && failed[0].contains("\"count\":2") && failed[0].contains("\"failures\":2"), "\(failed)")
    // a login ends a burst at once, before its own record
    rig.type("000002\r")
    rig.type("480213\r")
    #expect(rig.events().suffix(2) == ["console.login_failed", "console.login"])
}

@Test func aBurstStillOpenWhenTheSessionEndsIsWritten() throws {
    let rig = try Rig()
    let dir = rig.dir + "/audit"
    do {
        let s = ConsoleSession(pins: FixedPIN(pin: "480213"), backend: FakeBackend(), audit: rig.audit, config: nil, place: "t",
                               now: rig.clock.now())
        _ = s.feed(Array("000000\r000000\r".utf8), now: rig.clock.now())
    }
    let failed = try tailAuditLog(directory: dir, count: 10).filter { $0.contains("console.login_failed") }
    #expect(failed.count == 1 && failed[0].contains("\"count\":2"))
}

@Test func thePINTypedAtThePromptIsNeverLogged() throws {
    let rig = try Rig()
    rig.type("480213\r")
    #expect(rig.session.mode == .shell)
    rig.type("480213\r")                 // the PIN again, by habit
    rig.type("status 9081726354\r")      // or any digits of a PIN's length
    rig.type("audit tail 3\r")
    let all = try rig.audit.tail(1000).joined(separator: "\n")
    #expect(!all.contains("480213") && !all.contains("9081726354"))
    let commands = rig.records("console.command")
    #expect(commands.contains { $0.contains("\"command\":\"***\"") })
    #expect(commands.contains { $0.contains("\"command\":\"status ***\"") })
    #expect(commands.contains { $0.contains("\"command\":\"audit tail 3\"") })   // short numbers stay readable
}
