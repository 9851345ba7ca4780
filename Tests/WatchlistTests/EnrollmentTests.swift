#if canImport(Glibc)
import Glibc
#endif
import Enrollment
import Faces
import Pipeline
import Testing
import VigilCore
import Watchlist

/// Enrollment with the real models on photos every machine gets (make setup): one face → one
/// row; several faces or none → skipped with the reason, never guessed; subjects with several
/// photos → one entry with several rows; the result is the same for 1 and 2 threads.
@Suite("Enrollment (real models, PyPI photos)")
struct EnrollmentTests {
    static let repo: String = {
        var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    func subjects() -> [SubjectPhoto] {
        let p = Self.repo + "/.cache/photos/", t1 = Self.repo + "/.cache/models-work/inputs/t1.jpg"
        func s(_ photo: String, _ key: String) -> SubjectPhoto {
            SubjectPhoto(photo: photo, subjectKey: key, entryID: nil, legalBasis: "case 1", category: 2, expires: nil)
        }
        return [s(p + "obama.jpg", "a"), s(p + "obama2.jpg", "a"), s(t1, "b"), s(p + "biden.jpg", "c"),
                s(Self.repo + "/README.md", "d"), s(p + "obama3.jpg", "a")]
    }

    func enroll(threads: Int) throws -> (WatchlistBundle, EnrollmentReport) {
        let models = Self.repo + "/models"
        let enroller = Enroller(threads: threads, batchSize: 4) {
            FaceAnalyzer(detector: try BlazeFaceModel(path: models + "/blazeface_full_int8.onnx"),
                         embedder: try DlibEmbedder(path: models + "/dlib_resnet_int8.onnx"))
        }
        let header = WatchlistHeader(listVersion: 1, issued: 1_795_000_000, expires: 1_800_000_000, maximumStaleness: 86_400 * 14,
                                     embedder: try EmbedderIdentity(modelFile: models + "/dlib_resnet_int8.onnx"),
                                     mode: .alert, thresholdFloor: 0.93, dimension: 128)
        let (bytes, report) = try enroller.build(subjects: subjects(), header: header, signer: AuthorityPrivateKey())
        return (try WatchlistBundle(parsing: bytes), report)
    }

    @Test func facesAreEnrolledAndAmbiguousPhotosSkipped() throws {
        let (b, r) = try enroll(threads: 2)
        #expect(r.photos == 6 && r.embedded == 4)
        #expect(r.skipped.count == 2)
        #expect(r.skipped.contains { $0.0.hasSuffix("t1.jpg") && $0.1 == .severalFaces(6) })
        #expect(r.skipped.contains { if $0.0.hasSuffix("README.md"), case .unreadable = $0.1 { true } else { false } })
        #expect(r.droppedSubjects == ["b", "d"])
        #expect(b.entries.count == 2)
        #expect(b.entries[0].rowCount == 3 && b.entries[1].rowCount == 1)  // obama ×3, biden
        #expect(b.entries.allSatisfy { $0.category == 2 && $0.legalBasis == "case 1" })
        // The three obama rows are close to each other, far from biden's (cosine from int8 × scales).
        func cos(_ i: Int, _ j: Int) -> Float {
            var s: Int32 = 0
            for d in 0..<128 { s += Int32(b.matrix[i * 128 + d]) * Int32(b.matrix[j * 128 + d]) }
            return Float(s) * b.scales[i] * b.scales[j]
        }
        #expect(cos(0, 1) > 0.93 && cos(0, 2) > 0.93)
        #expect(cos(0, 3) < 0.9)
        // Same rows whatever the thread count (order comes from the input, not from timing).
        let (b1, _) = try enroll(threads: 1)
        #expect(b1.matrix == b.matrix && b1.scales == b.scales)
    }

    @Test func subjectCSVIsParsedStrictly() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let csv = dir + "/subjects.csv"
        try writeFileAtomically(csv, Array("photo,legal_basis,category,entry_id,expires\na.jpg,case 7,3,00112233445566778899aabbccddeeff,2027-01-31\nb.jpg,case 8,,,\n".utf8))
        let s = try SubjectList.readCSV(csv)
        #expect(s.count == 2)
        #expect(s[0].photo == dir + "/a.jpg" && s[0].category == 3 && s[0].entryID?.count == 16 && s[0].expires == parseDate("2027-01-31"))
        #expect(s[1].category == 1 && s[1].entryID == nil && s[1].expires == nil)
        #expect(parseDate("2027-01-31") == 1_801_353_600)
        #expect(parseDate("2027-02-30") == nil)
        for bad in ["photo,legal_basis\na.jpg,\n", "name,legal_basis\na.jpg,x\n", "photo,legal_basis,category\na.jpg,x,0\n",
                    "photo,legal_basis,entry_id\na.jpg,x,zz\n", "photo,legal_basis\na.jpg,x,extra\n"] {
            try writeFileAtomically(csv, Array(bad.utf8))
            #expect(throws: EnrollmentError.self) { try SubjectList.readCSV(csv) }
        }
    }

    /// The device path end to end: enroll obama and biden, then match other photos of obama.
    @Test func matcherFindsTheRightEntryAndObeysPolicy() throws {
        let models = Self.repo + "/models", p = Self.repo + "/.cache/photos/"
        let analyzer = FaceAnalyzer(detector: try BlazeFaceModel(path: models + "/blazeface_full_int8.onnx"),
                                    embedder: try DlibEmbedder(path: models + "/dlib_resnet_int8.onnx"))
        let enroller = Enroller(threads: 1) {
            FaceAnalyzer(detector: try BlazeFaceModel(path: models + "/blazeface_full_int8.onnx"),
                         embedder: try DlibEmbedder(path: models + "/dlib_resnet_int8.onnx"))
        }
        let now: Int64 = 1_795_000_000
        let header = WatchlistHeader(listVersion: 3, issued: now - 3600, expires: now + 86_400 * 30, maximumStaleness: 86_400 * 7,
                                     embedder: try EmbedderIdentity(modelFile: models + "/dlib_resnet_int8.onnx"),
                                     mode: .investigative, thresholdFloor: 0.93, dimension: 128)
        let subjects = [
            SubjectPhoto(photo: p + "obama.jpg", subjectKey: "o", entryID: [UInt8](repeating: 0x0b, count: 16), legalBasis: "case O", category: 1, expires: nil),
            SubjectPhoto(photo: p + "biden.jpg", subjectKey: "b", entryID: [UInt8](repeating: 0x0d, count: 16), legalBasis: "case B", category: 2, expires: now + 86_400),
        ]
        let (bytes, _) = try enroller.build(subjects: subjects, header: header, signer: AuthorityPrivateKey())
        let bundle = try WatchlistBundle(parsing: bytes)
        let m = try WatchlistMatcher(bundle: bundle, now: now, configuredThreshold: 0.5)  // cannot go below the floor
        #expect(m.threshold == 0.93)
        let faces = try ["obama2.jpg", "obama3.jpg", "biden.jpg"].map { name in
            try #require(try analyzer.analyze(try ImageFile.load(p + name).image, embed: true).first?.embedding?.values)
        }
        let active = WatchlistHealth.active(version: 3)
        let r = m.match(faces, now: now, health: active)
        #expect(r[0].map(\.entryID) == [[UInt8](repeating: 0x0b, count: 16)])
        #expect(r[1].map(\.entryID) == [[UInt8](repeating: 0x0b, count: 16)])
        #expect(r[2].map(\.entryID) == [[UInt8](repeating: 0x0d, count: 16)])
        #expect(r.joined().allSatisfy { $0.score >= 0.93 && $0.threshold == 0.93 && $0.mode == .investigative })
        // Stale or absent list: nothing matches, whatever the scores.
        #expect(m.match(faces, now: now, health: .stale(version: 3, since: now)).allSatisfy { $0.isEmpty })
        #expect(m.match(faces, now: now + 86_400 * 8, health: active).allSatisfy { $0.isEmpty })  // past issued + staleness
        // biden's entry expires after a day: it never matches after that, even without a rebuild.
        #expect(!m.isCurrent(now: now + 86_400 + 1))
        let later = m.match(faces, now: now + 86_400 + 1, health: active)
        #expect(later[2].isEmpty && later[0].count == 1)
        let rebuilt = try WatchlistMatcher(bundle: bundle, now: now + 86_400 + 1)
        #expect(rebuilt.match(faces, now: now + 86_400 + 1, health: active)[2].isEmpty)
    }
}
