// The total time limit the device's two HTTPS clients (watchlist sync, hit upload) put on every
// request (issue 16, item 1).
//
// Why a limit of our own: AsyncHTTPClient's read timeout restarts with every byte, and its
// request deadline ends once the response head has arrived, so a server trickling one byte every
// two seconds could hold a 4 KiB manifest for hours, or an upload's answer for ever. Here the
// whole exchange — connect, request body, response head AND body — runs under one deadline; when
// it passes, the exchange is cancelled (AsyncHTTPClient closes the connection) and
// `DeadlineExceeded` is thrown, whatever the exchange was doing.
//
// The clock is a parameter: tests drive the limit with a manual clock instead of waiting.

/// A request did not complete within its total limit.
public struct DeadlineExceeded: Error, Equatable, CustomStringConvertible {
    public var limit: Duration
    public init(limit: Duration) { self.limit = limit }
    public var description: String {
        let tenths = Int((Double(limit.components.seconds) + Double(limit.components.attoseconds) * 1e-18) * 10 + 0.5)
        return "no complete answer within \(tenths / 10).\(tenths % 10) s (a stalled or trickling server); connection closed"
    }
}

/// The limit for moving `bytes` at no less than `minimumRate` bytes per second, plus `base`
/// seconds for connecting and the server's first answer.
package func transferLimit(bytes: UInt64, minimumRate: Int, base: Double) -> Duration {
    let seconds = base + Double(bytes) / Double(max(1, minimumRate))
    return .milliseconds(Int64(min(seconds, 1e9) * 1000))
}

/// Runs `operation` with a total limit on `clock`. When the limit passes first, `operation` is
/// cancelled, awaited (it must honour cancellation: HTTP exchanges and sleeps do) and
/// `DeadlineExceeded` is thrown. The deadline is fixed before `operation` starts, so time that
/// passes before either task runs counts too.
package func withDeadline<C: Clock, T: Sendable>(_ limit: Duration, clock: C,
                                                  _ operation: @escaping @Sendable () async throws -> T) async throws -> T
where C.Duration == Duration {
    let deadline = clock.now.advanced(by: limit)
    return try await withThrowingTaskGroup(of: DeadlineRace<T>.self) { group in
        group.addTask { .value(try await operation()) }
        group.addTask {
            try await clock.sleep(until: deadline, tolerance: nil)
            return .expired
        }
        defer { group.cancelAll() }
        switch try await group.next() {
        case .value(let v)?: return v
        case .expired?, nil:
            group.cancelAll()
            // the operation's own outcome (a cancellation error, a truncated body) is not the news
            while (try? await group.next()) != nil {}
            throw DeadlineExceeded(limit: limit)
        }
    }
}

/// `withDeadline` on a clock held as an existential.
package func withDeadline<T: Sendable>(_ limit: Duration, on clock: any Clock<Duration>,
                                       _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    func opened<C: Clock>(_ c: C) async throws -> T where C.Duration == Duration { try await withDeadline(limit, clock: c, operation) }
    return try await opened(clock)
}

enum DeadlineRace<T: Sendable>: Sendable { case value(T), expired }
