#if canImport(Glibc)
import Glibc
#endif
import Audit
import Config
import Console
import Testing
import VigilCore
import VigilTestSupport

func tempDir() -> String { makeTempDirectory("console") }

/// A backend that records which commands reached it.
final class FakeBackend: ConsoleBackend {
    var calls: [String] = []
    func status() -> [String] { calls.append("status"); return ["health: ok"] }
    func cameraList() -> [String] { calls.append("camera list"); return ["cam0"] }
    func cameraTest(_ name: String?) -> [String] { calls.append("camera test \(name ?? "*")"); return ["ok"] }
    func ledTest() -> [String] { calls.append("led test"); return ["done"] }
    func watchlistStatus() -> [String] { calls.append("watchlist status"); return ["v1"] }
    func syncNow() -> [String] { calls.append("sync now"); return ["up to date"] }
    func outboxStatus() -> [String] { calls.append("outbox status"); return ["0"] }
    func keysShow() -> [String] { calls.append("keys show"); return ["SHA256:ab"] }
    func selftest() -> [String] { calls.append("selftest"); return ["ok"] }
    func configCommitted(_ new: ConfigDocument, previous: ConfigDocument) -> [String] { calls.append("committed v\(new.version)"); return [] }
}

struct FixedPIN: PINVerifier {
    let pin: String
    func check(_ p: String) -> PINCheck { p == pin ? .accepted : .wrong }
}

final class Rig {
    let clock = ManualClock()
    let backend = FakeBackend()
    let dir: String
    let audit: AuditLog
    let session: ConsoleSession
    var output: [UInt8] = []
    var configPath: String { dir + "/vigil.toml" }

    init(pins: any PINVerifier = FixedPIN(pin: "480213"), withConfig: Bool = true, dir given: String? = nil) throws {
        dir = given ?? tempDir()
        audit = try AuditLog(directory: dir + "/audit")
        var workspace: ConfigWorkspace?
        if given != nil {
            workspace = try ConfigWorkspace(path: dir + "/vigil.toml")
        } else if withConfig {
            var doc = ConfigDocument.defaults
            try doc.set("camera.0.device", text: "/dev/video0")
            try ConfigStore.save(doc, to: dir + "/vigil.toml")
            workspace = try ConfigWorkspace(path: dir + "/vigil.toml")
        }
        session = ConsoleSession(options: .init(deviceName: "test-device"), pins: pins, backend: backend, audit: audit,
                                 config: workspace, place: "test", now: clock.now())
        output += session.start(now: clock.now())
    }

    /// A second session on the same directory (configuration and audit log), as after a restart.
    convenience init(reusing other: Rig) throws { try self.init(dir: other.dir) }

    /// Types byte by byte, as a serial line delivers them.
    @discardableResult
    func type(_ s: String) -> String { type(Array(s.utf8)) }
    @discardableResult
    func type(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        for b in bytes { out += session.feed([b], now: clock.now()) }
        output += out
        return String(decoding: out, as: UTF8.self)
    }
    /// The records of one event, whole.
    func records(_ event: String) -> [String] {
        ((try? audit.tail(1000)) ?? []).filter { $0.contains("\"event\":\"\(event)\"") }
    }
    func events() -> [String] {
        ((try? audit.tail(1000)) ?? []).compactMap { line in
            guard let r = line.range(of: "\"event\":\"") else { return nil }
            return String(line[r.upperBound...].prefix { $0 != "\"" })
        }
    }
}

@Test func loginHidesThePINAndAuditsIt() throws {
    let rig = try Rig()
    #expect(String(decoding: rig.output, as: UTF8.self).contains("PIN: "))
    let echoed = rig.type("480213")
    #expect(echoed.isEmpty)   // nothing typed at the PIN prompt comes back
    let after = rig.type("\r")
    #expect(after.contains("logged in") && after.hasSuffix("vigil> "))
    #expect(rig.session.mode == .shell)
    #expect(rig.events().contains("console.login"))
    #expect(!((try? rig.audit.tail(100)) ?? []).joined().contains("480213"))  // the PIN is never logged
}

@Test func fiveFailuresLockForTenMinutes() throws {
    let rig = try Rig()
    for i in 1...4 {
        #expect(rig.type("000000\r").contains("\(5 - i) attempts left"))
    }
    let fifth = rig.type("000000\r")
    #expect(fifth.contains("locked after 5 failed logins: try again in 10 min"))
    // even the right PIN is refused while locked
    #expect(rig.type("480213\r").contains("locked"))
    #expect(rig.session.mode == .login)
    rig.clock.advance(by: .seconds(9 * 60 + 30))
    #expect(rig.type("480213\r").contains("try again in 1 min"))
    rig.clock.advance(by: .seconds(31))
    #expect(rig.type("480213\r").contains("logged in"))
    let ev = rig.events()
    // one record for the burst of five (with its count), then the lockout, the refused attempts
    // summarised when the lockout ended, and the login
    #expect(ev.filter { $0 == "console.login_failed" }.count == 1)
    #expect(ev.suffix(4) == ["console.login_failed", "console.lockout", "console.login_refused", "console.login"])
    #expect(rig.records("console.login_failed").first?.contains("\"count\":5") == true)
    #expect(rig.records("console.login_refused").first?.contains("\"count\":2") == true)
}

@Test func aRestartDoesNotEndALockout() throws {
    let dir = tempDir()
    let state = dir + "/console.pin.failures"
    func session(_ clock: ManualClock) throws -> ConsoleSession {
        ConsoleSession(pins: FixedPIN(pin: "480213"), backend: FakeBackend(), audit: nil, config: nil, place: "t",
                       now: clock.now(), lockStatePath: state)
    }
    let clock = ManualClock()
    var s = try session(clock)
    for _ in 0..<3 { _ = s.feed(Array("000000\r".utf8), now: clock.now()) }
    s = try session(clock)   // restart: the count carries over
    #expect(s.failures == 3)
    for _ in 0..<2 { _ = s.feed(Array("000000\r".utf8), now: clock.now()) }
    #expect(s.lockedUntil != nil)
    clock.advance(by: .seconds(300))
    s = try session(clock)   // restart while locked: a full lockout again, the right PIN refused
    #expect(String(decoding: s.feed(Array("480213\r".utf8), now: clock.now()), as: UTF8.self).contains("locked"))
    clock.advance(by: .seconds(601))
    #expect(String(decoding: s.feed(Array("480213\r".utf8), now: clock.now()), as: UTF8.self).contains("logged in"))
    #expect(access(state, F_OK) != 0)   // a success clears it
}

@Test func idleLogoutAfterThirtyMinutes() throws {
    let rig = try Rig()
    rig.type("480213\r")
    rig.clock.advance(by: .seconds(29 * 60))
    #expect(rig.session.tick(now: rig.clock.now()).isEmpty)
    rig.type("status\r")   // activity resets the idle timer
    rig.clock.advance(by: .seconds(29 * 60))
    #expect(rig.session.tick(now: rig.clock.now()).isEmpty && rig.session.mode == .shell)
    rig.clock.advance(by: .seconds(61))
    let out = String(decoding: rig.session.tick(now: rig.clock.now()), as: UTF8.self)
    #expect(out.contains("logged out: idle for 30 min") && out.hasSuffix("PIN: "))
    #expect(rig.session.mode == .login)
    #expect(rig.events().last == "console.logout")
}

@Test func lineEditingKeysAndLineEnds() throws {
    let rig = try Rig()
    rig.type("480213\r\n")      // CRLF counts once: no second (empty) login attempt
    #expect(rig.session.failures == 0 && rig.session.mode == .shell)
    rig.type("stax\u{7F}tus\r")     // DEL erases
    rig.type("outbox sta\u{08}\u{08}\u{08}status\n")   // BS, and a bare LF ends a line
    rig.type("keys garbage\u{15}keys show\r\n")         // ^U kills the line
    rig.type("selftest\u{03}")                           // ^C cancels
    rig.type("\u{1B}[A\u{1B}[1;5C\u{1B}OPwatchlist status\r")   // arrow keys, ctrl-arrow, F1: swallowed
    rig.type([0x00, 0x80, 0xFF, 0x07] + Array("camera list\r".utf8))  // noise dropped
    #expect(rig.backend.calls == ["status", "outbox status", "keys show", "watchlist status", "camera list"])
    #expect(rig.session.droppedBytes == 4)
    let echo = rig.type("ab\u{7F}")
    #expect(echo == "ab\u{08} \u{08}")
}

@Test func overlongLinesAreRefusedWhole() throws {
    let rig = try Rig()
    rig.type("480213\r")
    let out = rig.type(String(repeating: "status ", count: 100) + "\r")
    #expect(out.contains("\u{07}") && out.filter { $0 == "\u{07}" }.count == 1)
    #expect(out.contains("line longer than 512 bytes, ignored"))
    #expect(rig.backend.calls.isEmpty)
    // at the PIN prompt an overlong line is a failed attempt, never a crash
    rig.type("logout\r")
    rig.type(String(repeating: "9", count: 2000) + "\r")
    #expect(rig.session.failures == 1)
}

@Test func randomBytesNeverLogInOrCrash() throws {
    let rig = try Rig()
    var state: UInt64 = 99
    var bytes: [UInt8] = []
    for _ in 0..<200_000 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        bytes.append(UInt8(truncatingIfNeeded: state >> 33))
    }
    _ = rig.session.feed(bytes, now: rig.clock.now())
    #expect(rig.session.mode == .login)
    // logged in, garbage runs no command by accident except by spelling one
    rig.clock.advance(by: .seconds(3600))
    rig.type("\u{03}480213\r")
    #expect(rig.session.mode == .shell)
    _ = rig.session.feed(bytes.map { $0 | 0x80 }, now: rig.clock.now())   // only high bytes: all dropped
    #expect(rig.backend.calls.isEmpty)
}

@Test func unknownCommandsAndUsage() throws {
    let rig = try Rig()
    rig.type("480213\r")
    #expect(rig.type("stauts\r").contains("unknown command 'stauts' (did you mean `status`?)"))
    #expect(rig.type("camera\r").contains("usage"))
    #expect(rig.type("audit tail 500\r").contains("1 to 100"))
    #expect(rig.type("config set \"unterminated\r").contains("unbalanced quotes"))
    #expect(rig.type("help\r").contains("config commit"))
    #expect(rig.type("audit tail 3\r").contains("\"event\":\"console.command\""))
}

@Test func configSetDiffCommitRevert() throws {
    let rig = try Rig()
    rig.type("480213\r")
    #expect(rig.type("config get leds.chip\r").contains("leds.chip = gpiochip0"))
    #expect(rig.type("config set leds.chp x\r").contains("did you mean 'leds.chip'"))
    #expect(rig.type("config set leds.status 5000\r").contains("out of range"))
    #expect(rig.type("config set leds.chip vigil-leds\r").contains("staged: leds.chip gpiochip0 → vigil-leds"))
    #expect(rig.type("config set console.idle_logout_min 15\r").contains("2 pending"))
    let diff = rig.type("config diff\r")
    #expect(diff.contains("leds.chip: gpiochip0 → vigil-leds") && diff.contains("console.idle_logout_min: 30 → 15"))
    #expect(rig.type("config show leds\r").contains("* leds.chip = vigil-leds"))
    // nothing on disk yet
    #expect(try ConfigStore.load(rig.configPath).string("leds.chip") == "gpiochip0")
    let commit = rig.type("config commit\r")
    #expect(commit.contains("saved version 2"))
    #expect(rig.backend.calls.last == "committed v2")
    let saved = try ConfigStore.load(rig.configPath)
    #expect(saved.string("leds.chip") == "vigil-leds" && saved.int("console.idle_logout_min") == 15 && saved.version == 2)
    #expect(rig.session.options.idleLogout == .seconds(900))   // the console's own settings apply live
    #expect(try ConfigStore.load(rig.configPath + ".prev").version == 1)
    let changes = ((try? rig.audit.tail(100)) ?? []).filter { $0.contains("\"event\":\"config.change\"") }
    #expect(changes.count == 2)
    #expect(changes.contains { $0.contains("\"key\":\"leds.chip\",\"old\":\"gpiochip0\",\"new\":\"vigil-leds\",\"version\":2") })
    // revert drops staged changes; revert previous stages version 1 again
    rig.type("config set leds.fault 3\r")
    #expect(rig.type("config revert\r").contains("dropped 1"))
    #expect(rig.type("config diff\r").contains("no staged changes"))
    #expect(rig.type("config revert previous\r").contains("2 change(s)"))
    #expect(rig.type("config commit\r").contains("saved version 3"))
    #expect(try ConfigStore.load(rig.configPath).string("leds.chip") == "gpiochip0")
}

@Test func noPINFileMeansNoLogin() throws {
    let dir = tempDir()
    let rig = try Rig(pins: PINFileVerifier(path: dir + "/console.pin"))
    let out = rig.type("123456\r")
    #expect(out.contains("no technician PIN is set"))
    #expect(rig.session.mode == .login)
}

@Test func pinHashIsSaltedSlowAndChecked() throws {
    let dir = tempDir()
    let path = dir + "/console.pin"
    let h = try PINHash.make(pin: "480213", logN: 10)
    try h.save(path)
    let loaded = try PINHash.load(path)
    #expect(loaded == h && loaded.matches("480213") && !loaded.matches("480214"))
    #expect(try PINHash.make(pin: "480213", logN: 10).salt != h.salt)   // salted
    let text = String(decoding: try readFile(path), as: UTF8.self)
    #expect(!text.contains("480213") && text.hasPrefix("vigil-pin-v1 scrypt 10 8 1 "))
    var st = stat()
    stat(path, &st)
    #expect(st.st_mode & 0o777 == 0o600)
    chmod(path, 0o644)
    #expect(throws: PINError.self) { try PINHash.load(path) }
    for weak in ["12345", "111111", "123456", "654321", "12ab56", String(repeating: "1", count: 17)] {
        #expect(throws: PINError.self) { try PINHash.make(pin: weak, logN: 10) }
    }
    let verifier = PINFileVerifier(path: path)
    chmod(path, 0o600)
    #expect(verifier.check("480213") == .accepted && verifier.check("000000") == .wrong)
}

// MARK: a real session over a pty: termios set-up, the serve loop, a technician at the other end

func openPTY() -> (master: Int32, slave: String)? {
    guard let p = try? openPseudoTerminal() else { return nil }
    return (p.master, p.slavePath)
}

/// Reads from the pty master until `needle` shows up (or 10 s pass).
func readUntil(_ fd: Int32, _ needle: String, timeout: Int32 = 10_000) -> String {
    var got: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    var waited: Int32 = 0
    while waited < timeout {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, 100) > 0 {
            let n = read(fd, &buf, buf.count)
            if n > 0 { got += buf[0..<n] }
        } else { waited += 100 }
        if String(decoding: got, as: UTF8.self).contains(needle) { break }
    }
    return String(decoding: got, as: UTF8.self)
}

@Test func endToEndOverAPTY() throws {
    guard let (master, slave) = openPTY() else { Issue.record("no pty"); return }
    defer { close(master) }
    let dir = tempDir()
    try PINHash.make(pin: "731902", logN: 10).save(dir + "/console.pin")
    var doc = ConfigDocument.defaults
    try doc.set("console.pin_file", text: dir + "/console.pin")
    try ConfigStore.save(doc, to: dir + "/vigil.toml")
    let port = try SerialPort(path: slave, baud: 115_200)
    // a second open of the same line is refused as busy
    #expect(throws: SerialError.busy(path: slave)) { try SerialPort(path: slave, baud: 115_200) }
    let audit = try AuditLog(directory: dir + "/audit")
    let backend = FakeBackend()
    let session = ConsoleSession(pins: PINFileVerifier(path: dir + "/console.pin"), backend: backend, audit: audit,
                                 config: try ConfigWorkspace(path: dir + "/vigil.toml"), place: "pty", now: .now())
    let server = ConsoleServer()
    final class Box: @unchecked Sendable { let port: SerialPort; let session: ConsoleSession; init(_ p: SerialPort, _ s: ConsoleSession) { port = p; session = s } }
    let box = Box(port, session)
    // the server on its own thread, as in the agent: a blocking loop must not sit on one of the
    // (few) cooperative threads the parallel tests share
    let thread = spawnThread { server.serve(fd: box.port.fd, session: box.session, pollMilliseconds: 50) }
    #expect(readUntil(master, "PIN: ").contains("Authorised technicians only"))
    _ = write(master, "731902\r", 7)
    #expect(readUntil(master, "vigil> ").contains("logged in"))
    let cmd = "config set console.baud 57600\r"
    _ = write(master, cmd, cmd.utf8.count)
    let staged = readUntil(master, "pending")
    #expect(staged.contains("config set console.baud 57600"))   // our own echo
    #expect(staged.contains("staged: console.baud 115200 → 57600"))
    _ = write(master, "config commit\r", 14)
    #expect(readUntil(master, "vigil> ").contains("saved version 2"))
    _ = write(master, "status\r", 7)
    #expect(readUntil(master, "vigil> ").contains("health: ok"))
    _ = write(master, "logout\r", 7)
    #expect(readUntil(master, "PIN: ").contains("bye"))
    server.stop()
    pthread_join(thread, nil)
    #expect(try ConfigStore.load(dir + "/vigil.toml").int("console.baud") == 57_600)
    #expect(backend.calls == ["committed v2", "status"])
    let report = try verifyAuditLog(directory: dir + "/audit")
    #expect(report.isIntact && report.records >= 5)
}

@Test func serialErrorsNameTheLine() {
    #expect(throws: SerialError.self) { try SerialPort(path: "/dev/ttyNOPE9", baud: 115_200) }
    do { _ = try SerialPort(path: "/dev/ttyNOPE9", baud: 115_200) } catch {
        #expect(error.description.contains("/dev/ttyNOPE9: no such tty"))
    }
    do { _ = try SerialPort(path: "/dev/null", baud: 115_200); Issue.record("opened /dev/null") } catch {
        #expect(error == .notATTY(path: "/dev/null"))
    }
    #expect(throws: SerialError.unsupportedBaud(1234)) { try SerialPort(path: "/dev/null", baud: 1234) }
}

/// Rules across keys are warnings while staging (a setting and the one it needs take two sets)
/// and block the commit until fixed.
@Test func crossKeyRulesBlockTheCommitNotTheSet() throws {
    let rig = try Rig()
    rig.type("480213\r")
    rig.type("config set leds.hit -1\r")
    #expect(rig.type("config set leds.hit_enabled true\r").contains("warning: leds.hit_enabled: the hit LED is enabled but leds.hit names no line (commit refuses until fixed)"))
    let refused = rig.type("config commit\r")
    #expect(refused.contains("names no line") && refused.contains("nothing saved"))
    #expect(try ConfigStore.load(rig.configPath).version == 1)
    #expect(!rig.type("config set leds.hit 2\r").contains("warning"))
    #expect(rig.type("config commit\r").contains("saved version 2"))
}

/// Where hits and lists go, whom the device trusts, where records live and which models run are
/// root's to change, not the console's: a PIN must not be enough to send the agency's hits to
/// another server. Refused at `config set`/`unset` (and audited), and at commit however staged
/// (here: `config revert previous` to a file root has since changed).
@Test func theConsoleCannotRedirectHitsOrChangeTrust() throws {
    let rig = try Rig()
    rig.type("480213\r")
    for (key, value) in [("upload.url", "https://evil.example"), ("upload.ca", "/etc/ssl/certs/ca-certificates.crt"),
                         ("sync.url", "https://evil.example"), ("keys.agency_public", "/tmp/k.pub"),
                         ("models.embedder", "/tmp/m.onnx"), ("storage.audit_keep_files", "1"), ("device.data_dir", "/tmp/d"),
                         ("console.pin_file", "/tmp/pin"), ("console.lockout_failures", "20")] {
        let out = rig.type("config set \(key) \(value)\r")
        #expect(out.contains("error: \(key): changed only by root on the device"), "\(key): \(out)")
    }
    #expect(rig.type("config unset upload.url\r").contains("changed only by root"))
    #expect(rig.type("config diff\r").contains("no staged changes"))
    let refusals = ((try? rig.audit.tail(100)) ?? []).filter { $0.contains("\"event\":\"config.refused\"") }
    #expect(refusals.count == 10)
    // root changes the upload server (provisioning), saving version 2 with version 1 as .prev …
    var doc = try ConfigStore.load(rig.configPath)
    try doc.set("upload.url", text: "https://agency.example")
    try doc.set("upload.ca", text: "/etc/vigil/agency-ca.crt")
    try ConfigStore.save(doc, to: rig.configPath)
    // … a console session started after that cannot stage its way back to the old server
    let rig2 = try Rig(reusing: rig)
    rig2.type("480213\r")
    #expect(rig2.type("config revert previous\r").contains("2 change(s)"))
    let out = rig2.type("config commit\r")
    #expect(out.contains("upload.url: changed only by root") && out.contains("nothing saved"), "\(out)")
    #expect(try ConfigStore.load(rig.configPath).string("upload.url") == "https://agency.example")
    // settings a technician needs stay open (set and unset)
    rig2.type("config revert\r")
    #expect(rig2.type("config unset leds.chip\r").contains("staged: leds.chip unset"))
    rig2.type("config revert\r")
    #expect(rig2.type("config set detection.rate_hz 2.5\r").contains("staged"))
    #expect(rig2.type("config commit\r").contains("saved version"))
}

final class ThreadBody: @unchecked Sendable {
    let run: () -> Void
    init(_ r: @escaping () -> Void) { run = r }
}

func spawnThread(_ body: @escaping () -> Void) -> pthread_t {
    var tid = pthread_t()
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    pthread_create(&tid, nil, { arg in
        Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().run()
        return nil
    }, box)
    return tid
}

/// Alert-mode hits reach a logged-in technician at the next tick, with the half-typed line
/// restored; nobody at the PIN prompt sees them.
@Test func alertsShowOnlyToALoggedInTechnician() throws {
    let notices = ConsoleNotices()
    let clock = ManualClock()
    let s = ConsoleSession(pins: FixedPIN(pin: "480213"), backend: FakeBackend(), audit: nil, config: nil, place: "t",
                           now: clock.now(), notices: notices)
    _ = s.start(now: clock.now())
    notices.post("ALERT: a hit on camera cam0 (record 01a2)")
    #expect(s.tick(now: clock.now()).isEmpty)   // not logged in: dropped
    _ = s.feed(Array("480213\r".utf8), now: clock.now())
    _ = s.feed(Array("sta".utf8), now: clock.now())
    notices.post("ALERT: a hit on camera cam1 (record 01a3)")
    let out = String(decoding: s.tick(now: clock.now()), as: UTF8.self)
    #expect(out.contains("*** ALERT: a hit on camera cam1 (record 01a3)") && out.hasSuffix("vigil> sta"))
    #expect(!out.contains("cam0"))
    #expect(s.tick(now: clock.now()).isEmpty)   // shown once
}
