/// A minimal JSON value for the CLI's `--json` output (one object per line). Written by hand to
/// keep Foundation out of the binary; numbers print with up to 6 significant decimals and no
/// exponent, strings are escaped per RFC 8259.
public indirect enum JSON: Equatable, Sendable {
    case string(String)
    case number(Double)
    case int(Int)
    /// A count that may exceed Int64 (a record's sequence number).
    case uint(UInt64)
    /// Shortest round-trip decimal of a Float or Double (a score, a rate of 1e-7): exact where
    /// `number`'s six decimals would print 0.
    case float(Float)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool { a.text == b.text }

    public var text: String {
        switch self {
        case .string(let s): return Self.quote(s)
        case .number(let d): return Self.number(d)
        case .int(let i): return String(i)
        case .uint(let u): return String(u)
        case .float(let f): return f.isFinite ? "\(f)" : "null"
        case .double(let d): return d.isFinite ? "\(d)" : "null"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let a): return "[" + a.map(\.text).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.map { Self.quote($0.0) + ": " + $0.1.text }.joined(separator: ", ") + "}"
        }
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    static func number(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) }
        // Six decimals, trailing zeros trimmed.
        let scaled = (abs(d) * 1_000_000).rounded()
        var whole = String(Int(scaled / 1_000_000))
        var frac = String(Int(scaled.truncatingRemainder(dividingBy: 1_000_000)))
        frac = String(repeating: "0", count: 6 - frac.count) + frac
        while frac.hasSuffix("0") { frac.removeLast() }
        if d < 0 { whole = "-" + whole }
        return frac.isEmpty ? whole : whole + "." + frac
    }
}
