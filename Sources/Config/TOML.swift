// A small, strict TOML reader for Vigil's configuration files.
//
// Why our own and not TOMLKit (toml++): every configuration error a field technician sees must
// name the file, the line and the key — including *semantic* errors found after parsing (a value
// out of range, an unknown key). That needs the line of every key and value, which TOMLKit does not
// expose. The subset is TOML 1.0 minus what a device configuration never needs (multi-line strings,
// dates and times): those are refused with a clear error instead of being half-supported. The
// reader is also a target for fuzzing (outside bytes), so it is plain Swift over bytes, with
// bounded nesting, no recursion on untrusted depth beyond `maxDepth`.

/// A parse error: where, and what.
public struct TOMLError: Error, Equatable, CustomStringConvertible, Sendable {
    public var line: Int
    public var column: Int
    public var message: String
    public init(line: Int, column: Int, message: String) {
        self.line = line; self.column = column; self.message = message
    }
    public var description: String { "line \(line), column \(column): \(message)" }
}

/// A value with the line it was written on.
public struct TOMLNode: Sendable {
    public enum Value: Sendable {
        case string(String)
        case integer(Int64)
        case float(Double)
        case boolean(Bool)
        case array([TOMLNode])
        case table(TOMLTable)
    }
    public var value: Value
    public var line: Int

    /// The TOML type name, for error messages ("expected an integer, found a string").
    public var typeName: String {
        switch value {
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a float"
        case .boolean: return "a boolean"
        case .array: return "an array"
        case .table: return "a table"
        }
    }
}

/// A table: keys in the order they were written, each with its node.
public final class TOMLTable: @unchecked Sendable {
    public private(set) var keys: [String] = []
    private var entries: [String: Entry] = [:]
    /// Line of the header (or first dotted key) that created it; 0 for the root.
    public let line: Int
    /// Created by a `[header]` (or is the root / an inline table): it may not be defined again.
    fileprivate var explicit: Bool
    /// Inline tables are closed: nothing may be added after the closing brace.
    fileprivate var sealed = false

    fileprivate enum Entry {
        case node(TOMLNode)
        case table(TOMLTable)
        case tableArray([TOMLTable], line: Int)
    }

    init(line: Int, explicit: Bool) { self.line = line; self.explicit = explicit }

    /// The node under `key`; tables and arrays of tables come back as nodes too.
    public subscript(key: String) -> TOMLNode? {
        switch entries[key] {
        case .node(let n): return n
        case .table(let t): return TOMLNode(value: .table(t), line: t.line)
        case .tableArray(let ts, let line):
            return TOMLNode(value: .array(ts.map { TOMLNode(value: .table($0), line: $0.line) }), line: line)
        case nil: return nil
        }
    }

    fileprivate func entry(_ key: String) -> Entry? { entries[key] }
    fileprivate func set(_ key: String, _ e: Entry) {
        if entries[key] == nil { keys.append(key) }
        entries[key] = e
    }
}

/// Parses TOML text. Throws at the first error, with its line and column.
public func parseTOML(_ text: String) throws(TOMLError) -> TOMLTable {
    var p = TOMLParser(Array(text.utf8))
    return try p.parseDocument()
}

struct TOMLParser {
    let b: [UInt8]
    var i = 0
    var line = 1
    var lineStart = 0
    static let maxDepth = 32

    init(_ bytes: [UInt8]) { b = bytes }

    var column: Int { i - lineStart + 1 }
    func error(_ message: String) -> TOMLError { TOMLError(line: line, column: column, message: message) }
    var atEnd: Bool { i >= b.count }
    var peek: UInt8? { i < b.count ? b[i] : nil }
    func peek(_ k: Int) -> UInt8? { i + k < b.count ? b[i + k] : nil }

    mutating func skipSpaces() {
        while let c = peek, c == 0x20 || c == 0x09 { i += 1 }
    }

    /// Skips a comment to the end of the line (not the newline). Control characters other than tab
    /// are not allowed in comments (TOML 1.0).
    mutating func skipComment() throws(TOMLError) {
        guard peek == UInt8(ascii: "#") else { return }
        while let c = peek, c != 0x0A {
            if c == 0x0D && peek(1) == 0x0A { break }
            if (c < 0x20 && c != 0x09) || c == 0x7F { throw error("control character in a comment") }
            i += 1
        }
    }

    /// Consumes one newline (LF or CRLF); false if there is none here.
    mutating func newline() -> Bool {
        if peek == 0x0A { i += 1; line += 1; lineStart = i; return true }
        if peek == 0x0D && peek(1) == 0x0A { i += 2; line += 1; lineStart = i; return true }
        return false
    }

    /// Whitespace, comments and newlines (between statements and inside arrays).
    mutating func skipBlank() throws(TOMLError) {
        while true {
            skipSpaces()
            try skipComment()
            if !newline() { return }
        }
    }

    /// After a statement: spaces, an optional comment, then a newline or the end.
    mutating func endOfLine() throws(TOMLError) {
        skipSpaces()
        try skipComment()
        if atEnd { return }
        if !newline() { throw error("expected the end of the line after the value, found \(describe(peek!))") }
    }

    func describe(_ c: UInt8) -> String {
        if c >= 0x21 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        if c == 0x20 { return "a space" }
        return "byte 0x" + String(c, radix: 16)
    }

    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3; lineStart = 3 }  // UTF-8 BOM
        let root = TOMLTable(line: 0, explicit: true)
        var current = root
        while true {
            try skipBlank()
            guard let c = peek else { break }
            if c == UInt8(ascii: "[") {
                let headerLine = line
                if peek(1) == UInt8(ascii: "[") {
                    i += 2; skipSpaces()
                    let path = try parseKey()
                    skipSpaces()
                    guard peek == UInt8(ascii: "]"), peek(1) == UInt8(ascii: "]") else { throw error("expected ']]' to close the array-of-tables header") }
                    i += 2
                    current = try appendTableArray(root, path, line: headerLine)
                } else {
                    i += 1; skipSpaces()
                    let path = try parseKey()
                    skipSpaces()
                    guard peek == UInt8(ascii: "]") else { throw error("expected ']' to close the table header") }
                    i += 1
                    current = try defineTable(root, path, line: headerLine)
                }
                try endOfLine()
            } else {
                try parseKeyValue(into: current)
                try endOfLine()
            }
        }
        return root
    }

    // MARK: keys

    mutating func parseKey() throws(TOMLError) -> [String] {
        var parts: [String] = []
        while true {
            skipSpaces()
            parts.append(try parseSimpleKey())
            skipSpaces()
            if peek == UInt8(ascii: ".") { i += 1; continue }
            return parts
        }
    }

    mutating func parseSimpleKey() throws(TOMLError) -> String {
        guard let c = peek else { throw error("expected a key, found the end of the file") }
        if c == UInt8(ascii: "\"") { return try parseBasicString() }
        if c == UInt8(ascii: "'") { return try parseLiteralString() }
        let start = i
        while let c = peek, isBareKeyChar(c) { i += 1 }
        if i == start { throw error("expected a key, found \(describe(c))") }
        return String(decoding: b[start..<i], as: UTF8.self)
    }

    func isBareKeyChar(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D
    }

    mutating func parseKeyValue(into table: TOMLTable) throws(TOMLError) {
        let keyLine = line
        let keyColumn = column
        let path = try parseKey()
        skipSpaces()
        guard peek == UInt8(ascii: "=") else {
            throw error(atEnd || peek == 0x0A || peek == 0x0D ? "expected '=' after the key '\(path.joined(separator: "."))'" : "expected '=' after the key, found \(describe(peek!))")
        }
        i += 1
        skipSpaces()
        let node = try parseValue(depth: 0)
        var t = table
        for (n, part) in path.dropLast().enumerated() {
            switch t.entry(part) {
            case nil:
                let sub = TOMLTable(line: keyLine, explicit: false)
                t.set(part, .table(sub)); t = sub
            case .table(let sub) where !sub.sealed:
                t = sub
            default:
                throw TOMLError(line: keyLine, column: keyColumn, message: "'\(path.prefix(n + 1).joined(separator: "."))' is already defined as a value, not a table")
            }
        }
        let last = path.last!
        if let existing = t.entry(last) {
            throw TOMLError(line: keyLine, column: keyColumn, message: "duplicate key '\(path.joined(separator: "."))' (first defined on line \(lineOf(existing)))")
        }
        t.set(last, .node(node))
    }

    fileprivate func lineOf(_ e: TOMLTable.Entry) -> Int {
        switch e {
        case .node(let n): return n.line
        case .table(let t): return t.line
        case .tableArray(_, let l): return l
        }
    }

    mutating func defineTable(_ root: TOMLTable, _ path: [String], line headerLine: Int) throws(TOMLError) -> TOMLTable {
        var t = root
        for (n, part) in path.enumerated() {
            let isLast = n == path.count - 1
            switch t.entry(part) {
            case nil:
                let sub = TOMLTable(line: headerLine, explicit: isLast)
                t.set(part, .table(sub)); t = sub
            case .table(let sub):
                if sub.sealed { throw TOMLError(line: headerLine, column: 1, message: "'\(path.prefix(n + 1).joined(separator: "."))' is an inline table and cannot be extended") }
                if isLast {
                    if sub.explicit { throw TOMLError(line: headerLine, column: 1, message: "table [\(path.joined(separator: "."))] is defined twice (first on line \(sub.line))") }
                    sub.explicit = true
                }
                t = sub
            case .tableArray(let ts, _):
                if isLast { throw TOMLError(line: headerLine, column: 1, message: "'\(path.joined(separator: "."))' is an array of tables, not a table") }
                t = ts.last!
            case .node(let node):
                throw TOMLError(line: headerLine, column: 1, message: "'\(path.prefix(n + 1).joined(separator: "."))' is already a value (line \(node.line)), not a table")
            }
        }
        return t
    }

    mutating func appendTableArray(_ root: TOMLTable, _ path: [String], line headerLine: Int) throws(TOMLError) -> TOMLTable {
        var t = root
        for (n, part) in path.enumerated() {
            let isLast = n == path.count - 1
            switch t.entry(part) {
            case nil:
                if isLast {
                    let sub = TOMLTable(line: headerLine, explicit: true)
                    t.set(part, .tableArray([sub], line: headerLine)); return sub
                }
                let sub = TOMLTable(line: headerLine, explicit: false)
                t.set(part, .table(sub)); t = sub
            case .tableArray(let ts, let l):
                if isLast {
                    let sub = TOMLTable(line: headerLine, explicit: true)
                    t.set(part, .tableArray(ts + [sub], line: l)); return sub
                }
                t = ts.last!
            case .table(let sub):
                if isLast { throw TOMLError(line: headerLine, column: 1, message: "'\(path.joined(separator: "."))' is a table (line \(sub.line)), not an array of tables") }
                t = sub
            case .node(let node):
                throw TOMLError(line: headerLine, column: 1, message: "'\(path.prefix(n + 1).joined(separator: "."))' is already a value (line \(node.line))")
            }
        }
        return t
    }

    // MARK: values

    mutating func parseValue(depth: Int) throws(TOMLError) -> TOMLNode {
        if depth > Self.maxDepth { throw error("values nested more than \(Self.maxDepth) deep") }
        let valueLine = line
        guard let c = peek else { throw error("expected a value, found the end of the file") }
        switch c {
        case UInt8(ascii: "\""):
            if peek(1) == 0x22 && peek(2) == 0x22 { throw error("multi-line strings are not supported in Vigil's configuration") }
            return TOMLNode(value: .string(try parseBasicString()), line: valueLine)
        case UInt8(ascii: "'"):
            if peek(1) == 0x27 && peek(2) == 0x27 { throw error("multi-line strings are not supported in Vigil's configuration") }
            return TOMLNode(value: .string(try parseLiteralString()), line: valueLine)
        case UInt8(ascii: "["):
            i += 1
            var items: [TOMLNode] = []
            while true {
                try skipBlank()
                if peek == UInt8(ascii: "]") { i += 1; break }
                items.append(try parseValue(depth: depth + 1))
                try skipBlank()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                if peek == UInt8(ascii: "]") { i += 1; break }
                throw error(atEnd ? "unterminated array (opened on line \(valueLine))" : "expected ',' or ']' in the array, found \(describe(peek!))")
            }
            return TOMLNode(value: .array(items), line: valueLine)
        case UInt8(ascii: "{"):
            i += 1
            let t = TOMLTable(line: valueLine, explicit: true)
            skipSpaces()
            if peek == UInt8(ascii: "}") { i += 1; t.sealed = true; return TOMLNode(value: .table(t), line: valueLine) }
            while true {
                skipSpaces()
                let keyLine = line
                let path = try parseKey()
                skipSpaces()
                guard peek == UInt8(ascii: "=") else { throw error("expected '=' in the inline table") }
                i += 1; skipSpaces()
                let v = try parseValue(depth: depth + 1)
                var tt = t
                for part in path.dropLast() {
                    if case .table(let sub)? = tt.entry(part) { tt = sub; continue }
                    if tt.entry(part) != nil { throw TOMLError(line: keyLine, column: column, message: "'\(part)' is already a value") }
                    let sub = TOMLTable(line: keyLine, explicit: false)
                    tt.set(part, .table(sub)); tt = sub
                }
                if tt.entry(path.last!) != nil { throw TOMLError(line: keyLine, column: column, message: "duplicate key '\(path.joined(separator: "."))' in the inline table") }
                tt.set(path.last!, .node(v))
                skipSpaces()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                if peek == UInt8(ascii: "}") { i += 1; break }
                throw error("expected ',' or '}' in the inline table (inline tables stay on one line)")
            }
            t.sealed = true
            return TOMLNode(value: .table(t), line: valueLine)
        case UInt8(ascii: "t"):
            if b[i...].starts(with: Array("true".utf8)) && !isBareKeyChar(peek(4) ?? 0x20) { i += 4; return TOMLNode(value: .boolean(true), line: valueLine) }
        case UInt8(ascii: "f"):
            if b[i...].starts(with: Array("false".utf8)) && !isBareKeyChar(peek(5) ?? 0x20) { i += 5; return TOMLNode(value: .boolean(false), line: valueLine) }
        default:
            break
        }
        if c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "i") || c == UInt8(ascii: "n") {
            return TOMLNode(value: try parseNumber(), line: valueLine)
        }
        // an unquoted word: say what was probably meant
        let start = i
        while let c = peek, isBareKeyChar(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "/") { i += 1 }
        if i > start {
            let word = String(decoding: b[start..<i], as: UTF8.self)
            i = start
            throw error("'\(word)' is not a value: strings need quotes (\"\(word)\")")
        }
        throw error("expected a value, found \(describe(c))")
    }

    mutating func parseNumber() throws(TOMLError) -> TOMLNode.Value {
        let start = i
        while let c = peek, !(c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == UInt8(ascii: ",") || c == UInt8(ascii: "]") || c == UInt8(ascii: "}") || c == UInt8(ascii: "#")) { i += 1 }
        let text = String(decoding: b[start..<i], as: UTF8.self)
        let fail = TOMLError(line: line, column: start - lineStart + 1, message: "'\(text)' is not a valid number")
        if text.contains(":") || (text.count >= 8 && text.dropFirst(4).first == "-") {
            throw TOMLError(line: line, column: start - lineStart + 1, message: "dates and times are not supported in Vigil's configuration ('\(text)')")
        }
        var body = Substring(text)
        var negative = false
        if body.first == "+" || body.first == "-" { negative = body.first == "-"; body = body.dropFirst() }
        switch body {
        case "inf": return .float(negative ? -.infinity : .infinity)
        case "nan": return .float(.nan)
        default: break
        }
        // underscores only between digits
        if body.hasPrefix("_") || body.hasSuffix("_") || body.contains("__") { throw fail }
        for (a, c) in zip(body, body.dropFirst()) where (a == "_" && !c.isHexDigit) || (c == "_" && !a.isHexDigit) { throw fail }
        let clean = body.filter { $0 != "_" }
        if clean.hasPrefix("0x") || clean.hasPrefix("0o") || clean.hasPrefix("0b") {
            if text.first == "+" || text.first == "-" { throw fail }
            let radix = clean.hasPrefix("0x") ? 16 : clean.hasPrefix("0o") ? 8 : 2
            guard let v = Int64(clean.dropFirst(2), radix: radix) else { throw fail }
            return .integer(v)
        }
        let isFloat = clean.contains(".") || clean.contains("e") || clean.contains("E")
        if !isFloat {
            guard !clean.isEmpty, clean.allSatisfy(\.isASCII), clean.allSatisfy(\.isNumber) else { throw fail }
            if clean.count > 1 && clean.hasPrefix("0") { throw TOMLError(line: fail.line, column: fail.column, message: "'\(text)': leading zeros are not allowed") }
            guard let v = Int64((negative ? "-" : "") + clean) else {
                throw TOMLError(line: fail.line, column: fail.column, message: "'\(text)' does not fit in a 64-bit integer")
            }
            return .integer(v)
        }
        // float: digits [. digits] [e [+-] digits]
        let chars = Array(clean.utf8)
        var k = 0
        func digits() -> Int { let s = k; while k < chars.count, chars[k] >= 0x30, chars[k] <= 0x39 { k += 1 }; return k - s }
        let intDigits = digits()
        guard intDigits > 0 else { throw fail }
        if intDigits > 1 && chars[0] == 0x30 { throw fail }
        if k < chars.count && chars[k] == UInt8(ascii: ".") { k += 1; guard digits() > 0 else { throw fail } }
        if k < chars.count && (chars[k] == UInt8(ascii: "e") || chars[k] == UInt8(ascii: "E")) {
            k += 1
            if k < chars.count && (chars[k] == UInt8(ascii: "+") || chars[k] == UInt8(ascii: "-")) { k += 1 }
            guard digits() > 0 else { throw fail }
        }
        guard k == chars.count, let v = Double(clean) else { throw fail }
        return .float(negative ? -v : v)
    }

    mutating func parseBasicString() throws(TOMLError) -> String {
        let open = line
        i += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw TOMLError(line: open, column: column, message: "unterminated string") }
            if c == 0x0A || c == 0x0D { throw error("unterminated string (strings end on the line they start)") }
            if c == 0x22 { i += 1; break }
            if c == 0x5C {
                i += 1
                guard let e = peek else { throw error("unterminated string") }
                i += 1
                switch e {
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let n = e == UInt8(ascii: "u") ? 4 : 8
                    guard i + n <= b.count, let v = UInt32(String(decoding: b[i..<i + n], as: UTF8.self), radix: 16),
                          let scalar = Unicode.Scalar(v) else { throw error("invalid \\\(Character(Unicode.Scalar(e))) escape") }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    i += n
                default:
                    i -= 1
                    throw error("invalid escape \\\(Character(Unicode.Scalar(e)))")
                }
                continue
            }
            if (c < 0x20 && c != 0x09) || c == 0x7F { throw error("control character in a string (use an escape)") }
            out.append(c); i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func parseLiteralString() throws(TOMLError) -> String {
        i += 1
        let start = i
        while true {
            guard let c = peek else { throw error("unterminated string") }
            if c == 0x0A || c == 0x0D { throw error("unterminated string (strings end on the line they start)") }
            if c == 0x27 { break }
            if (c < 0x20 && c != 0x09) || c == 0x7F { throw error("control character in a string") }
            i += 1
        }
        let s = String(decoding: b[start..<i], as: UTF8.self)
        i += 1
        return s
    }
}

// MARK: writing

/// TOML text for a string (basic string, escaped).
public func tomlQuote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if u.value < 0x20 || u.value == 0x7F {
                let h = String(u.value, radix: 16, uppercase: true)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
