// The values a caller can attach to an audit record. Deliberately small: audit records are read
// by people and by `vigil audit verify`, not by a general JSON consumer, so there are no floats
// (their formatting is locale/precision trouble) and no nesting.

/// One field value of an audit record.
public enum AuditValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case null
    /// A secret that changed (a PIN, a key passphrase): the record says *that* it changed, never
    /// what it is. Written as the string `"***"`.
    case masked

    /// The JSON text of the value.
    public var json: String {
        switch self {
        case .string(let s): jsonString(s)
        case .int(let i): String(i)
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        case .masked: "\"***\""
        }
    }
}

extension AuditValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension AuditValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
}

extension AuditValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension AuditValue: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}

/// `s` as a JSON string literal, quotes included. Quotes and backslashes are escaped, every
/// control character (U+0000–U+001F, and DEL) becomes `\u00XX`, so a record is always exactly one
/// line whatever a caller passes (a user name with a newline cannot forge a second record).
/// Everything else is written as UTF-8 unchanged (Swift strings are always valid Unicode).
public func jsonString(_ s: String) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count + 2)
    out.append(0x22)
    let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    for b in s.utf8 {
        switch b {
        case 0x22: out += [0x5C, 0x22]
        case 0x5C: out += [0x5C, 0x5C]
        case 0x00..<0x20, 0x7F:
            out += [0x5C, 0x75, 0x30, 0x30, hexDigits[Int(b >> 4)], hexDigits[Int(b & 0xF)]]
        default: out.append(b)
        }
    }
    out.append(0x22)
    return String(decoding: out, as: UTF8.self)
}
