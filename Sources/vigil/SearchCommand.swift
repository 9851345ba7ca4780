#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Enrollment
import Faces
import Pipeline
import VigilCore
import Watchlist

extension Vigil.WatchlistCommand {
    /// `vigil watchlist search`: a thin front end over `Enrollment.ProbeSearch` (the device's
    /// admission rules and matcher); this file only reads files and formats lines.
    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Search probe photos against a signed list: the top candidates per face, for human review.",
            discussion: """
                One JSON line per image (--json): {"image": PATH, "faces": [{"box": [x, y, w, h], "candidates": \
                [{"row": N, "entry": "HEX", "score": S, "threshold": T, "match": BOOL, "estimated_false_match_rate": R}]}]}. \
                row is the entry's index in the list, T the threshold the device judges that entry by, match is \
                S >= T, R the entry's calibrated false-match rate at S (null for a format-1 list). A candidate is \
                a lead for human review, never an identification. Photos: JPEG, PNG or WebP; a bad photo is one \
                line on stderr and the others are still searched (exit 1 at the end). A list that install would \
                refuse (forged, expired, another embedder) is not searched.
                """)
        @Option(help: "The signed list (.vwl).") var bundle: String
        @Option(help: "Authority public key the list must be signed by.") var pubkey: String
        @Option(help: "Candidates per face (best first).") var top: Int = 10
        @Flag(help: "One JSON object per image and line.") var json = false
        @OptionGroup var modelOptions: ModelOptions
        @Argument(help: "Probe photos.") var images: [String]

        func run() throws {
            guard (1...10_000).contains(top) else { throw fail("--top must be 1...10000") }
            guard !images.isEmpty else { throw fail("give at least one probe photo") }
            let search: ProbeSearch
            do {
                search = try ProbeSearch(bundle: try readFile(bundle, maximumBytes: ReadLimit.bundle), authority: try AuthorityPublicKey(file: pubkey),
                                         embedder: try modelOptions.embedderIdentity(),
                                         now: Int64(time(nil)))
            } catch { throw fail(about(bundle, error)) }
            let analyzer: FaceAnalyzer
            do { analyzer = try modelOptions.analyzer(embed: true) } catch { throw fail("\(error)") }
            try forEachImage(images) { path, img, scale in
                let faces = try search.search(img, analyzer: analyzer, top: top)
                func box(_ f: ProbeFace) -> Box { f.detection.mapped(scaleX: scale, scaleY: scale, dx: 0, dy: 0).box }
                if json {
                    let list: [JSON] = faces.map { f in
                        .object([
                            ("box", JSON.box(box(f))),
                            ("candidates", .array(f.candidates.map { c in
                                .object([("row", .int(c.row)), ("entry", .string(hex(c.entryID))),
                                         ("score", .number(Double(c.score))), ("threshold", .number(Double(c.threshold))),
                                         ("match", .bool(c.match)),
                                         ("estimated_false_match_rate", c.estimatedFalseMatchRate.map { .number($0) } ?? .null)])
                            })),
                        ])
                    }
                    print(JSON.object([("image", .string(path)), ("faces", .array(list))]).text)
                    return
                }
                print("\(path): \(faces.count) face(s) searched")
                for f in faces {
                    let b = box(f)
                    print("  face at \(Int(b.x)),\(Int(b.y)) \(Int(b.width))x\(Int(b.height)):")
                    for c in f.candidates {
                        let fmr = c.estimatedFalseMatchRate.map { "  est. FMR \(oneIn($0))" } ?? ""
                        print("    row \(c.row)  entry \(hex(c.entryID))  score \(format3(Double(c.score)))  threshold \(format3(Double(c.threshold)))  \(c.match ? "MATCH (a lead for human review)" : "below threshold")\(fmr)")
                    }
                }
            }
        }
    }
}
