// The record format: building a line, hashing it, and parsing back exactly what we write.
// One record is one line of JSON with the keys in a fixed order:
//   {"seq":N,"time":"2026-11-27T18:00:00.123Z","mono_ns":N,"event":"e","data":{...},"prev":"<64 hex>"}
// The fixed order and the fixed spelling are what make the tiny parser below sufficient: the
// verifier never needs a general JSON reader, and an edit that breaks the shape is reported as
// such instead of being "understood" by a lenient parser.
import Crypto

/// SHA-256 of a record line (without its newline): the `prev` of the next record.
public func auditLineHash<C: Collection>(_ line: C) -> [UInt8] where C.Element == UInt8 {
    Array(SHA256.hash(data: Array(line)))
}

/// The `prev` of the first record of a fresh log.
public let auditZeroHash = [UInt8](repeating: 0, count: 32)

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

/// The value of one lower-case hex digit (the only case the log writes).
func hexNibble(_ b: UInt8) -> UInt8? {
    switch b {
    case 0x30...0x39: b - 0x30
    case 0x61...0x66: b - 0x61 + 10
    default: nil
    }
}

/// Lower-case hex of `bytes`.
public func auditHex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes { out.append(hexDigits[Int(b >> 4)]); out.append(hexDigits[Int(b & 0xF)]) }
    return String(decoding: out, as: UTF8.self)
}

/// `value` in decimal, left-padded with zeros to `width` digits.
func zeroPadded(_ value: some BinaryInteger, _ width: Int) -> String {
    let s = String(value)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`): no Foundation, no tz database, and UTC needs neither.
func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097                                  // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365  // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)            // [0, 365]
    let mp = (5 * doy + 2) / 153                                 // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1                         // [1, 31]
    let m = mp < 10 ? mp + 3 : mp - 9                            // [1, 12]
    return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
}

/// Wall-clock time as `2026-11-27T18:00:00.123Z` (UTC, milliseconds): what a person reading the
/// log compares with other logs; ordering and intervals come from `seq` and `mono_ns`.
public func auditTimestamp(seconds: Int64, nanos: Int32) -> String {
    var days = seconds / 86_400
    var secs = seconds % 86_400
    if secs < 0 { secs += 86_400; days -= 1 }
    let (y, mo, d) = civilFromDays(days)
    let ms = Int64(max(0, min(999_999_999, nanos))) / 1_000_000
    return zeroPadded(y, 4) + "-" + zeroPadded(mo, 2) + "-" + zeroPadded(d, 2) + "T"
        + zeroPadded(secs / 3600, 2) + ":" + zeroPadded(secs / 60 % 60, 2) + ":" + zeroPadded(secs % 60, 2)
        + "." + zeroPadded(ms, 3) + "Z"
}

/// Builds one record line (without the newline).
func formatRecord(seq: UInt64, time: String, monoNanos: UInt64, event: String,
                  fields: [(String, AuditValue)], prev: [UInt8]) -> String {
    var s = "{\"seq\":" + String(seq) + ",\"time\":\"" + time + "\",\"mono_ns\":" + String(monoNanos)
    s += ",\"event\":" + jsonString(event) + ",\"data\":{"
    for (i, (k, v)) in fields.enumerated() {
        if i > 0 { s += "," }
        s += jsonString(k) + ":" + v.json
    }
    s += "},\"prev\":\"" + auditHex(prev) + "\"}"
    return s
}

/// What the verifier and the log need from a line: its sequence number and its `prev`.
public struct ParsedAuditRecord: Equatable, Sendable {
    public var seq: UInt64
    public var prev: [UInt8]
    public var event: String
    /// The data fields whose value is a string, unescaped only if it needed no escapes (the log's
    /// own records — `audit.pruned` — put sequence numbers there, as decimal strings, because a
    /// seq can exceed an `.int`).
    public var strings: [String: String] = [:]

    /// A field written as a decimal string by the log itself, or nil.
    func sequenceField(_ key: String) -> UInt64? { strings[key].flatMap { UInt64($0) } }
}

/// Parses a record line in exactly the format `formatRecord` writes. Returns the record or a
/// short reason naming the byte offset where the shape broke.
public func parseAuditRecord<C: Collection>(_ line: C) -> (record: ParsedAuditRecord?, error: String)
where C.Element == UInt8 {
    var p = RecordParser(bytes: Array(line))
    do throws(RecordParser.Failure) {
        return (try p.parse(), "")
    } catch {
        return (nil, error.message)
    }
}

struct RecordParser {
    struct Failure: Error { var message: String }
    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parse() throws(Failure) -> ParsedAuditRecord {
        try literal("{\"seq\":")
        let seq = try number()
        try literal(",\"time\":\"")
        try timestamp()
        try literal("\",\"mono_ns\":")
        _ = try number()
        try literal(",\"event\":")
        let eventStart = i
        try string()
        let event = String(decoding: bytes[(eventStart + 1)..<(i - 1)], as: UTF8.self)
        guard i - eventStart > 2 else { throw Failure(message: "empty event name at byte \(eventStart)") }
        try literal(",\"data\":")
        let strings = try object()
        try literal(",\"prev\":\"")
        var prev: [UInt8] = []
        prev.reserveCapacity(32)
        for _ in 0..<32 {
            guard let hi = hexValue(at: i), let lo = hexValue(at: i + 1) else {
                throw Failure(message: "prev is not 64 lower-case hex digits (byte \(i))")
            }
            prev.append(hi << 4 | lo)
            i += 2
        }
        try literal("\"}")
        guard i == bytes.count else { throw Failure(message: "trailing bytes after the record (byte \(i))") }
        return ParsedAuditRecord(seq: seq, prev: prev, event: event, strings: strings)
    }

    func hexValue(at j: Int) -> UInt8? { j < bytes.count ? hexNibble(bytes[j]) : nil }

    mutating func literal(_ s: StaticString) throws(Failure) {
        let lit = UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
        guard bytes.count - i >= lit.count, bytes[i..<(i + lit.count)].elementsEqual(lit) else {
            throw Failure(message: "expected \(s) at byte \(i)")
        }
        i += lit.count
    }

    /// An unsigned decimal without leading zeros.
    mutating func number() throws(Failure) -> UInt64 {
        let start = i
        var v: UInt64 = 0
        while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[i] - 0x30))
            guard !o1 && !o2 else { throw Failure(message: "number too large at byte \(start)") }
            v = a
            i += 1
        }
        guard i > start else { throw Failure(message: "expected a number at byte \(start)") }
        guard !(bytes[start] == 0x30 && i - start > 1) else { throw Failure(message: "leading zero at byte \(start)") }
        return v
    }

    /// `dddd-dd-ddTdd:dd:dd.dddZ`
    mutating func timestamp() throws(Failure) {
        let pattern = Array("dddd-dd-ddTdd:dd:dd.dddZ".utf8)
        guard bytes.count - i >= pattern.count else { throw Failure(message: "bad time at byte \(i)") }
        for (k, c) in pattern.enumerated() {
            let b = bytes[i + k]
            let ok = c == 0x64 ? (b >= 0x30 && b <= 0x39) : b == c
            guard ok else { throw Failure(message: "bad time at byte \(i + k)") }
        }
        i += pattern.count
    }

    /// A JSON string as `jsonString` writes it (escapes: \" \\ \uXXXX; also accepts the other
    /// standard short escapes). Raw control characters are refused: we never write them.
    mutating func string() throws(Failure) {
        guard i < bytes.count, bytes[i] == 0x22 else { throw Failure(message: "expected a string at byte \(i)") }
        i += 1
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case 0x22: i += 1; return
            case 0x5C:
                guard i + 1 < bytes.count else { throw Failure(message: "unterminated string") }
                switch bytes[i + 1] {
                case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: i += 2
                case 0x75:
                    for k in 2...5 {
                        guard i + k < bytes.count, hexDigit(bytes[i + k]) else {
                            throw Failure(message: "bad \\u escape at byte \(i)")
                        }
                    }
                    i += 6
                default: throw Failure(message: "bad escape at byte \(i)")
                }
            case 0x00..<0x20: throw Failure(message: "raw control character in a string at byte \(i)")
            default: i += 1
            }
        }
        throw Failure(message: "unterminated string")
    }

    func hexDigit(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46)
    }

    /// `{}` or `{"k":v,...}` with v a string, an integer, true, false or null. Returns the
    /// string fields that contain no escapes (keys likewise), the only ones the log reads back.
    mutating func object() throws(Failure) -> [String: String] {
        guard i < bytes.count, bytes[i] == 0x7B else { throw Failure(message: "expected { at byte \(i)") }
        i += 1
        var strings: [String: String] = [:]
        if i < bytes.count, bytes[i] == 0x7D { i += 1; return strings }
        while true {
            let keyStart = i
            try string()
            let key = bytes[(keyStart + 1)..<(i - 1)]
            try literal(":")
            let valueStart = i
            try value()
            if bytes[valueStart] == 0x22, !key.contains(0x5C) {
                let v = bytes[(valueStart + 1)..<(i - 1)]
                if !v.contains(0x5C) { strings[String(decoding: key, as: UTF8.self)] = String(decoding: v, as: UTF8.self) }
            }
            guard i < bytes.count else { throw Failure(message: "unterminated data object") }
            if bytes[i] == 0x2C { i += 1; continue }
            if bytes[i] == 0x7D { i += 1; return strings }
            throw Failure(message: "expected , or } at byte \(i)")
        }
    }

    mutating func value() throws(Failure) {
        guard i < bytes.count else { throw Failure(message: "missing value") }
        switch bytes[i] {
        case 0x22: try string()
        case 0x2D, 0x30...0x39:
            if bytes[i] == 0x2D { i += 1 }
            _ = try number()
        case 0x74: try literal("true")
        case 0x66: try literal("false")
        case 0x6E: try literal("null")
        default: throw Failure(message: "bad value at byte \(i)")
        }
    }
}
