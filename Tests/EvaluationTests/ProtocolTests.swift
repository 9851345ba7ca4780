import Evaluation
import Testing

@Suite("Evaluation protocol (LFW verification, cross-validation, TAR at FAR)")
struct ProtocolTests {
    func pair(_ g: Bool, _ s: Double?, _ group: String? = nil) -> ScoredPair { ScoredPair(genuine: g, score: s, group: group) }

    @Test func aMissingFaceIsAnErrorAtEveryThreshold() {
        let p = [pair(true, nil), pair(false, nil), pair(true, 0.9), pair(false, 0.1)]
        for t in [-1.0, 0.0, 0.5, 0.95, 2.0] {
            let r = ErrorRates(p, threshold: t)
            #expect(r.falseNonMatches >= 1 && r.falseMatches >= 1, "t = \(t)")
        }
        let best = VerificationProtocol.bestThreshold(p)
        #expect(best.accuracy == 0.5)
        #expect(best.threshold > 0.1 && best.threshold <= 0.9)
    }

    @Test func bestThresholdSeparatesAndPrefersTheHigherTie() {
        let p = [pair(true, 0.8), pair(true, 0.9), pair(false, 0.3), pair(false, 0.5)]
        let b = VerificationProtocol.bestThreshold(p)
        #expect(b.accuracy == 1)
        #expect(b.threshold > 0.5 && b.threshold <= 0.8)
        // an overlap: one error is unavoidable
        let q = [pair(true, 0.6), pair(true, 0.9), pair(false, 0.7), pair(false, 0.2)]
        #expect(VerificationProtocol.bestThreshold(q).accuracy == 0.75)
    }

    @Test func crossValidationChoosesEachFoldsThresholdOnTheOthers() {
        // Fold 0 alone would be perfect at 0.55, but the other folds put the threshold at ~0.85:
        // the cross-validated accuracy of fold 0 must show the errors that choice makes there.
        let f0 = [pair(true, 0.6), pair(true, 0.7), pair(false, 0.5), pair(false, 0.4)]
        let f1 = [pair(true, 0.9), pair(true, 0.95), pair(false, 0.8), pair(false, 0.85)]
        let f2 = [pair(true, 0.9), pair(true, 0.92), pair(false, 0.84), pair(false, 0.8)]
        let cv = VerificationProtocol.crossValidated(folds: [f0, f1, f2])
        #expect(cv.thresholds[0] > 0.85)
        #expect(abs(cv.mean - (0.5 + 1 + 1) / 3) < 1e-9)
        #expect(cv.sd > 0.2)
    }

    @Test func trueAcceptRateAtAFalseMatchRate() {
        // 1000 impostors at 0.000 … 0.999, genuines at 0.9905 and 0.995 and 0.5
        var p = (0..<1000).map { pair(false, Double($0) / 1000) }
        p += [pair(true, 0.9905), pair(true, 0.995), pair(true, 0.5)]
        let r = VerificationProtocol.trueAcceptRate(p, atFalseMatchRate: 0.01)  // 10 impostors may pass: t just above 0.989
        #expect(r.threshold! > 0.989 && r.threshold! < 0.9901)
        #expect(abs(r.tar - 2.0 / 3) < 1e-9)
        let strict = VerificationProtocol.trueAcceptRate(p, atFalseMatchRate: 0.001)  // 1 may pass: above 0.998
        #expect(strict.tar == 0)
        // a missing-face impostor uses up the budget
        let withMissing = p + (0..<10).map { _ in pair(false, nil) }
        #expect(VerificationProtocol.trueAcceptRate(withMissing, atFalseMatchRate: 0.001).threshold == nil)
    }

    @Test func lfwPairsFileIsParsedIntoFolds() throws {
        let text = "2\t1\nA\t1\t2\nB\t1\tC\t3\nD\t2\t10\nE\t4\tF\t1\n"
        let f = try PairsFile(parsing: text)
        #expect(f.folds.count == 2)
        #expect(f.folds[0][0] == PairsFile.Pair(a: "images/A/A_0001.jpg", b: "images/A/A_0002.jpg", genuine: true))
        #expect(f.folds[0][1] == PairsFile.Pair(a: "images/B/B_0001.jpg", b: "images/C/C_0003.jpg", genuine: false))
        #expect(f.folds[1][0].b == "images/D/D_0010.jpg")
        #expect(throws: EvaluationError.self) { try PairsFile(parsing: "2\t1\nA\t1\t2\n") }
        #expect(throws: EvaluationError.self) { try PairsFile(parsing: "x\n") }
        #expect(throws: EvaluationError.self) { try PairsFile(parsing: "1\t1\nA\t1\nB\t1\tC\t3\n") }
    }

    @Test func labelsNeedAnImageColumnAndWholeLines() throws {
        let l = try LabelledPhotos(csv: "image,identity,gender\na.jpg,X,male\nb.jpg,,\n", base: "/d")
        #expect(l.images == ["a.jpg", "b.jpg"])
        #expect(l.column("gender") == ["male", ""])
        #expect(l.path("a.jpg") == "/d/a.jpg")
        let crlf = try LabelledPhotos(csv: "image,identity\r\na.jpg,X\r\nb.jpg,Y\r\n", base: "")
        #expect(crlf.column("identity") == ["X", "Y"])
        #expect(throws: EvaluationError.self) { try LabelledPhotos(csv: "photo,identity\na,b\n", base: "") }
        #expect(throws: EvaluationError.self) { try LabelledPhotos(csv: "image,identity\na\n", base: "") }
    }

    @Test func fixedFormatting() {
        #expect(fixed(0.98765, 3) == "0.988")
        #expect(fixed(-0.0004, 3) == "0.000")
        #expect(fixed(12.5, 1) == "12.5")
        #expect(fixed(3, 0) == "3")
    }
}
