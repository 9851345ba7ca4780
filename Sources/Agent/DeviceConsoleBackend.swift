// What the console shows: read from the configuration and from disk — the watchlist store, the
// outbox, the key files, the cameras, the LEDs, the audit log — and, inside the agent
// (`vigil run`), its live state: camera formats and measured fps, health, counters.
//
// Nothing here returns secret material: keys are shown as public fingerprints (a private key file
// is read only to derive its public half), hits only as counts, never contents or embeddings.
import Audit
import Capture
import Config
import Console
import Hits
import Imaging
import LEDs
import VigilCore
import Watchlist
import WatchlistSync

#if canImport(Glibc)
import Glibc
#endif
import CGPIOD
import Crypto

public func hexString(_ b: [UInt8]) -> String {
    let d = Array("0123456789abcdef".utf8)
    return String(decoding: b.flatMap { [d[Int($0 >> 4)], d[Int($0 & 15)]] }, as: UTF8.self)
}

/// The data directory's layout (the agent uses the same).
public struct DataLayout: Sendable {
    public let root: String
    public var watchlist: String { root + "/watchlist" }
    public var outbox: String { root + "/outbox" }
    public var counters: String { root + "/counters.json" }
    public var clock: String { root + "/clock" }
    public init(_ config: ConfigDocument) { root = config.string("device.data_dir") ?? "/var/lib/vigil" }
}

/// Opens the configured LEDs: GPIO lines (when any are wired) and/or the terminal panel. GPIO
/// errors do not stop the caller: they come back as text for health, console and log.
public func openLEDs(_ wiring: LEDWiring, panelFD: Int32 = 2, forcePanel: Bool = false) -> (outputs: [any LEDOutput], error: String?) {
    var outputs: [any LEDOutput] = []
    var failure: String?
    var lines: [LEDRole: Int] = [:]
    if let l = wiring.status { lines[.status] = l }
    if let l = wiring.fault { lines[.fault] = l }
    if let l = wiring.hit { lines[.hit] = l }  // held (off) even when disabled: leds.hit_enabled applies live
    if !lines.isEmpty {
        do throws(LEDError) {
            outputs.append(try GPIOLEDs(chip: wiring.chip, lines: lines, activeLow: wiring.activeLow, consumer: "vigil"))
        } catch { failure = error.description }
    }
    if wiring.panel || forcePanel {
        outputs.append(TerminalLEDPanel(fd: panelFD, roles: wiring.hit != nil ? LEDRole.allCases : [.status, .fault]))
    }
    return (outputs, failure)
}

public final class DeviceConsoleBackend: ConsoleBackend, @unchecked Sendable {
    public var config: ConfigDocument
    let audit: AuditLog?
    var leds: LEDController?
    var ledError: String?
    let started = MonotonicInstant.now()
    /// The running agent's state and counters (nil when the console runs on its own).
    public var agent: AgentState?
    public var counters: Counters?
    /// The agent's clock: list validity is judged by its fail-safe time (wall time otherwise,
    /// for the standalone `vigil console`).
    public var clock: TrustedClock?
    var failSafeNow: @Sendable () -> Int64 {
        let c = clock
        return { c?.failSafeNow() ?? Int64(time(nil)) }
    }
    /// Applies committed settings to the running agent (nil standalone).
    public var onCommit: ((ConfigDocument) -> [String])?
    /// Where `sync now` runs, in the background: the agent's (shared with its schedule); the
    /// standalone console makes its own on first use.
    public var syncRunner: SyncRunner?
    var runner: SyncRunner {
        if let syncRunner { return syncRunner }
        let r = SyncRunner(audit: audit, agent: nil, notices: nil, log: { _ in }, now: failSafeNow)
        syncRunner = r
        return r
    }

    public init(config: ConfigDocument, audit: AuditLog?, leds: LEDController?, ledError: String?) {
        self.config = config; self.audit = audit; self.leds = leds; self.ledError = ledError
    }

    var layout: DataLayout { DataLayout(config) }

    // MARK: health

    /// The device's health as far as this process can see it.
    public func health() -> HealthState {
        if let agent { return agent.health }
        var h = HealthState()
        for cam in config.cameras where access(cam.device, F_OK) != 0 {
            h.report("camera " + cam.name, .degraded, "\(cam.device) missing")
        }
        if config.cameras.isEmpty { h.report("cameras", .fault, "no camera configured") }
        let w = watchlistHealth()
        switch w.health {
        case .some(.active): break
        case .fallback(_, let r): h.report("watchlist", .degraded, "previous list in use: " + r)
        case .stale: h.report("watchlist", .degraded, "stale: matching off until a newer list is installed")
        case .expired: h.report("watchlist", .degraded, "expired: matching off")
        case .some(.none): h.report("watchlist", .degraded, "none installed: matching off")
        case .unusable(let r): h.report("watchlist", .fault, r)
        case nil: h.report("watchlist", .fault, w.error ?? "store unreadable")
        }
        if let o = try? Outbox(directory: layout.outbox, capacityBytes: outboxCapacity), case .nearlyFull(let u, let c) = o.health {
            h.report("outbox", .degraded, "backlog \(u / 1024) KiB of \(c / 1024) KiB")
        }
        for (k, what) in [("models.detector", "detector model"), ("models.embedder", "embedder model"), ("keys.device_signing", "device key"), ("keys.agency_public", "agency key")] {
            if let p = config.string(k), access(p, R_OK) != 0 { h.report(what, .fault, "\(p): \(Errno.current)") }
        }
        if let e = ledError ?? leds?.errors.first { h.report("leds", .degraded, e) }
        h.report(recallOf: config)
        return h
    }

    var outboxCapacity: Int { Int(config.int("storage.outbox_max_mb") ?? 64) << 20 }

    func watchlistHealth() -> (health: WatchlistHealth?, bundle: WatchlistBundle?, store: WatchlistStore?, error: String?) {
        do {
            guard let pub = config.string("keys.authority_public"), let model = config.string("models.embedder") else {
                return (nil, nil, nil, "keys.authority_public / models.embedder not set")
            }
            let store = try WatchlistStore(directory: layout.watchlist, authority: try AuthorityPublicKey(file: pub),
                                           embedder: try config.embedderIdentity(model: model), now: failSafeNow)
            let (list, health) = store.load()
            return (health, list, store, nil)
        } catch {
            return (nil, nil, nil, "\(error)")
        }
    }

    // MARK: ConsoleBackend

    public func status() -> [String] {
        var out: [String] = []
        let h = health()
        out.append("device \(config.string("device.id") ?? "?") (\(config.string("device.kind") ?? "?"), board \(config.string("board") ?? "?")), config v\(config.version)")
        out.append("health: \(h.level)")
        for r in h.reasons { out.append("  " + r) }
        let live = Dictionary((agent?.cameras ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for cam in config.cameras {
            if let c = live[cam.name] {
                let got = c.size.map { "\(c.format) \($0.width)x\($0.height) at \(Int(c.measuredFPS * 10) / 10).\(Int(c.measuredFPS * 10) % 10) fps" } ?? "no frames yet"
                out.append("camera \(cam.name) \(cam.device): \(c.connected ? got : "DISCONNECTED" + (c.lastError.map { " (\($0))" } ?? "")), \(c.framesCaptured) frames, \(c.framesDropped) not analysed (latest frame wins), \(c.reconnects) reconnects")
            } else {
                let present = access(cam.device, F_OK) == 0
                out.append("camera \(cam.name) \(cam.device): \(cam.format) \(cam.width)x\(cam.height) @ \(cam.fps) fps configured, \(present ? "present" : "MISSING")")
            }
        }
        if let agent { out.append(agent.listLine) }
        out += watchlistStatus()
        out += outboxStatus()
        out.append("last sync: " + (agent?.lastSync ?? lastEvent(prefix: "sync.") ?? "none recorded"))
        if let p = syncRunner?.progressLine { out.append("sync: " + p) }
        out.append("last upload: " + (agent?.lastUpload ?? lastEvent(prefix: "upload.") ?? "none recorded"))
        if let counters {
            let t = counters.today
            out.append("counters today (\(t.date)): \(t.framesProcessed) frames analysed, \(t.facesDetected) faces detected, \(t.facesCompared) compared, \(t.hits) hits, \(t.framesDropped) frames dropped")
        } else {
            out.append("counters: kept by the agent (`vigil run`); this console runs standalone")
        }
        if let s = try? readFile("/proc/uptime"), let up = Double(String(decoding: s, as: UTF8.self).split(separator: " ").first ?? "") {
            out.append("uptime: system \(duration(Int64(up))), console \(duration(started.duration(to: .now()).components.seconds))")
        }
        var u = utsname()
        uname(&u)
        let kernel = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        out.append("versions: vigil \(VigilVersion.string), kernel \(kernel), libgpiod \(String(cString: gpiod_version_string()))")
        return out
    }

    func duration(_ s: Int64) -> String {
        s >= 86_400 ? "\(s / 86_400)d \(s % 86_400 / 3600)h" : s >= 3600 ? "\(s / 3600)h \(s % 3600 / 60)m" : "\(s / 60)m \(s % 60)s"
    }

    /// The newest audit record whose event starts with `prefix` (time + event + data), if any.
    func lastEvent(prefix: String) -> String? {
        guard let audit, let lines = try? audit.tail(500) else { return nil }
        for l in lines.reversed() where l.contains("\"event\":\"" + prefix) {
            return String(l.prefix(200))
        }
        return nil
    }

    public func cameraList() -> [String] {
        var out: [String] = []
        var seen = Set<String>()
        for cam in config.cameras {
            seen.insert(cam.device)
            do throws(CaptureError) {
                let caps = try V4L2Camera.probe(path: cam.device)
                out.append("\(cam.name): " + CameraList.describe(path: cam.device, caps).split(separator: "\n").joined(separator: "\n    "))
            } catch { out.append("\(cam.name): \(cam.device): \(error)") }
        }
        for node in CameraList.videoNodes() where !seen.contains(node) {
            if let caps = try? V4L2Camera.probe(path: node), caps.deviceCaps & 0x1 != 0 {
                out.append("(not configured) \(node): \(caps.driver) \(caps.card)")
            }
        }
        return out.isEmpty ? ["no cameras configured or found"] : out
    }

    public func cameraTest(_ name: String?) -> [String] {
        let cams = config.cameras.filter { name == nil || $0.name == name }
        if cams.isEmpty { return ["no camera named '\(name ?? "")' (configured: \(config.cameras.map(\.name).joined(separator: ", ")))"] }
        return cams.map { testCamera($0) }
    }

    /// One second of capture: format, size, measured fps, and the sharpness of the last frame
    /// (variance of the Laplacian of its luma — low values mean blur, fog or a dirty lens).
    func testCamera(_ cam: CameraSettings) -> String {
        let format: PixelFormat? = cam.format == "mjpeg" ? .mjpeg : cam.format == "yuyv" ? .yuyv : nil
        do {
            let camera = try V4L2Camera(path: cam.device, request: CaptureRequest(size: Size(width: cam.width, height: cam.height), fps: Double(cam.fps), format: format))
            try camera.start()
            defer { camera.stop() }
            var times: [MonotonicInstant] = []
            var last: RGBImage?
            var info: FrameInfo?
            let end = MonotonicInstant.now().advanced(by: .milliseconds(1500))
            let decoder = try FrameDecoder()
            while MonotonicInstant.now() < end && times.count < 60 {
                let frame = try camera.nextFrame(timeout: .seconds(3))
                times.append(frame.info.captureTime)
                info = frame.info
                if MonotonicInstant.now().advanced(by: .milliseconds(300)) >= end || times.count == 1 {
                    last = try? decoder.decode(frame, atLeast: Size(width: 320, height: 240))
                }
            }
            guard let info else { return "\(cam.name): no frame" }
            let span = times.count > 1 ? Double(times.first!.duration(to: times.last!).nanosecondsClamped) / 1e9 : 0
            let fps = span > 0 ? Double(times.count - 1) / span : 0
            let sharp = last.map { laplacianVariance($0) }
            return "\(cam.name) \(cam.device): \(info.format) \(info.size.width)x\(info.size.height), \(times.count) frames, \(Int(fps * 10) / 10).\(Int(fps * 10) % 10) fps measured (\(cam.fps) requested)"
                + (sharp.map { ", sharpness \(Int($0))" + ($0 < 20 ? " (LOW: blurred, fogged or out of focus?)" : "") } ?? ", frame not decodable")
        } catch {
            return "\(cam.name) \(cam.device): \(error)"
        }
    }

    public func ledTest() -> [String] {
        guard let leds else { return ["no LEDs: " + (ledError ?? "none wired in the configuration")] }
        var log: [String] = []
        leds.selfTest(step: .milliseconds(700)) { log.append($0) }
        return log + (leds.errors.isEmpty ? [] : ["errors: " + leds.errors.joined(separator: "; ")])
    }

    public func watchlistStatus() -> [String] {
        let w = watchlistHealth()
        guard let health = w.health else { return ["watchlist: " + (w.error ?? "unknown")] }
        var out = ["watchlist: \(health)"]
        if let b = w.bundle {
            let now = Int64(time(nil))
            out.append("  version \(b.header.listVersion), issued \(duration(max(0, now - b.header.issued))) ago, expires in \(duration(max(0, b.header.expires - now))), \(b.entries.count) entries, \(b.header.mode) mode, threshold floor \(b.header.thresholdFloor)")
        }
        if let s = w.store { out.append("  highest version ever installed: \(s.highestInstalledVersion)") }
        return out
    }

    /// Starts a sync and answers at once: a slow server must not hold the console (its thread
    /// serves the serial line). `status` shows the progress; inside the agent the result is
    /// shown on the console when the sync ends.
    public func syncNow() -> [String] {
        guard let c = syncConfig(config, store: layout.watchlist) else { return ["sync: not configured (sync.url, sync.ca)"] }
        guard runner.start(c, by: "console") else { return ["sync: already " + (runner.progressLine ?? "running")] }
        return ["sync: started in the background; `status` shows its progress" + (runner.notices != nil ? ", and its result appears here when it ends" : "")]
    }

    public func outboxStatus() -> [String] {
        do {
            let o = try Outbox(directory: layout.outbox, capacityBytes: outboxCapacity)
            let items = try o.pending()
            let used = items.reduce(0) { $0 + $1.size }
            return ["outbox: \(items.count) sealed hit record(s) waiting, \(used / 1024) KiB of \(outboxCapacity >> 20) MiB" + (o.health == .ok(used: used, capacity: outboxCapacity) ? "" : " (NEARLY FULL: upload behind)")]
        } catch {
            return ["outbox: \(error)"]
        }
    }

    public func keysShow() -> [String] {
        var out: [String] = []
        func show(_ label: String, _ key: String, _ f: (String) throws -> String) {
            guard let p = config.string(key) else { out.append("\(label): not configured"); return }
            do { out.append("\(label): \(try f(p))  (\(p))") } catch { out.append("\(label): \(error)") }
        }
        show("watchlist authority (Ed25519)", "keys.authority_public") { try AuthorityPublicKey(file: $0).fingerprint }
        show("agency sealing key (X25519)", "keys.agency_public") { fingerprint(ofPublicKey: try AgencyPublicKey(file: $0).raw) }
        show("device signing key (Ed25519, public half)", "keys.device_signing") { try DeviceSigningKey(file: $0).publicKey.fingerprint }
        for k in ["sync.client_cert", "upload.client_cert"] {
            if let p = config.string(k) {
                if let b = try? readFile(p, maximumBytes: ReadLimit.key) { out.append("\(k): SHA256:\(hexString(Array(SHA256.hash(data: b))).prefix(32))…  (\(p))") } else { out.append("\(k): \(p) unreadable") }
            }
        }
        return out
    }

    public func selftest() -> [String] {
        var out: [String] = []
        func check(_ what: String, _ body: () throws -> String) {
            do { out.append("ok    \(what): \(try body())") } catch { out.append("FAIL  \(what): \(error)") }
        }
        for k in ["models.detector", "models.embedder"] {
            check(k) {
                guard let p = config.string(k) else { throw SelftestError("not set") }
                return "sha256 " + String(hexString(try EmbedderIdentity(modelFile: p).sha256).prefix(16)) + "…"
            }
        }
        check("keys") { keysShow().contains { $0.contains("error") || $0.contains("cannot") } ? "see `keys show`" : "readable" }
        check("data directory \(layout.root)") {
            let probe = layout.root + "/.selftest"
            try writeFileAtomically(probe, Array("selftest\n".utf8), mode: 0o600)
            unlink(probe)
            var s = statvfs()
            guard statvfs(layout.root, &s) == 0 else { throw SelftestError("statvfs: \(Errno.current)") }
            let free = Int64(s.f_bavail) * Int64(s.f_frsize)
            if free < 16 << 20 { throw SelftestError("only \(free >> 20) MiB free") }
            return "writable, \(free >> 20) MiB free"
        }
        check("audit log") {
            guard let audit else { throw SelftestError("not configured") }
            let r = try verifyAuditLog(directory: audit.directory)
            if !r.isIntact { throw SelftestError("chain broken: \(r.problems.first.map { "\($0.file):\($0.line) \($0.message)" } ?? "")") }
            return "\(r.records) records, chain intact"
        }
        check("leds") {
            if let e = ledError { throw SelftestError(e) }
            return leds == nil ? "none wired" : "lines held"
        }
        for cam in config.cameras {
            check("camera \(cam.name)") {
                let caps = try V4L2Camera.probe(path: cam.device)
                return "\(caps.driver) \(caps.card)"
            }
        }
        out += watchlistStatus()
        return out
    }

    public func configCommitted(_ new: ConfigDocument, previous: ConfigDocument) -> [String] {
        config = new
        agent?.configurationApplied(new)
        leds?.hitEnabled = new.ledWiring.hitEnabled
        var applied = onCommit?(new) ?? []
        let changed = previous.diff(to: new).map(\.key)
        let restart = new.restartNeeded(comparedTo: previous)
        let live = changed.filter { !restart.contains($0) }
        var out: [String] = applied
        applied = []
        if !live.isEmpty { out.append("applied live: " + live.joined(separator: ", ")) }
        if !restart.isEmpty { out.append("takes effect when the agent restarts: " + restart.joined(separator: ", ")) }
        return out
    }
}

struct SelftestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Variance of the 4-neighbour Laplacian of the luma (a standard focus measure).
func laplacianVariance(_ img: RGBImage) -> Double {
    let w = img.width, h = img.height
    guard w > 2, h > 2 else { return 0 }
    var luma = [Int](repeating: 0, count: w * h)
    for y in 0..<h {
        for x in 0..<w {
            let (r, g, b) = img.pixel(x: x, y: y)
            luma[y * w + x] = (Int(r) * 77 + Int(g) * 150 + Int(b) * 29) >> 8
        }
    }
    var sum = 0.0, sum2 = 0.0
    var n = 0.0
    for y in 1..<(h - 1) {
        for x in 1..<(w - 1) {
            let i = y * w + x
            let l = Double(luma[i - 1] + luma[i + 1] + luma[i - w] + luma[i + w] - 4 * luma[i])
            sum += l; sum2 += l * l; n += 1
        }
    }
    let mean = sum / n
    return sum2 / n - mean * mean
}

// MARK: audit records for watchlist installs and syncs (console, `watchlist install`, `watchlist sync`)

/// `watchlist.install` for an installed list.
public func auditInstall(_ audit: AuditLog?, _ r: InstallReport, by: String) {
    _ = try? audit?.append("watchlist.install", [("version", .int(Int64(r.version))), ("previous", r.previous.map { .int(Int64($0)) } ?? .null),
                                                 ("entries", .int(Int64(r.entries))), ("by", .string(by))])
}

/// `sync.result` for every sync, plus `watchlist.install` or `watchlist.reject` where the sync
/// installed a list or refused one (bad signature, rollback, wrong hash, refused by the store).
public func auditSync(_ audit: AuditLog?, _ result: Result<SyncOutcome, SyncError>, by: String) {
    guard let audit else { return }
    switch result {
    case .success(.upToDate(let v)):
        _ = try? audit.append("sync.result", [("result", "up to date"), ("version", .int(Int64(v))), ("by", .string(by))])
    case .success(.installed(let r, _, let attempts)):
        _ = try? audit.append("sync.result", [("result", "installed"), ("version", .int(Int64(r.version))), ("attempts", .int(Int64(attempts))), ("by", .string(by))])
        auditInstall(audit, r, by: by)
    case .failure(let e):
        _ = try? audit.append("sync.result", [("result", "failed"), ("reason", .string(String(e.description.prefix(300)))), ("by", .string(by))])
        switch e {
        case .manifest, .manifestSignature, .rollback, .tooLarge, .sizeMismatch, .hashMismatch, .versionMismatch, .installRefused:
            _ = try? audit.append("watchlist.reject", [("reason", .string(String(e.description.prefix(300)))), ("by", .string(by))])
        default: break
        }
    }
}

