#if canImport(Glibc)
import Glibc
#endif
import Evaluation
import Testing
import Watchlist

/// The per-group identification experiment on synthetic embeddings with a known geometry: group
/// "tight" is a cluster (strangers within it score ~0.8 with each other — the uneven model's
/// worst group), group "spread" is random directions (strangers score ~0). One cosine cannot be
/// fair to both; per-entry calibration must bring the tight group's FPIR down to about what
/// the stated rate predicts, while the measured per-comparison rate stays near the stated one.
@Suite("Identification per group (FPIR) with and without calibration")
struct IdentificationTests {
    struct Gauss {
        var state: UInt64
        mutating func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) + 0.5) / Double(1 << 53)
        }
        mutating func normal() -> Double {
            (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())
        }
    }

    func normalized(_ v: [Double]) -> [Float] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { Float($0 / n) }
    }

    func faces(perGroup: Int) -> [GroupFace] {
        var g = Gauss(state: 42)
        let d = 128
        let centre = (0..<d).map { _ in g.normal() }
        let cn = centre.reduce(0) { $0 + $1 * $1 }.squareRoot()
        var out: [GroupFace] = []
        for _ in 0..<perGroup {
            // |noise| ≈ 0.5 of |centre|: strangers in the cluster at cosine ≈ 1 / (1 + 0.25) = 0.8.
            let v = (0..<d).map { centre[$0] / cn + 0.5 * g.normal() / Double(d).squareRoot() }
            out.append(GroupFace(group: "tight", embedding: normalized(v)))
            out.append(GroupFace(group: "spread", embedding: normalized((0..<d).map { _ in g.normal() })))
        }
        return out
    }

    @Test func calibrationEvensOutTheFalsePositiveIdentificationRate() throws {
        let target = 1e-3
        let r = try IdentificationExperiment.run(faces: faces(perGroup: 220), cohort: [], listSize: 240, splits: 2,
                                                 fit: CalibrationFit(targetFalseMatchRate: target), floor: 0.5, globalThreshold: 0.8)
        #expect(r.listSize == 240 && r.splits == 2)
        let gT = try #require(r.global.first { $0.group == "tight" }), gS = try #require(r.global.first { $0.group == "spread" })
        let cT = try #require(r.calibrated.first { $0.group == "tight" }), cS = try #require(r.calibrated.first { $0.group == "spread" })
        // 100 probes per group and split: people not on the list.
        #expect(gT.probes == 200 && gS.probes == 200 && cT.probes == 200)
        #expect(gT.pairs == 200 * 120)
        // One cosine: nearly every tight stranger matches someone; no spread stranger does.
        #expect(gT.fpir > 0.9, "global tight FPIR \(gT.fpir)")
        #expect(gS.fpir == 0)
        // Calibrated: each entry's threshold sits above its own impostor tail. The tight group's
        // FPIR falls to the order of (entries × rate) = 240 × 1e-3 ≈ 21 %, at most a little more.
        #expect(cT.fpir < 0.45, "calibrated tight FPIR \(cT.fpir)")
        #expect(cT.pairFMR < gT.pairFMR / 20)
        #expect(cS.fpir == 0)
        // The measured per-comparison rate is near the stated one (within 4×, either way).
        let measured = Double(r.comparisonFalseMatches) / Double(r.comparisons)
        #expect(r.comparisons == 2 * 200 * 240)
        #expect(measured > target / 4 && measured < target * 4, "measured \(measured)")
        // Thresholds: tight entries far above the floor; spread entries at the floor.
        #expect(r.thresholds.count == 480)
        #expect(r.thresholds.allSatisfy { $0 >= 0.5 })
        #expect(r.thresholds.max()! > 0.85 && r.thresholds.min()! == 0.5)
        // The plot's pairs: only the first split, within-group, with the calibrated threshold.
        #expect(r.groupPairs.count == 2 * 100 * 120)
        // Deterministic: the same splits on every run.
        let again = try IdentificationExperiment.run(faces: faces(perGroup: 220), cohort: [], listSize: 240, splits: 2,
                                                     fit: CalibrationFit(targetFalseMatchRate: target), floor: 0.5, globalThreshold: 0.8)
        #expect(again.calibrated == r.calibrated && again.global == r.global)
    }

    @Test func tooFewFacesForTheListIsAnError() {
        #expect(throws: EvaluationError.self) {
            try IdentificationExperiment.run(faces: faces(perGroup: 10), cohort: [], listSize: 40, splits: 1,
                                             fit: CalibrationFit(targetFalseMatchRate: 1e-3), floor: 0.5, globalThreshold: 0.8)
        }
    }
}
