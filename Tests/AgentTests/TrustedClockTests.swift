#if canImport(Glibc)
import Glibc
#endif
import Agent
import Synchronization
import Testing
import VigilTestSupport

final class FakeWall: Sendable {
    let t = Atomic<Int64>(1_800_000_000)
    func set(_ v: Int64) { t.store(v, ordering: .relaxed) }
    var now: Int64 { t.load(ordering: .relaxed) }
}

/// An unsynchronized clock that goes back (a Pi booting with an old saved time) can never make
/// the fail-safe time — the one lists are judged by — go back with it.
@Test func failSafeTimeNeverGoesBackAcrossRestarts() {
    let dir = makeTempDirectory("clock")
    let wall = FakeWall()
    let c1 = TrustedClock(path: dir + "/clock", wall: { wall.now }, synchronized: { true })
    #expect(c1.failSafeNow() == 1_800_000_000)
    wall.set(1_800_000_500)
    #expect(c1.failSafeNow() == 1_800_000_500)
    c1.save()
    // reboot: the clock restarts months behind and is not synchronized
    wall.set(1_790_000_000)
    let c2 = TrustedClock(path: dir + "/clock", wall: { wall.now }, synchronized: { false })
    #expect(c2.failSafeNow() >= 1_800_000_500)
    #expect(c2.lag() >= 10_000_500)
    #expect(c2.wallNow() == (1_790_000_000, false))
    // once the wall clock passes the mark again, it is used as it is
    wall.set(1_800_001_000)
    #expect(c2.failSafeNow() == 1_800_001_000 && c2.lag() == 0)
}

@Test func tlsFailuresWithAnUnsyncedClockSaySo() {
    let m = "TLS handshake failed: CERTIFICATE_VERIFY_FAILED"
    #expect(explainingClock(m, synchronized: true) == m)
    #expect(explainingClock(m, synchronized: false).contains("the device clock is not synchronized"))
    #expect(explainingClock("HTTP 403", synchronized: false) == "HTTP 403")
}
