// Test doubles for the slow-server tests (issue 16, item 1): an in-process HTTPS server that
// answers each request from a script — in full, or with a head and a few body bytes and then
// nothing (a stalled or trickling server) — and a clock that moves only when told to, so the
// clients' total deadlines are tested without waiting for them.
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import VigilTestSupport

/// A throwaway CA and a certificate for 127.0.0.1 / localhost signed by it (P-256, valid until
/// 2126; generated for these tests only).
let stallCAPEM = """
-----BEGIN CERTIFICATE-----
MIIBmDCCAT2gAwIBAgIUMZk+BezWdkseEnY72M5WSKzd71YwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNVmlnaWwgdGVzdCBDQTAgFw0yNjEyMDcyMDQ5MjlaGA8yMTI2
MTExMzIwNDkyOVowGDEWMBQGA1UEAwwNVmlnaWwgdGVzdCBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABCnBieQNgeOrgVCza4wmscfwWq0P6Kt9YQl4wPlGUuRE
etmZIdrI/FAv8kO2APP0v7SKrz256ppkBiV5B68fa0KjYzBhMB0GA1UdDgQWBBTA
J6kKgvZRysi8mMuwEOlehEnDkDAfBgNVHSMEGDAWgBTAJ6kKgvZRysi8mMuwEOle
hEnDkDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQD
AgNJADBGAiEAn7KS4nPMWKKqJZ0la0PVCEH1xOwkbXGyCs40Uq3JKLICIQCMFmzV
THuHTjWU9B2zVX6JfLfCje+KRSYGLMJ1N+0vyQ==
-----END CERTIFICATE-----
"""
let stallServerPEM = """
-----BEGIN CERTIFICATE-----
MIIBrjCCAVSgAwIBAgIUfwUsKb3s4Ynr9sjm4xg84YIBb8AwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNVmlnaWwgdGVzdCBDQTAgFw0yNjEyMDcyMDQ5MjlaGA8yMTI2
MTExMzIwNDkyOVowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEAtSKP+ToHqiMJQ1M/954d0x6mdmLMchVAuimCZUMxYgdS2UA
5TnHAn0cF7pQmb2jE31nz/gE5iYQ/QGtwy31aaN+MHwwGgYDVR0RBBMwEYIJbG9j
YWxob3N0hwR/AAABMAkGA1UdEwQCMAAwEwYDVR0lBAwwCgYIKwYBBQUHAwEwHQYD
VR0OBBYEFCsl6ds3T3oC3duGDjtUwrPCi9jsMB8GA1UdIwQYMBaAFMAnqQqC9lHK
yLyYy7AQ6V6EScOQMAoGCCqGSM49BAMCA0gAMEUCIQCuu+XwdT/YZToJ7DERACKQ
MkRcIS0k+rgBVrUwXIcIFQIgX9zGikatCo6dsEZji1olcRdCNAgzS6KXtIavLqp4
Rnc=
-----END CERTIFICATE-----
"""
let stallServerKeyPEM = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgleXkHAmbZjdQF0mS
G7RTonyF+gOBwQ1GeLmnn229VkWhRANCAAQC1Io/5OgeqIwlDUz/3nh3THqZ2Ysx
yFUC6KYJlQzFiB1LZQDlOccCfRwXulCZvaMTfWfP+ATmJhD9Aa3DLfVp
-----END PRIVATE KEY-----
"""

/// A clock that moves only in `advance(by:)`; sleepers whose deadline has passed wake then.
final class TestClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by d: Duration) -> Instant { Instant(offset: offset + d) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }
    struct Sleeper { let deadline: Instant; let continuation: CheckedContinuation<Void, any Error> }
    struct State { var now = Instant(offset: .zero); var sleepers: [UInt64: Sleeper] = [:]; var next: UInt64 = 0 }
    private let state = Mutex(State())

    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .zero }

    func advance(by d: Duration) {
        let due: [Sleeper] = state.withLock { s in
            s.now = s.now.advanced(by: d)
            let ids = s.sleepers.filter { $0.value.deadline <= s.now }.map(\.key)
            return ids.compactMap { s.sleepers.removeValue(forKey: $0) }
        }
        for s in due { s.continuation.resume() }
    }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = state.withLock { s in s.next += 1; return s.next }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let wake: Bool? = state.withLock { s in
                    if Task.isCancelled { return false }
                    if s.now >= deadline { return true }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: c)
                    return nil
                }
                if wake == true { c.resume() } else if wake == false { c.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }
}

/// An HTTPS server on 127.0.0.1 answering from a script.
final class StallServer: Sendable {
    enum Answer: Sendable {
        case full(status: Int, body: [UInt8])
        /// The head (Content-Length `length`) and `first` bytes of the body, then nothing.
        case stall(status: Int, length: Int, first: [UInt8])
        /// A redirect to `location` (an empty body).
        case redirect(status: Int, location: String)
    }
    struct Seen: Sendable { var method: String; var uri: String; var range: String?; var bodyBytes: Int }

    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let channel: any Channel
    /// One element per request, once its answer (or the stalled part of it) has been written.
    let seen = Events<Seen>()

    /// `script(request, n)`: the answer to the `n`th request (1-based) for that path.
    init(_ script: @escaping @Sendable (Seen, Int) -> Answer) throws {
        let tls = try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(stallServerPEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(stallServerKeyPEM.utf8), format: .pem))))
        let answerer = Answerer(script: script, seen: seen)
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    try ch.pipeline.syncOperations.configureHTTPServerPipeline()
                    try ch.pipeline.syncOperations.addHandler(ScriptHandler(answerer))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    var url: String { "https://127.0.0.1:\(channel.localAddress!.port!)" }

    /// The next request the server has answered.
    func next() async -> Seen { await seen.next() }

    func close() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// The CA file clients must pin.
    func writeCA(in dir: String) -> String {
        let path = dir + "/ca.pem"
        writeTestFile(path, Array(stallCAPEM.utf8))
        return path
    }
}

final class Answerer: Sendable {
    let script: @Sendable (StallServer.Seen, Int) -> StallServer.Answer
    let counts = Mutex<[String: Int]>([:])
    let seen: Events<StallServer.Seen>
    init(script: @escaping @Sendable (StallServer.Seen, Int) -> StallServer.Answer, seen: Events<StallServer.Seen>) {
        self.script = script; self.seen = seen
    }
}

/// Things that happened, in order, for a test to wait on (no polling).
final class Events<T: Sendable>: Sendable {
    private let state = Mutex<(items: [T], waiter: CheckedContinuation<T, Never>?)>(([], nil))
    /// What happened and nobody has taken yet.
    var pending: [T] { state.withLock { $0.items } }
    func post(_ x: T) {
        let w = state.withLock { s -> CheckedContinuation<T, Never>? in
            if let w = s.waiter { s.waiter = nil; return w }
            s.items.append(x)
            return nil
        }
        w?.resume(returning: x)
    }
    func next() async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            let x = state.withLock { s -> T? in
                if !s.items.isEmpty { return s.items.removeFirst() }
                s.waiter = c
                return nil
            }
            if let x { c.resume(returning: x) }
        }
    }
    /// The next event that satisfies `match` (earlier ones are dropped).
    func next(where match: (T) -> Bool) async -> T {
        while true { let x = await next(); if match(x) { return x } }
    }
}

final class ScriptHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let answerer: Answerer
    var head: HTTPRequestHead?
    var bodyBytes = 0
    init(_ a: Answerer) { answerer = a }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h; bodyBytes = 0
        case .body(let b): bodyBytes += b.readableBytes
        case .end:
            guard let h = head else { return }
            let seen = StallServer.Seen(method: h.method.rawValue, uri: h.uri, range: h.headers.first(name: "range"), bodyBytes: bodyBytes)
            let n = answerer.counts.withLock { c in c[h.uri, default: 0] += 1; return c[h.uri]! }
            let (status, length, body, complete): (Int, Int, [UInt8], Bool)
            var headers = HTTPHeaders()
            switch answerer.script(seen, n) {
            case .full(let s, let b): (status, length, body, complete) = (s, b.count, b, true)
            case .stall(let s, let l, let f): (status, length, body, complete) = (s, l, f, false)
            case .redirect(let s, let location):
                (status, length, body, complete) = (s, 0, [], true)
                headers.add(name: "Location", value: location)
            }
            headers.add(name: "Content-Length", value: "\(length)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers))), promise: nil)
            if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil) }
            let events = answerer.seen
            if complete {
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in events.post(seen) }
            } else {
                context.flush()
                events.post(seen)
            }
        }
    }
}

/// `op`'s result, or nil when it has not finished within `seconds` of real time — a guard so a
/// regression fails the test instead of hanging the suite (the op is left running).
func finishing<T: Sendable>(within seconds: Int, _ op: @escaping @Sendable () async -> T) async -> T? {
    let once = Once<T>()
    return await withCheckedContinuation { (c: CheckedContinuation<T?, Never>) in
        once.continuation.withLock { $0 = c }
        Task.detached { once.resume(await op()) }
        Task.detached {
            try? await Task.sleep(for: .seconds(seconds))
            once.resume(nil)
        }
    }
}

/// A continuation resumed by whichever side comes first.
final class Once<T: Sendable>: Sendable {
    let continuation = Mutex<CheckedContinuation<T?, Never>?>(nil)
    func resume(_ v: T?) { continuation.withLock { $0.take() }?.resume(returning: v) }
}


