// The verification protocols `vigil evaluate` runs, as pure functions over scores: what is
// measured is defined here once, tested on made-up scores (Tests/EvaluationTests), and the same
// definitions are used for Vigil and — in scripts/eval — for face_recognition.
//
// Conventions (LFW's published protocol): a pair with a photo in which no face was found is an
// error whatever the threshold (a genuine pair is rejected, an impostor pair accepted), so a tool
// cannot look better by failing to find hard faces.

/// One scored pair. `score` nil: a photo of the pair has no face (always an error).
public struct ScoredPair: Sendable, Equatable {
    public var genuine: Bool
    public var score: Double?
    /// A label both photos share (e.g. gender), or nil when they differ or are unlabelled.
    public var group: String?
    public init(genuine: Bool, score: Double?, group: String? = nil) {
        self.genuine = genuine; self.score = score; self.group = group
    }

    /// Whether the pair is decided correctly at threshold `t` (score ≥ t: "same person").
    public func correct(at t: Double) -> Bool {
        guard let score else { return false }
        return (score >= t) == genuine
    }
}

/// Error rates of a set of pairs at a threshold.
public struct ErrorRates: Sendable, Equatable {
    public var genuine: Int, impostor: Int
    /// False matches (impostor pairs accepted) and false non-matches (genuine pairs rejected),
    /// missing faces included.
    public var falseMatches: Int, falseNonMatches: Int
    public var fmr: Double { impostor == 0 ? 0 : Double(falseMatches) / Double(impostor) }
    public var fnmr: Double { genuine == 0 ? 0 : Double(falseNonMatches) / Double(genuine) }
    public var accuracy: Double {
        let n = genuine + impostor
        return n == 0 ? 0 : Double(n - falseMatches - falseNonMatches) / Double(n)
    }

    public init(_ pairs: [ScoredPair], threshold t: Double) {
        genuine = 0; impostor = 0; falseMatches = 0; falseNonMatches = 0
        for p in pairs {
            if p.genuine {
                genuine += 1
                if !p.correct(at: t) { falseNonMatches += 1 }
            } else {
                impostor += 1
                if !p.correct(at: t) { falseMatches += 1 }
            }
        }
    }
}

public enum VerificationProtocol {
    /// The threshold with the best accuracy on `pairs` (among midpoints of observed scores),
    /// ties broken toward the higher threshold (fewer false matches).
    public static func bestThreshold(_ pairs: [ScoredPair]) -> (threshold: Double, accuracy: Double) {
        let scored = pairs.compactMap { p in p.score.map { ($0, p.genuine) } }.sorted { $0.0 < $1.0 }
        let missing = pairs.count - scored.count
        guard !scored.isEmpty else { return (1, 0) }
        // Sweep thresholds upward: at t below every score all pairs are "same".
        var correct = scored.filter(\.1).count  // genuine accepted, impostors wrongly accepted
        var best = (threshold: scored[0].0 - 1e-6, correct: correct)
        var i = 0
        while i < scored.count {
            let s = scored[i].0
            // move every pair with this score below the threshold
            while i < scored.count && scored[i].0 == s {
                correct += scored[i].1 ? -1 : 1
                i += 1
            }
            let t = i < scored.count ? (s + scored[i].0) / 2 : s + 1e-6
            if correct >= best.correct { best = (t, correct) }
        }
        return (best.threshold, Double(best.correct) / Double(scored.count + missing))
    }

    /// k-fold cross-validated accuracy: for each fold, the threshold is chosen on the other folds
    /// and applied to it. Returns the mean and standard deviation over folds and the thresholds.
    public static func crossValidated(folds: [[ScoredPair]]) -> (mean: Double, sd: Double, thresholds: [Double]) {
        guard folds.count >= 2 else {
            let b = bestThreshold(folds.first ?? [])
            return (b.accuracy, 0, [b.threshold])
        }
        var accs: [Double] = [], ths: [Double] = []
        for k in folds.indices {
            let train = folds.indices.filter { $0 != k }.flatMap { folds[$0] }
            let t = bestThreshold(train).threshold
            ths.append(t)
            accs.append(ErrorRates(folds[k], threshold: t).accuracy)
        }
        let mean = accs.reduce(0, +) / Double(accs.count)
        let v = accs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(accs.count - 1)
        return (mean, v.squareRoot(), ths)
    }

    /// True accept rate at the lowest threshold whose false-match rate is ≤ `far`; impostor pairs
    /// with a missing face count as accepted at every threshold, genuine ones as rejected.
    /// Returns the rate and the threshold (nil when no threshold reaches `far`).
    public static func trueAcceptRate(_ pairs: [ScoredPair], atFalseMatchRate far: Double) -> (tar: Double, threshold: Double?) {
        let impostors = pairs.filter { !$0.genuine }
        let genuines = pairs.filter(\.genuine)
        guard !impostors.isEmpty, !genuines.isEmpty else { return (0, nil) }
        let allowed = Int((far * Double(impostors.count)).rounded(.down))
        let missing = impostors.filter { $0.score == nil }.count
        guard missing <= allowed else { return (0, nil) }
        let scores = impostors.compactMap(\.score).sorted(by: >)
        let budget = allowed - missing
        // threshold just above the (budget+1)-th highest impostor score
        let t = budget < scores.count ? scores[budget].nextUp : -2
        let accepted = genuines.filter { ($0.score ?? -.infinity) >= t }.count
        return (Double(accepted) / Double(genuines.count), t)
    }

    /// (false-match rate, false non-match rate) at each observed threshold, for DET curves.
    public static func detCurve(_ pairs: [ScoredPair], points: Int = 200) -> [(threshold: Double, fmr: Double, fnmr: Double)] {
        let scores = pairs.compactMap(\.score).sorted()
        guard !scores.isEmpty else { return [] }
        let lo = scores.first!, hi = scores.last!
        return (0...points).map { i in
            let t = lo + (hi - lo) * Double(i) / Double(points)
            let r = ErrorRates(pairs, threshold: t)
            return (t, r.fmr, r.fnmr)
        }
    }
}

/// LFW's pairs.txt: a header "folds n", then per fold n same-person lines `name i j` and n
/// different-person lines `name1 i name2 j` (tab or space separated).
public struct PairsFile: Sendable {
    public struct Pair: Sendable, Equatable {
        public var a: String, b: String
        public var genuine: Bool
        public init(a: String, b: String, genuine: Bool) { self.a = a; self.b = b; self.genuine = genuine }
    }
    public var folds: [[Pair]]

    /// Image paths follow LFW's naming: `images/NAME/NAME_000I.jpg` (relative to the folder the
    /// labels file is in).
    public static func lfwPath(_ name: String, _ index: Int) -> String {
        let n = String(index)
        return "images/\(name)/\(name)_\(String(repeating: "0", count: max(0, 4 - n.count)))\(n).jpg"
    }

    public init(parsing text: String) throws(EvaluationError) {
        var lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map { $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init) }
        lines.removeAll { $0.isEmpty }
        guard let head = lines.first, head.count == 2, let nf = Int(head[0]), let n = Int(head[1]), nf >= 1, n >= 1,
              nf <= 100, n <= 100_000 else {
            throw EvaluationError("pairs file: the first line must be 'FOLDS PAIRS' (e.g. '10 300')")
        }
        guard lines.count == 1 + nf * 2 * n else {
            throw EvaluationError("pairs file: \(lines.count - 1) pair lines, the header announces \(nf * 2 * n)")
        }
        var folds: [[Pair]] = []
        var li = 1
        for _ in 0..<nf {
            var fold: [Pair] = []
            for k in 0..<(2 * n) {
                let f = lines[li]
                if k < n {
                    guard f.count == 3, let i = Int(f[1]), let j = Int(f[2]), i >= 1, j >= 1 else {
                        throw EvaluationError("pairs file line \(li + 1): expected 'NAME I J' for a same-person pair")
                    }
                    fold.append(Pair(a: Self.lfwPath(f[0], i), b: Self.lfwPath(f[0], j), genuine: true))
                } else {
                    guard f.count == 4, let i = Int(f[1]), let j = Int(f[3]), i >= 1, j >= 1 else {
                        throw EvaluationError("pairs file line \(li + 1): expected 'NAME1 I NAME2 J' for a different-person pair")
                    }
                    fold.append(Pair(a: Self.lfwPath(f[0], i), b: Self.lfwPath(f[2], j), genuine: false))
                }
                li += 1
            }
            folds.append(fold)
        }
        self.folds = folds
    }
}

public struct EvaluationError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}
