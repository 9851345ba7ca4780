import LEDs
import Testing
import VigilCore
import VigilTestSupport

/// Transitions of a pattern sampled every millisecond over `seconds`.
func transitions(_ p: LEDPattern, seconds: Int) -> Int {
    var n = 0
    var last = p.level(at: .zero)
    for ms in 1...(seconds * 1000) {
        let l = p.level(at: .milliseconds(ms))
        if l != last { n += 1; last = l }
    }
    return n
}

@Test func patternsHaveTheirRates() {
    #expect(transitions(.blink(hz: 2), seconds: 10) == 40)       // toggles every 250 ms
    #expect(transitions(.blink(hz: 0.5), seconds: 10) == 10)
    #expect(transitions(.heartbeat, seconds: 12) == 40)           // 2 pulses (4 edges) per 1.2 s
    #expect(transitions(.flashes(3), seconds: 19) == 60)          // 3 flashes per 1.9 s
    #expect(transitions(.on, seconds: 2) == 0 && LEDPattern.on.level(at: .seconds(1)))
    #expect(transitions(.off, seconds: 2) == 0 && !LEDPattern.off.level(at: .seconds(1)))
    #expect(LEDPattern.blink(hz: 2).level(at: .milliseconds(100)) && !LEDPattern.blink(hz: 2).level(at: .milliseconds(300)))
}

@Test func healthIsTheWorstReport() {
    var h = HealthState()
    #expect(h.level == .ok)
    h.report("camera cam0", .degraded, "/dev/video0 missing")
    h.report("outbox", .degraded, "backlog")
    #expect(h.level == .degraded)
    h.report("watchlist", .fault, "unusable")
    #expect(h.level == .fault)
    #expect(h.reasons.first?.hasPrefix("fault — watchlist") == true)
    h.report("watchlist", .ok)
    #expect(h.level == .degraded && h.reasons.count == 2)
    #expect(ledPatterns(for: .ok, hitShowing: false) == [.status: .heartbeat, .fault: .off, .hit: .off])
    #expect(ledPatterns(for: .degraded, hitShowing: false)[.status] == .blink(hz: 2))
    #expect(ledPatterns(for: .fault, hitShowing: true) == [.status: .off, .fault: .on, .hit: .flashes(3)])
}

/// The controller writes only changes, at the pattern's times, from a manual clock.
@Test func controllerDrivesOutputsFromHealth() {
    let clock = ManualClock()
    let rec = RecordingLEDOutput(clock: clock)
    let c = LEDController(outputs: [rec], clock: clock, hitEnabled: false)
    c.show(.degraded)
    for _ in 0..<200 { c.tick(); clock.advance(by: .milliseconds(10)) }   // 2 s
    let statusChanges = rec.changes.filter { $0.role == .status }
    #expect(statusChanges.count == 8)   // the first write + a toggle every 250 ms up to 1.75 s
    #expect(rec.levels[.fault] == false && rec.levels[.hit] == false)
    // every status edge lands on a 250 ms boundary (±10 ms tick)
    let t0 = statusChanges[0].at
    for ch in statusChanges.dropFirst() {
        let ms = t0.duration(to: ch.at).components.attoseconds / 1_000_000_000_000_000 + t0.duration(to: ch.at).components.seconds * 1000
        #expect(ms % 250 <= 10 || ms % 250 >= 240, "edge at \(ms) ms")
    }
    c.show(.fault)
    c.tick()
    #expect(rec.levels[.fault] == true && rec.levels[.status] == false)
    // hits are ignored when the hit LED is not enabled
    c.hit()
    for _ in 0..<100 { c.tick(); clock.advance(by: .milliseconds(10)) }
    #expect(!rec.changes.contains { $0.role == .hit && $0.on })
}

@Test func hitFlashesForItsDurationWhenEnabled() {
    let clock = ManualClock()
    let rec = RecordingLEDOutput(clock: clock)
    let c = LEDController(outputs: [rec], clock: clock, hitEnabled: true, hitDuration: .milliseconds(3500))
    c.hit()
    for _ in 0..<600 { c.tick(); clock.advance(by: .milliseconds(10)) }   // 6 s
    let ons = rec.changes.filter { $0.role == .hit && $0.on }
    #expect(ons.count == 6)   // 3 flashes per 1.9 s cycle, for 3.5 s: 3 + 3
    #expect(rec.levels[.hit] == false)
    #expect(c.patterns[.hit] == .off)
}

@Test func selfTestLightsEveryLEDInTurn() {
    let clock = ManualClock()
    let rec = RecordingLEDOutput(roles: [.status, .fault], clock: clock)
    let c = LEDController(outputs: [rec], clock: clock, hitEnabled: false)
    var log: [String] = []
    c.selfTest(step: .milliseconds(500)) { log.append($0) }
    let firstOn = rec.changes.filter { $0.on }.map(\.role)
    #expect(Array(firstOn.prefix(2)) == [.status, .fault])
    #expect(log.last?.contains("status, fault") == true)
    #expect(c.patterns[.status] == .heartbeat)   // back to health afterwards
}

@Test func missingChipIsAClearError() {
    do {
        _ = try GPIOLEDs(chip: "no-such-gpiochip-xyz", lines: [.status: 0])
        Issue.record("opened")
    } catch {
        guard case .chipNotFound(let chip, _) = error else { Issue.record("\(error)"); return }
        #expect(chip == "no-such-gpiochip-xyz")
        #expect(error.description.contains("gpiodetect"))
    }
}
