// The watchlist bundle: one signed file, parsed here without trusting a single byte of it.
// Layout (little endian) in docs/WATCHLIST-BUNDLE.md; `BundleLayout` holds the offsets.
#if canImport(Glibc)
import Glibc
#endif
import Crypto
import VigilCore

/// How hits from a list may be used, set by the authority that signed it; a console cannot widen it.
public enum WatchlistMode: UInt8, Sendable, CustomStringConvertible, CaseIterable {
    /// Hits are queued for later human review; no real-time alert.
    case investigative = 1
    /// Hits may raise a real-time alert (still a lead for human review, never an identification).
    case alert = 2
    public var description: String { self == .investigative ? "investigative" : "alert" }
    public init?(name: String) {
        switch name { case "investigative": self = .investigative; case "alert": self = .alert; default: return nil }
    }
}

/// The embedder a list was enrolled with: embeddings from another model are refused, never
/// silently compared.
public struct EmbedderIdentity: Sendable, Equatable, CustomStringConvertible {
    /// Printable ASCII, 1...32 bytes (e.g. "dlib_resnet_int8").
    public var id: String
    /// SHA-256 of the model file.
    public var sha256: [UInt8]
    public init(id: String, sha256: [UInt8]) { self.id = id; self.sha256 = sha256 }

    /// The identity of a model file: its name without directory and extension, and its SHA-256.
    public init(modelFile path: String) throws(FileError) {
        let bytes = try readFile(path, maximumBytes: ReadLimit.bundle)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        id = name.hasSuffix(".onnx") ? String(name.dropLast(5)) : name
        sha256 = Array(SHA256.hash(data: bytes))
    }
    public var description: String { "\(id) (sha256 \(hex(sha256.prefix(8))))" }

    /// Two identities are the same model when their contents are: the SHA-256 decides, the id is
    /// only a name for people (the same file installed under another name must still match its
    /// lists; a different file under the same name must not).
    public static func == (a: Self, b: Self) -> Bool { a.sha256 == b.sha256 }

    /// The identity of the whole embedding pipeline: the embedder and, when chips are cut from a
    /// landmark model, that model too — the same ResNet on differently aligned chips gives
    /// embeddings a list must not be compared with. Id "NAME+landmarks" (NAME cut to 22 bytes),
    /// SHA-256 over the two files' SHA-256s. Without a landmark file: `init(modelFile:)`.
    public init(modelFile path: String, landmarksFile: String?) throws(FileError) {
        try self.init(modelFile: path)
        guard let landmarksFile else { return }
        let lm = try readFile(landmarksFile, maximumBytes: ReadLimit.model)
        id = String(decoding: id.utf8.prefix(22), as: UTF8.self) + "+landmarks"
        sha256 = Array(SHA256.hash(data: sha256 + Array(SHA256.hash(data: lm))))
    }

    /// The pipeline of embedder file `embedder`, its landmark model found by `EmbeddingPipeline`.
    public init(pipelineFor embedder: String, landmarks: String? = nil) throws(FileError) {
        try self.init(modelFile: embedder, landmarksFile: EmbeddingPipeline.landmarksPath(embedder: embedder, explicit: landmarks))
    }
}

/// Where the landmark model of an embedding pipeline is: one rule for the CLI (`--landmarks`),
/// the device (`models.landmarks`) and `watchlist sync` (`landmarks =`), so enrollment, install,
/// sync and matching always agree on the identity.
public enum EmbeddingPipeline {
    /// `make models` and install.sh put it beside the embedder.
    public static let landmarksFileName = "shape_predictor_5.dat"

    /// `explicit` when given ("none": chips from the detector's eye keypoints, no landmark model);
    /// otherwise `shape_predictor_5.dat` in the embedder's directory if that file exists, else nil.
    /// A device missing the file therefore computes a different identity and refuses lists
    /// enrolled with landmarks (with the wrong-embedder reason) rather than comparing across
    /// alignments.
    public static func landmarksPath(embedder: String, explicit: String?) -> String? {
        if let explicit { return explicit == "none" ? nil : explicit }
        let dir = embedder.contains("/") ? String(embedder[..<embedder.lastIndex(of: "/")!]) : "."
        let sibling = (dir.isEmpty ? "" : dir) + "/" + landmarksFileName
        return access(sibling, R_OK) == 0 ? sibling : nil
    }
}

/// One watched person: never a name — an opaque id, the legal basis, a category and an expiry.
public struct WatchlistEntry: Sendable, Equatable {
    /// 16 opaque bytes chosen by the agency; the device only ever reports them back.
    public var id: [UInt8]
    /// Unix seconds after which this entry never matches (at most the list's expiry).
    public var expires: Int64
    /// Agency-defined category code (1...255), e.g. 1 wanted, 2 missing person.
    public var category: UInt8
    /// A warrant or case reference (printable ASCII, 1...96 bytes) — the reason the entry exists.
    public var legalBasis: String
    /// The entry's embeddings: rows of the matrix (one or more photos of the same person).
    public var firstRow: Int
    public var rowCount: Int
    public init(id: [UInt8], expires: Int64, category: UInt8, legalBasis: String, firstRow: Int, rowCount: Int) {
        self.id = id; self.expires = expires; self.category = category; self.legalBasis = legalBasis
        self.firstRow = firstRow; self.rowCount = rowCount
    }
    public var idHex: String { hex(id) }
}

/// The signed header fields.
public struct WatchlistHeader: Sendable, Equatable {
    public var listVersion: UInt64
    public var issued: Int64
    public var expires: Int64
    /// The device stops matching `maximumStaleness` seconds after `issued`, even before
    /// `expires`, if no newer list arrived (a body-cam that missed its dock for weeks).
    public var maximumStaleness: Int64
    public var embedder: EmbedderIdentity
    public var mode: WatchlistMode
    /// Cosine floor: no score below it is ever a hit; the device may raise it, never lower it.
    public var thresholdFloor: Float
    public var dimension: Int
    /// The list's operating point (format v2): the false-match rate every entry's threshold was
    /// calibrated to, e.g. 1e-4 = "1 in 10,000 comparisons per entry". nil for a v1 list, whose
    /// entries all share the floor and state no rate.
    public var targetFalseMatchRate: Double?
    public init(listVersion: UInt64, issued: Int64, expires: Int64, maximumStaleness: Int64, embedder: EmbedderIdentity,
                mode: WatchlistMode, thresholdFloor: Float, dimension: Int, targetFalseMatchRate: Double? = nil) {
        self.listVersion = listVersion; self.issued = issued; self.expires = expires
        self.maximumStaleness = maximumStaleness; self.embedder = embedder; self.mode = mode
        self.thresholdFloor = thresholdFloor; self.dimension = dimension
        self.targetFalseMatchRate = targetFalseMatchRate
    }
}

/// A parsed, structurally valid bundle. Parsing does not verify the signature (`verify` does):
/// the device verifies before it uses anything, `inspect` reports both.
public struct WatchlistBundle: Sendable {
    public var header: WatchlistHeader
    /// SHA-256 of the authority public key that signed it (lets a device name the key it needs).
    public var authorityKeyID: [UInt8]
    public var entries: [WatchlistEntry]
    /// rows × dimension int8 values, row-major, rows grouped by entry in entry order.
    public var matrix: [Int8]
    /// One positive scale per row: the float embedding is matrix[row] × scale.
    public var scales: [Float]
    /// One calibration per entry, in entry order (format v2); nil for a v1 list, whose entries
    /// are all judged by the floor. Every one is valid and none is below the floor (the parser
    /// refuses the file otherwise).
    public var calibrations: [EntryCalibration]?
    /// The whole file as parsed (shared, not copied) and the length of its signed part.
    public var raw: [UInt8]
    public var signedLength: Int
    public var signedBytes: ArraySlice<UInt8> { raw[0..<signedLength] }
    public var signature: ArraySlice<UInt8> { raw[signedLength...] }

    public var rowCount: Int { scales.count }
    /// The format version the file was written in (1, or 2 with calibrations).
    public var formatVersion: UInt16 { calibrations == nil ? 1 : 2 }
    /// The cosine entry `i` is judged by before any configured threshold: its calibrated
    /// threshold (v2) or the list's floor (v1).
    public func entryThreshold(_ i: Int) -> Float { calibrations?[i].threshold ?? header.thresholdFloor }
}

/// A precise reason a bundle or its install was refused. Each field has its own case, so a
/// technician (and a test) can tell a forged list from a stale one.
public enum WatchlistError: Error, Equatable, CustomStringConvertible {
    case truncated(needed: Int, have: Int)
    case badMagic
    case unsupportedFormat(UInt16)
    case badField(String)
    case badSize(expected: Int, actual: Int)
    case badSignature
    case wrongAuthorityKey
    case rollback(offered: UInt64, highestInstalled: UInt64)
    case expired(expires: Int64, now: Int64)
    case notYetValid(issued: Int64, now: Int64)
    case wrongEmbedder(bundle: String, device: String)
    /// Signed and valid, but already past its maximum staleness: installing it would switch
    /// matching off and demote the working list to the fallback slot.
    case staleAtInstall(staleSince: Int64, now: Int64)
    /// A threshold floor outside `WatchlistPolicy.floorRange` (a typo such as 0.0001 would let
    /// nearly every face match).
    case floorOutOfRange(Float)
    /// A version far above the highest installed (or above `WatchlistPolicy.maximumVersion`):
    /// one typo would raise every device's rollback floor out of reach.
    case versionJump(offered: UInt64, highestInstalled: UInt64, limit: UInt64)
    /// A v2 calibration that is out of range, or whose threshold is below the list's floor (a
    /// list must never let an entry match below the floor the authority signed).
    case badCalibration(entry: Int, id: String, reason: String)
    case storage(FileError)
    case corruptStorage(String)
    case key(String)

    public var description: String {
        switch self {
        case .truncated(let n, let h): "bundle truncated: needs \(n) bytes, has \(h)"
        case .badMagic: "not a Vigil watchlist bundle (bad magic)"
        case .unsupportedFormat(let v): "unsupported bundle format version \(v) (this device reads 1 and 2)"
        case .badField(let s): "malformed bundle: \(s)"
        case .badSize(let e, let a): "bundle size \(a) bytes does not match its layout (\(e) bytes)"
        case .badSignature: "signature does not verify: the bundle was altered or not signed by the configured authority"
        case .wrongAuthorityKey: "bundle names another authority key than the configured one"
        case .rollback(let o, let h): "rollback refused: bundle version \(o) is not newer than the highest ever installed (\(h))"
        case .expired(let e, let n): "bundle expired at \(e) (now \(n))"
        case .notYetValid(let i, let n): "bundle issued in the future (\(i), now \(n))"
        case .wrongEmbedder(let b, let d): "bundle was enrolled with embedder \(b), this device runs \(d)"
        case .staleAtInstall(let s, let n): "bundle already stale (stopped matching at \(s), now \(n)): refused, the active list stays"
        case .floorOutOfRange(let f): "threshold floor \(f) outside the accepted range \(WatchlistPolicy.floorRange.lowerBound)...\(WatchlistPolicy.floorRange.upperBound)"
        case .versionJump(let o, let h, let l): "version \(o) jumps more than \(l) above the highest ever installed (\(h)), or past \(WatchlistPolicy.maximumVersion): refused (a typo would pin the rollback floor)"
        case .badCalibration(let i, let id, let why): "malformed bundle: entry \(i) (\(id)) calibration \(why)"
        case .storage(let e): "watchlist storage: \(e)"
        case .corruptStorage(let s): "stored watchlist unusable: \(s)"
        case .key(let s): s
        }
    }
}

/// Offsets and sizes of format versions 1 and 2 (docs/WATCHLIST-BUNDLE.md). Version 2 is
/// version 1 plus the operating point and the calibration-table offset in the header's reserved
/// bytes and a 16-byte calibration per entry after the scales, all signed.
public enum BundleLayout {
    public static let magic: [UInt8] = Array("VIGILWL".utf8) + [0]
    public static let formatVersion: UInt16 = 1
    public static let calibratedFormatVersion: UInt16 = 2
    public static let calibrationSize = 16
    public static let headerSize = 256
    public static let entrySize = 128
    public static let signatureSize = 64
    public static let maxLegalBasis = 96
    public static let maxDimension = 4096
    public static let maxRowsPerEntry = 65535

    /// Matrix offset for `entries`: after the entry table, rounded up to 64 bytes (SIMD loads).
    public static func matrixOffset(entries: Int) -> Int { (headerSize + entries * entrySize + 63) & ~63 }
    public static func scalesOffset(entries: Int, rows: Int, dimension: Int) -> Int {
        (matrixOffset(entries: entries) + rows * dimension + 3) & ~3
    }
    public static func signedSize(entries: Int, rows: Int, dimension: Int) -> Int {
        scalesOffset(entries: entries, rows: rows, dimension: dimension) + rows * 4
    }
    /// v2: the calibration table's offset, after the scales, rounded up to 16 bytes.
    public static func calibrationsOffset(entries: Int, rows: Int, dimension: Int) -> Int {
        (signedSize(entries: entries, rows: rows, dimension: dimension) + 15) & ~15
    }
    /// v2: the signed size, up to the end of the calibration table.
    public static func signedSizeV2(entries: Int, rows: Int, dimension: Int) -> Int {
        calibrationsOffset(entries: entries, rows: rows, dimension: dimension) + entries * calibrationSize
    }
}

extension WatchlistBundle {
    /// Parses and validates every field; never reads outside `bytes`.
    public init(parsing bytes: [UInt8]) throws(WatchlistError) {
        let L = BundleLayout.self
        guard bytes.count >= L.headerSize else { throw .truncated(needed: L.headerSize, have: bytes.count) }
        var r = ByteReader(bytes)
        guard Array(bytes[0..<8]) == L.magic else { throw .badMagic }
        r.offset = 8
        let format = r.u16()
        guard format == L.formatVersion || format == L.calibratedFormatVersion else { throw .unsupportedFormat(format) }
        let calibrated = format == L.calibratedFormatVersion
        guard r.u16() == UInt16(L.headerSize) else { throw .badField("header size is not \(L.headerSize)") }
        guard r.u32() == 0 else { throw .badField("flags must be 0") }
        let version = r.u64()
        guard version > 0 else { throw .badField("list version 0") }
        let issued = r.i64(), expires = r.i64()
        guard issued > 0 else { throw .badField("issued time \(issued)") }
        guard expires > issued else { throw .badField("expires (\(expires)) not after issued (\(issued))") }
        let staleness = r.i64()
        guard staleness > 0 else { throw .badField("maximum staleness \(staleness) s") }
        let embedderID = try printable(r.bytes(32), field: "embedder id", nulPadded: true, maxLength: 32)
        let embedderHash = r.bytes(32)
        let modeByte = r.u8()
        guard let mode = WatchlistMode(rawValue: modeByte) else { throw .badField("mode \(modeByte) (1 investigative, 2 alert)") }
        guard r.bytes(3) == [0, 0, 0] else { throw .badField("reserved bytes after mode are not 0") }
        let floor = r.f32()
        guard floor.isFinite, floor > 0, floor <= 1 else { throw .badField("threshold floor \(floor) (must be in (0, 1])") }
        let dimension = Int(r.u16())
        guard dimension >= 1, dimension <= L.maxDimension else { throw .badField("dimension \(dimension)") }
        guard r.u16() == 0 else { throw .badField("reserved bytes after dimension are not 0") }
        let entryCount = Int(r.u32()), rowCount = Int(r.u32())
        guard r.u32() == 0 else { throw .badField("reserved bytes after row count are not 0") }
        guard rowCount >= entryCount else { throw .badField("\(rowCount) rows for \(entryCount) entries") }
        // Bound the sizes before any arithmetic on them can overflow.
        guard entryCount <= 50_000_000, rowCount <= 100_000_000 else { throw .badField("\(entryCount) entries, \(rowCount) rows: too many") }
        // Offsets are compared as read (UInt64): a huge value must be an error, not a trap.
        let rawEntries = r.u64(), rawMatrix = r.u64(), rawScales = r.u64()
        let entriesOffset = L.headerSize, matrixOffset = L.matrixOffset(entries: entryCount)
        let scalesOffset = L.scalesOffset(entries: entryCount, rows: rowCount, dimension: dimension)
        guard rawEntries == UInt64(entriesOffset) else { throw .badField("entries offset \(rawEntries)") }
        guard rawMatrix == UInt64(matrixOffset) else { throw .badField("matrix offset \(rawMatrix)") }
        guard rawScales == UInt64(scalesOffset) else { throw .badField("scales offset \(rawScales)") }
        let keyID = r.bytes(32)
        var target: Double? = nil
        let calibrationsOffset = L.calibrationsOffset(entries: entryCount, rows: rowCount, dimension: dimension)
        if calibrated {
            // v2: operating point (f32) at 192, calibration table offset (u64) at 196.
            let rate = r.f32()
            guard rate.isFinite, rate > 0, rate < 1 else { throw .badField("target false-match rate \(rate) (must be in (0, 1))") }
            target = Double(rate)
            let rawCalibrations = r.u64()
            guard rawCalibrations == UInt64(calibrationsOffset) else { throw .badField("calibrations offset \(rawCalibrations)") }
            guard r.bytes(52).allSatisfy({ $0 == 0 }) else { throw .badField("reserved header bytes are not 0") }
        } else {
            guard r.bytes(64).allSatisfy({ $0 == 0 }) else { throw .badField("reserved header bytes are not 0") }
        }
        let signed = calibrated ? L.signedSizeV2(entries: entryCount, rows: rowCount, dimension: dimension)
            : L.signedSize(entries: entryCount, rows: rowCount, dimension: dimension)
        let total = signed + L.signatureSize
        guard bytes.count >= total else { throw .truncated(needed: total, have: bytes.count) }
        guard bytes.count == total else { throw .badSize(expected: total, actual: bytes.count) }

        var entries: [WatchlistEntry] = []
        entries.reserveCapacity(entryCount)
        var nextRow = 0
        var seen = Set<[UInt8]>()
        for i in 0..<entryCount {
            r.offset = entriesOffset + i * L.entrySize
            let id = r.bytes(16)
            guard seen.insert(id).inserted else { throw .badField("entry \(i): duplicate id \(hex(id))") }
            let entryExpires = r.i64()
            guard entryExpires > issued, entryExpires <= expires else { throw .badField("entry \(i): expiry \(entryExpires) outside the list's validity") }
            let first = Int(r.u32()), count = Int(r.u16())
            guard count >= 1 else { throw .badField("entry \(i): no embedding rows") }
            guard first == nextRow, first + count <= rowCount else { throw .badField("entry \(i): rows \(first)..<\(first + count) out of order or out of range") }
            nextRow += count
            let category = r.u8()
            guard category >= 1 else { throw .badField("entry \(i): category 0") }
            let length = Int(r.u8())
            guard length >= 1, length <= L.maxLegalBasis else { throw .badField("entry \(i): legal basis length \(length)") }
            let basisBytes = r.bytes(L.maxLegalBasis)
            let basis = try printable(Array(basisBytes[0..<length]), field: "entry \(i) legal basis", nulPadded: false, maxLength: L.maxLegalBasis)
            guard basisBytes[length...].allSatisfy({ $0 == 0 }) else { throw .badField("entry \(i): bytes after the legal basis are not 0") }
            entries.append(WatchlistEntry(id: id, expires: entryExpires, category: category, legalBasis: basis, firstRow: first, rowCount: count))
        }
        guard nextRow == rowCount else { throw .badField("entries cover \(nextRow) of \(rowCount) rows") }
        let entriesEnd = entriesOffset + entryCount * L.entrySize
        guard bytes[entriesEnd..<matrixOffset].allSatisfy({ $0 == 0 }) else { throw .badField("padding before the matrix is not 0") }
        let matrixEnd = matrixOffset + rowCount * dimension
        let matrix = bytes[matrixOffset..<matrixEnd].map { Int8(bitPattern: $0) }
        guard bytes[matrixEnd..<scalesOffset].allSatisfy({ $0 == 0 }) else { throw .badField("padding before the scales is not 0") }
        var scales: [Float] = []
        scales.reserveCapacity(rowCount)
        r.offset = scalesOffset
        for row in 0..<rowCount {
            let s = r.f32()
            guard s.isFinite, s > 0 else { throw .badField("row \(row): scale \(s)") }
            scales.append(s)
        }
        var calibrations: [EntryCalibration]? = nil
        if calibrated {
            let scalesEnd = scalesOffset + rowCount * 4
            guard bytes[scalesEnd..<calibrationsOffset].allSatisfy({ $0 == 0 }) else { throw .badField("padding before the calibrations is not 0") }
            var table: [EntryCalibration] = []
            table.reserveCapacity(entryCount)
            r.offset = calibrationsOffset
            for i in 0..<entryCount {
                let c = EntryCalibration(threshold: r.f32(), tailStart: r.f32(), tailScale: r.f32(), tailMass: r.f32())
                guard c.isValid else {
                    throw .badCalibration(entry: i, id: entries[i].idHex, reason: "out of range (threshold \(c.threshold), tail start \(c.tailStart), scale \(c.tailScale), mass \(c.tailMass))")
                }
                guard c.threshold >= floor else {
                    throw .badCalibration(entry: i, id: entries[i].idHex, reason: "threshold \(c.threshold) is below the list's floor \(floor)")
                }
                table.append(c)
            }
            calibrations = table
        }
        self.header = WatchlistHeader(listVersion: version, issued: issued, expires: expires, maximumStaleness: staleness,
                                      embedder: EmbedderIdentity(id: embedderID, sha256: embedderHash),
                                      mode: mode, thresholdFloor: floor, dimension: dimension, targetFalseMatchRate: target)
        self.authorityKeyID = keyID
        self.entries = entries
        self.matrix = matrix
        self.scales = scales
        self.calibrations = calibrations
        self.raw = bytes
        self.signedLength = signed
    }

    /// Whether the Ed25519 signature verifies with `key` (and the bundle names that key).
    public func verify(with key: AuthorityPublicKey) throws(WatchlistError) {
        guard authorityKeyID == key.keyID else { throw .wrongAuthorityKey }
        guard key.key.isValidSignature(signature, for: signedBytes) else { throw .badSignature }
    }

    /// Format v2 with the operating point passed apart from the header (it replaces
    /// `header.targetFalseMatchRate`): the form enrollment and evaluation call.
    public static func build(header: WatchlistHeader, entries: [WatchlistEntry], matrix: [Int8], scales: [Float],
                             calibrations: [EntryCalibration], targetFalseMatchRate: Double,
                             signer: AuthorityPrivateKey) throws(WatchlistError) -> [UInt8] {
        var h = header
        h.targetFalseMatchRate = targetFalseMatchRate
        return try build(header: h, entries: entries, matrix: matrix, scales: scales, calibrations: calibrations, signer: signer)
    }

    /// Serializes and signs a bundle (agency side). `entries` must cover `matrix` in order.
    /// With `calibrations` (one per entry) it writes format v2, whose header carries
    /// `header.targetFalseMatchRate` (required then); without, format v1 exactly as before.
    public static func build(header: WatchlistHeader, entries: [WatchlistEntry], matrix: [Int8], scales: [Float],
                             calibrations: [EntryCalibration]? = nil,
                             signer: AuthorityPrivateKey) throws(WatchlistError) -> [UInt8] {
        let L = BundleLayout.self
        let d = header.dimension, rows = scales.count
        guard matrix.count == rows * d else { throw .badField("matrix has \(matrix.count) values for \(rows) rows of \(d)") }
        if let calibrations {
            guard calibrations.count == entries.count else { throw .badField("\(calibrations.count) calibrations for \(entries.count) entries") }
            guard let rate = header.targetFalseMatchRate, rate > 0, rate < 1 else {
                throw .badField("a calibrated list needs a target false-match rate in (0, 1)")
            }
        }
        let signed = calibrations == nil ? L.signedSize(entries: entries.count, rows: rows, dimension: d)
            : L.signedSizeV2(entries: entries.count, rows: rows, dimension: d)
        var w = ByteWriter(count: signed)
        w.put(L.magic)
        w.u16(calibrations == nil ? L.formatVersion : L.calibratedFormatVersion); w.u16(UInt16(L.headerSize)); w.u32(0)
        w.u64(header.listVersion); w.i64(header.issued); w.i64(header.expires); w.i64(header.maximumStaleness)
        let idBytes = Array(header.embedder.id.utf8)
        guard !idBytes.isEmpty, idBytes.count <= 32 else { throw .badField("embedder id '\(header.embedder.id)'") }
        guard header.embedder.sha256.count == 32 else { throw .badField("embedder sha256 must be 32 bytes") }
        w.put(idBytes + [UInt8](repeating: 0, count: 32 - idBytes.count))
        w.put(header.embedder.sha256)
        w.u8(header.mode.rawValue); w.put([0, 0, 0])
        w.f32(header.thresholdFloor)
        w.u16(UInt16(d)); w.u16(0)
        w.u32(UInt32(entries.count)); w.u32(UInt32(rows)); w.u32(0)
        w.u64(UInt64(L.headerSize))
        w.u64(UInt64(L.matrixOffset(entries: entries.count)))
        w.u64(UInt64(L.scalesOffset(entries: entries.count, rows: rows, dimension: d)))
        w.put(signer.publicKey.keyID)
        if calibrations != nil, let rate = header.targetFalseMatchRate {
            w.f32(Float(rate))
            w.u64(UInt64(L.calibrationsOffset(entries: entries.count, rows: rows, dimension: d)))
        }
        for (i, e) in entries.enumerated() {
            w.offset = L.headerSize + i * L.entrySize
            guard e.id.count == 16 else { throw .badField("entry \(i): id must be 16 bytes") }
            w.put(e.id); w.i64(e.expires); w.u32(UInt32(e.firstRow)); w.u16(UInt16(e.rowCount)); w.u8(e.category)
            let basis = Array(e.legalBasis.utf8)
            guard !basis.isEmpty, basis.count <= L.maxLegalBasis else { throw .badField("entry \(i): legal basis length \(basis.count)") }
            w.u8(UInt8(basis.count)); w.put(basis)
        }
        w.offset = L.matrixOffset(entries: entries.count)
        w.put(matrix.map { UInt8(bitPattern: $0) })
        w.offset = L.scalesOffset(entries: entries.count, rows: rows, dimension: d)
        for s in scales { w.f32(s) }
        if let calibrations {
            w.offset = L.calibrationsOffset(entries: entries.count, rows: rows, dimension: d)
            for c in calibrations { w.f32(c.threshold); w.f32(c.tailStart); w.f32(c.tailScale); w.f32(c.tailMass) }
        }
        let body = w.bytes
        let signature: [UInt8]
        do { signature = Array(try signer.key.signature(for: body)) } catch { throw .key("signing failed: \(error)") }
        let out = body + signature
        // What we write must be what a device accepts: parse our own output before handing it out.
        _ = try WatchlistBundle(parsing: out)
        return out
    }
}

/// Printable ASCII only (0x20...0x7e): no control characters or escapes can reach a console or a
/// log from a bundle.
func printable(_ bytes: [UInt8], field: String, nulPadded: Bool, maxLength: Int) throws(WatchlistError) -> String {
    var b = bytes
    if nulPadded {
        if let end = b.firstIndex(of: 0) {
            guard b[end...].allSatisfy({ $0 == 0 }) else { throw .badField("\(field): bytes after the terminating NUL") }
            b = Array(b[..<end])
        }
    }
    guard !b.isEmpty, b.count <= maxLength else { throw .badField("\(field): empty or too long") }
    guard b.allSatisfy({ $0 >= 0x20 && $0 <= 0x7e }) else { throw .badField("\(field): not printable ASCII") }
    return String(decoding: b, as: UTF8.self)
}

public func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

/// Little-endian reads at an offset the caller has bounds-checked (the parser checks the whole
/// extent first; a read past the end traps rather than reading foreign memory).
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    mutating func bytes(_ n: Int) -> [UInt8] { defer { offset += n }; return Array(bytes[offset..<offset + n]) }
    mutating func u8() -> UInt8 { defer { offset += 1 }; return bytes[offset] }
    mutating func u16() -> UInt16 { UInt16(u8()) | UInt16(u8()) << 8 }
    mutating func u32() -> UInt32 { UInt32(u16()) | UInt32(u16()) << 16 }
    mutating func u64() -> UInt64 { UInt64(u32()) | UInt64(u32()) << 32 }
    mutating func i64() -> Int64 { Int64(bitPattern: u64()) }
    mutating func f32() -> Float { Float(bitPattern: u32()) }
}

struct ByteWriter {
    var bytes: [UInt8]
    var offset = 0
    init(count: Int) { bytes = [UInt8](repeating: 0, count: count) }
    mutating func put(_ b: [UInt8]) { bytes.replaceSubrange(offset..<offset + b.count, with: b); offset += b.count }
    mutating func u8(_ v: UInt8) { bytes[offset] = v; offset += 1 }
    mutating func u16(_ v: UInt16) { u8(UInt8(v & 0xff)); u8(UInt8(v >> 8)) }
    mutating func u32(_ v: UInt32) { u16(UInt16(v & 0xffff)); u16(UInt16(v >> 16)) }
    mutating func u64(_ v: UInt64) { u32(UInt32(v & 0xffff_ffff)); u32(UInt32(v >> 32)) }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
}
