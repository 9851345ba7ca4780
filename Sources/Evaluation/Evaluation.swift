// `vigil evaluate`: the agency's own measurement of the device's matching, on any labelled photo
// set (issue 15). Two protocols, chosen by what the labels hold:
//   * verification (photos with identities): LFW's protocol when a pairs file is given (the
//     official pairs, cross-validated accuracy over its folds), otherwise every pair; TAR at
//     fixed false-match rates, error rates at the operating threshold, all by a label column
//     (e.g. gender);
//   * per-group identification (photos with a group label and no identities, each photo a
//     different person): faces found, and false matches of people not on a list through
//     enrollment + 1:N search, with and without per-entry calibration.
import Enrollment
import Faces
import VigilCore
import Watchlist

/// labels.csv: a header naming the columns (`image` required; `identity`, a group column
/// optional), image paths relative to the file's folder.
public struct LabelledPhotos: Sendable {
    public var base: String
    public var images: [String]
    public var columns: [String: [String]]

    public init(csv text: String, base: String) throws(EvaluationError) {
        // "\r\n" is one Character in Swift: split on both, or a CRLF file is one line.
        var lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        guard !lines.isEmpty else { throw EvaluationError("labels: empty file") }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard let ii = header.firstIndex(of: "image") else { throw EvaluationError("labels: the header has no 'image' column") }
        var cols: [String: [String]] = [:]
        for h in header { cols[h] = [] }
        var images: [String] = []
        for (n, line) in lines.enumerated() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            // Quoted fields with commas are not used by any set here; a short line is an error.
            guard f.count >= header.count else { throw EvaluationError("labels line \(n + 2): \(f.count) fields, the header has \(header.count)") }
            images.append(f[ii])
            for (k, h) in header.enumerated() { cols[h]!.append(f[k]) }
        }
        self.base = base; self.images = images; self.columns = cols
    }

    public func path(_ image: String) -> String { image.hasPrefix("/") ? image : (base.isEmpty ? image : base + "/" + image) }
    public func column(_ name: String) -> [String]? { columns[name] }
}

public struct VerificationReport: Sendable {
    public var pairs: [ScoredPair]
    public var folds: [[ScoredPair]]
    public var crossValidated: (mean: Double, sd: Double, thresholds: [Double])
    public var tar1: (tar: Double, threshold: Double?)
    public var tar01: (tar: Double, threshold: Double?)
    public var operatingThreshold: Double
    public var atOperating: ErrorRates
    public var byGroup: [(group: String, rates: ErrorRates, tar1: Double)]
    public var photosWithoutFace: Int
    public var photos: Int

    public init(pairs folds: [[ScoredPair]], operatingThreshold: Double, photos: Int, photosWithoutFace: Int) {
        self.folds = folds
        pairs = folds.flatMap { $0 }
        crossValidated = VerificationProtocol.crossValidated(folds: folds)
        tar1 = VerificationProtocol.trueAcceptRate(pairs, atFalseMatchRate: 0.01)
        tar01 = VerificationProtocol.trueAcceptRate(pairs, atFalseMatchRate: 0.001)
        self.operatingThreshold = operatingThreshold
        atOperating = ErrorRates(pairs, threshold: operatingThreshold)
        let groups = Array(Set(pairs.compactMap(\.group))).sorted()
        let all = pairs
        byGroup = groups.map { g in
            let p = all.filter { $0.group == g }
            return (g, ErrorRates(p, threshold: operatingThreshold), VerificationProtocol.trueAcceptRate(p, atFalseMatchRate: 0.01).tar)
        }
        self.photos = photos
        self.photosWithoutFace = photosWithoutFace
    }

    /// The text tables `vigil evaluate` prints.
    public func render(tool: String, thresholds: [Double]) -> String {
        var out: [String] = []
        out.append("\(tool): \(photos) photos, no face found in \(photosWithoutFace); \(pairs.filter(\.genuine).count) genuine and \(pairs.filter { !$0.genuine }.count) impostor pairs in \(folds.count) fold(s)")
        if folds.count > 1 {
            out.append("\(tool): accuracy (\(folds.count)-fold cross-validated) \(f4(crossValidated.mean)) ± \(f4(crossValidated.sd)), thresholds \(f3(crossValidated.thresholds.min() ?? 0))…\(f3(crossValidated.thresholds.max() ?? 0))")
        } else {
            out.append("\(tool): best-threshold accuracy \(f4(crossValidated.mean)) at \(f3(crossValidated.thresholds.first ?? 0))")
        }
        out.append("\(tool): TAR at FAR 1 %: \(f4(tar1.tar)) (threshold \(tar1.threshold.map(f3) ?? "-")); at FAR 0.1 %: \(f4(tar01.tar)) (threshold \(tar01.threshold.map(f3) ?? "-"))")
        out.append("\(tool): at the operating threshold \(f3(operatingThreshold)): FMR \(pct(atOperating.fmr)), FNMR \(pct(atOperating.fnmr))")
        if !byGroup.isEmpty {
            out.append("| \(tool): group | genuine | impostor | FMR at \(f3(operatingThreshold)) | FNMR at \(f3(operatingThreshold)) | TAR at FAR 1 % |")
            out.append("|---|---|---|---|---|---|")
            for g in byGroup {
                out.append("| \(g.group) | \(g.rates.genuine) | \(g.rates.impostor) | \(pct(g.rates.fmr)) | \(pct(g.rates.fnmr)) | \(f4(g.tar1)) |")
            }
        }
        out.append("| \(tool): threshold | FMR | FNMR |")
        out.append("|---|---|---|")
        for t in thresholds {
            let r = ErrorRates(pairs, threshold: t)
            out.append("| \(f3(t)) | \(pct(r.fmr)) | \(pct(r.fnmr)) |")
        }
        return out.joined(separator: "\n")
    }
}

public enum GroupReport {
    public static func render(found: [(group: String, photos: Int, found: Int)], identification: IdentificationResult?) -> String {
        var out: [String] = []
        let total = found.reduce(0) { $0 + $1.photos }, hit = found.reduce(0) { $0 + $1.found }
        out.append("groups: faces found in \(hit) of \(total) photos (\(pct(Double(hit) / Double(max(1, total)))))")
        guard let r = identification else {
            for f in found { out.append("  \(f.group): \(f.found)/\(f.photos)") }
            return out.joined(separator: "\n")
        }
        out.append("groups: \(r.listSize)-entry lists, \(r.splits) random splits; probes are people not on the list")
        out.append("| group | faces found | pair FMR, one cosine \(f3(Double(r.globalThreshold))) | FPIR, one cosine | pair FMR, calibrated | FPIR, calibrated |")
        out.append("|---|---|---|---|---|---|")
        for (i, f) in found.enumerated() {
            let g = r.global.first { $0.group == f.group }, c = r.calibrated.first { $0.group == f.group }
            _ = i
            out.append("| \(f.group) | \(f.found)/\(f.photos) | \(g.map { pct($0.pairFMR) } ?? "-") | \(g.map { pct($0.fpir) } ?? "-") | \(c.map { pct($0.pairFMR) } ?? "-") | \(c.map { pct($0.fpir) } ?? "-") |")
        }
        func spread(_ rs: [GroupResult], _ v: (GroupResult) -> Double) -> String {
            let vals = rs.map(v)
            guard let mx = vals.max(), let mn = vals.min() else { return "-" }
            let worst = rs[vals.firstIndex(of: mx)!].group, best = rs[vals.firstIndex(of: mn)!].group
            let ratio = mn > 0 ? f1(mx / mn) + "x" : (mx > 0 ? "inf (best group had none)" : "1x (none)")
            return "worst \(worst) \(pct(mx)), best \(best) \(pct(mn)): \(ratio)"
        }
        out.append("FPIR, one cosine: " + spread(r.global, \.fpir))
        out.append("FPIR, calibrated at 1 in \(Int((1 / r.targetFalseMatchRate).rounded())) per entry: " + spread(r.calibrated, \.fpir))
        out.append("pair FMR, one cosine: " + spread(r.global, \.pairFMR))
        out.append("pair FMR, calibrated: " + spread(r.calibrated, \.pairFMR))
        let measured = Double(r.comparisonFalseMatches) / Double(max(1, r.comparisons))
        let ts = r.thresholds.sorted()
        out.append("calibrated: \(r.comparisonFalseMatches) false matches in \(r.comparisons) comparisons = 1 in \(r.comparisonFalseMatches == 0 ? "more than \(r.comparisons)" : "\(Int((1 / measured).rounded()))") measured (stated: 1 in \(Int((1 / r.targetFalseMatchRate).rounded()))); entry thresholds \(f3(Double(ts.first ?? 0)))…\(f3(Double(ts.last ?? 0))), median \(f3(Double(ts.isEmpty ? 0 : ts[ts.count / 2])))")
        return out.joined(separator: "\n")
    }
}

func pct(_ v: Double) -> String { f2(v * 100) + " %" }
func f1(_ v: Double) -> String { fixed(v, 1) }
func f2(_ v: Double) -> String { fixed(v, 2) }
func f3(_ v: Double) -> String { fixed(v, 3) }
func f4(_ v: Double) -> String { fixed(v, 4) }

/// Fixed-point formatting without Foundation.
public func fixed(_ v: Double, _ digits: Int) -> String {
    guard v.isFinite else { return "\(v)" }
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let scaled = Int((abs(v) * p).rounded())
    let ip = scaled / Int(p), fp = scaled % Int(p)
    var frac = String(fp)
    while frac.count < digits { frac = "0" + frac }
    return (v < 0 && scaled != 0 ? "-" : "") + "\(ip)" + (digits > 0 ? "." + frac : "")
}
