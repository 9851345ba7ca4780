// One watchlist sync at a time, in the background (issue 16, item 1).
//
// The daily schedule (SyncService) and the console's `sync now` share one runner: the console
// answers at once instead of holding its thread for the whole download (a trickling server held
// it for minutes), two syncs never write the same staging file, and `status` shows what the
// running sync is doing. A stop cancels it (`cancelAndWait`): the agent's stop never waits for a
// download.
#if canImport(Glibc)
import Glibc
#endif
import Audit
import Config
import Console
import Synchronization
import VigilCore
import WatchlistSync

/// The sync configuration of a device configuration; nil when sync is not configured.
package func syncConfig(_ config: ConfigDocument, store: String) -> SyncConfig? {
    guard let url = config.string("sync.url"), let ca = config.string("sync.ca"),
          let pub = config.string("keys.authority_public"), let model = config.string("models.embedder") else { return nil }
    var c = SyncConfig(server: url, caFile: ca, clientCertificate: config.string("sync.client_cert"), clientKey: config.string("sync.client_key"),
                       store: store, authorityKey: pub, embedderModel: model)
    c.landmarksModel = config.string("models.landmarks")
    if let k = config.int("sync.max_kbps"), k > 0 { c.bandwidth = Int(k) * 1000 / 8 }
    return c
}

/// One line for a sync's result (console, log, `status`).
package func describe(_ result: Result<SyncOutcome, SyncError>) -> String {
    switch result {
    case .success(.upToDate(let v)): "up to date (v\(v))"
    case .success(.installed(let r, _, _)): "installed watchlist v\(r.version) (\(r.entries) entries)"
    case .failure(let e): "failed: " + explainingClock("\(e)")
    }
}

public final class SyncRunner: Sendable {
    struct Running {
        var task: Task<Result<SyncOutcome, SyncError>, Never>
        var by: String
        var started: MonotonicInstant
        var progress: String?
    }
    private let running = Mutex<Running?>(nil)
    let audit: AuditLog?
    let agent: AgentState?
    let notices: ConsoleNotices?
    let log: @Sendable (String) -> Void
    let now: @Sendable () -> Int64
    let clock: any Clock<Duration>

    /// `agent`: health and "last sync" of the running agent; `notices`: where the result of a
    /// console-started sync is shown to a logged-in technician; `now`: the fail-safe time lists
    /// are judged by.
    package init(audit: AuditLog?, agent: AgentState?, notices: ConsoleNotices?, log: @escaping @Sendable (String) -> Void,
                 now: @escaping @Sendable () -> Int64, clock: any Clock<Duration> = ContinuousClock()) {
        self.audit = audit; self.agent = agent; self.notices = notices; self.log = log; self.now = now; self.clock = clock
    }

    /// Starts a sync in the background unless one is running; false when one is.
    package func start(_ config: SyncConfig, by: String) -> Bool { launch(config, by: by) != nil }

    /// Runs a sync and waits for its result (cancelling the caller cancels the sync); nil when
    /// one was already running.
    package func run(_ config: SyncConfig, by: String) async -> Result<SyncOutcome, SyncError>? {
        guard let task = launch(config, by: by) else { return nil }
        return await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
    }

    /// "running for 12 s (console): <last progress line>", or nil when no sync runs.
    package var progressLine: String? {
        running.withLock { r in
            r.map { "running for \($0.started.duration(to: .now()).components.seconds) s (\($0.by))" + ($0.progress.map { ": " + $0 } ?? "") }
        }
    }

    /// Cancels the running sync, if any, and waits until it has ended (promptly: the sync honours
    /// cancellation; a partial download stays in staging).
    package func cancelAndWait() async {
        guard let task = running.withLock({ $0?.task }) else { return }
        task.cancel()
        _ = await task.value
    }

    private func launch(_ config: SyncConfig, by: String) -> Task<Result<SyncOutcome, SyncError>, Never>? {
        running.withLock { r -> Task<Result<SyncOutcome, SyncError>, Never>? in
            guard r == nil else { return nil }
            agent?.report("sync", .degraded, "sync running")
            let task = Task.detached { [self] in await body(config, by: by) }
            r = Running(task: task, by: by, started: .now())
            return task
        }
    }

    private func body(_ config: SyncConfig, by: String) async -> Result<SyncOutcome, SyncError> {
        let result: Result<SyncOutcome, SyncError>
        do throws(SyncError) {
            result = .success(try await syncWatchlist(config, log: { [self] line in
                log("vigil: sync: " + line)
                running.withLock { $0?.progress = String(line.prefix(160)) }
            }, now: now, clock: clock))
        } catch { result = .failure(error) }
        auditSync(audit, result, by: by)
        let text = describe(result)
        log("vigil: sync: " + text)
        if let agent {
            agent.setLastSync(text)
            if case .success(.installed) = result { agent.listInstalled() }
            agent.report("sync", .ok)
        }
        if by == "console" { notices?.post("sync: " + text) }
        running.withLock { $0 = nil }
        return result
    }
}
