// PEM blocks, base64, fingerprints and UTC times: the small text formats a technician sees.
// Our own strict PEM reader (rather than the library's) so that every kind of bad file gets its
// own one-line answer: not PEM at all, DER where PEM was expected, cut short, or corrupt base64.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One `-----BEGIN LABEL----- … -----END LABEL-----` block, decoded.
public struct PEMBlock: Equatable, Sendable {
    public var label: String
    public var der: [UInt8]

    public init(label: String, der: [UInt8]) { self.label = label; self.der = der }

    /// Canonical PEM text: 64 base64 characters a line, ending in a newline.
    public var text: String {
        let b64 = base64Encode(der)
        var out = "-----BEGIN \(label)-----\n"
        var i = b64.startIndex
        while i < b64.endIndex {
            let j = b64.index(i, offsetBy: 64, limitedBy: b64.endIndex) ?? b64.endIndex
            out += b64[i..<j] + "\n"
            i = j
        }
        return out + "-----END \(label)-----\n"
    }
}

/// Every PEM block in `bytes` with one of `labels`. Text around the blocks (what `openssl x509
/// -text` prints, comments) is ignored. `path` only names the file in errors.
///
/// Errors: `.notPEM` when there is no block at all (with a hint when the file looks like DER),
/// `.truncated` when a block has no END line (a copy cut short: the most common field mistake),
/// `.malformed` when the base64 between the lines is not valid.
public func parsePEM(_ bytes: [UInt8], labels: Set<String>, path: String, expected: String) throws(ProvisioningError) -> [PEMBlock] {
    let text = String(decoding: bytes, as: UTF8.self)
    var blocks: [PEMBlock] = []
    var otherLabels: [String] = []
    var current: (label: String, body: String)?
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let line = String(raw).trimmingCharacters(in: [" ", "\t", "\r"])
        if let c = current {
            if line == "-----END \(c.label)-----" {
                guard let der = base64Decode(c.body), !der.isEmpty else {
                    throw .malformed(path: path, reason: "the base64 inside the \(c.label) block is corrupt")
                }
                if labels.contains(c.label) { blocks.append(PEMBlock(label: c.label, der: der)) } else { otherLabels.append(c.label) }
                current = nil
            } else if line.hasPrefix("-----") {
                throw .truncated(path: path, detail: "the \(c.label) block ends without its END line")
            } else if line.contains(":") {
                continue  // RFC 1421 headers (Proc-Type, DEK-Info): not in our files, skipped
            } else {
                current = (c.label, c.body + line)
            }
        } else if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----"), line.count > 16 {
            current = (String(line.dropFirst(11).dropLast(5)), "")
        }
    }
    if let c = current { throw .truncated(path: path, detail: "the \(c.label) block ends without its END line") }
    if blocks.isEmpty {
        let hint: String?
        if let other = otherLabels.first {
            hint = "it holds a \(other) block instead"
        } else if bytes.first == 0x30 {
            hint = "it looks like binary DER; convert it with openssl x509 -inform DER -in FILE -out FILE.pem"
        } else {
            hint = nil
        }
        throw .notPEM(path: path, expected: expected, hint: hint)
    }
    return blocks
}

extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

private let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

func base64Encode(_ bytes: [UInt8]) -> String {
    var out: [UInt8] = []
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var i = 0
    while i < bytes.count {
        let n = min(3, bytes.count - i)
        let b0 = bytes[i], b1 = n > 1 ? bytes[i + 1] : 0, b2 = n > 2 ? bytes[i + 2] : 0
        out.append(alphabet[Int(b0 >> 2)])
        out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
        out.append(n > 1 ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : 0x3D)
        out.append(n > 2 ? alphabet[Int(b2 & 63)] : 0x3D)
        i += 3
    }
    return String(decoding: out, as: UTF8.self)
}

/// Strict base64 (no whitespace inside, length a multiple of 4, padding only at the end); nil
/// when anything is off.
func base64Decode(_ s: String) -> [UInt8]? {
    let u = Array(s.utf8)
    guard u.count % 4 == 0 else { return nil }
    func v(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x41...0x5A: c - 0x41
        case 0x61...0x7A: c - 0x61 + 26
        case 0x30...0x39: c - 0x30 + 52
        case 0x2B: 62
        case 0x2F: 63
        default: nil
        }
    }
    var out: [UInt8] = []
    out.reserveCapacity(u.count / 4 * 3)
    var i = 0
    while i < u.count {
        let last = i + 4 == u.count
        let pad = last ? (u[i + 3] == 0x3D ? (u[i + 2] == 0x3D ? 2 : 1) : 0) : 0
        guard let a = v(u[i]), let b = v(u[i + 1]) else { return nil }
        out.append(a << 2 | b >> 4)
        if pad < 2 {
            guard let c = v(u[i + 2]) else { return nil }
            out.append((b & 15) << 4 | c >> 2)
            if pad < 1 {
                guard let d = v(u[i + 3]) else { return nil }
                out.append((c & 3) << 6 | d)
            }
        }
        i += 4
    }
    return out
}

/// "SHA256:ab12 cd34 … (16 groups)": the whole SHA-256 of `bytes` in groups of four hex digits,
/// so two people can read it to each other over a phone line and compare group by group.
/// (Full length on purpose: this is what stops a swapped CSR, so no truncation.)
public func groupedSHA256(_ bytes: [UInt8]) -> String {
    let h = SHA256.hash(data: bytes).map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
    var groups: [Substring] = []
    var i = h.startIndex
    while i < h.endIndex { let j = h.index(i, offsetBy: 4); groups.append(h[i..<j]); i = j }
    return "SHA256:" + groups.joined(separator: " ")
}

/// "2026-11-27 18:35:00 UTC": the device has no time zone worth trusting, and the agency's
/// records are in UTC.
public func utcString(_ date: Date) -> String {
    var t = time_t(date.timeIntervalSince1970.rounded(.down))
    var tm = tm()
    gmtime_r(&t, &tm)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday)) \(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) UTC"
}
