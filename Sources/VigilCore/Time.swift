#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A point on CLOCK_MONOTONIC, the clock V4L2 stamps frames with; never jumps with wall time.
public struct MonotonicInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static func now() -> MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }

    public static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }

    public func advanced(by d: Duration) -> MonotonicInstant {
        let ns = d.nanosecondsClamped
        return MonotonicInstant(nanoseconds: ns >= 0 ? nanoseconds &+ UInt64(ns) : nanoseconds &- UInt64(-ns))
    }

    public func duration(to other: MonotonicInstant) -> Duration {
        .nanoseconds(Int64(bitPattern: other.nanoseconds &- nanoseconds))
    }

    public var description: String {
        let s = Double(nanoseconds) / 1e9
        return "\(s)s"
    }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to Int64.
    public var nanosecondsClamped: Int64 {
        let (s, atto) = components
        let (m, o1) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if o1 { return s < 0 ? .min : .max }
        let (sum, o2) = m.addingReportingOverflow(atto / 1_000_000_000)
        return o2 ? (s < 0 ? .min : .max) : sum
    }

    /// Milliseconds as a Double, for reports.
    public var milliseconds: Double { Double(nanosecondsClamped) / 1e6 }
}

/// The monotonic time source. Sources that pace frames (file sources) take one so tests can
/// drive time by hand (`ManualClock` in VigilTestSupport) instead of sleeping.
public protocol MonotonicClock: Sendable {
    func now() -> MonotonicInstant
    /// Sleeps until `deadline` (returns at once if it has passed).
    func sleep(until deadline: MonotonicInstant)
}

/// The system's CLOCK_MONOTONIC.
public struct SystemMonotonicClock: MonotonicClock {
    public init() {}
    public func now() -> MonotonicInstant { .now() }
    public func sleep(until deadline: MonotonicInstant) {
        while true {
            let now = MonotonicInstant.now()
            guard now < deadline else { return }
            let ns = deadline.nanoseconds - now.nanoseconds
            var req = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
            var rem = timespec()
            if nanosleep(&req, &rem) == 0 { return }
        }
    }
}
