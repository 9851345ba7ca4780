/// Text from outside (file names from a WebDAV drop any fleet certificate can PUT to, camera
/// names in records a device signed, paths typed by an operator) made safe to print to a
/// reviewer's terminal: a name must never move the cursor, rewrite a line, change the title or
/// smuggle an OSC-8 link, and must never reorder what follows it (bidirectional overrides).
///
/// Every C0 control but newline, DEL, every C1 control (U+0080–U+009F: 8-bit CSI and OSC) and the
/// bidirectional embedding / override / isolate characters are shown as `\u{XX}`, and a
/// backslash as `\\`, so the escaped form is unambiguous: two different names never print the
/// same. Everything else, including any other non-ASCII letter, is printed as it is.
public enum TerminalText {
    /// `s` with the characters above escaped. For a whole message written by Vigil around
    /// untrusted parts (the CLI's error lines), `message: true` leaves newlines and backslashes
    /// alone: nothing can then be hidden or rewritten, though a name may look like another.
    public static func safe(_ s: String, message: Bool = false) -> String {
        let keepNewlines = message
        guard s.unicodeScalars.contains(where: { needsEscape($0, keepNewlines: keepNewlines) || (!message && $0 == "\\") }) else { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            if u == "\\" && !message {
                out.append("\\"); out.append("\\")
            } else if needsEscape(u, keepNewlines: keepNewlines) {
                for c in "\\u{\(String(u.value, radix: 16))}".unicodeScalars { out.append(c) }
            } else {
                out.append(u)
            }
        }
        return String(out)
    }

    static func needsEscape(_ u: Unicode.Scalar, keepNewlines: Bool) -> Bool {
        switch u.value {
        case 0x0A: return !keepNewlines
        case 0x00..<0x20, 0x7F, 0x80..<0xA0: return true
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: return true
        default: return false
        }
    }
}
