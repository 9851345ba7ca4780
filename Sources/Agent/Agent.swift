// `vigil run`: the agent. Builds every part from the configuration, starts what it can, reports
// the rest (LEDs, console, log, audit) and keeps retrying — a missing camera, model or key never
// makes it exit in a loop that systemd would restart forever without saying why.
//
// Services (swift-service-lifecycle, one group, graceful shutdown on SIGTERM/SIGINT):
//   camera-NAME   (thread)  capture → latest-frame slot, reconnect with backoff
//   analysis      (thread)  detect → embed → search → track → seal → outbox
//   leds          (thread)  pattern engine at 100 Hz
//   console       (thread)  the serial console, if console.tty is set
//   upload        (task)    outbox → HTTPS PUT, if upload.url is set
//   sync          (task)    watchlist sync in the daily window, if sync.url is set (SyncRunner:
//                           one sync at a time, shared with the console's `sync now`)
//   housekeeping  (task)    systemd READY/WATCHDOG, counters flushed every minute
//
// The stop (SIGTERM) finishes well within the unit's TimeoutStopSec (10 s): sync and upload are
// cancelled, not waited for (every request is bounded anyway, PinnedTLS.withDeadline), the
// upload's last attempt has 2 s in all, and only then are the counters, the clock and the
// `agent.stop` record written.
#if canImport(Glibc)
import Glibc
#endif
import Audit
import Config
import Console
import Faces
import FastKernels
import HitUpload
import Hits
import LEDs
import Logging
import ServiceLifecycle
import PinnedTLS
import Synchronization
import VigilCore
import Watchlist
import WatchlistSync

public struct AgentOptions: Sendable {
    /// Stop when every camera is a clip and all clips have ended (the demo, tests).
    public var untilClipsEnd = false
    /// Play clips in a loop (soak tests).
    public var loopClips = false
    /// Draw the LEDs on the terminal too.
    public var panel = false
    /// Where progress lines go (stderr by default).
    public var log: @Sendable (String) -> Void = { line in
        _ = (line + "\n").utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    }
    public init() {}
}

public final class VigilAgent: @unchecked Sendable {
    public let config: ConfigDocument
    public let configPath: String
    public let options: AgentOptions
    public let state: AgentState
    public let audit: AuditLog?
    public let counters: Counters?
    public let clock: TrustedClock
    let layout: DataLayout
    let leds: LEDController?
    let ledError: String?
    let analysis: AnalysisLoop?
    let slots: [(CameraSettings, LatestFrameSlot)]
    let outbox: Outbox?
    let clipsLeft: Atomic<Int>
    let stopAll = StopFlag()
    /// Alert-mode hits shown on the console to a logged-in technician.
    public let consoleNotices = ConsoleNotices()
    /// The schedule's and the console's syncs, one at a time, in the background.
    public let syncRunner: SyncRunner

    public init(config: ConfigDocument, configPath: String, options: AgentOptions = AgentOptions()) {
        self.config = config
        self.configPath = configPath
        self.options = options
        layout = DataLayout(config)
        let log = options.log
        _ = makeDirectoriesQuietly(layout.root)

        // The device key before the audit log: it signs the log's head checkpoints (issue 16: a
        // cut or edited tail is then detected), and the hit records later. Its error is reported
        // once health exists, below.
        var deviceKey: DeviceSigningKey?
        var deviceKeyError: String?
        if let p = config.string("keys.device_signing") {
            do { deviceKey = try DeviceSigningKey(file: p) } catch { deviceKeyError = "\(error)"; log("vigil: device key: \(error)") }
        }

        // audit first: everything after it is on the record
        var auditLog: AuditLog?
        if let dir = config.string("storage.audit_dir") {
            do {
                auditLog = try AuditLog(directory: dir, maxFileBytes: Int(config.int("storage.audit_file_kb") ?? 1024) * 1024,
                                        keepFiles: Int(config.int("storage.audit_keep_files") ?? 64), checkpointKey: deviceKey?.key)
            } catch { log("vigil: audit log \(dir): \(error) — actions are NOT being audited") }
        }
        audit = auditLog

        // LEDs, with health driving them
        var wiring = config.ledWiring
        if options.panel { wiring.panel = true }
        let (outputs, ledErr) = openLEDs(wiring)
        ledError = ledErr
        if let ledErr { log("vigil: leds: \(ledErr)") }
        let controller = outputs.isEmpty ? nil : LEDController(outputs: outputs, hitEnabled: wiring.hitEnabled)
        leds = controller
        state = AgentState(onHealth: { level in controller?.show(level) })
        state.configurationApplied(config)  // a setting that lowers recall shows in health (issue 16)
        if let ledErr { state.report("leds", .degraded, ledErr) }

        counters = Counters(path: layout.counters)
        let trusted = TrustedClock(path: layout.clock)
        clock = trusted
        if !trusted.wallNow().synchronized {
            state.report("clock", .degraded, "wall clock not synchronized (NTP): hit times are marked unsynced; lists are judged by the latest time seen")
        }

        // hits: outbox and keys
        var box: Outbox?
        do throws(OutboxError) {
            box = try Outbox(directory: layout.outbox, capacityBytes: Int(config.int("storage.outbox_max_mb") ?? 64) << 20)
        } catch {
            state.report("outbox", .fault, "\(error)")
            log("vigil: outbox: \(error)")
        }
        outbox = box
        var agencyKey: AgencyPublicKey?
        if let deviceKeyError { state.report("device key", .fault, deviceKeyError) }
        if let p = config.string("keys.agency_public") {
            do { agencyKey = try AgencyPublicKey(file: p) } catch { state.report("agency key", .fault, "\(error)"); log("vigil: agency key: \(error)") }
        }

        // the watchlist store (needs the authority key and the embedder's identity)
        var store: WatchlistStore?
        if let pub = config.string("keys.authority_public"), let model = config.string("models.embedder") {
            do {
                store = try WatchlistStore(directory: layout.watchlist, authority: try AuthorityPublicKey(file: pub),
                                           embedder: try config.embedderIdentity(model: model), now: { trusted.failSafeNow() })
            } catch {
                state.report("watchlist", .fault, "\(error)")
                log("vigil: watchlist store: \(error)")
            }
        }

        // cameras and their slots
        slots = config.cameras.map { ($0, LatestFrameSlot()) }
        clipsLeft = Atomic(config.cameras.count)
        if config.cameras.isEmpty { state.report("cameras", .fault, "no camera configured") }

        // models → the analysis loop
        var loop: AnalysisLoop?
        do {
            let threads = Int(config.int("detection.threads") ?? 1)
            guard let det = config.string("models.detector"), let emb = config.string("models.embedder") else {
                throw AgentError("models.detector / models.embedder not set")
            }
            let detector = try BlazeFaceModel(path: det, backend: FastBackend(threads: threads))
            let embedder = try DlibEmbedder(path: emb, backend: FastBackend(threads: threads))
            let gate = QualityGate(minimumWidth: Double(config.int("detection.min_face_px") ?? 40))
            let landmarks = try config.landmarksModel.map { try ShapePredictor(file: $0) }
            let analyzer = FaceAnalyzer(detector: detector, embedder: embedder, gate: gate, landmarks: landmarks)
            let setup = AnalysisSetup(cameras: slots, analyzer: analyzer, store: store, outbox: box, deviceKey: deviceKey,
                                      agencyKey: agencyKey, audit: auditLog, counters: counters, leds: controller, state: state,
                                      ratePerCamera: config.double("detection.rate_hz") ?? 5,
                                      tilesPerFrame: Int(config.int("detection.tiles_per_frame") ?? 5),
                                      configuredThreshold: config.double("matching.threshold").map { Float($0) },
                                      minConfidence: config.double("matching.min_quality") ?? 0.5,
                                      cooldown: .seconds(config.int("policy.hit_cooldown_s") ?? 300), clock: trusted)
            var withAlerts = setup
            withAlerts.onAlert = { [consoleNotices] line in consoleNotices.post(line) }
            loop = try AnalysisLoop(withAlerts)
        } catch {
            state.report("models", .fault, "\(error)")
            log("vigil: models: \(error) — no analysis until this is fixed (restart after fixing)")
        }
        analysis = loop
        syncRunner = SyncRunner(audit: auditLog, agent: state, notices: consoleNotices, log: log, now: { trusted.failSafeNow() })
    }

    /// Runs until SIGTERM/SIGINT (or, with `untilClipsEnd`, until every clip has ended).
    public func run() async throws {
        let log = options.log
        _ = try? audit?.append("agent.start", [("version", .string(VigilVersion.string)), ("config_version", .int(config.version)),
                                               ("cameras", .int(Int64(config.cameras.count))),
                                               ("clock", clock.wallNow().synchronized ? "synchronized" : "unsynchronized"),
                                               ("clock_behind_s", .int(clock.lag()))])
        var services: [any Service] = []
        for (cam, slot) in slots {
            let loop = CameraLoop(camera: cam, slot: slot, state: state, loopFiles: options.loopClips, onEnd: { [self] in
                log("vigil: \(cam.name): clip ended")
                if clipsLeft.subtract(1, ordering: .relaxed).newValue == 0 && options.untilClipsEnd {
                    // let the analysis take the last frames, then stop everything
                    Task {
                        for _ in 0..<300 {
                            try? await Task.sleep(for: .milliseconds(100))
                            if slots.allSatisfy({ !$0.1.hasFrame }) && !(analysis?.isBusy ?? false) { break }
                        }
                        stopAll.stop()
                    }
                }
            })
            services.append(ThreadService(name: "camera-" + cam.name) { stop in loop.run(stop) })
        }
        if let analysis {
            services.append(ThreadService(name: "analysis") { stop in analysis.run(stop) })
        }
        if let leds {
            services.append(ThreadService(name: "leds") { stop in
                while !stop.isStopped { leds.tick(); stop.sleep(.milliseconds(10)) }
                leds.allOff()
            })
        }
        if let console = makeConsoleService() { services.append(console) }
        if let upload = makeUploadService() { services.append(upload) }
        if let sync = makeSyncService() { services.append(sync) }
        services.append(HousekeepingService(agent: self))

        var logger = Logger(label: "vigil")
        logger.logLevel = .warning
        // A camera whose clip ended, or a loop that finished, is not a reason to stop the others.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services.map { .init(service: $0, successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        log("vigil: running: \(config.cameras.count) camera(s), analysis \(analysis == nil ? "OFF" : "on"), health \(state.health.level)")
        try await withThrowingTaskGroup(of: Void.self) { g in
            g.addTask { try await group.run() }
            g.addTask { [stopAll] in
                while !stopAll.isStopped && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(100)) }
                if stopAll.isStopped { await group.triggerGracefulShutdown() }
            }
            try await g.next()
            g.cancelAll()
        }
        await syncRunner.cancelAndWait()  // a console-started sync, too
        try? counters?.flush()
        clock.save()
        _ = try? audit?.append("agent.stop", [("frames", .int(Int64(analysis?.framesProcessed ?? 0))), ("hits", .int(Int64(analysis?.hits ?? 0)))])
        log("vigil: stopped: \(analysis?.framesProcessed ?? 0) frames analysed, \(analysis?.hits ?? 0) hit(s) sealed")
        if let a = analysis, a.framesProcessed > 1, let first = a.firstFrameAt, let last = a.lastFrameAt {
            func ms(_ v: Double?) -> String { v.map { String(Int(($0 * 10).rounded()) / 10) + "." + String(Int(($0 * 10).rounded()) % 10) } ?? "-" }
            let secs = Double(first.duration(to: last).nanosecondsClamped) / 1e9
            let fps = secs > 0 ? Double(a.framesProcessed - 1) / secs : 0
            log("vigil: stats: \(ms(fps)) frames/s analysed; capture → analysed p50 \(ms(percentileMilliseconds(a.frameLatencies, 50))) ms, p99 \(ms(percentileMilliseconds(a.frameLatencies, 99))) ms; capture → sealed hit p50 \(ms(percentileMilliseconds(a.hitLatencies, 50))) ms, p99 \(ms(percentileMilliseconds(a.hitLatencies, 99))) ms (\(a.hitLatencies.count) hits)")
            log("vigil: stages: \(a.stages.summary)")
        }
    }

    /// Asks the agent to stop (as SIGTERM does).
    public func stop() { stopAll.stop() }

    // MARK: services

    func makeConsoleService() -> (any Service)? {
        let settings = config.consoleSettings
        guard let tty = settings.tty, access(tty, F_OK) == 0 else {
            if let tty = settings.tty { state.report("console", .degraded, "\(tty) missing") }
            return nil
        }
        let port: SerialPort
        do { port = try SerialPort(path: tty, baud: settings.baud) } catch {
            state.report("console", .degraded, error.description)
            options.log("vigil: console: \(error)")
            return nil
        }
        options.log("vigil: console on \(tty) at \(settings.baud) baud")
        let backend = DeviceConsoleBackend(config: config, audit: audit, leds: leds, ledError: ledError)
        backend.agent = state
        backend.clock = clock
        backend.counters = counters
        backend.syncRunner = syncRunner
        let session = ConsoleSession(options: .init(settings, deviceName: config.string("device.id") ?? "vigil"),
                                     pins: PINFileVerifier(path: settings.pinFile), backend: backend, audit: audit,
                                     config: ConfigWorkspace(path: configPath, document: config),
                                     place: String(tty.split(separator: "/").last ?? "tty"), now: .now(),
                                     lockStatePath: settings.pinFile + ".failures", notices: consoleNotices)
        final class Holder: @unchecked Sendable { let port: SerialPort; let session: ConsoleSession; init(_ p: SerialPort, _ s: ConsoleSession) { port = p; session = s } }
        let h = Holder(port, session)
        return ThreadService(name: "console") { stop in
            ConsoleServer().serve(fd: h.port.fd, session: h.session, pollMilliseconds: 200, shouldStop: { stop.isStopped })
        }
    }

    func makeUploadService() -> (any Service)? {
        guard let url = config.string("upload.url"), let ca = config.string("upload.ca") else { return nil }
        var c = UploadConfig(server: url, caFile: ca, clientCertificate: config.string("upload.client_cert"),
                             clientKey: config.string("upload.client_key"), outbox: layout.outbox)
        c.capacity = Int(config.int("storage.outbox_max_mb") ?? 64) << 20
        return UploadService(config: c, state: state, audit: audit, log: options.log)
    }

    func makeSyncService() -> (any Service)? {
        guard let c = syncConfig(config, store: layout.watchlist) else { return nil }
        let window = DailyWindow(config.string("sync.window") ?? "01:00-05:00") ?? DailyWindow("01:00-05:00")!
        return SyncService(config: c, window: window, runner: syncRunner)
    }
}

public struct AgentError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

func makeDirectoriesQuietly(_ path: String) -> Bool {
    do { try makeDirectories(path); return true } catch { return false }
}

/// Uploads the outbox continuously (the uploader waits quietly while offline). A stop cancels
/// the uploader at once (a PUT in flight is abandoned, its record kept); one last attempt with
/// 2 s in all follows, for hits sealed just before the stop.
package struct UploadService: Service {
    let config: UploadConfig
    let state: AgentState
    let audit: AuditLog?
    let log: @Sendable (String) -> Void
    /// Times the uploader and the last attempt's bound (tests pass a manual clock).
    var clock: any Clock<Duration> = ContinuousClock()

    package init(config: UploadConfig, state: AgentState, audit: AuditLog?, log: @escaping @Sendable (String) -> Void,
                 clock: any Clock<Duration> = ContinuousClock()) {
        self.config = config; self.state = state; self.audit = audit; self.log = log; self.clock = clock
    }

    /// The audit log is anchored off the device through the newest head an acknowledged record
    /// carries, and its pressure (rotated files kept because nothing anchored them) shows in
    /// health: rotation never deletes what has not left the device (issue 16).
    package func anchorAudit(after r: UploadReport) {
        guard let audit else { return }
        if let seq = state.anchorable(acknowledged: r.acknowledged) {
            do throws(AuditError) { try audit.noteAnchored(through: seq) } catch { log("vigil: audit: cannot anchor through seq \(seq): \(error)") }
        }
        switch audit.pressure {
        case .none: state.report("audit", .ok)
        case .unanchoredFilesKept(let n):
            state.report("audit", .degraded, "\(n) rotated audit file(s) kept beyond storage.audit_keep_files: not yet anchored off the device (a hit upload or `vigil audit anchor`)")
        }
    }

    package func run() async throws {
        let uploader = HitUploader(config: config, log: { [log] line in log("vigil: upload: " + line) }, clock: clock)
        await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                do {
                    let r = try await uploader.run(once: true)
                    if r.stopped { break }
                    if r.uploaded > 0 || r.left > 0 {
                        let line = "uploaded \(r.uploaded), \(r.left) left"
                        state.setLastUpload(line)
                        _ = try? audit?.append("upload.result", [("uploaded", .int(Int64(r.uploaded))), ("left", .int(Int64(r.left))), ("quarantined", .int(Int64(r.quarantined)))])
                    }
                    state.report("upload", r.left > 0 ? .degraded : .ok, r.left > 0 ? "\(r.left) hit record(s) waiting" : "")
                    anchorAudit(after: r)
                } catch {
                    if Task.isCancelled { break }
                    let why = explainingClock("\(error)")
                    state.setLastUpload("failed: " + why)
                    state.report("upload", .degraded, why)
                }
                try? await clock.sleep(for: .seconds(2))
            }
        }
        // a last attempt for hits sealed just before the stop, bounded so the agent still exits
        // within systemd's stop timeout; whatever is left stays in the outbox for the next start
        if let r = try? await withDeadline(.seconds(2), on: clock, { try await uploader.run(once: true) }), r.uploaded > 0 {
            anchorAudit(after: r)
            state.setLastUpload("uploaded \(r.uploaded), \(r.left) left")
            _ = try? audit?.append("upload.result", [("uploaded", .int(Int64(r.uploaded))), ("left", .int(Int64(r.left))), ("quarantined", .int(Int64(r.quarantined)))])
        }
    }
}

/// Syncs the watchlist once a day inside the window (docked body-cams: the night), at start-up
/// when no list is installed, and never more than once per 6 hours. The sync runs on the shared
/// `SyncRunner`; a stop cancels it.
struct SyncService: Service {
    let config: SyncConfig
    let window: DailyWindow
    let runner: SyncRunner

    func localMinute() -> Int {
        var t = time(nil)
        var tmv = tm()
        localtime_r(&t, &tmv)
        return Int(tmv.tm_hour) * 60 + Int(tmv.tm_min)
    }

    func run() async throws {
        await cancelWhenGracefulShutdown { [self] in
            var last: MonotonicInstant?
            var first = true
            while !Task.isCancelled {
                let inWindow = window.contains(minuteOfDay: localMinute())
                let due = last.map { $0.duration(to: .now()) > .seconds(6 * 3600) } ?? true
                if due && (inWindow || first), let result = await runner.run(config, by: "agent") {
                    first = false
                    if case .success = result { last = .now() }
                }
                try? await Task.sleep(for: .seconds(60))
            }
        }
    }
}

/// systemd READY/WATCHDOG and the counters flushed every minute.
struct HousekeepingService: Service {
    let agent: VigilAgent

    func run() async throws {
        let notifier = try? SystemdNotifier()
        if notifier == nil { agent.options.log("vigil: NOTIFY_SOCKET is set but unusable: no systemd notifications") }
        _ = try? notifier?.ready()
        let ping = notifier?.watchdogPingInterval ?? .seconds(10)
        var lastFlush = MonotonicInstant.now()
        var wasSynced = agent.clock.wallNow().synchronized
        var healthLine = ""
        let stop = StopFlag()
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !stop.isStopped {
                // the watchdog is fed only while the analysis loop is alive (or there is none)
                let alive: Bool
                if let a = agent.analysis {
                    let beat = MonotonicInstant(nanoseconds: a.heartbeat.load(ordering: .relaxed))
                    alive = beat.nanoseconds == 0 || beat.duration(to: .now()) < .seconds(30)
                } else { alive = true }
                if alive { _ = try? notifier?.watchdog() }
                _ = try? notifier?.status("health \(agent.state.health.level)")
                if lastFlush.duration(to: .now()) > .seconds(60) {
                    try? agent.counters?.flush()
                    agent.clock.save()
                    lastFlush = .now()
                }
                let synced = agent.clock.wallNow().synchronized
                if synced != wasSynced {
                    wasSynced = synced
                    _ = try? agent.audit?.append("clock.sync", [("synchronized", .bool(synced)), ("wall_behind_s", .int(agent.clock.lag()))])
                    agent.state.report("clock", synced ? .ok : .degraded,
                                       synced ? "" : "wall clock not synchronized (NTP): hit times are marked unsynced")
                }
                let end = MonotonicInstant.now().advanced(by: min(ping, .seconds(5)))
                while MonotonicInstant.now() < end && !stop.isStopped {
                    // every change of health goes to the log (journald): what the LEDs showed, and why
                    let h = agent.state.health
                    let line = "vigil: health \(h.level)" + (h.reasons.isEmpty ? "" : ": " + h.reasons.joined(separator: "; "))
                    if line != healthLine { agent.options.log(line); healthLine = line }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        } onGracefulShutdown: {
            _ = try? notifier?.stopping()
            stop.stop()
        }
    }
}
