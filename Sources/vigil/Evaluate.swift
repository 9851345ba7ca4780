import ArgumentParser
import Faces
import Imaging
import Pipeline
import VigilCore

extension Vigil {
    /// `vigil evaluate`: verification accuracy of the on-device models on a labelled photo set
    /// (labels.csv: image,identity,…; rows without identity are group photos, only counted).
    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure detection and verification accuracy on a labelled photo set.")
        @Argument(help: "labels.csv (image,identity,...; image paths relative to its folder).")
        var labels: String
        @OptionGroup var modelOptions: ModelOptions
        @Option(help: "Comma-separated cosine thresholds for the calibration table.")
        var thresholds: String = "0.88,0.90,0.91,0.92,0.93,0.94,0.95,0.96"

        func run() throws {
            let analyzer: FaceAnalyzer
            do { analyzer = try modelOptions.analyzer(embed: true) } catch { throw fail("\(error)") }
            let text: String
            do { text = String(decoding: try readFile(labels), as: UTF8.self) } catch { throw fail("\(error)") }
            let base = labels.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            var labelled: [(label: String, embedding: Embedding)] = []
            var noFace: [String] = []
            for line in text.split(separator: "\n").dropFirst() {
                let cols = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                guard cols.count >= 2 else { continue }
                let path = (base.isEmpty ? "" : base + "/") + cols[0]
                do {
                    let (img, _) = try ImageFile.load(path)
                    let faces = try analyzer.analyze(img, embed: !cols[1].isEmpty)
                    if cols[1].isEmpty {
                        print("group \(cols[0]): \(faces.count) faces found")
                    } else if let e = faces.first?.embedding {
                        labelled.append((cols[1], e))
                    } else {
                        noFace.append(cols[0])
                    }
                } catch {
                    print("skipped \(cols[0]): \(error)")
                }
            }
            let scores = VerificationScores(labelled: labelled)
            let best = scores.bestThreshold
            print("embedded \(labelled.count) labelled photos (\(Set(labelled.map(\.label)).count) identities); no usable face: \(noFace.isEmpty ? "none" : noFace.joined(separator: " "))")
            print("pairs: \(scores.genuine.count) genuine, \(scores.impostor.count) impostor")
            print("best-threshold accuracy \(format3(best.accuracy)) at cosine \(format3(best.threshold))")
            print("TAR at FAR 1%: \(format3(scores.trueAcceptRate(atFalseMatchRate: 0.01))); at FAR 0.1%: \(format3(scores.trueAcceptRate(atFalseMatchRate: 0.001)))")
            print("| cosine threshold | false match rate | false non-match rate |")
            print("|---|---|---|")
            for t in thresholds.split(separator: ",").compactMap({ Double($0) }) {
                print("| \(format3(t)) | \(format3(scores.falseMatchRate(at: t) * 100)) % | \(format3(scores.falseNonMatchRate(at: t) * 100)) % |")
            }
        }
    }
}
