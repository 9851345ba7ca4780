// Wall time on a board without a battery-backed clock.
//
// A Raspberry Pi boots with whatever time fake-hwclock saved at the last shutdown (or 1970) until
// NTP synchronizes it, so "now" may be behind the truth by hours or months. Two rules follow:
//   1. every record says whether its wall time was synchronized (hit records: the clock-trust
//      byte; the audit log: `agent.start` and `clock.sync` records);
//   2. the watchlist's expiry and staleness are judged against a time that can only err late,
//      never early: the highest wall time this device has ever seen (persisted, and advanced by
//      the monotonic clock while running) — an unsynchronized clock running behind can never make
//      an expired or stale list look valid again. (Fail safe: a list may stop matching early when
//      the clock jumped ahead and came back, never late.)
#if canImport(Glibc)
import Glibc
#endif
import CClock
import Synchronization
import VigilCore

public enum ClockSync {
    /// Whether the kernel considers the system clock synchronized: `adjtimex` (read-only query)
    /// reports the NTP status — systemd-timesyncd, chrony and ntpd all clear STA_UNSYNC once they
    /// have disciplined the clock — or systemd-timesyncd has flagged it since boot.
    public static func isSynchronized() -> Bool {
        if cclock_synchronized() == 1 { return true }
        return access("/run/systemd/timesync/synchronized", F_OK) == 0
    }
}

/// The fail-safe "now" for list validity, and the wall time with its trust for records.
public final class TrustedClock: Sendable {
    struct State {
        var highWater: Int64
        var highWaterMono: MonotonicInstant
        var lastSaved: Int64
    }
    private let state: Mutex<State>
    private let path: String?
    private let wall: @Sendable () -> Int64
    private let synchronized: @Sendable () -> Bool

    /// - Parameters:
    ///   - path: where the highest wall time seen is kept across restarts (nil: memory only).
    public init(path: String?, wall: @escaping @Sendable () -> Int64 = { Int64(time(nil)) },
                synchronized: @escaping @Sendable () -> Bool = { ClockSync.isSynchronized() }) {
        self.path = path
        self.wall = wall
        self.synchronized = synchronized
        var saved: Int64 = 0
        if let path, let b = try? readFile(path, maximumBytes: ReadLimit.state), let v = Int64(String(decoding: b, as: UTF8.self).split(separator: "\n").first ?? "") {
            saved = v
        }
        state = Mutex(State(highWater: max(saved, wall()), highWaterMono: .now(), lastSaved: saved))
    }

    /// The wall clock now, and whether it is synchronized.
    public func wallNow() -> (seconds: Int64, synchronized: Bool) { (wall(), synchronized()) }

    /// A time that is never earlier than any time this device has seen: for expiry and staleness.
    public func failSafeNow() -> Int64 {
        let w = wall()
        return state.withLock { s in
            let advanced = s.highWater + s.highWaterMono.duration(to: .now()).components.seconds
            if w >= advanced {
                s.highWater = w
                s.highWaterMono = .now()
                return w
            }
            return advanced
        }
    }

    /// How far the wall clock is behind the fail-safe time (0 when it is not).
    public func lag() -> Int64 { max(0, failSafeNow() - wall()) }

    /// Persists the high-water mark (every minute and at exit).
    public func save() {
        guard let path else { return }
        let now = failSafeNow()
        let changed = state.withLock { s -> Bool in
            if s.lastSaved == now { return false }
            s.lastSaved = now
            return true
        }
        if changed { try? writeFileAtomically(path, Array("\(now)\n".utf8), mode: 0o640) }
    }
}

/// A TLS failure while the clock is not synchronized is most likely the clock's fault: certificate
/// validity is checked against the device's wall time. Says so, so a technician fixes the clock
/// instead of the certificates.
public func explainingClock(_ message: String, synchronized: Bool = ClockSync.isSynchronized()) -> String {
    guard !synchronized else { return message }
    let m = message.lowercased()
    guard m.contains("certificate") || m.contains("tls") || m.contains("handshake") else { return message }
    return message + " — the device clock is not synchronized (no battery-backed clock?): "
        + "certificates may look expired or not yet valid; dock the device or set the time, then retry"
}
