// 1:N identification per demographic group (issue 15): enroll part of each group into a list,
// calibrate it exactly as `vigil watchlist build` does, search the rest (people not on the list)
// through the device's matcher, and count who falsely matches someone — the false positive
// identification rate (FPIR, NIST IR 8280's measure) — per group, with and without calibration.
import Enrollment
import VigilCore
import Watchlist

/// A face of a labelled group (UTKFace-style: every photo a different person).
public struct GroupFace: Sendable {
    public var group: String
    public var embedding: [Float]
    public init(group: String, embedding: [Float]) { self.group = group; self.embedding = embedding }
}

public struct GroupResult: Sendable, Equatable {
    public var group: String
    /// Probes (people not on the list) searched, over all splits, and how many matched someone.
    public var probes: Int, falselyIdentified: Int
    /// Impostor comparisons within the group (probe × entry of the same group) and false matches.
    public var pairs: Int, pairFalseMatches: Int
    public var fpir: Double { probes == 0 ? 0 : Double(falselyIdentified) / Double(probes) }
    public var pairFMR: Double { pairs == 0 ? 0 : Double(pairFalseMatches) / Double(pairs) }
}

public struct IdentificationResult: Sendable {
    public var listSize: Int
    public var splits: Int
    /// With one global cosine for every entry (format v1 behaviour).
    public var global: [GroupResult]
    public var globalThreshold: Float
    /// With per-entry calibrated thresholds (format v2).
    public var calibrated: [GroupResult]
    public var targetFalseMatchRate: Double
    /// All impostor comparisons under calibration, and their false matches: the per-comparison
    /// false-match rate actually reached, against the one the calibration stated.
    public var comparisons: Int, comparisonFalseMatches: Int
    /// Every entry threshold the calibration chose, over all splits.
    public var thresholds: [Float]
    /// The first split's impostor comparisons within each group (probe and entry of one group):
    /// score and the entry's calibrated threshold, for the per-group plot.
    public var groupPairs: [GroupPairScore] = []
}

public struct GroupPairScore: Sendable, Equatable {
    public var group: String
    public var score: Float
    public var threshold: Float
}

public enum IdentificationExperiment {
    /// `splits` random splits (fixed seeds): in each, `listSize` entries drawn evenly from the
    /// groups are enrolled, the remaining faces are probes. The global run judges every entry by
    /// `globalThreshold`; the calibrated run calibrates each entry against the rest of the list
    /// (and `cohort`) with `fit`, builds a signed v2 bundle, and searches through
    /// `WatchlistMatcher`, as the device does.
    public static func run(faces: [GroupFace], cohort: [[Float]], listSize: Int, splits: Int, fit: CalibrationFit,
                           floor: Float, globalThreshold: Float) throws -> IdentificationResult {
        let groups = Array(Set(faces.map(\.group))).sorted()
        guard !groups.isEmpty, listSize >= groups.count else { throw EvaluationError("identification: need at least one face per group and a list of at least \(groups.count)") }
        let perGroup = listSize / groups.count
        let byGroup = Dictionary(grouping: faces.indices, by: { faces[$0].group })
        guard byGroup.values.allSatisfy({ $0.count > perGroup }) else {
            throw EvaluationError("identification: every group needs more than \(perGroup) faces for a \(listSize)-entry list")
        }
        var global = groups.map { GroupResult(group: $0, probes: 0, falselyIdentified: 0, pairs: 0, pairFalseMatches: 0) }
        var calibrated = global
        var comparisons = 0, comparisonFalse = 0
        var thresholds: [Float] = []
        var groupPairs: [GroupPairScore] = []
        let signer = AuthorityPrivateKey()
        let dim = faces[0].embedding.count
        var cohortMatrix: [Int8] = [], cohortScales: [Float] = []
        for c in cohort {
            let (q, s) = WatchlistIndex.quantize(c)
            cohortMatrix += q; cohortScales.append(s)
        }
        for split in 0..<splits {
            var rng = SplitMix(seed: UInt64(split) &* 0x9E37_79B9 &+ 1)
            var enrolled: [Int] = [], probes: [Int] = []
            for g in groups {
                var idx = byGroup[g]!
                rng.shuffle(&idx)
                enrolled += idx.prefix(perGroup)
                probes += idx.dropFirst(perGroup)
            }
            // The list, as enrollment writes it: one row per entry, int8 with a per-row scale.
            var matrix: [Int8] = [], scales: [Float] = []
            var entries: [WatchlistEntry] = []
            let now: Int64 = 1_700_000_000
            for (i, f) in enrolled.enumerated() {
                let (q, s) = WatchlistIndex.quantize(faces[f].embedding)
                matrix += q; scales.append(s)
                var id = [UInt8](repeating: 0, count: 16)
                withUnsafeBytes(of: UInt64(i + 1).littleEndian) { for (k, b) in $0.enumerated() { id[k] = b } }
                entries.append(WatchlistEntry(id: id, expires: now + 86_400, category: 1, legalBasis: "evaluation",
                                              firstRow: i, rowCount: 1))
            }
            let cal = try EntryCalibrator.calibrate(
                entries: entries.map { EntryCalibrator.EntryRows(firstRow: $0.firstRow, rowCount: 1) },
                matrix: matrix, scales: scales, dimension: dim, cohort: (cohortMatrix, cohortScales), fit: fit,
                floor: floor, fallback: globalThreshold, maximumCohort: max(4000, enrolled.count + cohort.count))
            thresholds += cal.calibrations.map(\.threshold)
            func header(_ floor: Float) -> WatchlistHeader {
                WatchlistHeader(listVersion: 1, issued: now - 60, expires: now + 86_400, maximumStaleness: 86_400 * 30,
                                embedder: EmbedderIdentity(id: "evaluation", sha256: [UInt8](repeating: 0, count: 32)),
                                mode: .investigative, thresholdFloor: floor, dimension: dim)
            }
            let v1 = try WatchlistBundle(parsing: WatchlistBundle.build(header: header(globalThreshold), entries: entries, matrix: matrix, scales: scales, signer: signer))
            let v2 = try WatchlistBundle(parsing: WatchlistBundle.build(
                header: header(floor), entries: entries, matrix: matrix, scales: scales,
                calibrations: cal.calibrations, targetFalseMatchRate: fit.targetFalseMatchRate, signer: signer))
            let queries = probes.map { faces[$0].embedding }
            for (bundle, isCalibrated) in [(v1, false), (v2, true)] {
                let matcher = try WatchlistMatcher(bundle: bundle, now: now)
                let all = matcher.search(queries, top: entries.count, now: now, health: .active(version: 1))
                for (pi, candidates) in all.enumerated() {
                    let g = groups.firstIndex(of: faces[probes[pi]].group)!
                    let anyMatch = candidates.contains(where: \.match)
                    var pairs = 0, pairFalse = 0
                    for c in candidates where faces[enrolled[c.row]].group == faces[probes[pi]].group {
                        pairs += 1
                        if c.match { pairFalse += 1 }
                        if isCalibrated && split == 0 {
                            groupPairs.append(GroupPairScore(group: groups[g], score: c.score, threshold: c.threshold))
                        }
                    }
                    if isCalibrated {
                        calibrated[g].probes += 1; calibrated[g].falselyIdentified += anyMatch ? 1 : 0
                        calibrated[g].pairs += pairs; calibrated[g].pairFalseMatches += pairFalse
                        comparisons += candidates.count
                        comparisonFalse += candidates.filter(\.match).count
                    } else {
                        global[g].probes += 1; global[g].falselyIdentified += anyMatch ? 1 : 0
                        global[g].pairs += pairs; global[g].pairFalseMatches += pairFalse
                    }
                }
            }
        }
        return IdentificationResult(listSize: perGroup * groups.count, splits: splits, global: global, globalThreshold: globalThreshold,
                                    calibrated: calibrated, targetFalseMatchRate: fit.targetFalseMatchRate,
                                    comparisons: comparisons, comparisonFalseMatches: comparisonFalse, thresholds: thresholds,
                                    groupPairs: groupPairs)
    }
}

/// A small deterministic generator (splits must be the same on every run and machine).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func shuffle(_ a: inout [Int]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
    }
}
