// What the running agent knows about itself, shared by its services, the console and the LEDs.
#if canImport(Glibc)
import Glibc
#endif
import Capture
import Config
import LEDs
import Synchronization
import VigilCore

/// One camera's state as the console shows it.
public struct CameraStatus: Sendable, Equatable {
    public var name: String
    public var device: String
    public var connected = false
    public var format: String = "-"
    public var size: Size?
    public var measuredFPS: Double = 0
    public var framesCaptured = 0
    public var framesDropped = 0
    public var lastError: String?
    public var reconnects = 0
    public init(name: String, device: String) { self.name = name; self.device = device }
}

/// The agent's shared state: health reports from every part, camera status, last sync and upload.
/// Every method is thread-safe (one lock; nothing slow happens under it).
public final class AgentState: Sendable {
    struct Inner {
        var health = HealthState()
        var cameras: [String: CameraStatus] = [:]
        var lastSync: String?
        var lastUpload: String?
        var started = MonotonicInstant.now()
        var listLine = "watchlist: not loaded yet"
        /// record id → the audit seq whose hash the record carries (sealed since this start)
        var sealedHeads: [String: UInt64] = [:]
    }
    private let inner = Mutex(Inner())
    private let listGen = Atomic<Int>(0)
    /// Bumped when a new watchlist was installed: the analysis reloads at once instead of at its
    /// next 10-second check.
    public var listGeneration: Int { listGen.load(ordering: .acquiring) }
    public func listInstalled() { listGen.add(1, ordering: .releasing) }
    /// Called (outside the lock) whenever the health level may have changed.
    private let onHealth: @Sendable (HealthLevel) -> Void

    public init(onHealth: @escaping @Sendable (HealthLevel) -> Void = { _ in }) { self.onHealth = onHealth }

    public func report(_ source: String, _ level: HealthLevel, _ reason: String = "") {
        let l = inner.withLock { s in
            s.health.report(source, level, reason)
            return s.health.level
        }
        onHealth(l)
    }
    public var health: HealthState { inner.withLock { $0.health } }

    public func updateCamera(_ name: String, _ update: (inout CameraStatus) -> Void) {
        inner.withLock { s in
            var c = s.cameras[name] ?? CameraStatus(name: name, device: "")
            update(&c)
            s.cameras[name] = c
        }
    }
    public var cameras: [CameraStatus] { inner.withLock { s in s.cameras.values.sorted { $0.name < $1.name } } }

    public func setLastSync(_ line: String) { inner.withLock { $0.lastSync = line } }
    public func setLastUpload(_ line: String) { inner.withLock { $0.lastUpload = line } }

    /// A hit record was sealed carrying the audit head at `auditSequence`. Kept in memory only:
    /// the device cannot read a sealed record back (its body is the agency's), and after a
    /// restart the records sealed before it simply anchor nothing — the safe side. Bounded: the
    /// oldest ids are dropped beyond 100,000 (an outbox that full is a fault already).
    public func noteSealed(id: String, auditSequence: UInt64) {
        inner.withLock { s in
            if s.sealedHeads.count >= 100_000, let oldest = s.sealedHeads.min(by: { $0.value < $1.value }) { s.sealedHeads[oldest.key] = nil }
            s.sealedHeads[id] = auditSequence
        }
    }

    /// The highest audit seq carried by a record the server acknowledged: the log is anchored off
    /// the device through it (issue 16: rotation may then delete what lies before it).
    public func anchorable(acknowledged ids: [String]) -> UInt64? {
        inner.withLock { s in
            var best: UInt64?
            for id in ids { if let q = s.sealedHeads.removeValue(forKey: id) { best = max(best ?? 0, q) } }
            return best
        }
    }
    public func setListLine(_ line: String) { inner.withLock { $0.listLine = line } }
    public var lastSync: String? { inner.withLock { $0.lastSync } }
    public var lastUpload: String? { inner.withLock { $0.lastUpload } }
    public var listLine: String { inner.withLock { $0.listLine } }
    public var uptime: Duration { inner.withLock { $0.started.duration(to: .now()) } }

    /// The configuration the agent runs with, or one just committed: while a setting lowers
    /// recall (`ConfigDocument.recallLowered`) health is degraded with the reason "recall
    /// lowered by: …", so a device told to match less never looks normal (issue 16).
    public func configurationApplied(_ config: ConfigDocument) {
        let r = config.recallHealth
        report(HealthState.configSource, r.level, r.reason)
    }
}

extension HealthState {
    /// The health source for what the configuration itself does to the device.
    public static let configSource = "config"

    /// As `AgentState.configurationApplied`, for a health computed on the spot (the standalone console).
    public mutating func report(recallOf config: ConfigDocument) {
        let r = config.recallHealth
        report(Self.configSource, r.level, r.reason)
    }
}

extension ConfigDocument {
    /// Degraded while a setting lowers recall; ok (which clears the report) otherwise.
    var recallHealth: (level: HealthLevel, reason: String) { recallSummary.map { (.degraded, $0) } ?? (.ok, "") }
}

/// The newest frame of one camera, owned (copied out of the driver's buffer). A new frame replaces
/// an unread one — the analysis always sees the latest frame and never a queue that grows while
/// it is busy; replaced frames are counted as dropped.
public final class LatestFrameSlot: Sendable {
    public struct Owned: Sendable {
        public var info: FrameInfo
        public var bytes: [UInt8]
    }
    struct Inner {
        var frame: Owned?
        var dropped = 0
        var delivered = 0
    }
    private let inner = Mutex(Inner())
    public init() {}

    public func put(_ frame: Owned) {
        inner.withLock { s in
            if s.frame != nil { s.dropped += 1 }
            s.frame = frame
        }
    }
    /// Takes the frame (the slot is empty afterwards).
    public func take() -> Owned? {
        inner.withLock { s in
            guard let f = s.frame else { return nil }
            s.frame = nil
            s.delivered += 1
            return f
        }
    }
    public var dropped: Int { inner.withLock { $0.dropped } }
    public var hasFrame: Bool { inner.withLock { $0.frame != nil } }
}
