// Issue 16, item 1: a slow server must not stall sync or upload for ever, hold the console, or
// keep the agent from stopping. Every test talks HTTPS to an in-process server that stalls
// mid-answer; the clients' total deadlines run on a TestClock the test moves, so nothing waits
// for real time (`finishing(within:)` only turns a regression into a failure instead of a hang).
#if canImport(Glibc)
import Glibc
#endif
import Agent
import Audit
import Config
import Console
import Dispatch
import HitUpload
import Hits
import Logging
import PinnedTLS
import ServiceLifecycle
import Testing
import VigilCore
import VigilTestSupport
import Watchlist
import WatchlistSync

/// Keys, a model file and a store for a device that syncs from `server`.
struct SyncFixture {
    let dir = makeTempDirectory("slowsync")
    let signer: AuthorityPrivateKey
    let authorityPub: String
    var model: String { dir + "/model.onnx" }

    init() throws {
        let k = try generateKey(role: .authority, directory: dir + "/keys")
        signer = try AuthorityPrivateKey(file: k.privatePath)
        authorityPub = k.publicPath
        writeTestFile(model, Array("a stand-in embedder".utf8))
    }

    func manifest(version: UInt64, size: UInt64) throws -> [UInt8] {
        try WatchlistManifest.build(version: version, size: size, sha256: [UInt8](repeating: 0x11, count: 32),
                                    bundlePath: "list-\(version).vwl", signer: signer)
    }

    /// Retries off, and an idle timeout longer than any test: only the total deadline can end a stall.
    func config(_ server: StallServer) -> SyncConfig {
        var c = SyncConfig(server: server.url, caFile: server.writeCA(in: dir), clientCertificate: nil, clientKey: nil,
                           store: dir + "/store", authorityKey: authorityPub, embedderModel: model)
        c.retries = 0; c.backoff = 0; c.timeout = 3600
        return c
    }

    var part: String { dir + "/store/staging/list-7.part" }
}

func runSync(_ c: SyncConfig, clock: TestClock, log: @escaping @Sendable (String) -> Void = { _ in }) -> Task<Result<SyncOutcome, SyncError>, Never> {
    Task {
        do throws(SyncError) { return .success(try await syncWatchlist(c, log: log, now: { 1_800_000_000 }, clock: clock)) } catch { return .failure(error) }
    }
}

func fileSize(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : -1
}

/// One sealed record in a fresh outbox.
struct OutboxFixture {
    let dir = makeTempDirectory("slowupload")
    var path: String { dir + "/outbox" }
    let size: Int
    init() throws {
        let box = try Outbox(directory: dir + "/outbox", capacityBytes: 1 << 20)
        let body = HitBody(captureWallMillis: 1_800_000_000_000, captureMonotonicNanos: 1, cameraID: "cam0", watchlistVersion: 7,
                           entryID: [UInt8](repeating: 0x42, count: 16), score: 0.95, threshold: 0.93, embedderID: "dlib_resnet_int8",
                           quality: 0.8, box: [10, 20, 64, 80], mode: .investigative, auditHead: [UInt8](repeating: 0xA5, count: 32))
        size = try box.record(body, device: DeviceSigningKey(), agency: AgencyPrivateKey().publicKey, nowMillis: 1_800_000_000_000).size
    }
    var pending: Int { (try? Outbox(directory: path, capacityBytes: 1 << 20).pending().count) ?? -1 }

    func config(_ server: StallServer) -> UploadConfig {
        var c = UploadConfig(server: server.url, caFile: server.writeCA(in: dir), clientCertificate: nil, clientKey: nil, outbox: path)
        c.retries = 0; c.backoff = 0; c.maxBackoff = 0; c.timeout = 3600
        return c
    }
}

@Suite("Slow servers: total deadlines, background sync, bounded stop (issue 16)")
struct SlowServerTests {
    /// 14 bytes of a 4 KiB manifest, then nothing: AsyncHTTPClient's read timeout alone would
    /// wait for ever (it restarts with every byte); the manifest's fixed cap ends it.
    @Test func aStalledManifestFailsAtItsFixedCap() async throws {
        let f = try SyncFixture()
        let server = try StallServer { _, _ in .stall(status: 200, length: 4096, first: Array("vigil-manifest".utf8)) }
        defer { server.close() }
        let c = f.config(server)
        let clock = TestClock()
        let sync = runSync(c, clock: clock)
        _ = await server.next()
        let cap = transferLimit(bytes: UInt64(WatchlistManifest.maxSize), minimumRate: c.minimumRate, base: c.timeout)
        #expect(cap == .seconds(3604))
        clock.advance(by: cap)
        guard let r = await finishing(within: 20, { await sync.value }) else {
            Issue.record("the sync is still waiting for the manifest: no total deadline"); return
        }
        guard case .failure(.unreachable(let url, 1, let last)) = r else { Issue.record("\(r)"); return }
        #expect(url == server.url + "/manifest")
        #expect(last == "no complete answer within 3604.0 s (a stalled or trickling server); connection closed")
    }

    /// A quarter of the bundle, then nothing: the attempt fails at its deadline, the quarter
    /// stays in staging and the next attempt asks for the rest.
    @Test func aStalledBundleFailsInBoundedTimeAndKeepsWhatArrived() async throws {
        let f = try SyncFixture()
        let manifest = try f.manifest(version: 7, size: 1000)
        let server = try StallServer { req, n in
            if req.uri.hasSuffix("/manifest") { return .full(status: 200, body: manifest) }
            return n == 1 ? .stall(status: 200, length: 1000, first: [UInt8](repeating: 0x56, count: 250)) : .full(status: 503, body: [])
        }
        defer { server.close() }
        var c = f.config(server)
        c.retries = 1
        let clock = TestClock()
        let progress = Events<String>()
        let sync = runSync(c, clock: clock, log: { progress.post($0) })
        _ = await progress.next { $0.hasSuffix("250 of 1000 bytes") }  // written to the staging file
        clock.advance(by: transferLimit(bytes: 1000, minimumRate: c.minimumRate, base: c.timeout))
        guard let r = await finishing(within: 20, { await sync.value }) else {
            Issue.record("the sync is still waiting for the bundle: no total deadline"); return
        }
        guard case .failure(.unreachable(let url, 2, "HTTP 503")) = r else { Issue.record("\(r)"); return }
        #expect(url == server.url + "/list-7.vwl")
        let retry = await server.seen.next { $0.uri == "/list-7.vwl" && $0.range != nil }
        #expect(retry.range == "bytes=250-")
        #expect(fileSize(f.part) == 250)
    }

    /// A stop (task cancellation) ends a stalled download at once, as `.cancelled` — not as a
    /// string of failed retries — and the partial file is kept for the next sync.
    @Test func cancellingASyncStopsItAtOnceAndKeepsThePartialFile() async throws {
        let f = try SyncFixture()
        let manifest = try f.manifest(version: 7, size: 1000)
        let server = try StallServer { req, _ in
            req.uri.hasSuffix("/manifest") ? .full(status: 200, body: manifest) : .stall(status: 200, length: 1000, first: [UInt8](repeating: 0x56, count: 250))
        }
        defer { server.close() }
        var c = f.config(server)
        c.retries = 4
        let progress = Events<String>()
        let sync = runSync(c, clock: TestClock(), log: { progress.post($0) })
        _ = await progress.next { $0.hasSuffix("250 of 1000 bytes") }
        sync.cancel()
        guard let r = await finishing(within: 20, { await sync.value }) else { Issue.record("the cancelled sync did not end"); return }
        #expect(r == .failure(.cancelled))
        #expect(fileSize(f.part) == 250)
    }

    /// The server answers 200 and then trickles the answer's body: AsyncHTTPClient's deadline
    /// ended with the head, so only the PUT's own total deadline ends it; the record is not
    /// taken as acknowledged.
    @Test func aTrickledUploadAnswerFailsAtTheDeadlineAndKeepsTheRecord() async throws {
        let o = try OutboxFixture()
        let server = try StallServer { _, _ in .stall(status: 200, length: 100, first: [0x7B]) }
        defer { server.close() }
        let c = o.config(server)
        let clock = TestClock()
        let uploader = HitUploader(config: c, clock: clock)
        let upload = Task { () -> Result<UploadReport, UploadError> in
            do throws(UploadError) { return .success(try await uploader.run(once: true)) } catch { return .failure(error) }
        }
        let put = await server.next()
        #expect(put.method == "PUT" && put.bodyBytes == o.size)
        let limit = c.putLimit(bytes: o.size)
        clock.advance(by: limit)
        guard let r = await finishing(within: 20, { await upload.value }) else {
            Issue.record("the upload is still reading the answer: no total deadline"); return
        }
        guard case .failure(.unreachable(_, 1, let last)) = r else { Issue.record("\(r)"); return }
        #expect(last == DeadlineExceeded(limit: limit).description)
        #expect(o.pending == 1)
    }

    /// SIGTERM's graceful shutdown during a stalled PUT: the upload service abandons it, makes
    /// its last attempt (stalled too) for at most 2 s, and returns; the record stays queued.
    @Test func aStopDuringAStalledUploadEndsTheServiceWithinItsBound() async throws {
        let o = try OutboxFixture()
        let server = try StallServer { _, _ in .stall(status: 200, length: 100, first: [0x7B]) }
        defer { server.close() }
        let clock = TestClock()
        let service = UploadService(config: o.config(server), state: AgentState(), audit: nil, log: { _ in }, clock: clock)
        let group = ServiceGroup(services: [service], logger: Logger(label: "test"))
        let run = Task { try? await group.run() }
        _ = await server.next()              // the PUT in flight, stalled
        await group.triggerGracefulShutdown()
        _ = await server.next()              // the last attempt, stalled as well
        clock.advance(by: .seconds(2))
        guard await finishing(within: 20, { await run.value }) != nil else {
            Issue.record("the upload service did not stop: the stalled PUT held it"); return
        }
        #expect(o.pending == 1)
    }

    /// `sync now` on the console answers at once while the server stalls; `status` and a second
    /// `sync now` show the running sync; a stop cancels it and the audit log records the end.
    @Test func syncNowAnswersAtOnceWhileTheServerStalls() async throws {
        let f = try SyncFixture()
        let server = try StallServer { _, _ in .stall(status: 200, length: 4096, first: Array("vigil".utf8)) }
        defer { server.close() }
        #expect(mkdir(f.dir + "/data", 0o700) == 0)  // the device's data_dir exists (the package makes it)
        let doc = try ConfigDocument.parse("""
            [device]
            data_dir = "\(f.dir)/data"
            [models]
            embedder = "\(f.model)"
            [keys]
            authority_public = "\(f.authorityPub)"
            [sync]
            url = "\(server.url)"
            ca = "\(server.writeCA(in: f.dir))"
            """, file: f.dir + "/vigil.toml")
        let audit = try AuditLog(directory: f.dir + "/audit")
        let backend = DeviceConsoleBackend(config: doc, audit: audit, leds: nil, ledError: nil)
        let runner = SyncRunner(audit: audit, agent: nil, notices: ConsoleNotices(), log: { _ in }, now: { 1_800_000_000 }, clock: TestClock())
        backend.syncRunner = runner
        final class Held: @unchecked Sendable { let backend: DeviceConsoleBackend; init(_ b: DeviceConsoleBackend) { backend = b } }
        let held = Held(backend)
        // on a thread of its own, as the console's serial loop calls it
        guard let answer = await finishing(within: 20, {
            await withCheckedContinuation { c in DispatchQueue.global().async { c.resume(returning: held.backend.syncNow()) } }
        }) else { Issue.record("`sync now` held the console while the server stalled"); return }
        #expect(answer == ["sync: started in the background; `status` shows its progress, and its result appears here when it ends"])
        guard await finishing(within: 20, { await server.next() }) != nil else {
            Issue.record("the console's sync never reached the server: \(backend.status())"); return
        }
        #expect(backend.syncNow().first?.hasPrefix("sync: already running for ") == true)
        #expect(backend.status().contains { $0.hasPrefix("sync: running for ") && $0.contains("(console)") })
        guard await finishing(within: 20, { await runner.cancelAndWait() }) != nil else { Issue.record("the console's sync did not stop"); return }
        #expect(runner.progressLine == nil)
        let last = try audit.tail(1).first ?? ""
        #expect(last.contains("\"sync.result\"") && last.contains("sync cancelled") && last.contains("\"by\":\"console\""))
    }
}
