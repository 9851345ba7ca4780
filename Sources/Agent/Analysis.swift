// The analysis loop: each camera's latest frame, at the configured rate → decode → detect →
// quality gate → embed → one batched watchlist search per frame → tracker → policy → seal →
// outbox. Frames and the embeddings of faces that match nothing exist only in this loop's memory
// and are overwritten by the next frame: nothing of them is written anywhere.
#if canImport(Glibc)
import Glibc
#endif
import Audit
import Capture
import Config
import Faces
import Hits
import Imaging
import LEDs
import Synchronization
import VigilCore
import Watchlist

/// Everything the loop needs, built once by the agent.
public struct AnalysisSetup: @unchecked Sendable {
    public var cameras: [(CameraSettings, LatestFrameSlot)]
    public var analyzer: FaceAnalyzer
    public var store: WatchlistStore?
    public var outbox: Outbox?
    public var deviceKey: DeviceSigningKey?
    public var agencyKey: AgencyPublicKey?
    public var audit: AuditLog?
    public var counters: Counters?
    public var leds: LEDController?
    public var state: AgentState
    public var ratePerCamera: Double
    /// Tiles searched per frame (see `TileRotation`; 0 = all).
    public var tilesPerFrame: Int = 0
    public var configuredThreshold: Float?
    public var minConfidence: Double
    public var cooldown: Duration
    public var clock: TrustedClock
    /// Called with each sealed hit's id (tests, the demo's summary).
    public var onHit: @Sendable (String) -> Void = { _ in }
    /// Alert-mode hits, for the console (a line naming the record, camera and time only).
    public var onAlert: @Sendable (String) -> Void = { _ in }
}

public final class AnalysisLoop: @unchecked Sendable {
    let s: AnalysisSetup
    let decoder: FrameDecoder
    let encoder: JPEGEncoder
    var trackers: [String: FaceTracker] = [:]
    var rotations: [String: TileRotation] = [:]
    var gate: HitGate
    var matcher: WatchlistMatcher?
    var matcherVersion: UInt64 = 0
    var listHealth: WatchlistHealth = .none
    var lastListCheck: MonotonicInstant?
    /// The last time a frame finished (the watchdog pings only while this moves or the loop idles).
    public let heartbeat = Atomic<UInt64>(0)
    private let busy = Atomic<Bool>(false)
    /// True while a frame is being analysed.
    public var isBusy: Bool { busy.load(ordering: .relaxed) }
    public private(set) var framesProcessed = 0
    public private(set) var hits = 0
    /// Capture → analysis done, per analysed frame (the last 100,000), and capture → sealed, per
    /// hit: the agent's latency figures (printed at stop, `make bench`'s agent-fps line).
    public private(set) var frameLatencies: [Duration] = []
    public private(set) var hitLatencies: [Duration] = []
    public private(set) var firstFrameAt: MonotonicInstant?
    public private(set) var lastFrameAt: MonotonicInstant?
    /// Time per stage over every analysed frame (printed at stop: the per-stage budget).
    public private(set) var stages = StageBudget()

    public struct StageBudget: Sendable {
        public var frames = 0
        public var decode: Duration = .zero
        public var faces = FaceAnalyzer.StageTimes()
        /// The batched watchlist search.
        public var search: Duration = .zero
        /// Tracker, hit gate, counters.
        public var trackAndPolicy: Duration = .zero
        /// Crop, encode, seal, outbox write (fdatasync), audit append — per hit.
        public var seal: Duration = .zero
        public var sealed = 0

        /// "decode 6.1 ms, detect 5.2 ms, …" — means per analysed frame (per face / per hit where said).
        public var summary: String {
            func ms(_ d: Duration, _ n: Int) -> String {
                n == 0 ? "–" : String(Double(Int((Double(d.nanosecondsClamped) / 1e6 / Double(n)) * 100)) / 100) + " ms"
            }
            return "per frame: decode \(ms(decode, frames)), detect \(ms(faces.detect, frames)), align+quality \(ms(faces.alignAndGate, frames)), "
                + "embed \(ms(faces.embed, frames)) (\(ms(faces.embed, faces.embedded)) per face, \(frames == 0 ? 0 : Double(Int(Double(faces.embedded) / Double(frames) * 10)) / 10) faces), "
                + "search \(ms(search, frames)), track+policy \(ms(trackAndPolicy, frames)); per hit: seal \(ms(seal, sealed)) (\(frames) frames, \(sealed) hits)"
        }
    }

    public init(_ setup: AnalysisSetup) throws {
        s = setup
        decoder = try FrameDecoder()
        encoder = try JPEGEncoder()
        gate = HitGate(cooldown: setup.cooldown)
        for (cam, _) in setup.cameras {
            trackers[cam.name] = FaceTracker()
            rotations[cam.name] = TileRotation(perFrame: setup.tilesPerFrame)
        }
    }

    public func run(_ stop: StopFlag) {
        let interval = Duration.nanoseconds(Int64(1e9 / max(0.1, s.ratePerCamera)))
        var due: [String: MonotonicInstant] = [:]
        while !stop.isStopped {
            heartbeat.store(MonotonicInstant.now().nanoseconds, ordering: .relaxed)
            refreshList()
            var worked = false
            for (cam, slot) in s.cameras {
                let now = MonotonicInstant.now()
                if let d = due[cam.name], now < d { continue }
                guard let frame = slot.take() else { continue }
                busy.store(true, ordering: .relaxed)
                due[cam.name] = now.advanced(by: interval)
                busy.store(true, ordering: .relaxed)
                process(frame, camera: cam)
                let done = MonotonicInstant.now()
                if frameLatencies.count >= 100_000 { frameLatencies.removeFirst(50_000) }
                frameLatencies.append(frame.info.captureTime.duration(to: done))
                if firstFrameAt == nil { firstFrameAt = done }
                lastFrameAt = done
                busy.store(false, ordering: .relaxed)
                worked = true
                if stop.isStopped { break }
            }
            if !worked { stop.sleep(.milliseconds(5)) }
        }
        heartbeat.store(MonotonicInstant.now().nanoseconds, ordering: .relaxed)
    }

    /// Reloads the active list every 10 s (a sync or `watchlist install` may have replaced it, and
    /// a list may have gone stale or expired meanwhile).
    var seenGeneration = -1

    func refreshList() {
        let now = MonotonicInstant.now()
        let generation = s.state.listGeneration
        if let last = lastListCheck, last.duration(to: now) < .seconds(10), generation == seenGeneration { return }
        lastListCheck = now
        seenGeneration = generation
        guard let store = s.store else {
            listHealth = .unusable(reason: "no watchlist store (keys or embedder missing)")
            s.state.report("watchlist", .fault, "store not available")
            return
        }
        let (list, health) = store.load()
        listHealth = health
        let wall = s.clock.failSafeNow()
        if let list, health.allowsMatching {
            if matcher == nil || matcherVersion != list.header.listVersion || matcher?.isCurrent(now: wall) == false {
                do {
                    matcher = try WatchlistMatcher(bundle: list, now: wall, configuredThreshold: s.configuredThreshold)
                    matcherVersion = list.header.listVersion
                } catch {
                    matcher = nil
                    s.state.report("watchlist", .fault, "index: \(error)")
                    return
                }
            }
            guard let m = matcher else { return }
            for t in trackers.values { t.minSimilarity = max(0.5, m.threshold) }
            s.state.report("watchlist", health == .active(version: list.header.listVersion) ? .ok : .degraded, "\(health)")
            var line = "watchlist v\(list.header.listVersion) active, \(list.entries.count) entries, \(list.header.mode) mode, threshold \(m.threshold)"
            if let t = s.configuredThreshold, t < list.header.thresholdFloor {
                line += " (configured \(t) is below the signed floor \(list.header.thresholdFloor): the floor applies)"
            }
            s.state.setListLine(line)
        } else {
            matcher = nil
            s.state.report("watchlist", .degraded, "\(health)")
            s.state.setListLine("\(health)")
        }
    }

    func process(_ owned: LatestFrameSlot.Owned, camera: CameraSettings) {
        var t = MonotonicInstant.now()
        func lap() -> Duration { let n = MonotonicInstant.now(); defer { t = n }; return t.duration(to: n) }
        let image: RGBImage
        do {
            image = try owned.bytes.withUnsafeBytes { raw throws(ImagingError) -> RGBImage in
                let frame = Frame(info: owned.info, bytes: raw, lease: nil)
                return try decoder.decode(frame)
            }
        } catch {
            // a corrupt frame: counted, skipped; the next one is tried
            s.counters?.add(framesDropped: 1, wallSeconds: Int64(time(nil)))
            return
        }
        stages.decode += lap()
        let faces: [AnalyzedFace]
        var rotation = rotations[camera.name] ?? TileRotation(perFrame: s.tilesPerFrame)
        defer { rotations[camera.name] = rotation }
        do { faces = try s.analyzer.analyze(image, embed: true, times: &stages.faces, rotation: &rotation) } catch {
            s.state.report("inference", .fault, "\(error)")
            return
        }
        _ = lap()
        framesProcessed += 1
        stages.frames += 1
        let (wall, synced) = s.clock.wallNow()
        let policyNow = s.clock.failSafeNow()
        let inputs = faces.map { f in
            TrackInput(box: Rect(x: Int(f.detection.box.x), y: Int(f.detection.box.y), width: Int(f.detection.box.width), height: Int(f.detection.box.height)),
                       embedding: f.embedding?.values)
        }
        let tracks = trackers[camera.name]?.update(inputs, at: owned.info.captureTime) ?? Array(0..<faces.count)
        if let live = trackers[camera.name]?.liveTrackIDs { gate.retain(camera: camera.name, liveTracks: live) }
        // one batched search for every comparable face of the frame
        let comparable = faces.indices.filter { faces[$0].embedding != nil && faces[$0].detection.score >= s.minConfidence }
        let trackTime = lap()
        var results: [[MatchCandidate]] = []
        if let matcher, !comparable.isEmpty {
            results = matcher.match(comparable.map { faces[$0].embedding!.values }, now: policyNow, health: listHealth)
        }
        stages.search += lap()
        // counted by the fail-safe day: an unset clock (1970) must not file the counts there
        s.counters?.add(framesProcessed: 1, facesDetected: faces.count, facesCompared: matcher == nil ? 0 : comparable.count, wallSeconds: policyNow)
        var policy = trackTime + lap()
        for (k, i) in comparable.enumerated() where k < results.count {
            for candidate in results[k] {
                let report = gate.shouldReport(camera: camera.name, track: tracks[i], entry: candidate.entryID, at: owned.info.captureTime)
                policy += lap()
                guard report else { continue }
                seal(candidate, face: faces[i], image: image, frame: owned.info, camera: camera, wall: wall, synchronized: synced)
                stages.seal += lap()
                stages.sealed += 1
            }
        }
        stages.trackAndPolicy += policy
    }

    func seal(_ c: MatchCandidate, face: AnalyzedFace, image: RGBImage, frame: FrameInfo, camera: CameraSettings, wall: Int64, synchronized: Bool) {
        guard let outbox = s.outbox, let device = s.deviceKey, let agency = s.agencyKey else {
            s.state.report("hits", .fault, "a hit could not be sealed: device key, agency key or outbox missing")
            return
        }
        let b = face.detection.box
        // the crop: the matched face only (box + 25 %), for the reviewer — never the frame
        let pad = 0.25
        let x0 = max(0, Int(b.x - b.width * pad)), y0 = max(0, Int(b.y - b.height * pad))
        let x1 = min(image.width, Int(b.x + b.width * (1 + pad))), y1 = min(image.height, Int(b.y + b.height * (1 + pad)))
        var crop: [UInt8] = []
        if x1 - x0 >= 8 && y1 - y0 >= 8 {
            crop = (try? encoder.encode(image.cropped(to: Rect(x: x0, y: y0, width: x1 - x0, height: y1 - y0)), quality: 85)) ?? []
        }
        let auditHead = s.audit?.head
        let head = auditHead?.hash ?? []
        let body = HitBody(captureWallMillis: wall * 1000, captureMonotonicNanos: frame.captureTime.nanoseconds, cameraID: camera.name,
                           watchlistVersion: c.listVersion, entryID: c.entryID, score: c.score, threshold: c.threshold,
                           embedderID: matcher?.header.embedder.id ?? "", quality: Float(face.detection.score),
                           box: [Float(b.x), Float(b.y), Float(b.width), Float(b.height)], mode: c.mode,
                           auditHead: head, crop: crop, clockSynchronized: synchronized,
                           estimatedFalseMatchRate: c.estimatedFalseMatchRate, operatingPoint: matcher?.header.targetFalseMatchRate)
        do throws(OutboxError) {
            let item = try outbox.record(body, device: device, agency: agency, nowMillis: wall * 1000)
            if let auditHead { s.state.noteSealed(id: item.id, auditSequence: auditHead.sequence) }
            hits += 1
            hitLatencies.append(frame.captureTime.duration(to: .now()))
            _ = try? s.audit?.append("hit", [("id", .string(item.id))])
            s.counters?.add(hits: 1, wallSeconds: s.clock.failSafeNow())
            if c.mode == .alert {
                s.leds?.hit()
                s.onAlert("ALERT: a hit on camera \(camera.name) at \(auditTimestamp(seconds: wall, nanos: 0))\(synchronized ? "" : " (clock unsynchronized)") (record \(item.id)) — a candidate for human review, not an identification")
            }
            s.state.report("hits", .ok)
            s.onHit(item.id)
        } catch {
            s.state.report("hits", .fault, "a hit could not be stored: \(error)")
            _ = try? s.audit?.append("hit.refused", [("reason", .string("\(error)"))])
        }
    }
}

/// The p-th percentile (0...100) of durations, in milliseconds (nearest rank).
public func percentileMilliseconds(_ d: [Duration], _ p: Double) -> Double? {
    guard !d.isEmpty else { return nil }
    let sorted = d.sorted()
    let rank = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
    return Double(sorted[rank].nanosecondsClamped) / 1e6
}
