// Enrollment (agency side): subject photos → the device's own detector + embedder → a signed
// watchlist bundle. A photo with no face or with several faces is reported and skipped, never
// guessed. Photos are processed in parallel over all cores, in batches (memory is bounded by
// the batch and by the output: 300,000 photos give ~40 MB of embeddings), and the result does
// not depend on thread timing: rows are ordered by subject order in the input.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Faces
import Imaging
import Pipeline
import Synchronization
import VigilCore
import Watchlist

/// One photo of one subject, from the subjects CSV or a directory.
public struct SubjectPhoto: Sendable, Equatable {
    public var photo: String
    /// Photos with the same key are one entry (several photos of the same person).
    public var subjectKey: String
    /// 16 bytes given by the agency (CSV `entry_id`, 32 hex digits), or nil: derived from the key.
    public var entryID: [UInt8]?
    public var legalBasis: String
    public var category: UInt8
    /// Unix seconds; nil: the list's expiry.
    public var expires: Int64?
    public init(photo: String, subjectKey: String, entryID: [UInt8]?, legalBasis: String, category: UInt8, expires: Int64?) {
        self.photo = photo; self.subjectKey = subjectKey; self.entryID = entryID
        self.legalBasis = legalBasis; self.category = category; self.expires = expires
    }
}

public struct EnrollmentError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

/// Subject lists. CSV: a header line `photo,legal_basis,category,entry_id,expires` (the last
/// two may be empty; `expires` as YYYY-MM-DD), one photo per line, photos relative to the CSV's
/// directory unless absolute; rows with the same entry_id (or, without one, the same photo
/// stem) form one entry. Directory: every JPEG directly inside is one entry; every
/// sub-directory is one entry with all its JPEGs. Names never go into the bundle.
public enum SubjectList {
    public static func readCSV(_ path: String, defaultCategory: UInt8 = 1) throws -> [SubjectPhoto] {
        let text = String(decoding: try readFile(path, maximumBytes: ReadLimit.table), as: UTF8.self)
        let base = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        while lines.last == "" { lines.removeLast() }
        guard let header = lines.first else { throw EnrollmentError("\(path): empty subjects file") }
        let columns = header.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        guard columns.first == "photo", columns.contains("legal_basis") else {
            throw EnrollmentError("\(path):1: header must start with photo,legal_basis (columns: photo,legal_basis,category,entry_id,expires)")
        }
        func col(_ name: String) -> Int? { columns.firstIndex(of: name) }
        var out: [SubjectPhoto] = []
        for (n, line) in lines.enumerated().dropFirst() where !line.trimmingSpaces.isEmpty {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
            let at = "\(path):\(n + 1)"
            guard f.count == columns.count else { throw EnrollmentError("\(at): \(f.count) fields, the header has \(columns.count)") }
            let photo = f[0].hasPrefix("/") ? f[0] : base + "/" + f[0]
            let basis = f[col("legal_basis")!]
            guard !basis.isEmpty, basis.utf8.count <= BundleLayout.maxLegalBasis, basis.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7e }) else {
                throw EnrollmentError("\(at): legal_basis must be 1...\(BundleLayout.maxLegalBasis) printable ASCII characters")
            }
            var category = defaultCategory
            if let c = col("category"), !f[c].isEmpty {
                guard let v = UInt8(f[c]), v >= 1 else { throw EnrollmentError("\(at): category '\(f[c])' (1...255)") }
                category = v
            }
            var id: [UInt8]?
            if let c = col("entry_id"), !f[c].isEmpty {
                guard let b = parseHex(f[c]), b.count == 16 else { throw EnrollmentError("\(at): entry_id must be 32 hex digits") }
                id = b
            }
            var expires: Int64?
            if let c = col("expires"), !f[c].isEmpty {
                guard let t = parseDate(f[c]) else { throw EnrollmentError("\(at): expires '\(f[c])' (YYYY-MM-DD)") }
                expires = t
            }
            let key = id.map { "id:" + hex($0) } ?? "photo:" + photoStem(f[0])
            out.append(SubjectPhoto(photo: photo, subjectKey: key, entryID: id, legalBasis: basis, category: category, expires: expires))
        }
        return out
    }

    public static func readDirectory(_ path: String, legalBasis: String, category: UInt8 = 1) throws -> [SubjectPhoto] {
        var out: [SubjectPhoto] = []
        for name in try listDirectory(path) {
            let full = path + "/" + name
            if isDirectory(full) {
                for inner in try listDirectory(full) where isPhotoName(inner) {
                    out.append(SubjectPhoto(photo: full + "/" + inner, subjectKey: "dir:" + name, entryID: nil,
                                            legalBasis: legalBasis, category: category, expires: nil))
                }
            } else if isPhotoName(name) {
                out.append(SubjectPhoto(photo: full, subjectKey: "photo:" + name, entryID: nil, legalBasis: legalBasis, category: category, expires: nil))
            }
        }
        return out
    }
}

/// Why a photo contributed nothing.
public enum SkipReason: Sendable, Equatable, CustomStringConvertible {
    case unreadable(String)
    case noFace
    case severalFaces(Int)
    case noEmbedding
    public var description: String {
        switch self {
        case .unreadable(let r): "unreadable: \(r)"
        case .noFace: "no face found"
        case .severalFaces(let n): "\(n) faces: ambiguous, not guessed"
        case .noEmbedding: "face could not be aligned or embedded"
        }
    }
}

/// How enrollment calibrates each entry's threshold (bundle format v2; see
/// `Watchlist/Calibration.swift` for the method and why).
public struct CalibrationOptions: Sendable {
    /// The operating point: each entry's false-match rate ("1 in N comparisons").
    public var targetFalseMatchRate: Double
    /// Photos of people who are NOT on the list (the agency's own), used only as impostors for
    /// calibration; never signed into the bundle. The rest of the list is always a cohort too.
    public var cohort: [String]
    /// Most impostor faces each entry is calibrated against (a sample when the list and cohort
    /// are larger: keeps calibrating a 300,000-entry list to seconds, and the tail fit needs only
    /// its top share).
    public var maximumCohort: Int
    public init(targetFalseMatchRate: Double, cohort: [String], maximumCohort: Int = 4000) {
        self.targetFalseMatchRate = targetFalseMatchRate; self.cohort = cohort; self.maximumCohort = maximumCohort
    }
}

/// What calibration found, for the enrollment report.
public struct CalibrationReport: Sendable {
    public var targetFalseMatchRate: Double
    /// Impostor faces each entry was calibrated against (list rows of other entries + cohort).
    public var cohortFaces: Int
    /// Cohort photos skipped (no face, several faces, unreadable), with the reason.
    public var cohortSkipped: [(String, SkipReason)]
    /// Entries whose cohort was too small for a tail fit: judged by the list's default threshold.
    public var fallbackEntries: Int
    public var thresholds: [Float]
}

public struct EnrollmentProgress: Sendable {
    public var done: Int, total: Int, embedded: Int, skipped: Int
    public var elapsed: Double
}

public struct EnrollmentReport: Sendable {
    public var photos: Int
    public var embedded: Int
    /// (photo, reason), in input order.
    public var skipped: [(String, SkipReason)]
    public var entries: Int
    public var rows: Int
    /// Subjects with no usable photo (left out of the bundle).
    public var droppedSubjects: [String]
    public var seconds: Double
    public var threads: Int
    public var bundleBytes: Int
    /// Entry id (hex) → subject key and photos: the agency's own mapping, never sent to devices.
    public var mapping: [(entryID: String, subject: String, photos: [String])]
    /// nil when the list was built without calibration (format v1).
    public var calibration: CalibrationReport?
}

/// What a worker needs: one analyzer per thread (engine sessions are not thread-safe).
public final class Enroller: @unchecked Sendable {
    let makeAnalyzer: @Sendable () throws -> FaceAnalyzer
    public let threads: Int
    public let batchSize: Int

    public init(threads: Int = Enroller.availableCores, batchSize: Int = 256, makeAnalyzer: @escaping @Sendable () throws -> FaceAnalyzer) {
        self.threads = max(1, threads)
        self.batchSize = max(1, batchSize)
        self.makeAnalyzer = makeAnalyzer
    }

    public static var availableCores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    enum Outcome { case embedding([Float]), skipped(SkipReason) }

    /// Embeds every photo (in parallel) and returns rows grouped by subject, in input order.
    public func build(subjects: [SubjectPhoto], header: WatchlistHeader, signer: AuthorityPrivateKey,
                      calibration: CalibrationOptions? = nil,
                      progress: (EnrollmentProgress) -> Void = { _ in }) throws -> (bundle: [UInt8], report: EnrollmentReport) {
        let start = MonotonicInstant.now()
        var analyzers: [FaceAnalyzer] = []
        for _ in 0..<threads { analyzers.append(try makeAnalyzer()) }
        let box = AnalyzerBox(analyzers)
        // subject key → (photos, rows)
        var order: [String] = []
        var groups: [String: (first: SubjectPhoto, photos: [String], rows: [[Float]])] = [:]
        var skipped: [(String, SkipReason)] = []
        var embedded = 0
        var done = 0
        var batchStart = 0
        while batchStart < subjects.count {
            let batch = Array(subjects[batchStart..<min(subjects.count, batchStart + batchSize)])
            let outcomes = embedAll(batch.map(\.photo), box)
            for (i, s) in batch.enumerated() {
                if groups[s.subjectKey] == nil { order.append(s.subjectKey); groups[s.subjectKey] = (s, [], []) }
                switch outcomes[i] {
                case .embedding(let v):
                    groups[s.subjectKey]!.rows.append(v)
                    groups[s.subjectKey]!.photos.append(s.photo)
                    embedded += 1
                case .skipped(let r): skipped.append((s.photo, r))
                }
            }
            done += batch.count
            batchStart += batch.count
            progress(EnrollmentProgress(done: done, total: subjects.count, embedded: embedded, skipped: skipped.count,
                                        elapsed: Double(MonotonicInstant.now().nanoseconds - start.nanoseconds) / 1e9))
        }
        var entries: [WatchlistEntry] = [], matrix: [Int8] = [], scales: [Float] = []
        var dropped: [String] = []
        var mapping: [(entryID: String, subject: String, photos: [String])] = []
        var usedIDs = Set<[UInt8]>()
        for key in order {
            let g = groups[key]!
            guard !g.rows.isEmpty else { dropped.append(key); continue }
            let rows = Array(g.rows.prefix(BundleLayout.maxRowsPerEntry))
            var id = g.first.entryID ?? randomID()
            while !usedIDs.insert(id).inserted { id = randomID() }
            let expires = min(g.first.expires ?? header.expires, header.expires)
            entries.append(WatchlistEntry(id: id, expires: expires, category: g.first.category, legalBasis: g.first.legalBasis,
                                          firstRow: scales.count, rowCount: rows.count))
            for r in rows {
                let (q, s) = quantizeRow(r)
                matrix += q
                scales.append(s)
            }
            mapping.append((hex(id), key, g.photos))
        }
        guard !entries.isEmpty else { throw EnrollmentError("no subject has a usable photo: nothing to sign") }
        var calibrationReport: CalibrationReport?
        var calibrations: [EntryCalibration]?
        if let calibration {
            // The cohort: embedded like the list (same models, same skip rules), never signed in.
            var cohortMatrix: [Int8] = [], cohortScales: [Float] = []
            var cohortSkipped: [(String, SkipReason)] = []
            for (i, outcome) in embedAll(calibration.cohort, box).enumerated() {
                switch outcome {
                case .embedding(let v):
                    let (q, sc) = quantizeRow(v)
                    cohortMatrix += q
                    cohortScales.append(sc)
                case .skipped(let r): cohortSkipped.append((calibration.cohort[i], r))
                }
            }
            let fit = CalibrationFit(targetFalseMatchRate: calibration.targetFalseMatchRate)
            let result = try EntryCalibrator.calibrate(
                entries: entries.map { EntryCalibrator.EntryRows(firstRow: $0.firstRow, rowCount: $0.rowCount) },
                matrix: matrix, scales: scales, dimension: header.dimension,
                cohort: (cohortMatrix, cohortScales), fit: fit, floor: header.thresholdFloor,
                fallback: max(header.thresholdFloor, Float(FaceMatching.defaultThreshold)),
                maximumCohort: calibration.maximumCohort)
            calibrations = result.calibrations
            calibrationReport = CalibrationReport(
                targetFalseMatchRate: calibration.targetFalseMatchRate, cohortFaces: result.impostors,
                cohortSkipped: cohortSkipped, fallbackEntries: result.fallbacks, thresholds: result.calibrations.map(\.threshold))
        }
        let bytes: [UInt8]
        if let calibrations, let calibration {
            // Format 2: each entry's threshold and tail, and the operating point they were fitted to.
            bytes = try WatchlistBundle.build(header: header, entries: entries, matrix: matrix, scales: scales,
                                              calibrations: calibrations,
                                              targetFalseMatchRate: calibration.targetFalseMatchRate, signer: signer)
        } else {
            bytes = try WatchlistBundle.build(header: header, entries: entries, matrix: matrix, scales: scales, signer: signer)
        }
        let seconds = Double(MonotonicInstant.now().nanoseconds - start.nanoseconds) / 1e9
        return (bytes, EnrollmentReport(photos: subjects.count, embedded: embedded, skipped: skipped, entries: entries.count,
                                        rows: scales.count, droppedSubjects: dropped, seconds: seconds, threads: threads,
                                        bundleBytes: bytes.count, mapping: mapping, calibration: calibrationReport))
    }

    /// Embeds `paths` over all threads, outcomes in input order (each batch of the list's photos,
    /// and the cohort).
    func embedAll(_ paths: [String], _ box: AnalyzerBox) -> [Outcome] {
        guard !paths.isEmpty else { return [] }
        let results = Mutex<[Int: Outcome]>([:])
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            let analyzer = box.analyzers[worker]
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard i < paths.count else { return }
                let outcome = Enroller.embed(paths[i], analyzer)
                results.withLock { $0[i] = outcome }
            }
        }
        let all = results.withLock { $0 }
        return paths.indices.map { all[$0]! }
    }

    static func embed(_ path: String, _ analyzer: FaceAnalyzer) -> Outcome {
        let img: RGBImage
        do { img = try ImageFile.load(path).image } catch { return .skipped(.unreadable(error.reason)) }
        let faces: [AnalyzedFace]
        do { faces = try analyzer.analyze(img, embed: true) } catch { return .skipped(.unreadable("\(error)")) }
        guard !faces.isEmpty else { return .skipped(.noFace) }
        guard faces.count == 1 else { return .skipped(.severalFaces(faces.count)) }
        guard let e = faces[0].embedding else { return .skipped(.noEmbedding) }
        return .embedding(e.values)
    }
}

final class AnalyzerBox: @unchecked Sendable {
    let analyzers: [FaceAnalyzer]
    init(_ a: [FaceAnalyzer]) { analyzers = a }
}

/// int8 with a per-row scale: exactly what the device does to a query (`WatchlistIndex.quantize`),
/// so rows and queries share one definition.
public func quantizeRow(_ v: [Float]) -> ([Int8], Float) {
    let (q, s) = WatchlistIndex.quantize(v)
    return (q, s)
}

func randomID() -> [UInt8] {
    var g = SystemRandomNumberGenerator()
    return (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
}

func parseHex(_ s: String) -> [UInt8]? {
    let u = Array(s.utf8)
    guard u.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    var i = 0
    while i < u.count {
        guard let a = hexValue(u[i]), let b = hexValue(u[i + 1]) else { return nil }
        out.append(a << 4 | b); i += 2
    }
    return out
}

func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x57
    case 0x41...0x46: c - 0x37
    default: nil
    }
}

/// YYYY-MM-DD (UTC midnight) → Unix seconds.
public func parseDate(_ s: String) -> Int64? {
    let p = s.split(separator: "-")
    guard p.count == 3, p[0].count == 4, let y = Int(p[0]), let m = Int(p[1]), let d = Int(p[2]),
          (1970...9999).contains(y), (1...12).contains(m), (1...31).contains(d) else { return nil }
    // Days from civil (Howard Hinnant's algorithm).
    let yy = m <= 2 ? y - 1 : y
    let era = yy / 400
    let yoe = yy - era * 400
    let mp = (m + 9) % 12
    let doy = (153 * mp + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146097 + doe - 719468
    let monthDays = [31, (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    guard d <= monthDays[m - 1] else { return nil }
    return Int64(days) * 86_400
}

func photoStem(_ p: String) -> String {
    let name = p.split(separator: "/").last.map(String.init) ?? p
    if let dot = name.lastIndex(of: ".") { return String(name[..<dot]) }
    return name
}

/// Whether a directory entry is a photo to enroll: .jpg/.jpeg/.png/.webp, any case. The name
/// only picks files; `ImageFile.load` decodes by content, so a misnamed photo still reads right.
/// Shared with `vigil watchlist build --cohort` so both select the same files.
package func isPhotoName(_ n: String) -> Bool {
    let l = n.lowercased()
    return [".jpg", ".jpeg", ".png", ".webp"].contains { l.hasSuffix($0) }
}

func isDirectory(_ p: String) -> Bool {
    var st = stat()
    return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

func listDirectory(_ p: String) throws -> [String] {
    guard let d = opendir(p) else { throw EnrollmentError("\(p): cannot open directory: \(Errno.current)") }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if !n.hasPrefix(".") { names.append(n) }
    }
    return names.sorted()
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
