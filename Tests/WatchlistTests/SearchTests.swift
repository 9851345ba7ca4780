#if canImport(Glibc)
import Glibc
#endif
import Enrollment
import Faces
import Pipeline
import Testing
import VigilCore
import Watchlist

/// `vigil watchlist search`'s library (ProbeSearch) with the real models on PyPI photos: a
/// calibrated (format-2) list of obama and biden, searched with other photos; lists install
/// would refuse are refused here too.
@Suite("1:N search (real models, PyPI photos)")
struct SearchTests {
    static let models = EnrollmentTests.repo + "/models", photos = EnrollmentTests.repo + "/.cache/photos/"
    static let now: Int64 = 1_795_000_000
    static let o = [UInt8](repeating: 0x0b, count: 16), b = [UInt8](repeating: 0x0d, count: 16)

    func analyzer() throws -> FaceAnalyzer {
        FaceAnalyzer(detector: try BlazeFaceModel(path: Self.models + "/blazeface_full_int8.onnx"),
                     embedder: try DlibEmbedder(path: Self.models + "/dlib_resnet_int8.onnx"))
    }

    /// A signed, calibrated list (the calibration fits no tail on two entries: both fall back to
    /// the default threshold, which is the point of the v2 build fix — the file is format 2).
    func list(signer: AuthorityPrivateKey, staleness: Int64 = 86_400 * 7) throws -> [UInt8] {
        let header = WatchlistHeader(listVersion: 5, issued: Self.now - 3600, expires: Self.now + 86_400 * 30,
                                     maximumStaleness: staleness,
                                     embedder: try EmbedderIdentity(modelFile: Self.models + "/dlib_resnet_int8.onnx"),
                                     mode: .investigative, thresholdFloor: 0.90, dimension: 128, targetFalseMatchRate: 1e-4)
        let subjects = [
            SubjectPhoto(photo: Self.photos + "obama.jpg", subjectKey: "o", entryID: Self.o, legalBasis: "case O", category: 1, expires: nil),
            SubjectPhoto(photo: Self.photos + "biden.jpg", subjectKey: "b", entryID: Self.b, legalBasis: "case B", category: 1, expires: nil),
        ]
        let enroller = Enroller(threads: 1) { try self.analyzer() }
        let (bytes, report) = try enroller.build(subjects: subjects, header: header, signer: signer,
                                                 calibration: CalibrationOptions(targetFalseMatchRate: 1e-4, cohort: []))
        #expect(report.calibration?.thresholds.count == 2)
        return bytes
    }

    @Test func probesFindTheirEntryWithTheDevicesThreshold() throws {
        let signer = AuthorityPrivateKey()
        let bytes = try list(signer: signer)
        let search = try ProbeSearch(bundle: bytes, authority: signer.publicKey,
                                     embedder: try EmbedderIdentity(modelFile: Self.models + "/dlib_resnet_int8.onnx"), now: Self.now)
        #expect(search.bundle.formatVersion == 2)
        #expect(search.bundle.calibrations?.count == 2)
        let a = try analyzer()
        for (photo, want, other) in [("obama2.jpg", Self.o, Self.b), ("obama3.jpg", Self.o, Self.b)] {
            let faces = try search.search(try ImageFile.load(Self.photos + photo).image, analyzer: a, top: 5)
            try #require(faces.count == 1, "\(photo)")
            let c = faces[0].candidates
            #expect(c.count == 2, "one candidate per entry, at most top")
            #expect(c[0].entryID == want && c[0].match && c[0].score >= c[0].threshold)
            #expect(c[1].entryID == other && !c[1].match && c[1].score < c[1].threshold)
            #expect(c[0].score > c[1].score)
            // The threshold is the one the device judges by: the entry's own (v2), never below the floor.
            for x in c { #expect(x.threshold == max(search.bundle.header.thresholdFloor, search.bundle.entryThreshold(x.row))) }
            #expect(c[0].estimatedFalseMatchRate != nil)
            // top 1 keeps only the best.
            let one = try search.search(try ImageFile.load(Self.photos + photo).image, analyzer: a, top: 1)
            #expect(one[0].candidates.map(\.entryID) == [want])
        }
        // A photo with six faces: six probes, each with candidates.
        let t1 = try search.search(try ImageFile.load(EnrollmentTests.repo + "/.cache/models-work/inputs/t1.jpg").image, analyzer: a, top: 2)
        #expect(t1.count == 6 && t1.allSatisfy { $0.candidates.count == 2 })
    }

    @Test func listsInstallWouldRefuseAreNotSearched() throws {
        let signer = AuthorityPrivateKey()
        let bytes = try list(signer: signer)
        let embedder = try EmbedderIdentity(modelFile: Self.models + "/dlib_resnet_int8.onnx")
        func refused(_ b: [UInt8], key: AuthorityPublicKey = signer.publicKey, embedder e: EmbedderIdentity? = nil,
                     now: Int64 = Self.now) -> ProbeSearchError? {
            do { _ = try ProbeSearch(bundle: b, authority: key, embedder: e ?? embedder, now: now); return nil } catch { return error }
        }
        #expect(refused(bytes) == nil)
        var forged = bytes
        forged[try WatchlistBundle(parsing: bytes).signedLength + 5] ^= 0x01  // the signature
        #expect(refused(forged) == .list(.badSignature))
        #expect(refused(bytes, key: AuthorityPrivateKey().publicKey) != nil)
        #expect(refused(bytes, now: Self.now + 86_400 * 31) == .list(.expired(expires: Self.now + 86_400 * 30, now: Self.now + 86_400 * 31)))
        #expect(refused(bytes, now: Self.now - 86_400) == .list(.notYetValid(issued: Self.now - 3600, now: Self.now - 86_400)))
        let other = EmbedderIdentity(id: "another", sha256: [UInt8](repeating: 7, count: 32))
        if case .list(.wrongEmbedder) = refused(bytes, embedder: other) {} else { Issue.record("another embedder's list was searched") }
        #expect(refused(Array(bytes.prefix(100))) != nil)
        // Verified and unexpired but stale: the device would refuse to install it (issue 16), so
        // search refuses it too, for the same reason.
        let stale = try list(signer: signer, staleness: 86_400)
        if case .list(.staleAtInstall) = refused(stale, now: Self.now + 86_400 * 2) {} else { Issue.record("a stale list was searched") }
    }
}
