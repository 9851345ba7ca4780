// Per-entry calibration at enrollment (issue 15): each entry's impostor scores — its best row
// against every other entry's rows and every cohort face — fitted with `CalibrationFit`, so each
// entry is held to the list's false-match rate. Scores are the device's own int8 scores (the same
// `WatchlistIndex` search the matcher runs), so what is calibrated is what the device computes.
import Watchlist

public enum EntryCalibrator {
    /// One entry's rows in the bundle matrix.
    public struct EntryRows: Sendable {
        public var firstRow: Int, rowCount: Int
        public init(firstRow: Int, rowCount: Int) { self.firstRow = firstRow; self.rowCount = rowCount }
    }

    /// Calibrations for `entries` (rows of `matrix`/`scales`, `dimension` wide) against impostors:
    /// every row of the other entries plus `cohort` (int8 rows, their scales). When there are more
    /// impostor faces than `maximumCohort`, a deterministic, evenly spaced sample of them is used
    /// (the same list always gets the same thresholds).
    ///
    /// Cost: entries × impostors × dimension int8 MACs; 300,000 entries × 4,000 impostors is about
    /// 150 G MACs, a few seconds with the search kernels.
    public static func calibrate(entries: [EntryRows], matrix: [Int8], scales: [Float], dimension: Int,
                                 cohort: (matrix: [Int8], scales: [Float]), fit: CalibrationFit,
                                 floor: Float, fallback: Float, maximumCohort: Int) throws -> (calibrations: [EntryCalibration], impostors: Int, fallbacks: Int) {
        // Impostor faces: (owner entry or -1 for the cohort, its row in the source).
        var owner: [Int32] = []
        var pick: [Int8] = [], pickScales: [Float] = []
        let listRows = scales.count, cohortRows = cohort.scales.count
        let total = listRows + cohortRows
        let m = min(total, max(1, maximumCohort))
        var rowOwner = [Int32](repeating: -1, count: listRows)
        for (i, e) in entries.enumerated() { for r in e.firstRow..<(e.firstRow + e.rowCount) { rowOwner[r] = Int32(i) } }
        // Cohort photos first (they are there for calibration), then list rows, sampled evenly.
        for j in 0..<m {
            let src = total == m ? j : Int((Double(j) * Double(total) / Double(m)).rounded(.down))
            if src < cohortRows {
                pick += cohort.matrix[(src * dimension)..<((src + 1) * dimension)]
                pickScales.append(cohort.scales[src])
                owner.append(-1)
            } else {
                let r = src - cohortRows
                pick += matrix[(r * dimension)..<((r + 1) * dimension)]
                pickScales.append(scales[r])
                owner.append(rowOwner[r])
            }
        }
        let index = try WatchlistIndex(rows: owner.count, dimension: dimension, matrix: pick, rowScales: pickScales)
        // The tail needs only the top share of each entry's scores (plus the entry's own rows,
        // which are excluded below): ask the search for that many.
        let impostorsPerEntry = owner.count
        let k = min(owner.count, fit.tailCount(impostorsPerEntry) + 2 + maxRows(entries))
        var ownCount = [Int](repeating: 0, count: entries.count)
        for o in owner where o >= 0 { ownCount[Int(o)] += 1 }
        var out: [EntryCalibration] = []
        out.reserveCapacity(entries.count)
        var fallbacks = 0
        var best = [Float](repeating: -.infinity, count: owner.count)
        var touched: [Int] = []
        for (ei, e) in entries.enumerated() {
            let q = Array(matrix[(e.firstRow * dimension)..<((e.firstRow + e.rowCount) * dimension)])
            let hits = index.search(batch: q, scales: Array(scales[e.firstRow..<(e.firstRow + e.rowCount)]), k: k)
            // best row score per impostor face (the matcher scores an entry by its best row)
            for list in hits {
                for h in list where owner[h.row] != Int32(ei) {
                    if best[h.row] == -.infinity { touched.append(h.row) }
                    best[h.row] = max(best[h.row], h.score)
                }
            }
            var top = touched.map { best[$0] }
            for r in touched { best[r] = -.infinity }
            touched.removeAll(keepingCapacity: true)
            let n = impostorsPerEntry - ownCount[ei]
            // Faces outside the searched top-k scored lower than all of them: for the fit they
            // only count (n), their values do not matter.
            top.sort(by: >)
            let c = fit.fit(topScores: top, count: n, floor: floor, fallback: fallback)
            if n < fit.minimumCohort { fallbacks += 1 }
            out.append(c)
        }
        return (out, owner.count, fallbacks)
    }

    static func maxRows(_ entries: [EntryRows]) -> Int { entries.map(\.rowCount).max() ?? 1 }
}
