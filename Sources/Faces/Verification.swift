/// Matching policy constants and verification metrics (for `make eval` and the operator's
/// calibration table).
public enum FaceMatching {
    /// Cosine similarity at or above which two dlib embeddings are called a match by
    /// `vigil compare`. Chosen from the evaluation's calibration table (README) toward few false
    /// matches: a match is a lead for human review.
    public static let defaultThreshold = 0.93
}

/// Genuine (same person) and impostor (different people) similarity scores, and what any
/// threshold makes of them.
public struct VerificationScores: Sendable {
    public var genuine: [Double]
    public var impostor: [Double]

    public init(genuine: [Double], impostor: [Double]) {
        self.genuine = genuine.sorted()
        self.impostor = impostor.sorted()
    }

    /// All pairs of labelled embeddings: same label → genuine, different → impostor.
    public init(labelled: [(label: String, embedding: Embedding)]) {
        var g: [Double] = [], i: [Double] = []
        for a in 0..<labelled.count {
            for b in (a + 1)..<labelled.count {
                let s = labelled[a].embedding.cosine(labelled[b].embedding)
                if labelled[a].label == labelled[b].label { g.append(s) } else { i.append(s) }
            }
        }
        self.init(genuine: g, impostor: i)
    }

    /// False match rate at `t`: impostor pairs scoring ≥ t.
    public func falseMatchRate(at t: Double) -> Double {
        impostor.isEmpty ? 0 : Double(impostor.count - lowerBound(impostor, t)) / Double(impostor.count)
    }

    /// False non-match rate at `t`: genuine pairs scoring < t.
    public func falseNonMatchRate(at t: Double) -> Double {
        genuine.isEmpty ? 0 : Double(lowerBound(genuine, t)) / Double(genuine.count)
    }

    /// Accuracy over all pairs at `t`.
    public func accuracy(at t: Double) -> Double {
        let n = Double(genuine.count + impostor.count)
        guard n > 0 else { return 0 }
        let correct = Double(genuine.count) * (1 - falseNonMatchRate(at: t)) + Double(impostor.count) * (1 - falseMatchRate(at: t))
        return correct / n
    }

    /// The threshold (among the observed scores) with the best accuracy, and that accuracy.
    public var bestThreshold: (threshold: Double, accuracy: Double) {
        var best = (threshold: 1.0, accuracy: accuracy(at: 1.0))
        for t in genuine + impostor + [impostor.last.map { $0 + 1e-9 } ?? 1] {
            let a = accuracy(at: t)
            if a > best.accuracy { best = (t, a) }
        }
        return best
    }

    /// True accept rate at the lowest threshold whose false match rate is ≤ `far`.
    public func trueAcceptRate(atFalseMatchRate far: Double) -> Double {
        guard !impostor.isEmpty else { return 1 - falseNonMatchRate(at: -1) }
        // Allowed impostors above the threshold: floor(far × count); the threshold sits just
        // above the next-highest impostor score.
        let allowed = Int((far * Double(impostor.count)).rounded(.down))
        let idx = impostor.count - allowed - 1
        let t = idx >= 0 ? impostor[idx].nextUp : -1
        return 1 - falseNonMatchRate(at: t)
    }

    private func lowerBound(_ a: [Double], _ t: Double) -> Int {
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if a[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
