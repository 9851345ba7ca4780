// Per-entry calibration (issue 15): the threshold each entry is judged by, chosen so that the
// entry's false-match rate — the chance that a person who is *not* this entry scores at or above
// it — is the list's operating point, and a model of that entry's impostor tail so a hit can say
// how strong a lead it is.
//
// Why per entry and not one global cosine: with the dlib embedder, impostor scores are much
// higher among some demographic groups than others (utkface-dev: at one cosine the false-match
// rate of impostor pairs within a group spans 287x between groups). A face in a "dense" part of
// the embedding space has many near neighbours, so one global threshold lets that entry match
// strangers far more often. Calibrating each entry on its own impostor scores — against the rest
// of the list and an optional cohort of non-list photos, all the agency's own — raises the
// threshold exactly where the neighbourhood is dense. Nothing here is learned from any
// benchmark: the inputs are the scores the agency's enrollment computes.

#if canImport(Glibc)
import Glibc
#endif

/// The calibration of one entry, signed into the bundle (format v2).
///
/// The impostor tail is modelled by peaks over threshold with an exponential excess
/// distribution (a generalised Pareto tail of shape 0): above `tailStart`, a fraction `tailMass`
/// of impostor scores lies, and P(score ≥ s) = tailMass · exp(−(s − tailStart) / tailScale).
/// The exponential tail is the conservative member of that family for bounded scores (it decays
/// more slowly than the fitted bounded tails), so the false-match rates it states err high.
public struct EntryCalibration: Sendable, Equatable, Hashable {
    /// The cosine this entry is judged by (≥ the list's floor, ≤ 1).
    public var threshold: Float
    /// Where the modelled tail begins (a cosine).
    public var tailStart: Float
    /// The tail's scale (cosine units, > 0).
    public var tailScale: Float
    /// The share of impostor scores at or above `tailStart` (0 < mass ≤ 1).
    public var tailMass: Float

    public init(threshold: Float, tailStart: Float, tailScale: Float, tailMass: Float) {
        self.threshold = threshold; self.tailStart = tailStart; self.tailScale = tailScale; self.tailMass = tailMass
    }

    /// Estimated false-match rate of a score: the share of impostors (people who are not this
    /// entry) expected to score at least `score` against it. Saturates at `tailMass` below the
    /// tail's start (the model says nothing finer there, and such scores are never hits).
    public func falseMatchRate(at score: Float) -> Double {
        let s = Double(score), u = Double(tailStart), b = Double(tailScale), p = Double(tailMass)
        guard s > u else { return p }
        return p * exp(-(s - u) / b)
    }

    /// Whether the fields are in range (the bundle parser refuses anything else).
    public var isValid: Bool {
        threshold.isFinite && threshold > 0 && threshold <= 1
            && tailStart.isFinite && tailStart >= -1 && tailStart <= 1
            && tailScale.isFinite && tailScale > 0 && tailScale <= 2
            && tailMass.isFinite && tailMass > 0 && tailMass <= 1
    }
}

/// Fits `EntryCalibration`s from impostor scores (agency side, at enrollment).
public struct CalibrationFit: Sendable {
    /// The operating point: the false-match rate each entry is held to ("1 in N comparisons").
    public var targetFalseMatchRate: Double
    /// The share of the highest impostor scores the tail is fitted on (at least `minimumTail`).
    ///
    /// Why 2 %: the tail must start where impostor scores are already rare, or the exponential
    /// (fitted on the bulk's shoulder) overstates the far tail and thresholds come out too high
    /// for dense groups and too low for sparse ones. Measured on held-out faces (README, "Equal
    /// false-match rates"): at 2 % the rate the model states is close to the rate measured; at
    /// 5–10 % it overstates it several-fold and the spread between groups grows.
    public var tailFraction: Double
    /// Fewest scores the tail is fitted on.
    public var minimumTail: Int
    /// Fewest impostor scores per entry for a fit; below it the entry gets `fallback`.
    public var minimumCohort: Int

    public init(targetFalseMatchRate: Double, tailFraction: Double = 0.02, minimumTail: Int = 10, minimumCohort: Int = 100) {
        self.targetFalseMatchRate = targetFalseMatchRate
        self.tailFraction = tailFraction
        self.minimumTail = max(2, minimumTail)
        self.minimumCohort = max(3, minimumCohort)
    }

    /// How many of the highest scores the fit uses for `count` impostor scores.
    public func tailCount(_ count: Int) -> Int { min(count, max(minimumTail, Int((Double(count) * tailFraction).rounded(.up)))) }

    /// The calibration of one entry from its impostor scores (its best-row score against each
    /// cohort face), never below `floor`. With too few scores for a tail fit, the entry is judged
    /// by `fallback` (at least the floor) and its tail is the exponential through the scores it
    /// has, which states a rate but is marked by a small `tailMass` count only in the report.
    public func fit(impostorScores: [Float], floor: Float, fallback: Float) -> EntryCalibration {
        let finite = impostorScores.filter(\.isFinite)
        return fit(topScores: finite.sorted(by: >), count: finite.count, floor: floor, fallback: fallback)
    }

    /// As `fit(impostorScores:…)` from the highest scores only, best first (at least the top
    /// `tailFraction` of them), and the number of impostor scores in all: the lower ones do not
    /// enter the fit, so a search for the top few is enough.
    public func fit(topScores sorted: [Float], count n: Int, floor: Float, fallback: Float) -> EntryCalibration {
        let k = tailCount(n)
        guard n >= minimumCohort, k >= 2, sorted.count >= k else {
            let t = max(floor, fallback)
            // Too few impostors to model a tail: the list's default threshold, and a tail that
            // states no rate lower than 1 in n (the most the scores can show).
            let start = sorted.first.map { min($0, t) } ?? t
            return EntryCalibration(threshold: min(1, t), tailStart: start, tailScale: 0.05, tailMass: 1 / Float(max(1, n)))
        }
        // u: the k-th highest score; m = k-1 excesses above it, summing to S.
        let u = Double(sorted[k - 1])
        let m = Double(k - 1)
        var excess = 0.0
        for i in 0..<(k - 1) { excess += Double(sorted[i]) - u }
        let sum = max(1e-4 * m, excess)
        let mass = Double(k) / Double(n)
        let target = min(targetFalseMatchRate, mass)
        // The threshold from the *predictive* tail, not the fitted one. The exponential's scale is
        // estimated from only m excesses (9 for an entry calibrated against a 500-entry list), and
        // the rate at a threshold is exp(−x/β): convex in the estimate, so plugging in the MLE
        // β̂ = S/m gives thresholds whose rates average *above* the target (Jensen). Measured on
        // held-out faces with the plug-in: 1 in 6,884 against a stated 1 in 10,000. Averaging the
        // exponential over its scale's posterior (prior 1/λ on the rate: λ ~ Gamma(m, S)) gives
        // P(excess > x) = (S / (S + x))^m, so the threshold is u + S·((mass/target)^(1/m) − 1):
        // higher where the fit rests on few scores, and the plug-in again as m grows (a cohort).
        let x = sum * (pow(mass / target, 1 / m) - 1)
        let t = u + x
        // Stored as the exponential through (u, mass) and (t, target) — format v2's tail model —
        // so the rate a hit states at the threshold is the target, and above it decays no faster
        // than the predictive tail would near the threshold (it errs high, never low, there).
        let ratio = log(mass / target)
        let beta = ratio > 0 ? max(1e-4, x / ratio) : max(1e-4, sum / m)
        let threshold = Float(min(1, max(Double(floor), t)))
        return EntryCalibration(threshold: threshold, tailStart: Float(u), tailScale: Float(beta), tailMass: Float(mass))
    }
}
