import Synchronization
import VigilCore

/// A monotonic clock that only moves when told to (or when someone sleeps on it), so pacing
/// logic is tested without real sleeps (like swift-nio's `EmbeddedEventLoop.advanceTime`).
public final class ManualClock: MonotonicClock {
    private let current: Mutex<UInt64>
    public init(start: UInt64 = 1_000_000_000) { current = Mutex(start) }
    public func now() -> MonotonicInstant { MonotonicInstant(nanoseconds: current.withLock { $0 }) }
    public func advance(by d: Duration) {
        current.withLock { $0 &+= UInt64(max(0, d.nanosecondsClamped)) }
    }
    /// Sleeping jumps the clock to the deadline (time passes instantly).
    public func sleep(until deadline: MonotonicInstant) {
        current.withLock { $0 = max($0, deadline.nanoseconds) }
    }
}
