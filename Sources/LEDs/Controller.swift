// The pattern engine: holds the current pattern of each LED and, on every tick, writes the levels
// that changed to its outputs (GPIO, terminal panel, or both).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import VigilCore

/// Drives LED outputs from patterns. `tick()` is called by `run(every:)` on its own thread (or by
/// a test with a manual clock). Thread-safe: health and hits may be set from any thread.
public final class LEDController: Sendable {
    struct State {
        var patterns: [LEDRole: LEDPattern] = [:]
        var started: [LEDRole: MonotonicInstant] = [:]
        var written: [ObjectIdentifier: [LEDRole: Bool]] = [:]
        var health: HealthLevel = .ok
        var hitUntil: MonotonicInstant?
        var errors: [String] = []
        var override = false
    }
    private let state = Mutex(State())
    private let outputs: UnsafeOutputs
    private let clock: any MonotonicClock
    private let hitAllowed: Atomic<Bool>
    /// Whether hits may light the hit LED (alert-mode lists on a device whose config enables it).
    /// Settable at run time: `leds.hit_enabled` is applied live by a config commit.
    public var hitEnabled: Bool {
        get { hitAllowed.load(ordering: .relaxed) }
        set { hitAllowed.store(newValue, ordering: .relaxed) }
    }
    /// How long a hit keeps flashing.
    public let hitDuration: Duration

    /// Outputs are only touched from `tick`, under the lock.
    final class UnsafeOutputs: @unchecked Sendable {
        let list: [any LEDOutput]
        init(_ l: [any LEDOutput]) { list = l }
    }

    public init(outputs: [any LEDOutput], clock: any MonotonicClock = SystemMonotonicClock(), hitEnabled: Bool, hitDuration: Duration = .seconds(10)) {
        self.outputs = UnsafeOutputs(outputs)
        self.clock = clock
        self.hitAllowed = Atomic(hitEnabled)
        self.hitDuration = hitDuration
        let now = clock.now()
        state.withLock { s in
            for (role, p) in ledPatterns(for: .ok, hitShowing: false) { s.patterns[role] = p; s.started[role] = now }
        }
    }

    /// Shows the device's health.
    public func show(_ level: HealthLevel) {
        state.withLock { s in
            s.health = level
            if !s.override { apply(&s) }
        }
    }

    /// A hit in an alert-mode list: flashes the hit LED if enabled (a no-op otherwise — the
    /// caller does not need to know the policy).
    public func hit() {
        guard hitEnabled else { return }
        state.withLock { s in
            s.hitUntil = clock.now().advanced(by: hitDuration)
            if !s.override { apply(&s) }
        }
    }

    /// Sets one LED's pattern directly (LED test); `resume()` goes back to the health display.
    public func override(_ role: LEDRole, _ pattern: LEDPattern) {
        state.withLock { s in
            s.override = true
            s.patterns[role] = pattern
            s.started[role] = clock.now()
        }
    }

    public func resume() {
        state.withLock { s in s.override = false; apply(&s) }
    }

    private func apply(_ s: inout State) {
        let now = clock.now()
        let showing = s.hitUntil.map { now < $0 } ?? false
        if !showing { s.hitUntil = nil }
        for (role, p) in ledPatterns(for: s.health, hitShowing: showing) where s.patterns[role] != p {
            s.patterns[role] = p
            s.started[role] = now
        }
    }

    /// Current pattern of each LED.
    public var patterns: [LEDRole: LEDPattern] { state.withLock { $0.patterns } }

    /// Output errors seen so far (each distinct message once), for health and the console.
    public var errors: [String] { state.withLock { $0.errors } }

    /// Computes every LED's level now and writes the ones that changed.
    public func tick() {
        state.withLock { s in
            if !s.override { apply(&s) }
            let now = clock.now()
            for out in outputs.list {
                let id = ObjectIdentifier(out)
                for role in out.roles {
                    let p = s.patterns[role] ?? .off
                    let level = p.level(at: (s.started[role] ?? now).duration(to: now))
                    if s.written[id]?[role] == level { continue }
                    do throws(LEDError) {
                        try out.set(role, level)
                        s.written[id, default: [:]][role] = level
                    } catch {
                        let m = error.description
                        if !s.errors.contains(m) { s.errors.append(m) }
                    }
                }
            }
        }
    }

    /// Turns every LED off (on shutdown, before the lines are released).
    public func allOff() {
        state.withLock { s in
            for out in outputs.list {
                for role in out.roles { try? out.set(role, false) }
                s.written[ObjectIdentifier(out)] = [:]
            }
        }
    }

    /// Ticks every `interval` until the task is cancelled, then turns the LEDs off. 10 ms keeps a
    /// 2 Hz blink's edges within ±10 ms of their time.
    public func run(every interval: Duration = .milliseconds(10)) async {
        while !Task.isCancelled {
            tick()
            try? await Task.sleep(for: interval)
        }
        allOff()
    }

    /// The LED test: each LED on for `step`, in order, then all blinking at 2 Hz for `2·step`,
    /// then back to the health display. Blocking (uses the controller's clock to sleep).
    public func selfTest(step: Duration = .seconds(1), tickEvery: Duration = .milliseconds(10), log: (String) -> Void = { _ in }) {
        let roles = outputs.list.flatMap(\.roles).reduce(into: [LEDRole]()) { if !$0.contains($1) { $0.append($1) } }
        func hold(_ d: Duration) {
            let end = clock.now().advanced(by: d)
            while clock.now() < end {
                tick()
                clock.sleep(until: min(end, clock.now().advanced(by: tickEvery)))
            }
        }
        for r in LEDRole.allCases { override(r, .off) }
        for r in roles {
            log("led test: \(r.rawValue) on")
            override(r, .on)
            hold(step)
            override(r, .off)
        }
        log("led test: all blinking 2 Hz")
        for r in roles { override(r, .blink(hz: 2)) }
        hold(step * 2)
        for r in roles { override(r, .off) }
        tick()
        resume()
        log("led test: done (\(roles.map(\.rawValue).joined(separator: ", ")))")
    }
}
