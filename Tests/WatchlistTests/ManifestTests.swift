import Crypto
import Testing
import VigilCore
import Watchlist

/// The signed manifest (Sources/Watchlist/Manifest.swift): strict parsing, the signature over
/// exactly the first five lines, and fuzzing.
@Suite("Watchlist manifest")
struct ManifestTests {
    let key = AuthorityPrivateKey()
    let sha = Array(SHA256.hash(data: Array("bundle".utf8)))

    func manifest(version: UInt64 = 12, size: UInt64 = 4096, path: String = "list-12.vwl") throws -> [UInt8] {
        try WatchlistManifest.build(version: version, size: size, sha256: sha, bundlePath: path, signer: key)
    }

    /// The badField message of a refused manifest, or nil if it parsed.
    func refusal(_ bytes: [UInt8]) -> String? {
        do { _ = try WatchlistManifest(parsing: bytes); return nil } catch let e as WatchlistError {
            if case .badField(let s) = e { return s }
            return "unexpected \(e)"
        } catch { return "unexpected \(error)" }
    }

    func replacingLine(_ n: Int, with line: String) throws -> [UInt8] {
        var lines = String(decoding: try manifest(), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[n] = line
        return Array(lines.joined(separator: "\n").utf8)
    }

    @Test func roundTripAndSignature() throws {
        let bytes = try manifest()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("vigil-watchlist-manifest 1\nversion 12\nsize 4096\nsha256 \(hex(sha))\nbundle list-12.vwl\nsignature "))
        #expect(text.split(separator: "\n").count == 6 && text.hasSuffix("\n"))
        let m = try WatchlistManifest(parsing: bytes)
        #expect(m.version == 12 && m.size == 4096 && m.sha256 == sha && m.bundlePath == "list-12.vwl")
        #expect(m.signedBytes == Array(bytes.prefix(m.signedBytes.count)))
        #expect(String(decoding: m.signedBytes, as: UTF8.self).hasSuffix("bundle list-12.vwl\n"))
        try m.verify(with: key.publicKey)
        #expect(throws: WatchlistError.badSignature) { try m.verify(with: AuthorityPrivateKey().publicKey) }
    }

    @Test func buildFromBundle() throws {
        let bundle = try makeBundle(version: 9, signer: key)
        let m = try WatchlistManifest(parsing: try WatchlistManifest.build(bundle: bundle, bundlePath: "lists/list-9.vwl", signer: key))
        #expect(m.version == 9 && m.size == UInt64(bundle.count) && m.sha256 == Array(SHA256.hash(data: bundle)))
        try m.verify(with: key.publicKey)
    }

    /// Any change to the signed lines breaks the signature, even one that still parses.
    @Test func everySignedByteIsCovered() throws {
        let bytes = try manifest()
        let m = try WatchlistManifest(parsing: bytes)
        var caught = 0
        for i in 0..<m.signedBytes.count {
            for flip: UInt8 in [0x01, 0x20] {
                var t = bytes
                t[i] ^= flip
                do {
                    let p = try WatchlistManifest(parsing: t)
                    try p.verify(with: key.publicKey)
                    Issue.record("byte \(i) ^ \(flip) accepted")
                } catch { caught += 1 }
            }
        }
        #expect(caught == 2 * m.signedBytes.count)
    }

    @Test(arguments: [
        (0, "vigil-watchlist-manifest 2", "line 1: unsupported manifest format"),
        (0, "vigil-watchlist-bundle 1", "line 1: not a Vigil watchlist manifest"),
        (1, "version 0", "line 2 (version): version 0"),
        (1, "version 012", "line 2 (version): leading zero"),
        (1, "version -1", "line 2 (version): not a decimal number"),
        (1, "version 18446744073709551616", "line 2 (version): out of range"),
        (1, "version ", "line 2 (version): empty value"),
        (1, "versions 12", "line 2: expected 'version <value>'"),
        (2, "size 0", "line 3 (size): size 0"),
        (2, "size 1099511627777", "line 3 (size): 1099511627777 bytes, more than"),
        (2, "size 4k", "line 3 (size): not a decimal number"),
        (3, "sha256 abc", "line 4 (sha256): 3 hex digits, expected 64"),
        (3, "sha256 " + String(repeating: "A", count: 64), "line 4 (sha256): not lowercase hex"),
        (3, "sha256 " + String(repeating: "g", count: 64), "line 4 (sha256): not lowercase hex"),
        (4, "bundle /etc/passwd", "line 5 (bundle): absolute path"),
        (4, "bundle ../list-12.vwl", "line 5 (bundle): '.' or '..' segment"),
        (4, "bundle a//b", "line 5 (bundle): empty path segment"),
        (4, "bundle list 12.vwl", "line 5 (bundle): characters other than"),
        (4, "bundle list-12.vwl?x=1", "line 5 (bundle): characters other than"),
        (4, "bundle " + String(repeating: "a", count: 201), "line 5 (bundle): path empty or longer than 200 bytes"),
        (5, "signature 00", "line 6 (signature): 2 hex digits, expected 128"),
        (5, "sig 00", "line 6: expected 'signature <value>'"),
        (2, "size 12\r", "line 3 (size): not printable ASCII"),
        (3, "sha256\t" + String(repeating: "a", count: 64), "line 4 (sha256): not printable ASCII"),
    ] as [(Int, String, String)])
    func malformedLine(line: Int, text: String, reason: String) throws {
        let r = refusal(try replacingLine(line, with: text))
        #expect(r?.hasPrefix("manifest: " + reason) == true, "got \(r ?? "nil")")
    }

    @Test func structure() throws {
        let good = try manifest()
        #expect(refusal([]) == "manifest: empty file")
        #expect(refusal(Array(good.dropLast())) == "manifest: does not end with a newline")
        #expect(refusal(good + Array("extra\n".utf8)) == "manifest: 7 lines, expected 6 (extra data after the signature line)")
        #expect(refusal(good + [0x0A]) == "manifest: 7 lines, expected 6 (extra data after the signature line)")
        let five = Array(String(decoding: good, as: UTF8.self).split(separator: "\n").prefix(5).joined(separator: "\n").utf8) + [0x0A]
        #expect(refusal(five) == "manifest: 5 lines, expected 6 (missing 'signature' line)")
        #expect(refusal(Array(repeating: 0x41, count: 4096) + [0x0A]) == "manifest: 4097 bytes, at most 4096")
        #expect(refusal([0xFF, 0x0A])?.hasPrefix("manifest: line 1 (header): not printable ASCII") == true)
        // the builder refuses what the parser would
        #expect(throws: WatchlistError.self) { try manifest(path: "../x") }
        #expect(throws: WatchlistError.self) { try manifest(version: 0) }
    }

    /// Random mutations and random bytes: the parser never crashes, and whatever it accepts
    /// either fails the signature or is the untouched manifest.
    @Test func fuzz() throws {
        let good = try manifest()
        var rng = ManifestFuzzRNG(seed: 0x5EED)
        for round in 0..<20_000 {
            var t = good
            switch round % 4 {
            case 0: t[Int(rng.next() % UInt64(t.count))] = UInt8(truncatingIfNeeded: rng.next())
            case 1: t.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(t.count + 1)))
            case 2: t.remove(at: Int(rng.next() % UInt64(t.count)))
            default: t = (0..<Int(rng.next() % 600)).map { _ in [0x0A, 0x20, 0x30, 0x61, 0x76, UInt8(truncatingIfNeeded: rng.next())][Int(rng.next() % 6)] }
            }
            guard let m = try? WatchlistManifest(parsing: t) else { continue }
            if (try? m.verify(with: key.publicKey)) != nil {
                #expect(m.signedBytes == Array(good.prefix(m.signedBytes.count)), "round \(round): an altered manifest verified")
            }
        }
    }
}

private struct ManifestFuzzRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
