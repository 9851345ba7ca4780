// The console's state machine: bytes in, bytes out, with time passed in by the caller.
//
// A serial line is raw bytes from whatever is on the other end — a technician's terminal, a
// misconfigured baud rate producing noise, a cat walking on a keyboard — so everything a terminal
// would normally do (echo, line editing) is done here, on a strict byte-level grammar:
//   printable ASCII 0x20–0x7E     appended to the line (at most `maxLine` bytes, then refused)
//   BS 0x08 / DEL 0x7F             erase one character
//   ^U 0x15                        erase the line          ^C 0x03   cancel the line
//   CR, LF or CRLF                 end of line (CRLF counts once)
//   ESC sequences (CSI, SS3, 2-byte) swallowed whole (arrow keys do nothing, never reach a command)
//   anything else (other controls, bytes ≥ 0x80) dropped and counted
// Nothing typed at the PIN prompt is echoed. Time is an input (`now`), so the lockout and idle
// logout are tested with a manual clock.
#if canImport(Glibc)
import Glibc
#endif
import Audit
import Synchronization
import Config
import VigilCore

/// What the console needs from the rest of the device. The agent implements it with live state;
/// `vigil console` standalone with what it can read from disk. Every answer is lines of text that
/// is safe to show a technician: implementations never return private keys, hit contents or
/// embeddings (the console has no command that could ask for them).
public protocol ConsoleBackend: AnyObject {
    func status() -> [String]
    func cameraList() -> [String]
    func cameraTest(_ name: String?) -> [String]
    func ledTest() -> [String]
    func watchlistStatus() -> [String]
    func syncNow() -> [String]
    func outboxStatus() -> [String]
    func keysShow() -> [String]
    func selftest() -> [String]
    /// A committed configuration: apply what can be applied live; say what needs a restart.
    func configCommitted(_ new: ConfigDocument, previous: ConfigDocument) -> [String]
}

/// Where PIN checks go (a seam: tests use a cheap scrypt setting or a fixed answer).
public protocol PINVerifier {
    /// nil when the PIN is right, else why it is refused (wrong, or no PIN set).
    func check(_ pin: String) -> PINCheck
}

public enum PINCheck: Equatable, Sendable {
    case accepted
    case wrong
    case unavailable(String)
}

/// Checks against the PIN file, re-read on every attempt (so `set-pin` takes effect at once).
public struct PINFileVerifier: PINVerifier {
    public let path: String
    public init(path: String) { self.path = path }
    public func check(_ pin: String) -> PINCheck {
        do throws(PINError) {
            return try PINHash.load(path).matches(pin) ? .accepted : .wrong
        } catch {
            return .unavailable(error.description)
        }
    }
}

/// The configuration being edited: the active file and the staged changes.
public final class ConfigWorkspace {
    public let path: String
    public private(set) var active: ConfigDocument
    public var staged: ConfigDocument
    public init(path: String) throws(ConfigError) {
        self.path = path
        active = try ConfigStore.load(path)
        staged = active
    }
    public init(path: String, document: ConfigDocument) {
        self.path = path; active = document; staged = document
    }
    public var pending: [(key: String, old: ConfigValue?, new: ConfigValue?)] { active.diff(to: staged) }

    /// Saves the staged document as the new version and makes it active. Refuses staged changes
    /// to keys the console may not change (`ConfigSchema.consoleMayChange`), however they were
    /// staged.
    public func commit() throws(ConfigError) -> (saved: ConfigDocument, previous: ConfigDocument) {
        let blocked = pending.filter { !ConfigSchema.consoleMayChange($0.key) }
        if !blocked.isEmpty {
            throw ConfigError(blocked.map { ConfigIssue(file: path, line: 0, key: $0.key, message: Self.rootOnly) })
        }
        let previous = active
        let saved = try ConfigStore.save(staged, to: path, header: "saved from the console")
        active = saved; staged = saved
        return (saved, previous)
    }
    public func revert() { staged = active }
    static let rootOnly = "changed only by root on the device (`vigil config set`), not over the console: it decides where hits and lists go or what the device trusts"
    /// Stages the previous version (FILE.prev) for review and commit.
    public func stagePrevious() throws(ConfigError) {
        var prev = try ConfigStore.load(path + ".prev")
        prev.file = path
        staged = prev
    }
}

/// Messages for the technician who is logged in (alert-mode hits), posted from any thread and
/// shown by the console's own loop at its next tick. Nothing is shown at the PIN prompt: an alert
/// says *that* a camera produced a hit (record id, camera, time), never who or how close.
public final class ConsoleNotices: Sendable {
    private let queue = Mutex<[String]>([])
    public init() {}
    public func post(_ line: String) {
        queue.withLock { q in
            q.append(String(line.prefix(200)))
            if q.count > 20 { q.removeFirst(q.count - 20) }
        }
    }
    func take() -> [String] { queue.withLock { q in defer { q = [] }; return q } }
}

public final class ConsoleSession {
    public enum Mode: Equatable, Sendable { case login, shell }

    public static let maxLine = 512

    public struct Options: Sendable {
        public var idleLogout: Duration
        public var lockoutFailures: Int
        public var lockoutDuration: Duration
        public var deviceName: String
        public var version: String
        public init(idleLogout: Duration = .seconds(1800), lockoutFailures: Int = 5, lockoutDuration: Duration = .seconds(600),
                    deviceName: String = "vigil-device", version: String = VigilVersion.string) {
            self.idleLogout = idleLogout; self.lockoutFailures = lockoutFailures; self.lockoutDuration = lockoutDuration
            self.deviceName = deviceName; self.version = version
        }
        public init(_ s: ConsoleSettings, deviceName: String) {
            self.init(idleLogout: s.idleLogout, lockoutFailures: s.lockoutFailures, lockoutDuration: s.lockoutDuration, deviceName: deviceName)
        }
    }

    public private(set) var mode: Mode = .login
    public var options: Options
    let pins: any PINVerifier
    let backend: any ConsoleBackend
    let audit: AuditLog?
    public let config: ConfigWorkspace?
    /// Where the session is served ("ttyS1", "pty"): recorded with logins.
    let place: String

    var line: [UInt8] = []
    var overflow = false
    var lastWasCR = false
    enum Escape { case none, start, csi(Int), ss3 }
    var escape = Escape.none
    public private(set) var failures = 0
    public private(set) var lockedUntil: MonotonicInstant?
    var lastActivity: MonotonicInstant
    var lockNoticeShown = false
    /// Bytes dropped by the grammar (noise on the line), for `status`.
    public private(set) var droppedBytes = 0
    public private(set) var commandsRun = 0
    var out: [UInt8] = []
    /// Set by `logout` and idle logouts; the server may use it to hang up.
    public private(set) var loggedOutCount = 0

    /// Where the failure count survives a restart (nil: memory only).
    let lockStatePath: String?

    /// Failed and refused logins not yet on the record: one record per burst, with a count, so
    /// flooding the serial line with PIN attempts (thousands an hour) writes a handful of
    /// records instead of pushing the lockout itself out of the rotated log.
    struct Burst {
        var event: String
        var reason: String
        var count = 0
        var first: MonotonicInstant
        var last: MonotonicInstant
    }
    var bursts: [Burst] = []
    /// A burst ends this long after its last attempt (checked at the next input or tick)...
    static let burstQuiet: Duration = .seconds(60)
    /// ...or this long after its first, so a continuous flood is still summarised regularly.
    static let burstLongest: Duration = .seconds(600)
    /// Alerts to show a logged-in technician.
    public let notices: ConsoleNotices?

    /// - Parameter lockStatePath: a file (0600) holding the count of consecutive failed logins, so
    ///   restarting the console (or the device) never resets a lockout: a count at the limit
    ///   starts a full lockout again (fail safe — the monotonic clock does not survive a reboot,
    ///   and the wall clock of a board without an RTC cannot be trusted to say how much is left).
    public init(options: Options = Options(), pins: any PINVerifier, backend: any ConsoleBackend, audit: AuditLog?,
                config: ConfigWorkspace?, place: String, now: MonotonicInstant, lockStatePath: String? = nil,
                notices: ConsoleNotices? = nil) {
        self.notices = notices
        self.options = options; self.pins = pins; self.backend = backend; self.audit = audit
        self.config = config; self.place = place; lastActivity = now
        self.lockStatePath = lockStatePath
        if let lockStatePath, let bytes = try? readFile(lockStatePath, maximumBytes: ReadLimit.state, symlinks: .refuse),
           let n = Int(String(decoding: bytes, as: UTF8.self).split(separator: " ").last?.split(separator: "\n").first ?? "") {
            failures = max(0, n)
            if failures >= options.lockoutFailures { lockedUntil = now.advanced(by: options.lockoutDuration) }
            // a burst cut short by a restart (its summary never written) is on the record now
            if failures > 0 {
                record("console.login_failed", [("reason", "failed logins carried over a restart"), ("failures", .int(Int64(failures))),
                                                ("place", .string(place))])
            }
        }
    }

    /// A session that ends (the console stops) writes the bursts it still holds.
    deinit { flushBursts(now: nil) }

    /// Counts one failed or refused attempt into its burst.
    func countAttempt(_ event: String, reason: String, now: MonotonicInstant) {
        if let k = bursts.firstIndex(where: { $0.event == event && $0.reason == reason }) {
            bursts[k].count += 1
            bursts[k].last = now
        } else {
            bursts.append(Burst(event: event, reason: reason, count: 1, first: now, last: now))
        }
    }

    /// Writes the bursts that have ended by `now`: quiet for `burstQuiet` (attempts refused
    /// during a lockout: the lockout is over), or older than `burstLongest`. With `now`
    /// nil, every burst (of `event`, if given) is written whatever its age.
    func flushBursts(now: MonotonicInstant?, only event: String? = nil) {
        var kept: [Burst] = []
        for b in bursts {
            var ended = event == nil || b.event == event
            if ended, let now {
                // attempts refused during a lockout: one record per lockout, when it is over
                let quiet = b.event == "console.login_refused" ? lockedUntil.map { now >= $0 } ?? true
                    : b.last.duration(to: now) >= Self.burstQuiet
                ended = quiet || b.first.duration(to: now) >= Self.burstLongest
            }
            guard ended else { kept.append(b); continue }
            var fields: [(String, AuditValue)] = [("reason", .string(b.reason)), ("count", .int(Int64(b.count))),
                                                  ("seconds", .int(b.first.duration(to: b.last).components.seconds))]
            if b.reason == "wrong PIN" { fields.append(("failures", .int(Int64(failures)))) }
            fields.append(("place", .string(place)))
            record(b.event, fields)
        }
        bursts = kept
    }

    func saveLockState() {
        guard let lockStatePath else { return }
        if failures == 0 { unlink(lockStatePath); return }
        try? writeFileAtomically(lockStatePath, Array("failures \(failures)\n".utf8), mode: 0o600)
    }

    /// The banner and first prompt (when the console starts or a line is attached).
    public func start(now: MonotonicInstant) -> [UInt8] {
        out = []
        emit("\nVigil \(options.version) — \(options.deviceName)\nAuthorised technicians only. Every session and command is audited.\n")
        prompt(now: now)
        return take()
    }

    /// Feeds received bytes; returns what to send back.
    public func feed(_ bytes: some Sequence<UInt8>, now: MonotonicInstant) -> [UInt8] {
        out = []
        checkIdle(now: now)
        flushBursts(now: now)
        for b in bytes { byte(b, now: now) }
        return take()
    }

    /// Time passing with no input (idle logout, alerts). Call about once a second.
    public func tick(now: MonotonicInstant) -> [UInt8] {
        out = []
        checkIdle(now: now)
        flushBursts(now: now)
        let pending = notices?.take() ?? []
        if mode == .shell && !pending.isEmpty {
            emit("\n")
            for n in pending { emit("*** " + n + "\n") }
            prompt(now: now)
            out += line  // what the technician had typed so far
        }
        return take()
    }

    func take() -> [UInt8] { defer { out = [] }; return out }

    /// Text to the line: LF becomes CRLF (raw mode: the terminal needs both).
    func emit(_ s: String) {
        for u in s.utf8 {
            if u == 0x0A { out.append(0x0D) }
            out.append(u)
        }
    }

    func prompt(now: MonotonicInstant) {
        switch mode {
        case .login:
            if let until = lockedUntil, now < until {
                emit("locked after \(options.lockoutFailures) failed logins: try again in \(minutesLeft(until, now)) min\n")
                lockNoticeShown = true
            } else {
                emit("PIN: ")
            }
        case .shell: emit("vigil> ")
        }
    }

    func minutesLeft(_ until: MonotonicInstant, _ now: MonotonicInstant) -> Int {
        let s = now.duration(to: until).components.seconds
        return Int((s + 59) / 60)
    }

    func checkIdle(now: MonotonicInstant) {
        guard lastActivity.duration(to: now) >= options.idleLogout else { return }
        if mode == .shell {
            emit("\nlogged out: idle for \(options.idleLogout.components.seconds / 60) min\n")
            record("console.logout", [("reason", "idle"), ("place", .string(place))])
            mode = .login
            loggedOutCount += 1
            resetLine()
            lastActivity = now
            prompt(now: now)
        } else if !line.isEmpty {
            resetLine()  // a half-typed PIN does not wait forever
            lastActivity = now
        }
    }

    func resetLine() { line = []; overflow = false }

    func byte(_ b: UInt8, now: MonotonicInstant) {
        lastActivity = now
        switch escape {
        case .start:
            switch b {
            case 0x5B: escape = .csi(0)
            case 0x4F: escape = .ss3
            default: escape = .none  // two-byte sequence (ESC x): swallowed
            }
            return
        case .csi(let n):
            // parameters 0x30–0x3F, intermediates 0x20–0x2F, final 0x40–0x7E; give up after 32 bytes
            if (0x40...0x7E).contains(b) || n >= 32 || !(0x20...0x3F).contains(b) { escape = .none } else { escape = .csi(n + 1) }
            return
        case .ss3:
            escape = .none
            return
        case .none:
            break
        }
        let crlfTail = lastWasCR && b == 0x0A
        lastWasCR = b == 0x0D
        switch b {
        case 0x0D, 0x0A:
            if crlfTail { return }
            enter(now: now)
        case 0x1B:
            escape = .start
        case 0x08, 0x7F:
            if !line.isEmpty {
                line.removeLast()
                if mode == .shell { out += [0x08, 0x20, 0x08] }
            }
        case 0x15:  // ^U
            if mode == .shell { for _ in line { out += [0x08, 0x20, 0x08] } }
            resetLine()
        case 0x03:  // ^C
            emit("^C\n")
            resetLine()
            prompt(now: now)
        case 0x20...0x7E:
            if line.count >= Self.maxLine {
                if !overflow { out.append(0x07) }  // bell, once
                overflow = true
                return
            }
            line.append(b)
            if mode == .shell { out.append(b) }
        default:
            droppedBytes += 1
        }
    }

    func enter(now: MonotonicInstant) {
        let text = String(decoding: line, as: UTF8.self)
        let tooLong = overflow
        resetLine()
        switch mode {
        case .login:
            emit("\n")
            login(text, tooLong: tooLong, now: now)
        case .shell:
            emit("\n")
            if tooLong {
                emit("error: line longer than \(Self.maxLine) bytes, ignored\n")
            } else {
                run(text, now: now)
            }
            if mode == .shell { prompt(now: now) }
        }
    }

    func login(_ pin: String, tooLong: Bool, now: MonotonicInstant) {
        if let until = lockedUntil {
            if now < until {
                if !pin.isEmpty { countAttempt("console.login_refused", reason: "locked", now: now) }
                prompt(now: now)
                return
            }
            lockedUntil = nil
            failures = 0
            saveLockState()
        }
        if pin.isEmpty { prompt(now: now); return }
        let result: PINCheck = tooLong ? .wrong : pins.check(pin)
        switch result {
        case .accepted:
            flushBursts(now: nil)   // the failures before it come first on the record
            failures = 0
            saveLockState()
            mode = .shell
            record("console.login", [("place", .string(place))])
            emit("logged in. Type `help` for the commands.\n")
        case .unavailable(let why):
            emit("login impossible: \(why)\n")
            countAttempt("console.login_failed", reason: "no PIN: " + why, now: now)
        case .wrong:
            failures += 1
            saveLockState()
            countAttempt("console.login_failed", reason: "wrong PIN", now: now)
            if failures >= options.lockoutFailures {
                lockedUntil = now.advanced(by: options.lockoutDuration)
                flushBursts(now: nil, only: "console.login_failed")   // the attempts, then the lockout they caused
                record("console.lockout", [("minutes", .int(options.lockoutDuration.components.seconds / 60)), ("failures", .int(Int64(failures))),
                                           ("place", .string(place))])
            } else {
                emit("wrong PIN (\(options.lockoutFailures - failures) attempts left before a lockout)\n")
            }
        }
        prompt(now: now)
    }

    func record(_ event: String, _ fields: [(String, AuditValue)]) {
        do throws(AuditError) { try audit?.append(event, fields) } catch {
            emit("warning: audit log: \(error)\n")
        }
    }

    // MARK: commands

    static let help = """
    commands:
      status                      health, cameras, watchlist, outbox, sync and upload, counters, versions
      config show [SECTION]       the configuration (staged changes marked *)
      config get KEY              one value
      config set KEY VALUE        stage a change (checked now; applied by commit)
      config diff                 staged changes
      config commit               save as a new version and apply (live where possible)
      config revert [previous]    drop staged changes (previous: stage the last saved version)
      camera list                 configured cameras and what they offer
      camera test [NAME]          capture one frame: format, size, fps, sharpness
      led test                    cycle every LED
      watchlist status            version, age, entries, policy
      sync now                    fetch the watchlist now
      outbox status               sealed hits waiting for upload
      keys show                   public key fingerprints
      audit tail [N]              the last N audit records (default 10, at most 100)
      selftest                    check models, keys, storage, LEDs, cameras
      logout                      end the session
    """

    /// Splits a command line into words; "double quotes" group words.
    static func words(_ s: String) -> [String]? {
        var out: [String] = []
        var cur = ""
        var inQuote = false
        var has = false
        for c in s {
            if c == "\"" { inQuote.toggle(); has = true; continue }
            if c == " " && !inQuote {
                if has { out.append(cur); cur = ""; has = false }
                continue
            }
            cur.append(c); has = true
        }
        if inQuote { return nil }
        if has { out.append(cur) }
        return out
    }

    /// A word that could be a PIN: digits only, of a length PINs have.
    static func couldBePIN(_ word: String) -> Bool {
        PINHash.digitCount.contains(word.utf8.count) && word.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    func run(_ text: String, now: MonotonicInstant) {
        guard let w = Self.words(text) else { emit("error: unbalanced quotes\n"); return }
        guard let cmd = w.first else { return }
        commandsRun += 1
        let args = Array(w.dropFirst())
        // The audit record names the command and its arguments; values of secret keys are masked,
        // and so is every word that could be the PIN (digits only, of a PIN's length): a
        // technician who types the PIN again at `vigil>` must not leave it in a log the audit
        // group and `audit tail` can read.
        let logged = w.map { Self.couldBePIN($0) ? "***" : $0 }
        var shown = logged.prefix(3).joined(separator: " ")
        if w.count > 3 {
            let secret = w.count > 2 && ConfigSchema.setting(for: w[2])?.secret == true
            shown += " " + (secret ? "***" : logged.dropFirst(3).joined(separator: " "))
        }
        if cmd != "logout" && cmd != "exit" && cmd != "quit" {
            record("console.command", [("command", .string(String(shown.prefix(200)))), ("place", .string(place))])
        }
        func lines(_ l: [String]) { for x in l { emit(x + "\n") } }
        switch (cmd, args.first) {
        case ("help", _), ("?", _): emit(Self.help + "\n")
        case ("status", nil): lines(backend.status() + ["console: \(droppedBytes) noise bytes dropped, \(commandsRun) commands this boot"])
        case ("config", _): configCommand(w)
        case ("camera", "list"?) where args.count == 1: lines(backend.cameraList())
        case ("camera", "test"?) where args.count <= 2: lines(backend.cameraTest(args.count == 2 ? args[1] : nil))
        case ("led", "test"?) where args.count == 1, ("leds", "test"?) where args.count == 1: lines(backend.ledTest())
        case ("watchlist", "status"?) where args.count == 1: lines(backend.watchlistStatus())
        case ("sync", "now"?) where args.count == 1: lines(backend.syncNow())
        case ("outbox", "status"?) where args.count == 1: lines(backend.outboxStatus())
        case ("keys", "show"?) where args.count == 1: lines(backend.keysShow())
        case ("audit", "tail"?) where args.count <= 2:
            let n = args.count == 2 ? Int(args[1]) : 10
            guard let n, (1...100).contains(n) else { emit("error: audit tail N takes N from 1 to 100\n"); return }
            guard let audit else { emit("no audit log configured\n"); return }
            do throws(AuditError) { lines(try audit.tail(n)) } catch { emit("error: \(error)\n") }
        case ("selftest", nil): lines(backend.selftest())
        case ("logout", nil), ("exit", nil), ("quit", nil):
            record("console.logout", [("reason", "user"), ("place", .string(place))])
            emit("bye\n")
            mode = .login
            loggedOutCount += 1
            prompt(now: now)
        default:
            let known = ["help", "status", "config", "camera", "led", "watchlist", "sync", "outbox", "keys", "audit", "selftest", "logout"]
            if known.contains(cmd) {
                emit("error: usage: see `help` for `\(cmd)`\n")
            } else {
                let hint = ConfigSchema.suggestion(for: cmd, among: known)
                emit("error: unknown command '\(String(cmd.prefix(40)))'" + (hint.map { " (did you mean `\($0)`?)" } ?? "") + "; type `help`\n")
            }
        }
    }

    func configCommand(_ args: [String]) {
        guard let config else { emit("error: no configuration file (start the console with --config)\n"); return }
        let sub = args.count > 1 ? args[1] : ""
        switch sub {
        case "show" where args.count <= 3:
            let section = args.count == 3 ? args[2] : nil
            var any = false
            let changed = Set(config.pending.map(\.key))
            for k in config.staged.orderedKeys where section == nil || k.hasPrefix(section! + ".") || k == section {
                emit((changed.contains(k) ? "* " : "  ") + k + " = " + config.staged.display(k) + "\n")
                any = true
            }
            if !any { emit("error: no section '\(section ?? "")'\n") }
            if !changed.isEmpty { emit("(* staged, not committed: \(changed.count) change(s))\n") }
        case "get" where args.count == 3:
            let k = args[2]
            if ConfigSchema.setting(for: k) == nil {
                let hint = ConfigSchema.suggestion(for: k)
                emit("error: unknown key '\(k)'" + (hint.map { " (did you mean '\($0)'?)" } ?? "") + "\n")
            } else {
                emit(k + " = " + config.staged.display(k) + "\n")
            }
        case "set" where args.count >= 4, "unset" where args.count == 3:
            let k = args[2]
            if ConfigSchema.setting(for: k) != nil && !ConfigSchema.consoleMayChange(k) {
                emit("error: \(k): \(ConfigWorkspace.rootOnly)\n")
                record("config.refused", [("key", .string(k)), ("by", .string("console " + place))])
                return
            }
            guard args[1] == "set" else { fallthrough }
            let v = args.dropFirst(3).joined(separator: " ")
            do throws(ConfigError) {
                let old = config.staged.display(k)
                let warnings = try config.staged.set(k, text: v)
                emit("staged: \(k) \(old) → \(config.staged.display(k)) (`config commit` to apply; \(config.pending.count) pending)\n")
                for w in warnings { emit("warning: \(w.key): \(w.message) (commit refuses until fixed)\n") }
            } catch {
                for i in error.issues { emit("error: \(i.key.isEmpty ? "" : i.key + ": ")\(i.message)\n") }
            }
        case "unset" where args.count == 3:
            do throws(ConfigError) {
                let warnings = try config.staged.unset(args[2])
                emit("staged: \(args[2]) unset (\(config.pending.count) pending)\n")
                for w in warnings { emit("warning: \(w.key): \(w.message) (commit refuses until fixed)\n") }
            } catch {
                for i in error.issues { emit("error: \(i.key.isEmpty ? "" : i.key + ": ")\(i.message)\n") }
            }
        case "diff" where args.count == 2:
            let p = config.pending
            if p.isEmpty { emit("no staged changes\n") }
            for d in p {
                let secret = ConfigSchema.setting(for: d.key)?.secret == true
                func show(_ v: ConfigValue?) -> String { v == nil ? "(unset)" : secret ? "***" : v!.description }
                emit("\(d.key): \(show(d.old)) → \(show(d.new))\n")
            }
        case "commit" where args.count == 2:
            let p = config.pending
            if p.isEmpty { emit("nothing to commit\n"); return }
            do throws(ConfigError) {
                let (saved, previous) = try config.commit()
                for d in p {
                    let secret = ConfigSchema.setting(for: d.key)?.secret == true
                    func v(_ x: ConfigValue?) -> AuditValue { x == nil ? .null : secret ? .masked : .string(x!.description) }
                    record("config.change", [("key", .string(d.key)), ("old", v(d.old)), ("new", v(d.new)),
                                             ("version", .int(saved.version)), ("by", .string("console " + place))])
                }
                emit("saved version \(saved.version) (previous kept as \(config.path).prev)\n")
                // the console's own settings apply at once (idle logout, lockout)
                let cs = saved.consoleSettings
                options.idleLogout = cs.idleLogout
                options.lockoutFailures = cs.lockoutFailures
                options.lockoutDuration = cs.lockoutDuration
                for l in backend.configCommitted(saved, previous: previous) { emit(l + "\n") }
            } catch {
                for i in error.issues { emit("error: \(i)\n") }
                emit("nothing saved\n")
            }
        case "revert" where args.count == 2:
            let n = config.pending.count
            config.revert()
            emit(n == 0 ? "no staged changes\n" : "dropped \(n) staged change(s)\n")
        case "revert" where args.count == 3 && args[2] == "previous":
            do throws(ConfigError) {
                try config.stagePrevious()
                emit("staged the previous version: \(config.pending.count) change(s); `config diff`, then `config commit`\n")
            } catch {
                for i in error.issues { emit("error: \(i)\n") }
            }
        default:
            emit("error: usage: config show [SECTION] | get KEY | set KEY VALUE | unset KEY | diff | commit | revert [previous]\n")
        }
    }
}
