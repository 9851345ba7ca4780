// The rule for text that travels inside a sealed hit record (camera name, embedder id, the
// review marker).
//
// A record stores each text field as one length byte followed by printable ASCII
// (docs/HIT-RECORD.md), and the agency's reader refuses anything else. The sealing code and every
// producer of such text — the configuration's camera names and device id — check this one rule,
// so a value the configuration accepts can never make every hit fail to seal later (issue 16).

public enum SealedText {
    /// The longest text field a record holds: its length is one byte.
    public static let maxBytes = 255

    /// Printable ASCII, space to tilde: nothing a terminal interprets, no encoding to agree on.
    @inlinable
    public static func isAllowed(_ byte: UInt8) -> Bool { byte >= 0x20 && byte <= 0x7E }

    /// Whether `bytes` (UTF-8) can be sealed as a text field.
    @inlinable
    public static func accepts<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        bytes.count <= maxBytes && bytes.allSatisfy(isAllowed)
    }

    /// Why `text` cannot be sealed (one sentence for a configuration error), or nil when it can.
    public static func problem(_ text: String) -> String? {
        if let bad = text.unicodeScalars.first(where: { !$0.isASCII || !isAllowed(UInt8($0.value)) }) {
            let code = String(bad.value, radix: 16, uppercase: true)
            return "only printable ASCII is allowed (hit records carry this text): U+" + String(repeating: "0", count: max(0, 4 - code.count)) + code + " is not"
        }
        if text.utf8.count > maxBytes { return "longer than \(maxBytes) bytes (a hit record holds at most \(maxBytes))" }
        return nil
    }
}
