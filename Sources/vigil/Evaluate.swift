#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Evaluation
import Faces
import VigilCore
import Watchlist

extension Vigil {
    /// `vigil evaluate`: the device's matching measured on an agency's own labelled photos (the
    /// protocols are in Sources/Evaluation; `make eval` runs it on ../shared's benchmarks).
    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure detection, verification and per-group false-match rates on a labelled photo set.",
            discussion: """
                labels.csv: a header with an `image` column (paths relative to the file's folder), and
                `identity` (verification) or a group column (per-group identification: each photo a
                different person). With --pairs (LFW's pairs.txt format) verification uses those pairs
                and cross-validates accuracy over their folds; otherwise every pair of labelled photos.
                """)
        @Argument(help: "labels.csv (image,identity,...; image paths relative to its folder).")
        var labels: String
        @Option(help: "Pairs file in LFW's format (header 'FOLDS N'); default: all pairs of labelled photos.")
        var pairs: String?
        @Option(help: "Label column to break verification errors down by (e.g. gender).")
        var by: String?
        @Option(help: "Group column for per-group identification (photos without identities, e.g. group).")
        var groups: String?
        @Option(help: "Entries in each identification list (drawn evenly from the groups).")
        var listSize: Int = 500
        @Option(help: "Random list/probe splits for identification (fixed seeds).")
        var splits: Int = 10
        @Option(help: "The operating point each entry is calibrated to: a false-match rate per comparison (e.g. 1e-4 or 1/10000).")
        var falseMatchRate: String = "1e-4"
        @Option(help: "The cosine for verification error rates and the uncalibrated identification run.")
        var threshold: Double = FaceMatching.defaultThreshold
        @Option(help: "Signed floor of the calibrated lists (no entry threshold below it).")
        var floor: Double = 0.80
        @Option(help: "Comma-separated cosine thresholds for the calibration table.")
        var thresholds: String = "0.88,0.90,0.91,0.92,0.93,0.94,0.95,0.96"
        @Option(help: "Write every scored pair as CSV (a,b,genuine,score,group) for plots.")
        var scores: String?
        @Option(help: "Threads (default: all cores).")
        var threads: Int?
        @OptionGroup var modelOptions: ModelOptions

        func run() throws {
            guard let rate = parseRate(falseMatchRate), rate > 1e-9, rate <= 0.1 else {
                throw fail("--false-match-rate \(falseMatchRate): give a rate in (1e-9, 0.1], e.g. 1e-4 or 1/10000")
            }
            guard listSize >= 2, splits >= 1, floor > 0, floor <= 1 else { throw fail("--list-size ≥ 2, --splits ≥ 1, --floor in (0, 1]") }
            let text: String
            do { text = String(decoding: try readFile(labels, maximumBytes: ReadLimit.table), as: UTF8.self) } catch { throw fail(about(labels, error)) }
            let base = labels.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            let set: LabelledPhotos
            do { set = try LabelledPhotos(csv: text, base: base) } catch { throw fail("\(labels): \(error)") }
            let embedder: PhotoEmbedder
            do {
                embedder = try PhotoEmbedder(threads: threads ?? Int(ProcessInfoLite.cores)) { try modelOptions.analyzer(embed: true) }
            } catch { throw fail("\(error)") }
            let started = MonotonicInstant.now()
            let faces = embedder.embed(set.images.map(set.path)) { n in warn("evaluate: \(n) of \(set.images.count) photos\n") }
            let seconds = Double(MonotonicInstant.now().nanoseconds - started.nanoseconds) / 1e9
            for (i, f) in faces.enumerated() where f.error != nil { print("skipped \(set.images[i]): \(f.error!)") }
            let noFace = faces.filter { $0.embedding == nil }.count
            print("evaluate: \(set.images.count) photos embedded in \(fixed(seconds, 1)) s (\(fixed(Double(set.images.count) / max(seconds, 1e-9), 1)) photos/s)")

            var index: [String: Int] = [:]
            for (i, im) in set.images.enumerated() { index[im] = i }
            let identities = set.column("identity")
            let hasIdentities = identities.map { $0.contains { !$0.isEmpty } } ?? false
            let byColumn = by.flatMap { set.column($0) }
            if by != nil && byColumn == nil { throw fail("--by \(by!): no such column in \(labels)") }

            if hasIdentities || pairs != nil {
                var folds: [[ScoredPair]] = []
                var rows: [(String, String, Bool, Double?, String?)] = []
                func scored(_ a: Int, _ b: Int, genuine: Bool) -> ScoredPair {
                    var s: Double?
                    if let x = faces[a].embedding, let y = faces[b].embedding { s = cosine(x, y) }
                    var g: String?
                    if let c = byColumn, !c[a].isEmpty, c[a] == c[b] { g = c[a] }
                    rows.append((set.images[a], set.images[b], genuine, s, g))
                    return ScoredPair(genuine: genuine, score: s, group: g)
                }
                if let pairs {
                    let pf: PairsFile
                    do { pf = try PairsFile(parsing: String(decoding: try readFile(pairs, maximumBytes: ReadLimit.table), as: UTF8.self)) } catch { throw fail(about(pairs, error)) }
                    for fold in pf.folds {
                        var out: [ScoredPair] = []
                        for p in fold {
                            guard let a = index[p.a], let b = index[p.b] else { throw fail("\(pairs): \(p.a) or \(p.b) is not in \(labels)") }
                            out.append(scored(a, b, genuine: p.genuine))
                        }
                        folds.append(out)
                    }
                } else {
                    let ids = identities!
                    let labelled = ids.indices.filter { !ids[$0].isEmpty }
                    var all: [ScoredPair] = []
                    for x in 0..<labelled.count {
                        for y in (x + 1)..<labelled.count {
                            all.append(scored(labelled[x], labelled[y], genuine: ids[labelled[x]] == ids[labelled[y]]))
                        }
                    }
                    folds = [all]
                }
                let used = Set(rows.flatMap { [$0.0, $0.1] })
                let usedNoFace = used.filter { faces[index[$0]!].embedding == nil }.count
                let report = VerificationReport(pairs: folds, operatingThreshold: threshold, photos: used.count, photosWithoutFace: usedNoFace)
                print(report.render(tool: "vigil", thresholds: thresholds.split(separator: ",").compactMap { Double($0) }))
                if let scores { try writeScores(scores, rows) }
            }

            if let groups {
                guard let g = set.column(groups) else { throw fail("--groups \(groups): no such column in \(labels)") }
                let names = Array(Set(g.filter { !$0.isEmpty })).sorted()
                let found = names.map { name in
                    let idx = g.indices.filter { g[$0] == name }
                    return (group: name, photos: idx.count, found: idx.filter { faces[$0].facesFound > 0 }.count)
                }
                // Each photo a different person: the faces found become a list and its probes. The
                // calibration sees only the list itself (as `watchlist build` without --cohort), never a probe.
                var groupFaces: [GroupFace] = []
                for i in g.indices where !g[i].isEmpty {
                    if let e = faces[i].embedding { groupFaces.append(GroupFace(group: g[i], embedding: e)) }
                }
                let result: IdentificationResult
                do {
                    result = try IdentificationExperiment.run(
                        faces: groupFaces, cohort: [], listSize: listSize, splits: splits,
                        fit: CalibrationFit(targetFalseMatchRate: rate), floor: Float(floor), globalThreshold: Float(threshold))
                } catch { throw fail("\(labels): \(error)") }
                print(GroupReport.render(found: found, identification: result))
                if let scores {
                    var text = "probe_group,entry_group,score,threshold\n"
                    for p in result.groupPairs { text += "\(p.group),\(p.group),\(p.score),\(p.threshold)\n" }
                    do { try writeFileAtomically(scores, Array(text.utf8)) } catch { throw fail("\(scores): \(error)") }
                }
            }
            if !hasIdentities && pairs == nil && groups == nil {
                print("evaluate: faces found in \(set.images.count - noFace) of \(set.images.count) photos (no identity or group labels: nothing else to measure)")
            }
        }

        func writeScores(_ path: String, _ rows: [(String, String, Bool, Double?, String?)]) throws {
            var text = "a,b,genuine,score,group\n"
            for r in rows { text += "\(r.0),\(r.1),\(r.2 ? 1 : 0),\(r.3.map { "\($0)" } ?? ""),\(r.4 ?? "")\n" }
            do { try writeFileAtomically(path, Array(text.utf8)) } catch { throw fail("\(path): \(error)") }
        }
    }
}

/// "1e-4", "0.0001" or "1/10000".
func parseRate(_ s: String) -> Double? {
    if let slash = s.firstIndex(of: "/") {
        guard let a = Double(s[..<slash]), let b = Double(s[s.index(after: slash)...]), b > 0 else { return nil }
        return a / b
    }
    return Double(s)
}

func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var s: Double = 0
    for (x, y) in zip(a, b) { s += Double(x) * Double(y) }
    return s
}

enum ProcessInfoLite {
    static var cores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}

/// One line on stderr (progress; stdout carries the tables).
func warn(_ s: String) {
    _ = s.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}
