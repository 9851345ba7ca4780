import Agent
import Testing
import VigilCore
import VigilTestSupport

/// A random unit vector (a synthetic "person").
func randomUnit(_ g: inout SplitMix64, dims: Int = 128) -> [Float] {
    var v = (0..<dims).map { _ in Float.random(in: -1...1, using: &g) }
    let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    for i in v.indices { v[i] /= n }
    return v
}

/// `base` with noise of relative size `amount`, renormalised (the same person in another frame).
func jitter(_ base: [Float], _ amount: Float, _ g: inout SplitMix64) -> [Float] {
    var v = base.map { $0 + amount * Float.random(in: -1...1, using: &g) / Float(base.count).squareRoot() }
    let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    for i in v.indices { v[i] /= n }
    return v
}

func at(_ ms: Int) -> MonotonicInstant { MonotonicInstant(nanoseconds: 1_000_000_000 + UInt64(ms) * 1_000_000) }

@Suite("Face tracking across frames")
struct TrackerTests {
    @Test func aSteadilyMovingFaceKeepsOneTrack() {
        var g = SplitMix64(seed: 1)
        let person = randomUnit(&g)
        for withEmbeddings in [false, true] {
            let tracker = FaceTracker()
            var ids = Set<Int>()
            for f in 0..<100 {  // 5 Hz, 10 px right and 3 px down per detection
                let box = Rect(x: 20 + 10 * f, y: 40 + 3 * f, width: 80, height: 90)
                let e = withEmbeddings ? jitter(person, 0.3, &g) : nil
                ids.formUnion(tracker.update([TrackInput(box: box, embedding: e)], at: at(200 * f)))
            }
            #expect(ids.count == 1)
            #expect(tracker.trackCount == 1)
        }
    }

    /// Face embedders put different people close together (dlib: cosine 0.77–0.91 between
    /// strangers in the project's photos). With likeness at the list's threshold, a stranger who
    /// stands nearby while the person is away does not inherit the person's track, so the
    /// person's return is a new appearance (and can be a new hit). With a lax 0.5 it would not be.
    @Test func aSimilarLookingStrangerDoesNotContinueATrack() {
        var g = SplitMix64(seed: 9)
        let a = randomUnit(&g)
        // b: cosine 0.88 with a
        var r = randomUnit(&g)
        let d = zip(r, a).reduce(0) { $0 + $1.0 * $1.1 }
        for i in r.indices { r[i] -= d * a[i] }
        let rn = r.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let b = zip(a, r).map { 0.88 * $0 + (1 - 0.88 * 0.88).squareRoot() * $1 / rn }
        for (likeness, sameTrack) in [(Float(0.5), true), (Float(0.93), false)] {
            let tracker = FaceTracker()
            tracker.minSimilarity = likeness
            let home = Rect(x: 100, y: 100, width: 80, height: 80), nearby = Rect(x: 200, y: 100, width: 80, height: 80)
            let first = tracker.update([TrackInput(box: home, embedding: a)], at: at(0))[0]
            var f = 1
            for _ in 1..<5 { _ = tracker.update([TrackInput(box: home, embedding: a)], at: at(200 * f)); f += 1 }
            var strangerIDs = Set<Int>()
            for _ in 0..<25 { strangerIDs.formUnion(tracker.update([TrackInput(box: nearby, embedding: b)], at: at(200 * f))); f += 1 }
            let back = tracker.update([TrackInput(box: home, embedding: a)], at: at(200 * f))[0]
            #expect((back == first) == sameTrack, "likeness \(likeness): first \(first), back \(back)")
            #expect(strangerIDs.contains(first) == sameTrack)
        }
    }

    @Test func aFastFaceIsFollowedByMotionAndLikeness() {
        // 60 px per detection with an 80 px box: consecutive boxes barely overlap (IoU 0.14).
        var g = SplitMix64(seed: 2)
        let person = randomUnit(&g)
        let tracker = FaceTracker()
        var ids = Set<Int>()
        for f in 0..<30 {
            let box = Rect(x: 60 * f, y: 100, width: 80, height: 80)
            ids.formUnion(tracker.update([TrackInput(box: box, embedding: jitter(person, 0.3, &g))], at: at(200 * f)))
        }
        #expect(ids.count == 1)
        // Without embeddings, overlap links the first steps (40 px: IoU 0.33); when the face
        // speeds up to 60 px per detection (IoU 0.14) the box predicted from its velocity
        // carries the track.
        let blind = FaceTracker()
        var blindIDs = Set<Int>(), x = 0
        for f in 0..<30 {
            x += f < 5 ? 40 : 60
            blindIDs.formUnion(blind.update([TrackInput(box: Rect(x: x, y: 100, width: 80, height: 80))], at: at(200 * f)))
        }
        #expect(blindIDs.count == 1)
    }

    @Test func twoFacesCrossingKeepTheirIDs() {
        var g = SplitMix64(seed: 3)
        let a = randomUnit(&g), b = randomUnit(&g)
        let tracker = FaceTracker()
        var idsA = Set<Int>(), idsB = Set<Int>()
        for f in 0..<41 {  // A walks right, B walks left, same height: the boxes coincide at f = 20
            let boxA = Rect(x: 100 + 20 * f, y: 200, width: 80, height: 80)
            let boxB = Rect(x: 900 - 20 * f, y: 204, width: 80, height: 80)
            // Input order swaps every frame so the result cannot depend on it.
            let faces = [TrackInput(box: boxA, embedding: jitter(a, 0.4, &g)), TrackInput(box: boxB, embedding: jitter(b, 0.4, &g))]
            if f % 2 == 0 {
                let ids = tracker.update(faces, at: at(200 * f))
                idsA.insert(ids[0]); idsB.insert(ids[1])
            } else {
                let ids = tracker.update(faces.reversed(), at: at(200 * f))
                idsA.insert(ids[1]); idsB.insert(ids[0])
            }
        }
        #expect(idsA.count == 1 && idsB.count == 1 && idsA != idsB)
    }

    @Test func aShortGapKeepsTheTrackALongOneStartsANewOne() {
        var g = SplitMix64(seed: 4)
        let person = randomUnit(&g)
        let tracker = FaceTracker(maxAge: .seconds(2))
        let box = Rect(x: 300, y: 200, width: 90, height: 90)
        let first = tracker.update([TrackInput(box: box, embedding: person)], at: at(0))[0]
        #expect(tracker.update([TrackInput(box: box, embedding: jitter(person, 0.2, &g))], at: at(200)) == [first])
        #expect(tracker.update([], at: at(1000)) == [])
        // Gone 1.9 s (< maxAge): the same track, even without an embedding this time.
        #expect(tracker.update([TrackInput(box: box, embedding: nil)], at: at(2100)) == [first])
        #expect(tracker.update([], at: at(4000)).isEmpty && tracker.trackCount == 1)
        // Gone 2.5 s (> maxAge): a new appearance, a new (larger) id.
        let later = tracker.update([TrackInput(box: box, embedding: person)], at: at(4600))[0]
        #expect(later > first)
        #expect(tracker.trackCount == 1)
    }

    @Test func farAwayLookAlikesAreNotLinked() {
        var g = SplitMix64(seed: 5)
        let person = randomUnit(&g)
        let tracker = FaceTracker()
        let a = tracker.update([TrackInput(box: Rect(x: 0, y: 0, width: 50, height: 50), embedding: person)], at: at(0))[0]
        // Same embedding, 1000 px away (> 3 box widths): someone else, or a photo of them.
        let b = tracker.update([TrackInput(box: Rect(x: 1000, y: 0, width: 50, height: 50), embedding: person)], at: at(200))[0]
        #expect(a != b)
        // Same embedding, 120 px away (< 3 widths), no overlap: the same person moved.
        let c = tracker.update([TrackInput(box: Rect(x: 120, y: 0, width: 50, height: 50), embedding: person)], at: at(400))[0]
        #expect(c == a)
    }

    @Test func oneBadEmbeddingDoesNotBreakATrack() {
        var g = SplitMix64(seed: 6)
        let person = randomUnit(&g)
        let tracker = FaceTracker()
        var ids = Set<Int>()
        for f in 0..<40 {
            // Every 7th frame the embedding is garbage (another random vector), the box moves on.
            let e = f % 7 == 3 ? randomUnit(&g) : jitter(person, 0.3, &g)
            ids.formUnion(tracker.update([TrackInput(box: Rect(x: 100 + 5 * f, y: 100, width: 80, height: 80), embedding: e)], at: at(200 * f)))
        }
        #expect(ids.count == 1)
    }

    @Test func trackMemoryStaysBounded() {
        var g = SplitMix64(seed: 7)
        let people = (0..<50).map { _ in randomUnit(&g, dims: 16) }
        let tracker = FaceTracker()
        var gate = HitGate(cooldown: .seconds(60))
        var gateWithoutRetain = HitGate(cooldown: .seconds(60))
        var maxTracks = 0, maxGate = 0, maxGateNoRetain = 0, hits = 0
        for f in 0..<100_000 {
            let faces = (0..<Int.random(in: 0...4, using: &g)).map { _ in
                TrackInput(box: Rect(x: Int.random(in: 0...1800, using: &g), y: Int.random(in: 0...1000, using: &g), width: 60, height: 60),
                           embedding: Bool.random(using: &g) ? people[Int.random(in: 0..<50, using: &g)] : nil)
            }
            let now = at(200 * f)
            let ids = tracker.update(faces, at: now)
            for id in ids {
                let entry: [UInt8] = [UInt8(Int.random(in: 0..<200, using: &g))]
                if gate.shouldReport(camera: "cam\(f % 3)", track: id, entry: entry, at: now) { hits += 1 }
                _ = gateWithoutRetain.shouldReport(camera: "cam\(f % 3)", track: id, entry: entry, at: now)
            }
            for c in 0..<3 { gate.retain(camera: "cam\(c)", liveTracks: tracker.liveTrackIDs) }
            maxTracks = max(maxTracks, tracker.trackCount)
            maxGate = max(maxGate, gate.gateSize)
            maxGateNoRetain = max(maxGateNoRetain, gateWithoutRetain.gateSize)
        }
        // 2 s at 5 Hz with at most 4 faces: at most ~44 live tracks.
        #expect(maxTracks <= 50)
        // 3 cameras × 200 entries of report times, plus the live tracks' matches.
        #expect(maxGate <= 3 * 200 + 4 * 50)
        // Without retain, per-track state lasts max(cooldown, 30 s), pruned every half of it.
        #expect(maxGateNoRetain <= 3 * 200 + 4 * 5 * 95)
        #expect(hits > 0)
    }

    @Test func theTrackCapHolds() {
        let tracker = FaceTracker(maxTracks: 10)
        for f in 0..<20 {
            let faces = (0..<8).map { TrackInput(box: Rect(x: 100 * $0, y: 300 * (f % 3), width: 50, height: 50)) }
            _ = tracker.update(faces, at: at(100 * f))
            #expect(tracker.trackCount <= 10)
        }
    }

    @Test func fuzzedInputsNeverCrashAndIDsStayUnique() {
        var g = SplitMix64(seed: 8)
        let tracker = FaceTracker()
        var now = at(0)
        var highest = 0
        for _ in 0..<20_000 {
            let faces = (0..<Int.random(in: 0...12, using: &g)).map { _ -> TrackInput in
                let box: Rect
                switch Int.random(in: 0..<10, using: &g) {
                case 0: box = Rect(x: Int.random(in: -5...5, using: &g), y: 0, width: Int.random(in: -3...3, using: &g), height: Int.random(in: -3...3, using: &g))
                case 1: box = Rect(x: Int.max - Int.random(in: 0...10, using: &g), y: Int.min + 1, width: Int.max, height: Int.max)
                default: box = Rect(x: Int.random(in: 0...640, using: &g), y: Int.random(in: 0...480, using: &g),
                                    width: Int.random(in: 1...200, using: &g), height: Int.random(in: 1...200, using: &g))
                }
                var e: [Float]?
                switch Int.random(in: 0..<8, using: &g) {
                case 0: e = nil
                case 1: e = []
                case 2: e = [Float](repeating: 0, count: 128)
                case 3: e = [Float](repeating: .nan, count: 128)
                case 4: e = randomUnit(&g, dims: Int.random(in: 1...130, using: &g))
                case 5: e = [Float](repeating: .greatestFiniteMagnitude, count: 128)
                default: e = randomUnit(&g)
                }
                return TrackInput(box: box, embedding: e)
            }
            now = now.advanced(by: .milliseconds(Int.random(in: 0...1500, using: &g)))
            let ids = tracker.update(faces, at: now)
            #expect(ids.count == faces.count)
            #expect(Set(ids).count == ids.count)
            let live = tracker.liveTrackIDs
            #expect(Set(live).count == live.count)
            #expect(ids.allSatisfy { live.contains($0) })
            for id in ids where id > highest { highest = id }
            #expect(live.allSatisfy { $0 <= highest })
        }
    }
}

/// A reference wrapper so a mutating gate can be called inside `#expect`.
final class Gate {
    var gate: HitGate
    init(cooldown: Duration) { gate = HitGate(cooldown: cooldown) }
    @discardableResult
    func report(camera: String, track: Int, entry: [UInt8], at t: MonotonicInstant) -> Bool {
        gate.shouldReport(camera: camera, track: track, entry: entry, at: t)
    }
    func retain(camera: String, liveTracks: [Int]) { gate.retain(camera: camera, liveTracks: liveTracks) }
    var gateSize: Int { gate.gateSize }
}

@Suite("Hit gate: one hit per track and entry, cooldown per camera and entry")
struct HitGateTests {
    let alice: [UInt8] = [1, 2, 3, 4], bob: [UInt8] = [9, 9, 9, 9]

    @Test func oncePerTrackAndEntry() {
        let gate = Gate(cooldown: .seconds(60))
        #expect(gate.report(camera: "door", track: 1, entry: alice, at: at(0)))
        for s in 1...100 { #expect(!gate.report(camera: "door", track: 1, entry: alice, at: at(200 * s))) }
        // Another entry on the same track, and the same entry on another camera, are hits.
        #expect(gate.report(camera: "door", track: 1, entry: bob, at: at(20_000)))
        #expect(gate.report(camera: "lobby", track: 1, entry: alice, at: at(20_000)))
        // Still matching after the cooldown: still the same track, still no new hit.
        for s in 21...200 { #expect(!gate.report(camera: "door", track: 1, entry: alice, at: at(1000 * s))) }
    }

    @Test func reEntryWithinTheCooldownIsNotANewHit() {
        let gate = Gate(cooldown: .seconds(60))
        #expect(gate.report(camera: "door", track: 1, entry: alice, at: at(0)))
        // Left and came back 10 s later under a new track id.
        #expect(!gate.report(camera: "door", track: 2, entry: alice, at: at(10_000)))
        // That track stays suppressed even once the cooldown has passed.
        #expect(!gate.report(camera: "door", track: 2, entry: alice, at: at(30_000)))
        #expect(!gate.report(camera: "door", track: 2, entry: alice, at: at(61_000)))
        // A new appearance after the cooldown is a new hit, and starts a new cooldown.
        #expect(gate.report(camera: "door", track: 3, entry: alice, at: at(61_000)))
        #expect(!gate.report(camera: "door", track: 4, entry: alice, at: at(120_000)))
        #expect(gate.report(camera: "door", track: 5, entry: alice, at: at(121_000)))
    }

    @Test func aZeroCooldownStillReportsOncePerTrack() {
        let gate = Gate(cooldown: .zero)
        #expect(gate.report(camera: "door", track: 1, entry: alice, at: at(0)))
        for s in 1...50 { #expect(!gate.report(camera: "door", track: 1, entry: alice, at: at(200 * s))) }
        #expect(gate.report(camera: "door", track: 2, entry: alice, at: at(10_200)))
    }

    @Test func retainForgetsEndedTracksButNotTheCooldown() {
        let gate = Gate(cooldown: .seconds(60))
        for t in 1...10 { gate.report(camera: "door", track: t, entry: [UInt8(t)], at: at(t)) }
        gate.report(camera: "lobby", track: 1, entry: alice, at: at(20))
        #expect(gate.gateSize == 22)
        gate.retain(camera: "door", liveTracks: [10])
        #expect(gate.gateSize == 13)  // 11 report times + door/10 + lobby/1
        // The cooldown still holds for an ended track's entry under a new id.
        #expect(!gate.report(camera: "door", track: 11, entry: [3], at: at(5_000)))
        // Report times are pruned once past the cooldown.
        gate.report(camera: "yard", track: 1, entry: bob, at: at(200_000))
        #expect(gate.gateSize == 2)
    }
}
