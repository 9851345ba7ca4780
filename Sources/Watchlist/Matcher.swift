// Matching faces against the active list, with the list's policy enforced here, in one place:
// no match when the list is stale, expired or absent; never below the signed threshold floor;
// never an entry past its own expiry. A candidate is a lead for human review, not an
// identification: it carries its score and the threshold it passed.

/// One candidate for one face.
public struct MatchCandidate: Sendable, Equatable, CustomStringConvertible {
    /// The opaque entry id from the bundle (no name: the agency maps it back).
    public var entryID: [UInt8]
    public var category: UInt8
    public var legalBasis: String
    /// Cosine similarity (int8 search: within ~0.01 of the float cosine).
    public var score: Float
    /// The threshold the score passed: the entry's own (its calibrated threshold in a v2 list,
    /// the floor in a v1 list), or a higher configured one.
    public var threshold: Float
    public var listVersion: UInt64
    public var mode: WatchlistMode
    /// The entry's estimated false-match rate at `score` (its calibration's impostor tail): how
    /// often a person who is not this entry scores this high. nil for a v1 list (unknown).
    public var estimatedFalseMatchRate: Double? = nil
    public var description: String {
        "candidate for human review: entry \(hex(entryID)) score \(score) >= threshold \(threshold) (list v\(listVersion), \(mode))"
    }
}

/// One ranked candidate of a 1:N search, whether or not it passes its threshold.
public struct SearchCandidate: Sendable, Equatable {
    /// The entry's index in the bundle's entry table.
    public var row: Int
    public var entryID: [UInt8]
    /// Best cosine over the entry's rows.
    public var score: Float
    /// The threshold the device judges this entry by (as `MatchCandidate.threshold`).
    public var threshold: Float
    /// `score >= threshold`: what `match` would report.
    public var match: Bool
    /// As `MatchCandidate.estimatedFalseMatchRate`; nil for a v1 list.
    public var estimatedFalseMatchRate: Double?
}

/// The index over the entries that may match now. Rebuild it (`isCurrent`) when an entry expires.
///
/// Each entry is judged by its own threshold: max(its calibrated threshold — the floor in a v1
/// list —, the configured threshold). Because thresholds differ, the best rows of a face may all
/// belong to entries that fail theirs while a lower-scoring row passes its lower one; so a
/// search keeps asking the index for more rows (doubling k, still one batched search per round)
/// until the lowest row returned is below every entry's threshold or the rows run out.
public final class WatchlistMatcher: @unchecked Sendable {
    public let header: WatchlistHeader
    /// The list-wide threshold: the floor, or a higher configured one (each entry may be higher).
    public let threshold: Float
    let entries: [WatchlistEntry]
    /// Per live entry: the bundle's entry index, the threshold applied, the calibration (v2).
    let bundleIndex: [Int]
    let thresholds: [Float]
    let calibrations: [EntryCalibration]?
    /// The lowest threshold of any live entry: no row below it can match.
    let lowestThreshold: Float
    let index: WatchlistIndex
    /// index row → entry (position in `entries`)
    let rowEntry: [Int32]
    /// The earliest expiry among the indexed entries: after it the index holds a dead entry.
    public let rebuildAfter: Int64
    /// How many rows are compared per face in the first round before de-duplicating by entry.
    let k: Int
    /// Most rows `match` reads for one face (rounds of 32, 64, … up to it). Only a face that
    /// scores above the lowest entry threshold against more rows than this — thousands of
    /// near-duplicates, each failing its own threshold — could hide a passing entry; a bound
    /// keeps a frame's search cost bounded by a few matrix scans whatever the list holds.
    public static let maximumRowsPerFace = 4096

    /// `configuredThreshold` may raise the list's floor and any entry's threshold, never lower them.
    public init(bundle: WatchlistBundle, now: Int64, configuredThreshold: Float? = nil,
                isa: WatchlistIndex.ISA = .auto) throws {
        header = bundle.header
        threshold = max(bundle.header.thresholdFloor, configuredThreshold ?? bundle.header.thresholdFloor)
        let live = WatchlistPolicy.matchableEntries(bundle, now: now)
        entries = live
        // Entry ids are unique within a bundle (the parser refuses duplicates).
        var position: [[UInt8]: Int] = [:]
        for (i, e) in bundle.entries.enumerated() { position[e.id] = i }
        let listThreshold = threshold
        let bundleIndex = live.map { position[$0.id] ?? 0 }
        let thresholds = bundleIndex.map { i in max(listThreshold, bundle.entryThreshold(i)) }
        self.bundleIndex = bundleIndex
        self.thresholds = thresholds
        calibrations = bundle.calibrations.map { table in bundleIndex.map { table[$0] } }
        lowestThreshold = thresholds.min() ?? listThreshold
        let d = bundle.header.dimension
        var matrix: [Int8] = [], scales: [Float] = [], rowEntry: [Int32] = []
        for (i, e) in live.enumerated() {
            matrix += bundle.matrix[(e.firstRow * d)..<((e.firstRow + e.rowCount) * d)]
            scales += bundle.scales[e.firstRow..<(e.firstRow + e.rowCount)]
            rowEntry += [Int32](repeating: Int32(i), count: e.rowCount)
        }
        self.rowEntry = rowEntry
        index = try WatchlistIndex(rows: rowEntry.count, dimension: d, matrix: matrix, rowScales: scales, isa: isa)
        rebuildAfter = live.map(\.expires).min() ?? .max
        // Entries have up to a few rows; 32 rows cover the best few entries of any face.
        k = 32
    }

    /// Whether this index may still be used at `now` (no indexed entry has expired since).
    public func isCurrent(now: Int64) -> Bool { now < rebuildAfter }

    /// Candidates for each face (L2-normalised embeddings of the list's dimension), best first,
    /// at most one per entry, each at or above its entry's threshold. Empty for every face unless
    /// `health` allows matching — the caller passes the store's current health, re-evaluated for
    /// `now`. Exactly the matching ones of `search` (same ranking, same code).
    public func match(_ faces: [[Float]], now: Int64, health: WatchlistHealth) -> [[MatchCandidate]] {
        ranked(faces, top: nil, now: now, health: health).map { list in
            list.filter(\.match).map { c in
                let e = entries[c.live]
                return MatchCandidate(entryID: e.id, category: e.category, legalBasis: e.legalBasis, score: c.score,
                                      threshold: c.threshold, listVersion: header.listVersion, mode: header.mode,
                                      estimatedFalseMatchRate: c.rate)
            }
        }
    }

    /// The investigative 1:N search: the best `k` entries for each face regardless of threshold,
    /// best first, one per entry (its best row), each with its score, the threshold the device
    /// judges it by and whether it passes. Empty unless `health` allows matching, as `match`.
    public func search(_ faces: [[Float]], top k: Int, now: Int64, health: WatchlistHealth) -> [[SearchCandidate]] {
        guard k >= 1 else { return faces.map { _ in [] } }
        return ranked(faces, top: k, now: now, health: health).map { list in
            list.map { c in
                SearchCandidate(row: bundleIndex[c.live], entryID: entries[c.live].id, score: c.score,
                                threshold: c.threshold, match: c.match, estimatedFalseMatchRate: c.rate)
            }
        }
    }

    struct Ranked { var live: Int; var score: Float; var threshold: Float; var match: Bool; var rate: Double? }

    /// Entries best first per face. `top` nil: every entry that can still match (rows are read
    /// until one is below the lowest threshold); otherwise the first `top` distinct entries.
    func ranked(_ faces: [[Float]], top: Int?, now: Int64, health: WatchlistHealth) -> [[Ranked]] {
        // Both the store's health (absent / corrupt / fallback) and this list's own clock rules.
        guard health.allowsMatching, WatchlistPolicy.health(of: header, now: now).allowsMatching, !faces.isEmpty else {
            return faces.map { _ in [] }
        }
        var queries: [[Int8]] = [], scales: [Float] = []
        for f in faces {
            let (q, s) = WatchlistIndex.quantize(f.count == header.dimension ? f : [Float](repeating: 0, count: header.dimension))
            queries.append(q)
            scales.append(s)
        }
        var out = [[Ranked]](repeating: [], count: faces.count)
        var pending = Array(faces.indices)
        var rowsWanted = max(k, top.map { min($0, Int(Int32.max) / 4) } ?? 0)
        while !pending.isEmpty {
            let want = min(rowsWanted, index.rows)
            let results = want == 0 ? pending.map { _ in [SearchHit]() }
                : index.search(batch: pending.flatMap { queries[$0] }, scales: pending.map { scales[$0] }, k: want)
            var again: [Int] = []
            for (face, hits) in zip(pending, results) {
                let list = collect(hits, top: top, now: now)
                out[face] = list
                let exhausted = hits.count < want || want >= index.rows
                let done: Bool
                if let top { done = list.count >= top } else { done = (hits.last.map { $0.score < lowestThreshold } ?? true) }
                if !done, !exhausted { again.append(face) }
            }
            pending = again
            rowsWanted = min(index.rows, rowsWanted * 2)
            if top == nil, want >= Self.maximumRowsPerFace { break }
        }
        return out
    }

    /// One entry per best row, in row order, live entries only, at most `top`.
    private func collect(_ hits: [SearchHit], top: Int?, now: Int64) -> [Ranked] {
        var seen = Set<Int32>()
        var list: [Ranked] = []
        for h in hits {
            if let top, list.count >= top { break }
            let ei = rowEntry[h.row]
            guard seen.insert(ei).inserted else { continue }
            let e = entries[Int(ei)]
            guard now < e.expires else { continue }  // never, even if the caller did not rebuild
            let t = thresholds[Int(ei)]
            if top == nil, h.score < lowestThreshold { break }
            list.append(Ranked(live: Int(ei), score: h.score, threshold: t, match: h.score >= t,
                               rate: calibrations?[Int(ei)].falseMatchRate(at: h.score)))
        }
        return list
    }
}
