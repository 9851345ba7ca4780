// The device's watchlist download over HTTPS (issue 5, point 6).
//
//   GET <server>/manifest → parse and verify the authority's signature (before any field is used)
//   → newer than the highest version ever installed? else "up to date"
//   → GET <server>/<bundle> into <store>/staging/list-<v>.part, resuming a partial file with
//     `Range: bytes=<have>-` (206 appends, 200 restarts), retrying connection errors and 5xx with
//     exponential backoff, optionally paced to a bandwidth cap
//   → every request under a total deadline (PinnedTLS.withDeadline): the manifest within
//     `timeout` + 4 KiB at `min_rate`, the bundle within `timeout` + what is left at `min_rate`
//     (or half the bandwidth cap, when that is lower): a server trickling bytes fails the
//     attempt in bounded time and the partial file is kept for the next attempt's resume
//   → size and SHA-256 against the manifest → WatchlistStore.install (which verifies everything
//     again and activates atomically) → staging file removed.
//
// TLS trusts ONLY the configured CA (the system store is never consulted) and presents the
// device's client certificate. No failure touches the active list. Nothing secret is logged:
// messages name files and hosts, never key material.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AsyncHTTPClient
import Crypto
import NIOCore
import NIOSSL
import PinnedTLS
import VigilCore
import Watchlist

// MARK: configuration

/// `key = value` lines; `#` starts a comment; unknown keys are refused (a typo must not silently
/// drop, say, the bandwidth cap).
public struct SyncConfig: Sendable, Equatable {
    /// https://host[:port][/path]: the manifest is <server>/manifest.
    public var server: String
    /// The one CA that may sign the server's certificate (PEM).
    public var caFile: String
    /// The device's client certificate and key (PEM); both or neither.
    public var clientCertificate: String?
    public var clientKey: String?
    public var store: String
    public var authorityKey: String
    public var embedderModel: String
    /// The landmark model (`landmarks =`); nil: `EmbeddingPipeline`'s rule (beside the embedder).
    public var landmarksModel: String?
    /// Bytes per second; nil: unpaced.
    public var bandwidth: Int?
    /// Extra attempts after the first, for connection errors and 5xx.
    public var retries: Int = 4
    /// First backoff in seconds; doubles on every retry.
    public var backoff: Double = 1
    /// Seconds without progress before a connection is given up (connect and read); also the
    /// base of every request's total deadline.
    public var timeout: Double = 30
    /// Bytes per second a download must at least average: with `timeout`, it sets each
    /// request's total deadline (AsyncHTTPClient's read timeout restarts with every byte, so
    /// without it a trickling server stalls the sync for ever).
    public var minimumRate: Int = 1024

    public init(server: String, caFile: String, clientCertificate: String?, clientKey: String?, store: String,
                authorityKey: String, embedderModel: String) {
        self.server = server; self.caFile = caFile; self.clientCertificate = clientCertificate; self.clientKey = clientKey
        self.store = store; self.authorityKey = authorityKey; self.embedderModel = embedderModel
    }

    public static let keys = ["server", "ca", "client_cert", "client_key", "store", "authority_key", "embedder", "landmarks",
                              "bandwidth", "retries", "backoff", "timeout", "min_rate"]

    public init(parsing text: String, path: String = "config") throws(SyncError) {
        let values: [String: String]
        do { values = try parseKeyValueFile(text, path: path, known: Self.keys) } catch { throw .config(error.message) }
        func required(_ k: String) throws(SyncError) -> String {
            guard let v = values[k] else { throw .config("\(path): missing '\(k)'") }
            return v
        }
        var server = try required("server")
        guard server.hasPrefix("https://"), server.count > 8 else { throw .config("\(path): server must be an https:// URL (plain http is refused)") }
        while server.hasSuffix("/") { server.removeLast() }
        self.init(server: server, caFile: try required("ca"), clientCertificate: values["client_cert"], clientKey: values["client_key"],
                  store: try required("store"), authorityKey: try required("authority_key"), embedderModel: try required("embedder"))
        guard (clientCertificate == nil) == (clientKey == nil) else { throw .config("\(path): client_cert and client_key go together") }
        landmarksModel = values["landmarks"]
        if let b = values["bandwidth"] {
            guard let n = Int(b), n > 0 else { throw .config("\(path): bandwidth must be a positive number of bytes per second") }
            bandwidth = n
        }
        if let r = values["retries"] {
            guard let n = Int(r), n >= 0, n <= 20 else { throw .config("\(path): retries must be 0...20") }
            retries = n
        }
        if let b = values["backoff"] {
            guard let d = Double(b), d.isFinite, d >= 0, d <= 3600 else { throw .config("\(path): backoff must be 0...3600 seconds") }
            backoff = d
        }
        if let t = values["timeout"] {
            guard let d = Double(t), d.isFinite, d > 0, d <= 3600 else { throw .config("\(path): timeout must be in (0, 3600] seconds") }
            timeout = d
        }
        if let r = values["min_rate"] {
            guard let n = Int(r), n >= 1, n <= 1 << 30 else { throw .config("\(path): min_rate must be 1...\(1 << 30) bytes per second") }
            minimumRate = n
        }
    }

    /// The rate a download's deadline assumes: `minimumRate`, or half the bandwidth cap when
    /// pacing makes the transfer slower than that.
    var deadlineRate: Int { bandwidth.map { min(minimumRate, max(1, $0 / 2)) } ?? minimumRate }

    public init(file path: String) throws(SyncError) {
        let bytes: [UInt8]
        do { bytes = try readFile(path, maximumBytes: ReadLimit.config) } catch { throw .config("\(error)") }
        try self.init(parsing: String(decoding: bytes, as: UTF8.self), path: path)
    }
}


// MARK: errors and outcome

public enum SyncError: Error, Equatable, CustomStringConvertible {
    case config(String)
    /// Loading the CA, client certificate or key (the message names the file, never its contents).
    case credentials(String)
    /// The TLS handshake failed: untrusted server certificate, name mismatch, protocol error.
    case tls(String)
    /// The server refused the client certificate (nginx answers 400 when none or a bad one is sent).
    case clientCertificateRefused(String)
    /// Connection errors or 5xx, still failing after every retry.
    case unreachable(url: String, attempts: Int, last: String)
    case http(url: String, status: Int)
    case manifest(WatchlistError)
    case manifestSignature
    case rollback(offered: UInt64, highestInstalled: UInt64)
    case tooLarge(url: String, limit: UInt64)
    case sizeMismatch(expected: UInt64, actual: UInt64)
    case hashMismatch(expected: String, actual: String)
    case versionMismatch(manifest: UInt64, bundle: UInt64)
    case diskFull(path: String)
    case storage(FileError)
    case installRefused(version: UInt64, WatchlistError)
    case store(WatchlistError)
    /// The sync was cancelled (the agent is stopping); a partial bundle stays in staging.
    case cancelled

    public var description: String {
        switch self {
        case .config(let s): "sync config: \(s)"
        case .credentials(let s): "TLS credentials: \(s)"
        case .tls(let s): "TLS handshake failed: \(s)"
        case .clientCertificateRefused(let s): "server refused the client certificate: \(s)"
        case .unreachable(let u, let n, let last): "\(u): failed after \(n) attempt\(n == 1 ? "" : "s"): \(last)"
        case .http(let u, let s): "\(u): HTTP \(s)"
        case .manifest(let e):
            if case .badField(let f) = e { "manifest refused: " + (f.hasPrefix("manifest: ") ? String(f.dropFirst(10)) : f) } else { "manifest refused: \(e)" }
        case .manifestSignature: "manifest signature does not verify: the manifest was altered or not signed by the configured authority"
        case .rollback(let o, let h): "rollback refused: server offers version \(o), older than the highest ever installed (\(h))"
        case .tooLarge(let u, let l): "\(u): server sent more than the manifest's \(l) bytes; download discarded"
        case .sizeMismatch(let e, let a): "downloaded bundle is \(a) bytes, the manifest says \(e); download discarded"
        case .hashMismatch(let e, let a): "downloaded bundle SHA-256 \(a) does not match the manifest's \(e); download discarded"
        case .versionMismatch(let m, let b): "bundle is version \(b), the manifest announced \(m); download discarded"
        case .diskFull(let p): "disk full while writing \(p); partial download removed"
        case .storage(let e): "staging: \(e)"
        case .installRefused(let v, let e): "bundle v\(v) refused by the store: \(e)"
        case .store(let e): "watchlist store: \(e)"
        case .cancelled: "sync cancelled (stopping); a partial download is kept and resumed next time"
        }
    }
}

public enum SyncOutcome: Sendable, Equatable {
    case upToDate(version: UInt64)
    case installed(InstallReport, resumedFrom: UInt64, attempts: Int)
}

// MARK: the sync

/// One sync run. `log` receives progress lines (retries, resumes); nothing secret.
///
/// `now` judges the new list's validity (issued, expires): the agent passes its fail-safe time
/// (the latest wall time it has seen), so a device whose clock runs behind cannot install a list
/// that has already expired.
///
/// Cancelling the calling task stops the sync promptly (`SyncError.cancelled`); `clock` times
/// the requests' deadlines and the retry backoff (tests pass a manual clock).
public func syncWatchlist(_ config: SyncConfig, log: @escaping @Sendable (String) -> Void = { _ in },
                          now: @escaping @Sendable () -> Int64 = { Int64(time(nil)) },
                          clock: any Clock<Duration> = ContinuousClock()) async throws(SyncError) -> SyncOutcome {
    do {
        func run<C: Clock>(on clock: C) async throws -> SyncOutcome where C.Duration == Duration {
            try await Syncer(config: config, log: log, now: now, clock: clock).run()
        }
        return try await run(on: clock)
    } catch let e as SyncError {
        throw e
    } catch {
        if Task.isCancelled { throw .cancelled }
        throw .storage(FileError(path: config.store, operation: "sync (\(error))", errno: Errno(rawValue: 0)))
    }
}

/// Whether an error from the HTTP stack is a TLS handshake failure (final) rather than a dropped
/// connection (retried).
func tlsFailure(_ error: any Error) -> String? {
    if let e = error as? NIOSSLError {
        switch e {
        case .handshakeFailed(let stack): return reasons(in: "\(stack)")
        default: return nil
        }
    }
    if let e = error as? NIOSSLExtraError { return "\(e)" }
    if let e = error as? BoringSSLError { return reasons(in: "\(e)") }
    return nil
}

/// BoringSSL's reason codes (e.g. CERTIFICATE_VERIFY_FAILED) from an error stack's text, without
/// its source paths; explained where the cause is known.
func reasons(in text: String) -> String {
    var codes: [String] = []
    var rest = Substring(text)
    while let r = rest.range(of: "OPENSSL_internal:") {
        let code = rest[r.upperBound...].prefix { $0.isUppercase || $0.isNumber || $0 == "_" }
        if !code.isEmpty, !codes.contains(String(code)) { codes.append(String(code)) }
        rest = rest[r.upperBound...]
    }
    guard !codes.isEmpty else { return text }
    var out = codes.joined(separator: ", ")
    if codes.contains("CERTIFICATE_VERIFY_FAILED") {
        out += " (the server's certificate does not chain to the pinned CA, or does not name the server's host)"
    }
    return out
}

struct Syncer<C: Clock> where C.Duration == Duration {
    let config: SyncConfig
    let log: @Sendable (String) -> Void
    let now: @Sendable () -> Int64
    let clock: C

    var stagingDirectory: String { config.store + "/staging" }

    func run() async throws -> SyncOutcome {
        // Everything local first: a broken device config fails before the network is touched.
        let store: WatchlistStore
        let authority: AuthorityPublicKey
        do {
            authority = try AuthorityPublicKey(file: config.authorityKey)
            store = try WatchlistStore(directory: config.store, authority: authority,
                                       embedder: try EmbedderIdentity(pipelineFor: config.embedderModel, landmarks: config.landmarksModel), now: now)
        } catch let e as WatchlistError { throw SyncError.store(e) } catch let e as FileError { throw SyncError.store(.storage(e)) }
        let tls = try makeTLS()

        var httpConfig = HTTPClient.Configuration(tlsConfiguration: tls)
        httpConfig.redirectConfiguration = .disallow
        httpConfig.decompression = .disabled
        httpConfig.timeout = .init(connect: .milliseconds(Int64(config.timeout * 1000)), read: .milliseconds(Int64(config.timeout * 1000)))
        httpConfig.connectionPool.retryConnectionEstablishment = false  // our own retries, with our backoff
        httpConfig.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfig)
        do {
            let outcome = try await sync(client: client, store: store, authority: authority)
            try? await client.shutdown()
            return outcome
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Only the configured CA is trusted, never the system store (PinnedTLS).
    func makeTLS() throws -> TLSConfiguration {
        do { return try pinnedClientTLS(caFile: config.caFile, clientCertificate: config.clientCertificate, clientKey: config.clientKey) } catch {
            throw SyncError.credentials(error.message)
        }
    }

    func sync(client: HTTPClient, store: WatchlistStore, authority: AuthorityPublicKey) async throws -> SyncOutcome {
        // 1. the manifest: small, signed; verified before any field is used
        let manifestURL = config.server + "/manifest"
        let manifestBytes = try await fetchSmall(client: client, url: manifestURL, limit: WatchlistManifest.maxSize)
        let manifest: WatchlistManifest
        do { manifest = try WatchlistManifest(parsing: manifestBytes) } catch { throw SyncError.manifest(error) }
        do { try manifest.verify(with: authority) } catch { throw SyncError.manifestSignature }

        let highest = store.highestInstalledVersion
        if manifest.version == highest { return .upToDate(version: highest) }
        if manifest.version < highest { throw SyncError.rollback(offered: manifest.version, highestInstalled: highest) }

        // 2. the bundle, into staging (resumable)
        do { try makeDirectories(stagingDirectory) } catch { throw SyncError.storage(error) }
        let part = stagingDirectory + "/list-\(manifest.version).part"
        removeOtherPartials(keeping: "list-\(manifest.version).part")
        let bundleURL = config.server + "/" + manifest.bundlePath
        let (resumedFrom, attempts) = try await download(client: client, url: bundleURL, to: part, size: manifest.size)

        // 3. size and hash, then the store (which verifies signature, version, expiry, embedder)
        let bytes: [UInt8]
        do { bytes = try readFile(part, maximumBytes: ReadLimit.bundle, symlinks: .refuse) } catch { throw SyncError.storage(error) }
        guard UInt64(bytes.count) == manifest.size else {
            discard(part)
            throw SyncError.sizeMismatch(expected: manifest.size, actual: UInt64(bytes.count))
        }
        let digest = Array(SHA256.hash(data: bytes))
        guard digest == manifest.sha256 else {
            discard(part)
            throw SyncError.hashMismatch(expected: hex(manifest.sha256), actual: hex(digest))
        }
        if let b = try? WatchlistBundle(parsing: bytes), b.header.listVersion != manifest.version {
            discard(part)
            throw SyncError.versionMismatch(manifest: manifest.version, bundle: b.header.listVersion)
        }
        let report: InstallReport
        do { report = try store.install(bytes) } catch {
            discard(part)
            throw SyncError.installRefused(version: manifest.version, error)
        }
        discard(part)
        return .installed(report, resumedFrom: resumedFrom, attempts: attempts)
    }

    func discard(_ path: String) {
        unlink(path)
        try? syncDirectory(containing: path)
    }

    /// Partial downloads of other versions are stale once a newer manifest appeared.
    func removeOtherPartials(keeping name: String) {
        guard let d = opendir(stagingDirectory) else { return }
        defer { closedir(d) }
        var doomed: [String] = []
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if n.hasPrefix("list-"), n.hasSuffix(".part"), n != name { doomed.append(n) }
        }
        for n in doomed { unlink(stagingDirectory + "/" + n) }
    }

    // MARK: HTTP with retries

    /// Sleeps before retry `attempt` (1-based): backoff × 2^(attempt-1). A stop ends the wait.
    func backoff(_ attempt: Int, url: String, reason: String) async throws {
        let seconds = config.backoff * Double(1 << min(attempt - 1, 16))
        log("\(url): \(reason); retry \(attempt)/\(config.retries) in \(format(seconds)) s")
        if seconds > 0 {
            do { try await clock.sleep(for: .milliseconds(Int64(seconds * 1000))) } catch { throw SyncError.cancelled }
        }
    }

    enum Attempt: Error { case retry(String) }

    func isRetryableStatus(_ s: Int) -> Bool { s == 500 || s == 502 || s == 503 || s == 504 || s == 429 }

    /// Maps a non-success status to a final error; 400 from a server that demands client
    /// certificates means ours was missing or refused (nginx puts the reason in the page title).
    func statusError(url: String, status: Int, body: [UInt8]) -> SyncError {
        let text = String(decoding: body.prefix(2048), as: UTF8.self)
        if status == 400, text.contains("SSL certificate") || text.contains("certificate") {
            var reason = "HTTP 400"
            if let a = text.range(of: "<title>"), let b = text.range(of: "</title>"), a.upperBound <= b.lowerBound {
                reason += ": " + String(text[a.upperBound..<b.lowerBound]).filter { $0.isASCII && !$0.isNewline }
            }
            return .clientCertificateRefused(reason)
        }
        return .http(url: url, status: status)
    }

    func classify(_ error: any Error) throws -> String {
        if Task.isCancelled { throw SyncError.cancelled }
        if let e = error as? SyncError { throw e }
        if let t = tlsFailure(error) { throw SyncError.tls(t) }
        return "\(error)"
    }

    /// A small document (the manifest): the whole answer within `timeout` + `limit` bytes at
    /// the minimum rate — a fixed cap, however the server paces it.
    func fetchSmall(client: HTTPClient, url: String, limit: Int) async throws -> [UInt8] {
        var attempt = 0
        let total = transferLimit(bytes: UInt64(limit), minimumRate: config.deadlineRate, base: config.timeout)
        while true {
            do {
                return try await withDeadline(total, clock: clock) { [self] in
                    let response = try await client.execute(HTTPClientRequest(url: url), timeout: TimeAmount(total))
                    let status = Int(response.status.code)
                    var body: [UInt8] = []
                    for try await chunk in response.body {
                        body += chunk.readableBytesView
                        guard body.count <= limit else { throw SyncError.tooLarge(url: url, limit: UInt64(limit)) }
                    }
                    try Task.checkCancellation()  // a cancelled body may end early: never parse it
                    if status == 200 { return body }
                    if isRetryableStatus(status) { throw Attempt.retry("HTTP \(status)") }
                    throw statusError(url: url, status: status, body: body)
                }
            } catch {
                let reason: String
                if case Attempt.retry(let r) = error { reason = r } else { reason = try classify(error) }
                attempt += 1
                guard attempt <= config.retries else { throw SyncError.unreachable(url: url, attempts: attempt, last: reason) }
                try await backoff(attempt, url: url, reason: reason)
            }
        }
    }

    /// Downloads into `part` until it holds `size` bytes; returns the offset the first attempt
    /// resumed from and the number of attempts.
    func download(client: HTTPClient, url: String, to part: String, size: UInt64) async throws -> (UInt64, Int) {
        var attempt = 0
        var resumedFrom: UInt64? = nil
        while true {
            do {
                let have = fileSize(part)
                if resumedFrom == nil { resumedFrom = have }
                if have > size {
                    discard(part)
                    throw SyncError.tooLarge(url: url, limit: size)
                }
                if have == size { return (resumedFrom ?? 0, attempt + 1) }
                if have > 0 { log("\(url): resuming at byte \(have) of \(size)") }
                // the whole attempt in bounded time; what arrived before the deadline stays in
                // `part` for the next attempt's Range request
                let total = transferLimit(bytes: size - have, minimumRate: config.deadlineRate, base: config.timeout)
                try await withDeadline(total, clock: clock) { [self] in
                    try await fetchOnce(client: client, url: url, to: part, have: have, size: size, limit: total)
                }
                let now = fileSize(part)
                if now == size { return (resumedFrom ?? 0, attempt + 1) }
                throw Attempt.retry("body ended at byte \(now) of \(size)")
            } catch {
                let reason: String
                if case Attempt.retry(let r) = error { reason = r } else { reason = try classify(error) }
                attempt += 1
                guard attempt <= config.retries else { throw SyncError.unreachable(url: url, attempts: attempt, last: reason) }
                try await backoff(attempt, url: url, reason: reason)
            }
        }
    }

    /// One GET of the bundle into `part` (the caller's deadline bounds it, body included).
    func fetchOnce(client: HTTPClient, url: String, to part: String, have: UInt64, size: UInt64, limit: Duration) async throws {
        var request = HTTPClientRequest(url: url)
        if have > 0 { request.headers.add(name: "Range", value: "bytes=\(have)-") }
        let response = try await client.execute(request, timeout: TimeAmount(limit))
        let status = Int(response.status.code)
        let append: Bool
        switch status {
        case 206 where have > 0:
            // the range must start where our file ends
            let cr = response.headers.first(name: "content-range") ?? ""
            guard cr.hasPrefix("bytes \(have)-") else {
                discard(part)
                throw Attempt.retry("206 with Content-Range '\(cr.prefix(60))' for a request from byte \(have); restarting")
            }
            append = true
        case 200:
            if have > 0 { log("\(url): server ignored the range; restarting from byte 0") }
            append = false
        case 416 where have > 0:
            discard(part)  // our partial file does not fit the server's file: start over
            throw Attempt.retry("HTTP 416 for a resume at byte \(have); restarting")
        default:
            var body: [UInt8] = []
            for try await chunk in response.body { if body.count < 4096 { body += chunk.readableBytesView } }
            try Task.checkCancellation()
            if isRetryableStatus(status) { throw Attempt.retry("HTTP \(status)") }
            throw statusError(url: url, status: status, body: body)
        }

        // O_NOFOLLOW and a regular-file check (issue 16): a link planted in staging must not make
        // a root-run sync overwrite the file it points to.
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (append ? O_APPEND : O_TRUNC)
        let fd = open(part, flags, 0o600)
        guard fd >= 0 else {
            let e = Errno.current
            throw SyncError.storage(FileError(path: part, operation: e.rawValue == ELOOP ? "open (a symbolic link, refused in Vigil's own directories)" : "open", errno: e))
        }
        var closed = false
        defer { if !closed { close(fd) } }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw SyncError.storage(FileError(path: part, operation: "write (not a regular file)", errno: Errno(rawValue: EINVAL)))
        }
        var written = append ? have : 0
        var paced: UInt64 = 0
        let start = clock.now
        var quarter = written * 4 / max(size, 1)  // progress lines at each quarter
        for try await chunk in response.body {
            guard written + UInt64(chunk.readableBytes) <= size else {
                close(fd); closed = true
                discard(part)
                throw SyncError.tooLarge(url: url, limit: size)
            }
            let err: Int32 = chunk.withUnsafeReadableBytes { raw in
                var done = 0
                while done < raw.count {
                    let r = write(fd, raw.baseAddress! + done, raw.count - done)
                    if r < 0 { if errno == EINTR { continue }; return errno }
                    done += r
                }
                return 0
            }
            if err != 0 {
                close(fd); closed = true
                discard(part)
                if err == ENOSPC || err == EDQUOT { throw SyncError.diskFull(path: part) }
                throw SyncError.storage(FileError(path: part, operation: "write", errno: Errno(rawValue: err)))
            }
            written += UInt64(chunk.readableBytes)
            paced += UInt64(chunk.readableBytes)
            if written * 4 / max(size, 1) > quarter {
                quarter = written * 4 / max(size, 1)
                if written < size { log("\(url): \(written) of \(size) bytes") }
            }
            if let cap = config.bandwidth {
                let due = Double(paced) / Double(cap)
                let elapsed = start.duration(to: clock.now)
                let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                if due > elapsedSeconds { try await clock.sleep(for: .milliseconds(Int64((due - elapsedSeconds) * 1000))) }
            }
        }
        // a cancelled body ends early, like a dropped one: the bytes so far stay for a resume
        try Task.checkCancellation()
        // durable before it is hashed and installed (a crash now resumes, never re-hashes garbage)
        if fsync(fd) != 0 {
            let e = errno
            close(fd); closed = true
            if e == ENOSPC || e == EDQUOT { discard(part); throw SyncError.diskFull(path: part) }
            throw SyncError.storage(FileError(path: part, operation: "fsync", errno: Errno(rawValue: e)))
        }
    }

    /// The partial file's size; a link there is not ours (issue 16): it is removed (the link, not
    /// its target) and the download starts over.
    func fileSize(_ path: String) -> UInt64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        if (st.st_mode & S_IFMT) == S_IFLNK { discard(path); return 0 }
        return UInt64(max(st.st_size, 0))
    }

    func format(_ s: Double) -> String {
        let tenths = Int((s * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
