import Enrollment
import Testing
import Watchlist

#if canImport(Glibc)
import Glibc
#endif

/// Per-entry calibration: the tail fit on scores whose distribution is known, and the enrollment
/// step that gathers each entry's impostor scores.
@Suite("Per-entry calibration (tail fit and enrollment cohort)")
struct CalibrationTests {
    struct Rng: RandomNumberGenerator {
        var s: UInt64
        mutating func next() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
        /// Standard normal (Box–Muller).
        mutating func normal() -> Double { (-2 * log(max(uniform(), 1e-300))).squareRoot() * cos(2 * .pi * uniform()) }
    }

    /// Scores with an exactly exponential upper tail: 0.6 + 0.03·Exp(1).
    func exponentialScores(_ n: Int, _ rng: inout Rng) -> [Float] {
        (0..<n).map { _ in Float(0.6 + 0.03 * -log(max(rng.uniform(), 1e-300))) }
    }

    @Test func theFittedThresholdHoldsTheTargetRateOnFreshScores() {
        var rng = Rng(s: 7)
        let fit = CalibrationFit(targetFalseMatchRate: 1e-3)
        let c = fit.fit(impostorScores: exponentialScores(5000, &rng), floor: 0.1, fallback: 0.9)
        // true tail: P(S >= t) = exp(-(t - 0.6) / 0.03) → t = 0.6 + 0.03·ln(1000) = 0.8072
        #expect(abs(Double(c.threshold) - 0.8072) < 0.02, "threshold \(c.threshold)")
        let fresh = exponentialScores(400_000, &rng)
        let measured = Double(fresh.filter { $0 >= c.threshold }.count) / Double(fresh.count)
        #expect(measured > 1e-3 / 2 && measured < 1e-3 * 2, "measured \(measured)")
        // and the rate it states at its own threshold is the target
        #expect(abs(c.falseMatchRate(at: c.threshold) - 1e-3) < 1e-4)
    }

    /// An entry calibrated against a 500-entry list alone has 499 impostor scores, so its tail
    /// rests on 9 excesses. Over many such entries the rate the thresholds actually let through
    /// must average the target: the plug-in exponential (scale = mean excess) lets through about
    /// 3x the target here (its rate is convex in the noisy scale), the predictive tail does not.
    @Test func smallCohortThresholdsHoldTheTargetOnAverage() {
        var rng = Rng(s: 29)
        let fit = CalibrationFit(targetFalseMatchRate: 1e-4)
        var total = 0.0
        let entries = 3000
        for _ in 0..<entries {
            let c = fit.fit(impostorScores: exponentialScores(499, &rng), floor: 0.1, fallback: 0.99)
            // the true rate at this threshold: P(S >= t) = exp(-(t - 0.6) / 0.03)
            total += exp(-(Double(c.threshold) - 0.6) / 0.03)
        }
        let mean = total / Double(entries)
        #expect(mean > 0.6e-4 && mean < 1.4e-4, "mean rate let through \(mean) for a target of 1e-4")
    }

    @Test func aDenseNeighbourhoodGetsAHigherThreshold() {
        var rng = Rng(s: 11)
        let fit = CalibrationFit(targetFalseMatchRate: 1e-4)
        let sparse = (0..<800).map { _ in Float(0.70 + 0.04 * rng.normal()) }
        let dense = (0..<800).map { _ in Float(0.82 + 0.04 * rng.normal()) }
        let a = fit.fit(impostorScores: sparse, floor: 0.5, fallback: 0.93)
        let b = fit.fit(impostorScores: dense, floor: 0.5, fallback: 0.93)
        #expect(b.threshold > a.threshold + 0.08)
    }

    @Test func neverBelowTheFloorNorAboveOne() {
        var rng = Rng(s: 3)
        let low = (0..<500).map { _ in Float(0.1 + 0.01 * rng.normal()) }
        let c = CalibrationFit(targetFalseMatchRate: 1e-4).fit(impostorScores: low, floor: 0.85, fallback: 0.93)
        #expect(c.threshold == 0.85)
        let high = (0..<500).map { _ in Float(0.995 + 0.002 * rng.normal()) }
        #expect(CalibrationFit(targetFalseMatchRate: 1e-6).fit(impostorScores: high, floor: 0.5, fallback: 0.93).threshold <= 1)
        #expect(c.isValid)
    }

    @Test func tooFewImpostorsFallBackToTheListsThreshold() {
        let fit = CalibrationFit(targetFalseMatchRate: 1e-4)
        let c = fit.fit(impostorScores: [0.5, 0.6, 0.7], floor: 0.8, fallback: 0.93)
        #expect(c.threshold == 0.93)
        #expect(c.isValid)
        // at least the floor even when the fallback is lower
        #expect(fit.fit(impostorScores: [], floor: 0.95, fallback: 0.93).threshold == 0.95)
    }

    @Test func theTopScoresAloneGiveTheSameFit() {
        var rng = Rng(s: 5)
        let s = exponentialScores(3000, &rng)
        let fit = CalibrationFit(targetFalseMatchRate: 1e-4)
        let all = fit.fit(impostorScores: s, floor: 0.1, fallback: 0.9)
        let top = Array(s.sorted(by: >).prefix(fit.tailCount(s.count) + 5))
        #expect(fit.fit(topScores: top, count: s.count, floor: 0.1, fallback: 0.9) == all)
    }

    @Test func estimatedRateFallsWithTheScore() {
        let c = EntryCalibration(threshold: 0.9, tailStart: 0.8, tailScale: 0.02, tailMass: 0.02)
        #expect(c.falseMatchRate(at: 0.7) == Double(Float(0.02)))
        #expect(c.falseMatchRate(at: 0.9) < c.falseMatchRate(at: 0.85))
        #expect(abs(c.falseMatchRate(at: 0.9) - 0.02 * exp(-0.1 / 0.02)) < 1e-6)
        #expect(!EntryCalibration(threshold: 0.9, tailStart: 0.8, tailScale: 0, tailMass: 0.02).isValid)
        #expect(!EntryCalibration(threshold: .nan, tailStart: 0.8, tailScale: 0.1, tailMass: 0.02).isValid)
        #expect(!EntryCalibration(threshold: 0.9, tailStart: 0.8, tailScale: 0.1, tailMass: 1.5).isValid)
    }

    // MARK: enrollment's cohort

    /// Unit vectors: `n` around each of two centres, one tight cluster and one loose.
    func clusteredList(_ rng: inout Rng, n: Int, d: Int = 32) -> (matrix: [Int8], scales: [Float], vectors: [[Float]]) {
        var vectors: [[Float]] = []
        for k in 0..<(2 * n) {
            let tight = k < n
            var v = (0..<d).map { _ in Float(rng.normal()) * (tight ? 0.25 : 1.0) }
            v[0] += tight ? 3 : 0
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            vectors.append(v.map { $0 / norm })
        }
        var m: [Int8] = [], s: [Float] = []
        for v in vectors { let (q, sc) = WatchlistIndex.quantize(v); m += q; s.append(sc) }
        return (m, s, vectors)
    }

    @Test func enrollmentCalibratesTheTightClusterHigher() throws {
        var rng = Rng(s: 21)
        let n = 150, d = 32
        let (m, s, _) = clusteredList(&rng, n: n, d: d)
        let entries = (0..<(2 * n)).map { EntryCalibrator.EntryRows(firstRow: $0, rowCount: 1) }
        let r = try EntryCalibrator.calibrate(entries: entries, matrix: m, scales: s, dimension: d, cohort: ([], []),
                                              fit: CalibrationFit(targetFalseMatchRate: 1e-3), floor: 0.1, fallback: 0.9,
                                              maximumCohort: 10_000)
        #expect(r.impostors == 2 * n)
        #expect(r.fallbacks == 0)
        let tight = r.calibrations.prefix(n).map(\.threshold).sorted()[n / 2]
        let loose = r.calibrations.suffix(n).map(\.threshold).sorted()[n / 2]
        #expect(tight > loose + 0.2, "median tight \(tight), loose \(loose)")
    }

    @Test func anEntryIsNotItsOwnImpostor() throws {
        // Entry 0 has two identical rows; every other entry is far away. If its own second row
        // counted as an impostor, its top score would be 1.0 and its threshold would saturate.
        var rng = Rng(s: 4)
        let d = 16
        var vectors: [[Float]] = []
        let a: [Float] = [1] + [Float](repeating: 0, count: d - 1)
        vectors += [a, a]
        for _ in 0..<200 {
            var v = (0..<d).map { _ in Float(rng.normal()) }
            v[0] = -abs(v[0]) - 1
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            vectors.append(v.map { $0 / norm })
        }
        var m: [Int8] = [], s: [Float] = []
        for v in vectors { let (q, sc) = WatchlistIndex.quantize(v); m += q; s.append(sc) }
        var entries = [EntryCalibrator.EntryRows(firstRow: 0, rowCount: 2)]
        entries += (2..<vectors.count).map { EntryCalibrator.EntryRows(firstRow: $0, rowCount: 1) }
        let r = try EntryCalibrator.calibrate(entries: entries, matrix: m, scales: s, dimension: d, cohort: ([], []),
                                              fit: CalibrationFit(targetFalseMatchRate: 1e-3), floor: 0.1, fallback: 0.9,
                                              maximumCohort: 10_000)
        #expect(r.calibrations[0].tailStart < 0.5)
        #expect(r.calibrations[0].threshold < 0.9)
    }

    @Test func aCohortIsSampledTheSameWayEveryTime() throws {
        var rng = Rng(s: 9)
        let n = 300, d = 32
        let (m, s, _) = clusteredList(&rng, n: n, d: d)
        let cohort = clusteredList(&rng, n: 200, d: d)
        let entries = (0..<(2 * n)).map { EntryCalibrator.EntryRows(firstRow: $0, rowCount: 1) }
        func run() throws -> [EntryCalibration] {
            try EntryCalibrator.calibrate(entries: entries, matrix: m, scales: s, dimension: d, cohort: (cohort.matrix, cohort.scales),
                                          fit: CalibrationFit(targetFalseMatchRate: 1e-3), floor: 0.1, fallback: 0.9,
                                          maximumCohort: 500).calibrations
        }
        let first = try run()
        #expect(try run() == first)
    }
}
