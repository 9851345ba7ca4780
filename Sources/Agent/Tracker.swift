// Face tracks per camera and the hit gate on top of them.
//
// A person standing in front of a camera is detected on every frame; without tracking each
// detection would be a separate hit, flooding the reviewers with duplicates of one lead and
// filling the outbox with sealed records of the same person. The tracker follows faces across
// frames so the agent reports one hit per watchlist entry per track, and the gate adds a
// cooldown per (camera, entry) so someone stepping out of view and back in is not a new hit.
import VigilCore

/// One detected face handed to the tracker.
public struct TrackInput: Sendable, Equatable {
    /// Where the detector found the face, in frame pixels.
    public var box: Rect
    /// The face's L2-normalised embedding; nil when the face failed the quality gate (it is
    /// still tracked by position, so a blurred frame does not end the track).
    public var embedding: [Float]?
    public init(box: Rect, embedding: [Float]? = nil) {
        self.box = box
        self.embedding = embedding
    }
}

/// Follows faces across the frames of one camera and gives each a track id.
///
/// Not thread-safe: one tracker per camera, used from that camera's task only (the state is
/// per frame sequence, so sharing it between cameras would be wrong anyway).
///
/// Association is greedy by score over every (track, face) pair that is plausible:
/// - overlap: IoU ≥ `iouThreshold` against the track's last box or its box predicted from
///   its velocity (detection may run at 5 Hz, so a walking face moves between detections);
/// - likeness: both sides have embeddings, cosine ≥ `minSimilarity`, and the centres are at
///   most 3× the larger box width apart (two look-alikes on opposite sides of the frame are
///   not one person teleporting).
///
/// The score is `IoU + cosine` (cosine counts as 0 when either embedding is missing), in
/// [-1, 2]. Adding them means that where boxes overlap equally, as when two people cross,
/// the face that looks like the track wins; where nobody has an embedding, overlap alone
/// decides. Pairs are taken best first, each track and each face at most once (ties: older
/// track first, then input order, so the result is deterministic). A strongly dissimilar
/// embedding does not veto an overlap match: one bad frame (motion blur that still passed the
/// quality gate) must not split a track; the greedy order already prefers the right person.
public final class FaceTracker {
    public let iouThreshold: Double
    /// Set by the agent to the active list's threshold: "looks like the same person" must mean
    /// as close as a match for the embedder in use. dlib's cosines between *different* people
    /// are 0.77–0.91 on the project's photos (the same person in another photo: 0.94), so a
    /// fixed 0.5 let a stranger standing nearby continue someone's track — and the person who
    /// came back later got no new hit.
    public var minSimilarity: Float
    public let maxAge: Duration
    /// The most live tracks kept; beyond it the longest-unseen tracks are dropped, so a crowd
    /// (or a detector gone wrong) cannot grow memory or the O(tracks × faces) matching cost.
    public let maxTracks: Int

    struct Box {
        var x0, y0, x1, y1: Double
        init(_ r: Rect) {
            // In Double: boxes from a misbehaving detector must not trap on Int overflow.
            x0 = Double(r.x); y0 = Double(r.y)
            x1 = x0 + Double(max(0, r.width)); y1 = y0 + Double(max(0, r.height))
        }
        init(x0: Double, y0: Double, x1: Double, y1: Double) { self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1 }
        var width: Double { x1 - x0 }
        var area: Double { (x1 - x0) * (y1 - y0) }
        var centreX: Double { (x0 + x1) / 2 }
        var centreY: Double { (y0 + y1) / 2 }
        func offset(_ dx: Double, _ dy: Double) -> Box { Box(x0: x0 + dx, y0: y0 + dy, x1: x1 + dx, y1: y1 + dy) }
        func iou(_ o: Box) -> Double {
            let iw = max(0, min(x1, o.x1) - max(x0, o.x0)), ih = max(0, min(y1, o.y1) - max(y0, o.y0))
            let inter = iw * ih
            let union = area + o.area - inter
            return union > 0 && union.isFinite ? inter / union : 0
        }
        func centreDistance(_ o: Box) -> Double {
            let dx = centreX - o.centreX, dy = centreY - o.centreY
            return (dx * dx + dy * dy).squareRoot()
        }
    }

    struct Track {
        let id: Int
        var box: Box
        var lastSeen: MonotonicInstant
        /// Centre velocity in pixels per second; nil until the track was matched twice.
        var velocity: (x: Double, y: Double)?
        /// Normalised running mean of the embeddings seen (nil until the first one).
        var mean: [Float]?
        var embeddings: Int
    }

    private var tracks: [Track] = []
    private var nextID = 1

    public init(iouThreshold: Double = 0.3, minSimilarity: Float = 0.5, maxAge: Duration = .seconds(2),
                maxTracks: Int = 256) {
        self.iouThreshold = iouThreshold
        self.minSimilarity = minSimilarity
        self.maxAge = maxAge
        self.maxTracks = max(1, maxTracks)
    }

    /// Live tracks (exposed so tests and the status page can see memory stays bounded).
    public var trackCount: Int { tracks.count }
    /// The ids of the live tracks, for `HitGate.retain` (forget per-track state of ended tracks).
    public var liveTrackIDs: [Int] { tracks.map(\.id) }

    /// Associates this frame's faces with tracks; returns one track id per face, in input order.
    /// Ids are never reused (they increase), so a new id always means a new appearance.
    public func update(_ faces: [TrackInput], at now: MonotonicInstant) -> [Int] {
        let maxAgeNanos = UInt64(max(0, maxAge.nanosecondsClamped))
        // Tracks unseen for longer than maxAge have left: a face there now is a new appearance.
        tracks.removeAll { elapsedNanos(from: $0.lastSeen, to: now) > maxAgeNanos }

        let boxes = faces.map { Box($0.box) }
        let embeddings = faces.map { $0.embedding.flatMap(Self.normalised) }

        // Plausible pairs with their scores.
        var pairs: [(score: Double, track: Int, face: Int)] = []
        for (ti, t) in tracks.enumerated() {
            let predicted = predictedBox(t, at: now)
            for fi in faces.indices {
                let b = boxes[fi]
                let iou = max(t.box.iou(b), predicted?.iou(b) ?? 0)
                var cosine: Float?
                if let m = t.mean, let e = embeddings[fi], m.count == e.count { cosine = Self.dot(m, e) }
                var plausible = iou >= iouThreshold
                if !plausible, let c = cosine, c >= minSimilarity {
                    let reach = 3 * max(t.box.width, b.width)
                    let distance = min(t.box.centreDistance(b), predicted?.centreDistance(b) ?? .infinity)
                    plausible = distance <= reach
                }
                if plausible { pairs.append((iou + Double(cosine ?? 0), ti, fi)) }
            }
        }
        pairs.sort { a, b in
            if a.score != b.score { return a.score > b.score }
            if a.track != b.track { return tracks[a.track].id < tracks[b.track].id }
            return a.face < b.face
        }

        var ids = [Int](repeating: 0, count: faces.count)
        var trackUsed = [Bool](repeating: false, count: tracks.count)
        var faceUsed = [Bool](repeating: false, count: faces.count)
        for p in pairs where !trackUsed[p.track] && !faceUsed[p.face] {
            trackUsed[p.track] = true
            faceUsed[p.face] = true
            ids[p.face] = tracks[p.track].id
            observe(&tracks[p.track], box: boxes[p.face], embedding: embeddings[p.face], at: now)
        }
        for fi in faces.indices where !faceUsed[fi] {
            let id = nextID
            nextID += 1
            ids[fi] = id
            tracks.append(Track(id: id, box: boxes[fi], lastSeen: now, velocity: nil,
                                mean: embeddings[fi], embeddings: embeddings[fi] == nil ? 0 : 1))
        }
        if tracks.count > maxTracks {
            // Keep the most recently seen; among equals the newest tracks (the ones on screen).
            tracks.sort { $0.lastSeen != $1.lastSeen ? $0.lastSeen > $1.lastSeen : $0.id > $1.id }
            tracks.removeLast(tracks.count - maxTracks)
            tracks.sort { $0.id < $1.id }
        }
        return ids
    }

    private func elapsedNanos(from a: MonotonicInstant, to b: MonotonicInstant) -> UInt64 {
        b.nanoseconds >= a.nanoseconds ? b.nanoseconds - a.nanoseconds : 0  // no time travel
    }

    /// Where the track's box should be now if it kept moving as before; extrapolated at most
    /// maxAge (beyond that the track is gone anyway).
    private func predictedBox(_ t: Track, at now: MonotonicInstant) -> Box? {
        guard let v = t.velocity else { return nil }
        let maxNanos = UInt64(max(0, maxAge.nanosecondsClamped))
        let dt = Double(min(elapsedNanos(from: t.lastSeen, to: now), maxNanos)) / 1e9
        let p = t.box.offset(v.x * dt, v.y * dt)
        return p.x0.isFinite && p.y0.isFinite && p.x1.isFinite && p.y1.isFinite ? p : nil
    }

    private func observe(_ t: inout Track, box: Box, embedding: [Float]?, at now: MonotonicInstant) {
        let dt = Double(elapsedNanos(from: t.lastSeen, to: now)) / 1e9
        if dt > 0 {
            let vx = (box.centreX - t.box.centreX) / dt, vy = (box.centreY - t.box.centreY) / dt
            if vx.isFinite && vy.isFinite {
                // Smoothed: detector boxes jitter by a few pixels from frame to frame.
                t.velocity = t.velocity.map { (0.5 * $0.x + 0.5 * vx, 0.5 * $0.y + 0.5 * vy) } ?? (vx, vy)
            }
        }
        t.box = box
        t.lastSeen = max(t.lastSeen, now)
        guard let e = embedding else { return }
        if let m = t.mean, m.count == e.count {
            // A plain mean over the first 10 embeddings, then an exponential one: one bad frame
            // moves the mean by at most a tenth, while a slow change of pose is still followed.
            let w = Float(max(1.0 / Double(t.embeddings + 1), 0.1))
            var mixed = [Float](repeating: 0, count: m.count)
            for i in m.indices { mixed[i] = (1 - w) * m[i] + w * e[i] }
            t.mean = Self.normalised(mixed) ?? m
        } else {
            t.mean = e
        }
        t.embeddings += 1
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Float {
        var s: Float = 0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }

    /// The unit vector along `v`; nil for empty, zero or non-finite vectors (treated as "no
    /// embedding" rather than poisoning the running mean with NaN).
    static func normalised(_ v: [Float]) -> [Float]? {
        guard !v.isEmpty else { return nil }
        var s: Double = 0
        for x in v { s += Double(x) * Double(x) }
        guard s.isFinite, s > 0 else { return nil }
        let inv = Float(1 / s.squareRoot())
        let out = v.map { $0 * inv }
        return out.allSatisfy(\.isFinite) ? out : nil
    }
}

/// Decides whether a watchlist match on a track becomes a hit.
///
/// A hit is a lead for a human reviewer; the same person matched on every frame is one lead, so:
/// - per (camera, track, entry) only the first match is reported;
/// - per (camera, entry) nothing is reported again within `cooldown` of the last report, even
///   under a new track id: someone who steps out of view and back in (or whose track broke)
///   within the cooldown is not a new hit. A track suppressed this way stays suppressed for
///   that entry, so a person standing there does not produce a hit the moment the cooldown
///   ends: a later hit needs a new appearance after the cooldown.
///
/// Memory is bounded by what happened within one cooldown: report times older than the
/// cooldown no longer suppress anything and are pruned; per-track state is pruned when
/// `retain` says the track is gone, or once the track has not matched the entry for
/// `max(cooldown, trackMemory)` (refreshed on every call), after which a match counts as a
/// new appearance (the safety net for callers that never call `retain`).
public struct HitGate: Sendable {
    public let cooldown: Duration
    public let trackMemory: Duration

    struct EntryKey: Hashable, Sendable { var camera: String; var entry: [UInt8] }
    struct TrackKey: Hashable, Sendable { var camera: String; var track: Int; var entry: [UInt8] }

    /// (camera, entry) → when it was last reported.
    private var lastReport: [EntryKey: MonotonicInstant] = [:]
    /// (camera, track, entry) → when the track last matched the entry.
    private var trackSeen: [TrackKey: MonotonicInstant] = [:]
    private var lastPrune: MonotonicInstant?
    private var pruneAtSize = 1024

    /// `trackMemory` floors how long per-track state is kept, so that a zero or short cooldown
    /// does not turn every frame of a standing person into a new hit.
    public init(cooldown: Duration, trackMemory: Duration = .seconds(30)) {
        self.cooldown = cooldown
        self.trackMemory = trackMemory
    }

    /// Entries held (both maps), for tests and the status page: stays bounded on a long run.
    public var gateSize: Int { lastReport.count + trackSeen.count }

    /// Whether this match of `entry` on `track` of `camera` is a new hit; records it if so.
    /// Call it on every match (not only the first): that keeps the track's state alive.
    public mutating func shouldReport(camera: String, track: Int, entry: [UInt8], at now: MonotonicInstant) -> Bool {
        pruneIfDue(now)
        let tk = TrackKey(camera: camera, track: track, entry: entry)
        if let seen = trackSeen[tk] {
            trackSeen[tk] = max(seen, now)
            return false
        }
        trackSeen[tk] = now
        let ek = EntryKey(camera: camera, entry: entry)
        if let last = lastReport[ek], !elapsed(from: last, to: now, atLeast: cooldown) { return false }
        lastReport[ek] = now
        return true
    }

    /// Forgets per-track state of `camera`'s tracks not in `liveTracks` (pass
    /// `FaceTracker.liveTrackIDs`). Report times are kept: the cooldown still applies.
    public mutating func retain(camera: String, liveTracks: some Sequence<Int>) {
        let live = Set(liveTracks)
        trackSeen = trackSeen.filter { $0.key.camera != camera || live.contains($0.key.track) }
    }

    private func elapsed(from a: MonotonicInstant, to b: MonotonicInstant, atLeast d: Duration) -> Bool {
        guard b.nanoseconds >= a.nanoseconds else { return false }  // clock went back: still recent
        return b.nanoseconds - a.nanoseconds >= UInt64(max(0, d.nanosecondsClamped))
    }

    /// Amortised O(1): a full pass at most every half retention period, or when the maps doubled.
    private mutating func pruneIfDue(_ now: MonotonicInstant) {
        let cd = cooldown, keep = max(cooldown, trackMemory)
        let half = Duration.nanoseconds(max(1, keep.nanosecondsClamped / 2))
        let timeDue = lastPrune.map { elapsed(from: $0, to: now, atLeast: half) } ?? true
        guard timeDue || gateSize >= pruneAtSize else { return }
        lastReport = lastReport.filter { !elapsed(from: $0.value, to: now, atLeast: cd) }
        trackSeen = trackSeen.filter { !elapsed(from: $0.value, to: now, atLeast: keep) }
        lastPrune = now
        pruneAtSize = max(1024, 2 * gateSize)
    }
}
