// The hit record: the only data that ever leaves the device. Layout in docs/HIT-RECORD.md.
//
//   envelope (plaintext): magic, version, record id (UUIDv7), device key id, sequence, created,
//                         agency key id, HPKE encapsulated key, body length
//   body (sealed):        HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//                         ChaCha20-Poly1305 to the agency key; AAD = the envelope bytes before it
//   signature:            Ed25519 by the device over everything before it
//
// The device cannot open what it sealed (it holds only the agency's public key) and keeps no
// plaintext: the body exists in memory only while it is being sealed.
import Crypto
import struct Foundation.Data
import VigilCore
import Watchlist

/// What a hit says, inside the sealed body.
public struct HitBody: Sendable, Equatable {
    /// Unix milliseconds (wall clock) and CLOCK_MONOTONIC nanoseconds of the frame.
    public var captureWallMillis: Int64
    public var captureMonotonicNanos: UInt64
    /// Whether the wall clock was synchronized (NTP) when the hit was captured: a Raspberry Pi
    /// has no battery-backed clock, so an unsynchronized time may be far off. nil in version-1
    /// bodies (not recorded).
    public var clockSynchronized: Bool?
    public var cameraID: String
    public var watchlistVersion: UInt64
    public var entryID: [UInt8]
    public var score: Float
    public var threshold: Float
    public var embedderID: String
    public var quality: Float
    /// x, y, width, height in frame pixels.
    public var box: [Float]
    public var mode: WatchlistMode
    /// SHA-256 head of the audit chain when the hit was recorded.
    public var auditHead: [UInt8]
    /// Optional small face crop (JPEG), per board profile; empty when disabled.
    public var crop: [UInt8]
    /// The entry's estimated false-match rate at `score` (its signed calibration, list format
    /// v2): how often a person who is not this entry scores this high. nil when unknown (a v1
    /// list, or a body of version 1 or 2).
    public var estimatedFalseMatchRate: Double?
    /// The list's operating point (the rate its thresholds were calibrated to); nil when unknown.
    public var operatingPoint: Double?

    /// Every record carries it, and the agency tool refuses a body without it.
    public static let marker = "candidate for human review - not an identification"

    public init(captureWallMillis: Int64, captureMonotonicNanos: UInt64, cameraID: String, watchlistVersion: UInt64,
                entryID: [UInt8], score: Float, threshold: Float, embedderID: String, quality: Float, box: [Float],
                mode: WatchlistMode, auditHead: [UInt8], crop: [UInt8] = [], clockSynchronized: Bool? = nil,
                estimatedFalseMatchRate: Double? = nil, operatingPoint: Double? = nil) {
        self.estimatedFalseMatchRate = estimatedFalseMatchRate; self.operatingPoint = operatingPoint
        self.captureWallMillis = captureWallMillis; self.captureMonotonicNanos = captureMonotonicNanos
        self.clockSynchronized = clockSynchronized
        self.cameraID = cameraID; self.watchlistVersion = watchlistVersion; self.entryID = entryID
        self.score = score; self.threshold = threshold; self.embedderID = embedderID; self.quality = quality
        self.box = box; self.mode = mode; self.auditHead = auditHead; self.crop = crop
    }
}

public enum HitRecordError: Error, Equatable, CustomStringConvertible {
    case truncated(String)
    case badMagic
    case unsupportedVersion(UInt16)
    case badField(String)
    case badSignature
    case unknownDevice(keyID: String)
    case notForThisAgency
    case decryptionFailed
    case replayed(id: String)
    case deviceKeyExpired(keyID: String, expiredMillis: Int64, createdMillis: Int64)
    case sealing(String)

    public var description: String {
        switch self {
        case .truncated(let s): "record truncated (\(s))"
        case .badMagic: "not a Vigil hit record"
        case .unsupportedVersion(let v): "unsupported record version \(v)"
        case .badField(let s): "malformed record: \(s)"
        case .badSignature: "device signature does not verify: the record was altered"
        case .unknownDevice(let k): "signed by an unknown device key (\(k))"
        case .notForThisAgency: "sealed to another agency key"
        case .decryptionFailed: "body does not decrypt (tampered, or not sealed to this key)"
        case .replayed(let id): "record \(id) seen before (replay)"
        case .deviceKeyExpired(let k, let e, let c): "device key \(k) expired at \(e) ms; record created at \(c) ms: refused"
        case .sealing(let s): "sealing failed: \(s)"
        }
    }
}

/// A sealed record as it travels: the envelope fields readable by anyone, the body only by the agency.
public struct SealedRecord: Sendable, Equatable {
    public static let magic: [UInt8] = Array("VGHIT".utf8) + [0, 0, 0]
    public static let version: UInt16 = 1
    static let envelopeSize = 8 + 2 + 2 + 16 + 32 + 8 + 8 + 32 + 32 + 4
    static let maxBody = 1 << 20

    public var id: [UInt8]
    public var deviceKeyID: [UInt8]
    public var sequence: UInt64
    public var createdMillis: Int64
    public var agencyKeyID: [UInt8]
    public var bytes: [UInt8]
    public var idString: String { uuidString(id) }

    static let hpkeInfo = Data("vigil hit record v1".utf8)

    /// Seals `body` to `agency` and signs the whole record with `device`.
    public static func seal(_ body: HitBody, id: [UInt8], sequence: UInt64, createdMillis: Int64,
                            device: DeviceSigningKey, agency: AgencyPublicKey) throws(HitRecordError) -> SealedRecord {
        let plain = try encodeBody(body)
        var sender: HPKE.Sender
        do { sender = try HPKE.Sender(recipientKey: agency.key, ciphersuite: .Curve25519_SHA256_ChachaPoly, info: hpkeInfo) } catch {
            throw .sealing("\(error)")
        }
        let enc = Array(sender.encapsulatedKey)
        guard enc.count == 32 else { throw .sealing("encapsulated key of \(enc.count) bytes") }
        var w: [UInt8] = magic
        put16(&w, version); put16(&w, 0)
        w += id; w += device.publicKey.keyID
        put64(&w, sequence); put64(&w, UInt64(bitPattern: createdMillis))
        w += agency.keyID; w += enc
        // body length = plaintext + 16-byte tag
        put32(&w, UInt32(plain.count + 16))
        let ct: [UInt8]
        do { ct = Array(try sender.seal(plain, authenticating: w)) } catch { throw .sealing("\(error)") }
        w += ct
        let sig: [UInt8]
        do { sig = Array(try device.key.signature(for: w)) } catch { throw .sealing("\(error)") }
        w += sig
        return try SealedRecord(parsing: w)
    }

    /// Reads the envelope (no keys needed) and checks the structure.
    public init(parsing bytes: [UInt8]) throws(HitRecordError) {
        guard bytes.count >= SealedRecord.envelopeSize + 16 + 64 else { throw .truncated("\(bytes.count) bytes") }
        guard Array(bytes[0..<8]) == SealedRecord.magic else { throw .badMagic }
        var o = 8
        let v = get16(bytes, &o)
        guard v == SealedRecord.version else { throw .unsupportedVersion(v) }
        guard get16(bytes, &o) == 0 else { throw .badField("reserved bytes") }
        id = Array(bytes[o..<o + 16]); o += 16
        guard id[6] >> 4 == 7, id[8] >> 6 == 2 else { throw .badField("record id is not a UUIDv7") }
        deviceKeyID = Array(bytes[o..<o + 32]); o += 32
        sequence = get64(bytes, &o)
        createdMillis = Int64(bitPattern: get64(bytes, &o))
        agencyKeyID = Array(bytes[o..<o + 32]); o += 32
        o += 32  // encapsulated key
        let bodyLength = Int(get32(bytes, &o))
        guard bodyLength >= 16, bodyLength <= SealedRecord.maxBody else { throw .badField("body length \(bodyLength)") }
        let total = SealedRecord.envelopeSize + bodyLength + 64
        guard bytes.count >= total else { throw .truncated("needs \(total) bytes, has \(bytes.count)") }
        guard bytes.count == total else { throw .badField("\(bytes.count - total) bytes after the signature") }
        self.bytes = bytes
    }

    /// As `open(agency:devices:)`, with a validity end per device key (Unix ms; nil: no end):
    /// a record signed by a key after its end (a retired or compromised device) is refused.
    public func open(agency: AgencyPrivateKey, devices: [(key: DevicePublicKey, validUntilMillis: Int64?)]) throws(HitRecordError) -> HitBody {
        if let d = devices.first(where: { $0.key.keyID == deviceKeyID }), let end = d.validUntilMillis, createdMillis > end {
            // Verify first, so a forged record cannot claim to be from an expired key either way.
            _ = try open(agency: agency, devices: [d.key])
            throw .deviceKeyExpired(keyID: Watchlist.hex(deviceKeyID.prefix(8)), expiredMillis: end, createdMillis: createdMillis)
        }
        return try open(agency: agency, devices: devices.map(\.key))
    }

    /// Agency side: verify the device signature (against the known device keys), then open the body.
    public func open(agency: AgencyPrivateKey, devices: [DevicePublicKey]) throws(HitRecordError) -> HitBody {
        guard let device = devices.first(where: { $0.keyID == deviceKeyID }) else {
            throw .unknownDevice(keyID: Watchlist.hex(deviceKeyID.prefix(8)))
        }
        let signed = bytes[0..<(bytes.count - 64)]
        guard device.key.isValidSignature(bytes[(bytes.count - 64)...], for: signed) else { throw .badSignature }
        guard agencyKeyID == agency.publicKey.keyID else { throw .notForThisAgency }
        let e = SealedRecord.envelopeSize
        let enc = Data(bytes[(e - 36)..<(e - 4)])
        let plain: [UInt8]
        do {
            var r = try HPKE.Recipient(privateKey: agency.key, ciphersuite: .Curve25519_SHA256_ChachaPoly,
                                       info: SealedRecord.hpkeInfo, encapsulatedKey: enc)
            plain = Array(try r.open(bytes[e..<(bytes.count - 64)], authenticating: bytes[0..<e]))
        } catch { throw .decryptionFailed }
        return try SealedRecord.decodeBody(plain)
    }

    // MARK: body encoding (version 3; 1 and 2 are read)

    /// `version` below 3 writes an older body (tests: versions 1 and 2 must still open); the
    /// device writes 3.
    package static func encodeBody(_ b: HitBody, version: UInt16 = 3) throws(HitRecordError) -> [UInt8] {
        guard version >= 1, version <= 3 else { throw .sealing("body version \(version)") }
        guard b.entryID.count == 16 else { throw .sealing("entry id must be 16 bytes") }
        guard b.auditHead.count == 32 else { throw .sealing("audit head must be 32 bytes") }
        guard b.box.count == 4 else { throw .sealing("box needs 4 values") }
        guard b.crop.count <= 256 * 1024 else { throw .sealing("crop of \(b.crop.count) bytes (limit 256 KiB)") }
        var w: [UInt8] = []
        // version 2 adds the clock's trust byte after the capture times; version 3 the estimated
        // false-match rate and the operating point at the end; versions 1 and 2 are still read
        put16(&w, version)
        put64(&w, UInt64(bitPattern: b.captureWallMillis)); put64(&w, b.captureMonotonicNanos)
        if version >= 2 { w.append(b.clockSynchronized == true ? 1 : b.clockSynchronized == false ? 0 : 2) }
        try putString(&w, b.cameraID)
        put64(&w, b.watchlistVersion)
        w += b.entryID
        put32(&w, b.score.bitPattern); put32(&w, b.threshold.bitPattern)
        try putString(&w, b.embedderID)
        put32(&w, b.quality.bitPattern)
        for v in b.box { put32(&w, v.bitPattern) }
        w.append(b.mode.rawValue)
        try putString(&w, HitBody.marker)
        w += b.auditHead
        put32(&w, UInt32(b.crop.count)); w += b.crop
        // NaN = unknown; a known rate is in [0, 1].
        for r in [b.estimatedFalseMatchRate, b.operatingPoint] {
            if let r { guard r.isFinite, r >= 0, r <= 1 else { throw .sealing("false-match rate \(r) outside [0, 1]") } }
        }
        if version >= 3 {
            put64(&w, (b.estimatedFalseMatchRate ?? .nan).bitPattern)
            put64(&w, (b.operatingPoint ?? .nan).bitPattern)
        }
        return w
    }

    package static func decodeBody(_ p: [UInt8]) throws(HitRecordError) -> HitBody {
        var o = 0
        func need(_ n: Int) throws(HitRecordError) { guard o + n <= p.count else { throw .badField("body truncated at byte \(o)") } }
        func string() throws(HitRecordError) -> String {
            try need(1)
            let n = Int(p[o]); o += 1
            try need(n)
            let s = Array(p[o..<o + n]); o += n
            guard s.allSatisfy({ $0 >= 0x20 && $0 <= 0x7e }) else { throw .badField("non-printable text in the body") }
            return String(decoding: s, as: UTF8.self)
        }
        try need(2)
        let version = get16(p, &o)
        guard version >= 1, version <= 3 else { throw .badField("body version \(version)") }
        try need(16)
        let wall = Int64(bitPattern: get64(p, &o)), mono = get64(p, &o)
        var synchronized: Bool?
        if version >= 2 {
            try need(1)
            switch p[o] {
            case 0: synchronized = false
            case 1: synchronized = true
            case 2: synchronized = nil
            default: throw .badField("clock trust \(p[o])")
            }
            o += 1
        }
        let camera = try string()
        try need(8 + 16 + 8)
        let wv = get64(p, &o)
        let entry = Array(p[o..<o + 16]); o += 16
        let score = Float(bitPattern: get32(p, &o)), threshold = Float(bitPattern: get32(p, &o))
        let embedder = try string()
        try need(4 + 16 + 1)
        let quality = Float(bitPattern: get32(p, &o))
        let box = (0..<4).map { _ in Float(bitPattern: get32(p, &o)) }
        guard let mode = WatchlistMode(rawValue: p[o]) else { throw .badField("mode \(p[o])") }
        o += 1
        let marker = try string()
        guard marker == HitBody.marker else { throw .badField("the human-review marker is missing") }
        try need(32 + 4)
        let head = Array(p[o..<o + 32]); o += 32
        let cropCount = Int(get32(p, &o))
        try need(cropCount)
        let crop = Array(p[o..<o + cropCount]); o += cropCount
        var rates: [Double?] = [nil, nil]
        if version >= 3 {
            try need(16)
            for i in 0..<2 {
                let r = Double(bitPattern: get64(p, &o))
                guard r.isNaN || (r >= 0 && r <= 1) else { throw .badField("false-match rate \(r) outside [0, 1]") }
                rates[i] = r.isNaN ? nil : r
            }
        }
        guard o == p.count else { throw .badField("\(p.count - o) bytes after the body") }
        guard score.isFinite, threshold.isFinite, quality.isFinite, box.allSatisfy(\.isFinite) else { throw .badField("non-finite number") }
        return HitBody(captureWallMillis: wall, captureMonotonicNanos: mono, cameraID: camera, watchlistVersion: wv, entryID: entry,
                       score: score, threshold: threshold, embedderID: embedder, quality: quality, box: box, mode: mode,
                       auditHead: head, crop: crop, clockSynchronized: synchronized,
                       estimatedFalseMatchRate: rates[0], operatingPoint: rates[1])
    }
}

/// A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, 74 random bits — sortable by time,
/// unique without coordination.
public func makeUUIDv7(millis: Int64) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 16)
    for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: UInt64(bitPattern: millis) >> (8 * UInt64(5 - i))) }
    var g = SystemRandomNumberGenerator()
    for i in 6..<16 { b[i] = UInt8.random(in: 0...255, using: &g) }
    b[6] = 0x70 | (b[6] & 0x0f)
    b[8] = 0x80 | (b[8] & 0x3f)
    return b
}

public func uuidString(_ b: [UInt8]) -> String {
    let h = Watchlist.hex(b)
    let c = Array(h)
    return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
}

func put16(_ w: inout [UInt8], _ v: UInt16) { w.append(UInt8(v & 0xff)); w.append(UInt8(v >> 8)) }
func put32(_ w: inout [UInt8], _ v: UInt32) { put16(&w, UInt16(v & 0xffff)); put16(&w, UInt16(v >> 16)) }
func put64(_ w: inout [UInt8], _ v: UInt64) { put32(&w, UInt32(v & 0xffff_ffff)); put32(&w, UInt32(v >> 32)) }
func putString(_ w: inout [UInt8], _ s: String) throws(HitRecordError) {
    let b = Array(s.utf8)
    guard SealedText.accepts(b) else { throw .sealing("text field '\(s.prefix(20))' not printable ASCII ≤ 255") }
    w.append(UInt8(b.count)); w += b
}
func get16(_ b: [UInt8], _ o: inout Int) -> UInt16 { defer { o += 2 }; return UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
func get32(_ b: [UInt8], _ o: inout Int) -> UInt32 { UInt32(get16(b, &o)) | UInt32(get16(b, &o)) << 16 }
func get64(_ b: [UInt8], _ o: inout Int) -> UInt64 { UInt64(get32(b, &o)) | UInt64(get32(b, &o)) << 32 }
