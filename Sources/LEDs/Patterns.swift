// LED patterns and the health state that chooses them.
//
// Patterns are pure functions of time (`level(at:)`), so the engine is tested with a manual clock
// and the real driver only writes when a level changes. The mapping from health to patterns is
// deliberately small — a technician on a pole reads it from the ground:
//
//   state      status LED            fault LED   hit LED
//   ok         heartbeat             off         off
//   degraded   blink 2 Hz            off         off
//   fault      off                   on          off
//   hit        (as the health says)  (as health) 3 flashes, repeated for `hitDuration`
//
// The hit LED is only ever lit for alert-mode lists and only when the configuration enables it
// (never on body-worn devices: the person in front of the camera must not be alerted).

/// Which LED.
public enum LEDRole: String, CaseIterable, Sendable, Hashable {
    case status, fault, hit
}

/// What an LED does over time.
public enum LEDPattern: Equatable, Sendable, CustomStringConvertible {
    case off
    case on
    /// 50 % duty at `hz` blinks per second.
    case blink(hz: Double)
    /// Two short pulses per 1.2 s, like a pulse: "alive and well".
    case heartbeat
    /// `n` flashes of 150 ms (150 ms apart), then 1 s dark, repeated.
    case flashes(Int)

    /// The pattern's level `t` after it started.
    public func level(at t: Duration) -> Bool {
        let ms = Double(max(0, t.nanosecondsSinceZero)) / 1e6
        switch self {
        case .off: return false
        case .on: return true
        case .blink(let hz):
            guard hz > 0 else { return false }
            let period = 1000 / hz
            return ms.truncatingRemainder(dividingBy: period) < period / 2
        case .heartbeat:
            let p = ms.truncatingRemainder(dividingBy: 1200)
            return p < 100 || (p >= 250 && p < 350)
        case .flashes(let n):
            guard n > 0 else { return false }
            let period = Double(n) * 300 + 1000
            let p = ms.truncatingRemainder(dividingBy: period)
            return p < Double(n) * 300 && p.truncatingRemainder(dividingBy: 300) < 150
        }
    }

    public var description: String {
        switch self {
        case .off: return "off"
        case .on: return "on"
        case .blink(let hz): return "blink \(hz) Hz"
        case .heartbeat: return "heartbeat"
        case .flashes(let n): return "\(n) flashes"
        }
    }
}

extension Duration {
    var nanosecondsSinceZero: Int64 {
        let (s, a) = components
        return s &* 1_000_000_000 &+ a / 1_000_000_000
    }
}

/// How bad things are.
public enum HealthLevel: Int, Comparable, Sendable, CustomStringConvertible {
    case ok = 0, degraded = 1, fault = 2
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { ["ok", "degraded", "fault"][rawValue] }
}

/// The device's health from its parts: each part (a camera, the watchlist, the outbox, sync)
/// reports its own level and reason under its own name; the device is as bad as its worst part.
/// Thread-safe by being a value: the owner (agent or console) holds it behind its own lock.
public struct HealthState: Equatable, Sendable {
    public struct Report: Equatable, Sendable {
        public var level: HealthLevel
        public var reason: String
    }
    public private(set) var reports: [String: Report] = [:]
    public init() {}

    /// Sets what `source` says (`.ok` with any reason clears it).
    public mutating func report(_ source: String, _ level: HealthLevel, _ reason: String = "") {
        if level == .ok { reports[source] = nil } else { reports[source] = Report(level: level, reason: reason) }
    }

    public var level: HealthLevel { reports.values.map(\.level).max() ?? .ok }

    /// "source: reason" lines, worst first, then by name (stable output for the console).
    public var reasons: [String] {
        reports.sorted { a, b in a.value.level != b.value.level ? a.value.level > b.value.level : a.key < b.key }
            .map { "\($0.value.level) — \($0.key): \($0.value.reason)" }
    }
}

/// Health (+ a recent hit) → one pattern per LED.
public func ledPatterns(for level: HealthLevel, hitShowing: Bool) -> [LEDRole: LEDPattern] {
    var p: [LEDRole: LEDPattern] = [:]
    switch level {
    case .ok: p[.status] = .heartbeat; p[.fault] = .off
    case .degraded: p[.status] = .blink(hz: 2); p[.fault] = .off
    case .fault: p[.status] = .off; p[.fault] = .on
    }
    p[.hit] = hitShowing ? .flashes(3) : .off
    return p
}
