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
    /// The threshold the score passed (the list's floor, or a higher configured one).
    public var threshold: Float
    public var listVersion: UInt64
    public var mode: WatchlistMode
    public var description: String {
        "candidate for human review: entry \(hex(entryID)) score \(score) >= threshold \(threshold) (list v\(listVersion), \(mode))"
    }
}

/// The index over the entries that may match now. Rebuild it (`isCurrent`) when an entry expires.
public final class WatchlistMatcher: @unchecked Sendable {
    public let header: WatchlistHeader
    public let threshold: Float
    let entries: [WatchlistEntry]
    let index: WatchlistIndex
    /// index row → entry (position in `entries`)
    let rowEntry: [Int32]
    /// The earliest expiry among the indexed entries: after it the index holds a dead entry.
    public let rebuildAfter: Int64
    /// How many rows are compared per face before de-duplicating by entry.
    let k: Int

    /// `configuredThreshold` may raise the list's floor, never lower it.
    public init(bundle: WatchlistBundle, now: Int64, configuredThreshold: Float? = nil,
                isa: WatchlistIndex.ISA = .auto) throws {
        header = bundle.header
        threshold = max(bundle.header.thresholdFloor, configuredThreshold ?? bundle.header.thresholdFloor)
        let live = WatchlistPolicy.matchableEntries(bundle, now: now)
        entries = live
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
    /// at most one per entry, all at or above the threshold. Empty for every face unless `health`
    /// allows matching — the caller passes the store's current health, re-evaluated for `now`.
    public func match(_ faces: [[Float]], now: Int64, health: WatchlistHealth) -> [[MatchCandidate]] {
        // Both the store's health (absent / corrupt / fallback) and this list's own clock rules.
        guard health.allowsMatching, WatchlistPolicy.health(of: header, now: now).allowsMatching, !faces.isEmpty else {
            return faces.map { _ in [] }
        }
        var queries: [Int8] = [], scales: [Float] = []
        for f in faces {
            let (q, s) = WatchlistIndex.quantize(f.count == header.dimension ? f : [Float](repeating: 0, count: header.dimension))
            queries += q
            scales.append(s)
        }
        let results = index.search(batch: queries, scales: scales, k: k)
        return results.map { hits in
            var seen = Set<Int32>()
            var out: [MatchCandidate] = []
            for h in hits where h.score >= threshold {
                let ei = rowEntry[h.row]
                guard seen.insert(ei).inserted else { continue }
                let e = entries[Int(ei)]
                guard now < e.expires else { continue }  // never, even if the caller did not rebuild
                out.append(MatchCandidate(entryID: e.id, category: e.category, legalBasis: e.legalBasis, score: h.score,
                                          threshold: threshold, listVersion: header.listVersion, mode: header.mode))
            }
            return out
        }
    }
}
