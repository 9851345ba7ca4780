// The device's hit upload over HTTPS (issue 6, point 3).
//
//   for each pending record of the outbox, in sequence order:
//     PUT <server>/hits/<id>  (the sealed bytes, application/octet-stream)
//     200/201/204            → Outbox.acknowledge (unlink + fsync dir), next record
//     connection error, 5xx, 408, 429
//                            → the same record again after an exponential backoff with jitter
//                              (Retry-After honoured), capped at max_backoff
//     any other status       → stop with an error; the record stays in the outbox
//
// A PUT is idempotent by id: after a crash or a lost answer the same bytes go to the same URL
// again, and the server keeps one file per id. A record is deleted only after the server answered
// 2xx for it. Every PUT — the record out, the answer's head AND body back — runs under one total
// deadline (`timeout` + the record and a 4 KiB answer at `min_rate`): a server that trickles its
// answer costs one bounded attempt, never the uploader. Cancelling the task stops the uploader at
// once: a PUT in flight is abandoned and its record stays queued for the next run. TLS trusts ONLY the configured CA and presents the device's client certificate (the
// same TLS set-up as WatchlistSync). Offline, the uploader waits quietly: one line when the
// server becomes unreachable, one when it is back. Nothing secret is logged.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AsyncHTTPClient
import Hits
import NIOCore
import NIOSSL
import PinnedTLS
import VigilCore

// MARK: configuration

/// `key = value` lines; `#` starts a comment; unknown keys are refused.
public struct UploadConfig: Sendable, Equatable {
    /// https://host[:port][/path]: records go to <server>/hits/<id>.
    public var server: String
    /// The one CA that may sign the server's certificate (PEM).
    public var caFile: String
    /// The device's client certificate and key (PEM); both or neither.
    public var clientCertificate: String?
    public var clientKey: String?
    /// The outbox directory (Hits.Outbox).
    public var outbox: String
    /// The outbox's capacity in bytes (as the agent opens it).
    public var capacity: Int = 64 << 20
    /// First backoff in seconds; doubles on every consecutive failure, up to `maxBackoff`.
    public var backoff: Double = 1
    public var maxBackoff: Double = 300
    /// `--once` only: consecutive failed attempts (connection errors, 5xx, 408, 429) before it
    /// gives up. Without `--once` the uploader retries for ever.
    public var retries: Int = 8
    /// Seconds for connect, and without progress; the base of every PUT's total deadline.
    public var timeout: Double = 30
    /// Bytes per second a PUT must at least average (record out, answer back): with `timeout`,
    /// its total deadline.
    public var minimumRate: Int = 1024

    public init(server: String, caFile: String, clientCertificate: String?, clientKey: String?, outbox: String) {
        self.server = server; self.caFile = caFile; self.clientCertificate = clientCertificate; self.clientKey = clientKey
        self.outbox = outbox
    }

    public static let keys = ["server", "ca", "client_cert", "client_key", "outbox", "capacity", "backoff", "max_backoff",
                              "retries", "timeout", "min_rate"]

    public init(parsing text: String, path: String = "config") throws(UploadError) {
        let values: [String: String]
        do { values = try parseKeyValueFile(text, path: path, known: Self.keys) } catch { throw .config(error.message) }
        func required(_ k: String) throws(UploadError) -> String {
            guard let v = values[k] else { throw .config("\(path): missing '\(k)'") }
            return v
        }
        var server = try required("server")
        guard server.hasPrefix("https://"), server.count > 8 else { throw .config("\(path): server must be an https:// URL (plain http is refused)") }
        while server.hasSuffix("/") { server.removeLast() }
        self.init(server: server, caFile: try required("ca"), clientCertificate: values["client_cert"], clientKey: values["client_key"],
                  outbox: try required("outbox"))
        guard (clientCertificate == nil) == (clientKey == nil) else { throw .config("\(path): client_cert and client_key go together") }
        if let c = values["capacity"] {
            guard let n = Int(c), n > 0 else { throw .config("\(path): capacity must be a positive number of bytes") }
            capacity = n
        }
        func seconds(_ k: String, _ range: ClosedRange<Double>) throws(UploadError) -> Double? {
            guard let s = values[k] else { return nil }
            guard let d = Double(s), d.isFinite, range.contains(d) else { throw .config("\(path): \(k) must be \(range.lowerBound)...\(range.upperBound) seconds") }
            return d
        }
        if let d = try seconds("backoff", 0...3600) { backoff = d }
        if let d = try seconds("max_backoff", 0...86400) { maxBackoff = d }
        guard maxBackoff >= backoff else { throw .config("\(path): max_backoff must be at least backoff") }
        if let d = try seconds("timeout", 0.1...3600) { timeout = d }
        if let r = values["retries"] {
            guard let n = Int(r), n >= 0, n <= 1000 else { throw .config("\(path): retries must be 0...1000") }
            retries = n
        }
        if let r = values["min_rate"] {
            guard let n = Int(r), n >= 1, n <= 1 << 30 else { throw .config("\(path): min_rate must be 1...\(1 << 30) bytes per second") }
            minimumRate = n
        }
    }

    /// The whole PUT of a `bytes`-long record: out, and an answer of up to 4 KiB back.
    package func putLimit(bytes: Int) -> Duration {
        transferLimit(bytes: UInt64(bytes) + 4096, minimumRate: minimumRate, base: timeout)
    }

    public init(file path: String) throws(UploadError) {
        let bytes: [UInt8]
        do { bytes = try readFile(path, maximumBytes: ReadLimit.config) } catch { throw .config("\(error)") }
        try self.init(parsing: String(decoding: bytes, as: UTF8.self), path: path)
    }
}


// MARK: errors and report

public enum UploadError: Error, Equatable, CustomStringConvertible {
    case config(String)
    case credentials(String)
    case tls(String)
    case clientCertificateRefused(String)
    /// `--once`: still failing after `retries` consecutive attempts; the record is kept.
    case unreachable(url: String, attempts: Int, last: String)
    /// A final refusal (4xx other than 408/429, 3xx, ...): the record is kept.
    case refused(url: String, status: Int)
    case badRecordName(String)
    case outbox(OutboxError)

    public var description: String {
        switch self {
        case .config(let s): "upload config: \(s)"
        case .credentials(let s): "TLS credentials: \(s)"
        case .tls(let s): "TLS handshake failed: \(s)"
        case .clientCertificateRefused(let s): "server refused the client certificate: \(s); record kept in the outbox"
        case .unreachable(let u, let n, let last): "\(u): failed after \(n) attempt\(n == 1 ? "" : "s"): \(last); record kept in the outbox"
        case .refused(let u, let s): "\(u): server refused the record with HTTP \(s); record kept in the outbox, upload stopped"
        case .badRecordName(let p): "\(p): outbox file name does not carry a valid record id; not uploaded"
        case .outbox(let e): "\(e)"
        }
    }
}

public struct UploadReport: Sendable, Equatable {
    public var uploaded = 0
    public var bytes = 0
    /// Failed attempts that were retried (connection errors, 5xx, 408, 429).
    public var retried = 0
    /// Records still in the outbox when the run ended.
    public var left = 0
    /// The run was cancelled (a stop); a PUT in flight was abandoned, its record kept.
    public var stopped = false
    /// Entries refused before sending (a link, not a regular file, too large, not a sealed record,
    /// or a record under another record's name) and moved to `<outbox>/quarantine/`.
    public var quarantined = 0
    /// The ids of the records the server acknowledged in this run (the records' own ids).
    public var acknowledged: [String] = []
    public init() {}
}

// MARK: the uploader

/// Stops when its task is cancelled (no flag to poll): waits end and a PUT in flight is
/// abandoned at once, its record kept.
public struct HitUploader: Sendable {
    public let config: UploadConfig
    let log: @Sendable (String) -> Void
    /// Times the PUT deadlines, backoffs and polls (tests pass a manual clock).
    let clock: any Clock<Duration>

    public init(config: UploadConfig, log: @escaping @Sendable (String) -> Void = { _ in },
                clock: any Clock<Duration> = ContinuousClock()) {
        self.config = config; self.log = log; self.clock = clock
    }

    /// `once`: upload what is pending and return when the outbox is empty (or throw). Otherwise
    /// poll the outbox every `poll` seconds until the task is cancelled.
    public func run(once: Bool, poll: Double = 1) async throws(UploadError) -> UploadReport {
        let outbox: Outbox
        do throws(OutboxError) { outbox = try Outbox(directory: config.outbox, capacityBytes: config.capacity) } catch { throw .outbox(error) }
        let tls = try makeTLS()
        var httpConfig = HTTPClient.Configuration(tlsConfiguration: tls)
        httpConfig.redirectConfiguration = .disallow
        httpConfig.decompression = .disabled
        httpConfig.timeout = .init(connect: .milliseconds(Int64(config.timeout * 1000)), read: .milliseconds(Int64(config.timeout * 1000)))
        httpConfig.connectionPool.retryConnectionEstablishment = false  // our own retries, with our backoff
        httpConfig.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfig)
        var state = State()
        do throws(UploadError) {
            try await loop(client: client, outbox: outbox, once: once, poll: poll, state: &state)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
        state.report.left = ((try? outbox.pending()) ?? []).count
        state.report.stopped = Task.isCancelled
        return state.report
    }

    struct State {
        var report = UploadReport()
        var failures = 0          // consecutive
        var offlineSince: ContinuousClock.Instant? = nil
    }

    func loop(client: HTTPClient, outbox: Outbox, once: Bool, poll: Double, state: inout State) async throws(UploadError) {
        while !Task.isCancelled {
            let items: [OutboxItem]
            do throws(OutboxError) { items = try outbox.pending() } catch { throw .outbox(error) }
            if items.isEmpty {
                if once { return }
                await sleep(poll)
                continue
            }
            for item in items {
                if Task.isCancelled { break }
                try await upload(item, client: client, outbox: outbox, once: once, state: &state)
            }
        }
    }

    /// One record until acknowledged (or a final error, or a stop request).
    func upload(_ item: OutboxItem, client: HTTPClient, outbox: Outbox, once: Bool, state: inout State) async throws(UploadError) {
        guard isRecordID(item.id) else { throw .badRecordName(item.path) }
        // The entry is read without following a link and parsed, and the id sent is the record's
        // own (issue 16: a root-run upload once sent a link's root-only target, and trusted the
        // name). A refused entry is set aside for the technician, never sent, and the queue goes on.
        let entry: OutboxEntry
        do throws(OutboxError) { entry = try outbox.readEntry(item) } catch {
            var st = stat()
            // acknowledged meanwhile (another uploader)? then there is nothing to send
            if lstat(item.path, &st) != 0 { return }
            guard case .refusedEntry(_, let reason) = error else { throw .outbox(error) }
            let to: String
            do throws(OutboxError) { to = try outbox.quarantine(item) } catch { throw .outbox(error) }
            log("\(TerminalText.safe(item.path)): refused, not uploaded (\(TerminalText.safe(reason))); moved to \(TerminalText.safe(to))")
            state.report.quarantined += 1
            return
        }
        let bytes = entry.bytes
        let url = config.server + "/hits/" + entry.id
        while true {
            let outcome = await put(url: url, bytes: bytes, client: client)
            switch outcome {
            case .acknowledged:
                do throws(OutboxError) { try outbox.acknowledge(item) } catch { throw .outbox(error) }
                if let since = state.offlineSince {
                    let d = since.duration(to: .now)
                    log("server reachable again after \(format(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)) s")
                    state.offlineSince = nil
                }
                state.failures = 0
                state.report.uploaded += 1
                state.report.bytes += bytes.count
                state.report.acknowledged.append(entry.id)
                return
            case .final(let e):
                throw e
            case .cancelled:
                return
            case .retry(let reason, let retryAfter, let connection):
                state.failures += 1
                state.report.retried += 1
                if once && state.failures > config.retries {
                    throw .unreachable(url: url, attempts: state.failures, last: reason)
                }
                var delay = min(config.maxBackoff, config.backoff * Double(1 << min(state.failures - 1, 30)))
                delay *= Double.random(in: 0.5...1.0)  // jitter: a fleet back online does not come back in step
                if let ra = retryAfter { delay = max(delay, min(ra, config.maxBackoff)) }
                if connection {
                    // offline: one line when it starts, one when it ends
                    if state.offlineSince == nil {
                        state.offlineSince = .now
                        log("server unreachable (\(reason)); records stay in the outbox, retrying quietly")
                    }
                } else {
                    log("\(url): \(reason); retry in \(format(delay)) s")
                }
                await sleep(delay)
                if Task.isCancelled { return }
            }
        }
    }

    enum Outcome {
        case acknowledged
        case retry(String, retryAfter: Double?, connection: Bool)
        case final(UploadError)
        /// The task was cancelled mid-PUT: the record stays queued.
        case cancelled
    }

    func put(url: String, bytes: [UInt8], client: HTTPClient) async -> Outcome {
        var request = HTTPClientRequest(url: url)
        request.method = .PUT
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.body = .bytes(ByteBuffer(bytes: bytes))
        let limit = config.putLimit(bytes: bytes.count)
        do {
            // the answer's body too: AsyncHTTPClient's own deadline ends with the head
            let (status, headers, body) = try await withDeadline(limit, on: clock) { [request] in
                let response = try await client.execute(request, timeout: TimeAmount(limit))
                var body: [UInt8] = []
                for try await chunk in response.body { if body.count < 4096 { body += chunk.readableBytesView } }
                try Task.checkCancellation()  // an answer cut short by a stop is no acknowledgement
                return (Int(response.status.code), response.headers, body)
            }
            switch status {
            case 200, 201, 204:
                return .acknowledged
            case 408, 429, 500...599:
                let ra = headers.first(name: "retry-after").flatMap { Double($0.trimmingBlanks) }.flatMap { $0 >= 0 && $0.isFinite ? $0 : nil }
                return .retry("HTTP \(status)" + (ra.map { " (Retry-After \(format($0)) s)" } ?? ""), retryAfter: ra, connection: false)
            default:
                let text = String(decoding: body.prefix(2048), as: UTF8.self)
                if status == 400, text.contains("certificate") {
                    var reason = "HTTP 400"
                    if let a = text.range(of: "<title>"), let b = text.range(of: "</title>"), a.upperBound <= b.lowerBound {
                        reason += ": " + String(text[a.upperBound..<b.lowerBound]).filter { $0.isASCII && !$0.isNewline }
                    }
                    return .final(.clientCertificateRefused(reason))
                }
                return .final(.refused(url: url, status: status))
            }
        } catch {
            if Task.isCancelled { return .cancelled }
            if let t = tlsFailure(error) { return .final(.tls(t)) }
            // a stalled answer is the server's fault, not the network's: said at every retry
            if error is DeadlineExceeded { return .retry("\(error)", retryAfter: nil, connection: false) }
            return .retry("\(error)", retryAfter: nil, connection: true)
        }
    }

    /// Ends early (quietly) when the task is cancelled.
    func sleep(_ seconds: Double) async {
        try? await clock.sleep(for: .milliseconds(Int64(seconds * 1000)))
    }

    /// Only the configured CA is trusted, never the system store (PinnedTLS).
    func makeTLS() throws(UploadError) -> TLSConfiguration {
        do { return try pinnedClientTLS(caFile: config.caFile, clientCertificate: config.clientCertificate, clientKey: config.clientKey) } catch {
            throw UploadError.credentials(error.message)
        }
    }
}

/// Whether an error from the HTTP stack is a TLS handshake refusal (final: a certificate that does
/// not verify, a protocol mismatch) rather than a connection dropped during the handshake ("EOF
/// during handshake", no BoringSSL reason code: retried like any other dropped connection).
func tlsFailure(_ error: any Error) -> String? {
    if let e = error as? NIOSSLError {
        switch e {
        case .handshakeFailed(let stack): return reasons(in: "\(stack)", onlyWithCode: true)
        default: return nil
        }
    }
    if let e = error as? NIOSSLExtraError { return "\(e)" }
    if let e = error as? BoringSSLError { return reasons(in: "\(e)", onlyWithCode: true) }
    return nil
}

func reasons(in text: String, onlyWithCode: Bool = false) -> String? {
    var codes: [String] = []
    var rest = Substring(text)
    while let r = rest.range(of: "OPENSSL_internal:") {
        let code = rest[r.upperBound...].prefix { $0.isUppercase || $0.isNumber || $0 == "_" }
        if !code.isEmpty, !codes.contains(String(code)) { codes.append(String(code)) }
        rest = rest[r.upperBound...]
    }
    guard !codes.isEmpty else { return onlyWithCode ? nil : text }
    var out = codes.joined(separator: ", ")
    if codes.contains("CERTIFICATE_VERIFY_FAILED") {
        out += " (the server's certificate does not chain to the pinned CA, or does not name the server's host)"
    }
    return out
}

func format(_ s: Double) -> String {
    let tenths = Int((s * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}
