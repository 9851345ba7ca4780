// The watchlist manifest: a small signed text file the agency publishes beside the bundle, so a
// device learns the newest version, its size and SHA-256 before it downloads anything large.
//
//   vigil-watchlist-manifest 1
//   version <u64, >= 1>
//   size <bundle bytes>
//   sha256 <64 lowercase hex: SHA-256 of the bundle file>
//   bundle <relative URL path of the bundle, e.g. list-12.vwl>
//   signature <128 lowercase hex: Ed25519 by the authority over the 5 lines above, newlines included>
//
// Parsed strictly: exactly these six lines, each ending in "\n", nothing else, at most 4 KiB.
// Every malformed line is refused with a reason naming the line. The signature is verified
// (`verify`) before the device uses any field.
import Crypto
import VigilCore

public struct WatchlistManifest: Sendable, Equatable {
    public static let firstLine = "vigil-watchlist-manifest 1"
    public static let maxSize = 4096
    /// The largest bundle a manifest may announce (1 TiB: a sanity bound, not a policy).
    public static let maxBundleSize: UInt64 = 1 << 40
    public static let maxPathLength = 200

    public var version: UInt64
    public var size: UInt64
    public var sha256: [UInt8]
    /// Relative to the manifest's URL directory: [A-Za-z0-9._-] segments joined by "/", no "..".
    public var bundlePath: String
    /// The first five lines, newlines included: what the signature covers.
    public var signedBytes: [UInt8]
    public var signature: [UInt8]

    /// Parses without verifying (see `verify`).
    public init(parsing bytes: [UInt8]) throws(WatchlistError) {
        func bad(_ s: String) -> WatchlistError { .badField("manifest: " + s) }
        guard bytes.count <= Self.maxSize else { throw bad("\(bytes.count) bytes, at most \(Self.maxSize)") }
        guard !bytes.isEmpty else { throw bad("empty file") }
        guard bytes.last == 0x0A else { throw bad("does not end with a newline") }
        // lines, each without its "\n"; the final "\n" ends the last line
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for (i, b) in bytes.enumerated() where b == 0x0A {
            lines.append(bytes[start..<i]); start = i + 1
        }
        let names = ["header", "version", "size", "sha256", "bundle", "signature"]
        for (i, line) in lines.enumerated() {
            guard line.allSatisfy({ $0 >= 0x20 && $0 <= 0x7e }) else {
                throw bad("line \(i + 1)\(i < names.count ? " (\(names[i]))" : ""): not printable ASCII (CR, tab, NUL or 8-bit bytes)")
            }
        }
        guard lines.count >= 6 else { throw bad("\(lines.count) lines, expected 6 (missing '\(names[lines.count])' line)") }
        guard lines.count == 6 else { throw bad("\(lines.count) lines, expected 6 (extra data after the signature line)") }
        let text = lines.map { String(decoding: $0, as: UTF8.self) }
        guard text[0] == Self.firstLine else {
            if text[0].hasPrefix("vigil-watchlist-manifest ") { throw bad("line 1: unsupported manifest format (this device reads '\(Self.firstLine)')") }
            throw bad("line 1: not a Vigil watchlist manifest (expected '\(Self.firstLine)')")
        }
        func value(_ n: Int) throws(WatchlistError) -> String {
            let key = names[n] + " "
            guard text[n].hasPrefix(key) else { throw bad("line \(n + 1): expected '\(names[n]) <value>'") }
            let v = String(text[n].dropFirst(key.count))
            guard !v.isEmpty else { throw bad("line \(n + 1) (\(names[n])): empty value") }
            return v
        }
        func decimal(_ n: Int) throws(WatchlistError) -> UInt64 {
            let v = try value(n)
            guard v.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw bad("line \(n + 1) (\(names[n])): not a decimal number") }
            guard v == "0" || !v.hasPrefix("0") else { throw bad("line \(n + 1) (\(names[n])): leading zero") }
            guard let u = UInt64(v) else { throw bad("line \(n + 1) (\(names[n])): out of range") }
            return u
        }
        func hexValue(_ n: Int, bytes count: Int) throws(WatchlistError) -> [UInt8] {
            let v = try value(n)
            guard v.utf8.count == 2 * count else { throw bad("line \(n + 1) (\(names[n])): \(v.utf8.count) hex digits, expected \(2 * count)") }
            guard v.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }), let raw = unhex(v) else {
                throw bad("line \(n + 1) (\(names[n])): not lowercase hex")
            }
            return raw
        }
        version = try decimal(1)
        guard version >= 1 else { throw bad("line 2 (version): version 0") }
        size = try decimal(2)
        guard size > 0 else { throw bad("line 3 (size): size 0") }
        guard size <= Self.maxBundleSize else { throw bad("line 3 (size): \(size) bytes, more than \(Self.maxBundleSize)") }
        sha256 = try hexValue(3, bytes: 32)
        bundlePath = try value(4)
        if let reason = Self.pathProblem(bundlePath) { throw bad("line 5 (bundle): \(reason)") }
        signature = try hexValue(5, bytes: 64)
        signedBytes = Array(bytes[0..<(lines[4].endIndex + 1)])
    }

    /// Why `path` is not an acceptable relative bundle path, or nil.
    public static func pathProblem(_ path: String) -> String? {
        let u = Array(path.utf8)
        guard !u.isEmpty, u.count <= maxPathLength else { return "path empty or longer than \(maxPathLength) bytes" }
        guard u.first != 0x2F else { return "absolute path (must be relative to the manifest)" }
        let allowed: (UInt8) -> Bool = { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D || c == 0x2F
        }
        guard u.allSatisfy(allowed) else { return "characters other than A-Z a-z 0-9 . _ - /" }
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard !segment.isEmpty else { return "empty path segment" }
            guard segment != "." && segment != ".." else { return "'.' or '..' segment" }
        }
        return nil
    }

    /// Checks the authority's Ed25519 signature over the first five lines.
    public func verify(with key: AuthorityPublicKey) throws(WatchlistError) {
        guard key.key.isValidSignature(signature, for: signedBytes) else { throw .badSignature }
    }

    /// The manifest text for a bundle, signed by `signer`.
    public static func build(version: UInt64, size: UInt64, sha256: [UInt8], bundlePath: String,
                             signer: AuthorityPrivateKey) throws(WatchlistError) -> [UInt8] {
        guard version >= 1 else { throw .badField("manifest: version 0") }
        guard size > 0, size <= maxBundleSize else { throw .badField("manifest: size \(size)") }
        guard sha256.count == 32 else { throw .badField("manifest: sha256 must be 32 bytes") }
        if let reason = pathProblem(bundlePath) { throw .badField("manifest: bundle path: \(reason)") }
        let body = Array("\(firstLine)\nversion \(version)\nsize \(size)\nsha256 \(hex(sha256))\nbundle \(bundlePath)\n".utf8)
        let sig: [UInt8]
        do { sig = Array(try signer.key.signature(for: body)) } catch { throw .key("manifest signing failed: \(error)") }
        return body + Array("signature \(hex(sig))\n".utf8)
    }

    /// The manifest for a bundle file's bytes: parses the bundle for its version (structure only).
    public static func build(bundle bytes: [UInt8], bundlePath: String, signer: AuthorityPrivateKey) throws(WatchlistError) -> [UInt8] {
        let b = try WatchlistBundle(parsing: bytes)
        return try build(version: b.header.listVersion, size: UInt64(bytes.count), sha256: Array(SHA256.hash(data: bytes)),
                         bundlePath: bundlePath, signer: signer)
    }
}
