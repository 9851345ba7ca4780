#if canImport(Glibc)
import Glibc
#endif
import Crypto
import Testing
import VigilCore
import Watchlist

/// A fresh directory under /tmp, removed by the caller's `defer`.
func temporaryDirectory() -> String {
    var template = Array("/tmp/vigil-wl-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: p!)
}

func removeTree(_ path: String) {
    guard let d = opendir(path) else { return }
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name == "." || name == ".." { continue }
        unlink(path + "/" + name)
    }
    closedir(d)
    rmdir(path)
}

let testEmbedder = EmbedderIdentity(id: "dlib_resnet_int8", sha256: Array(SHA256.hash(data: Array("model".utf8))))
let day: Int64 = 86_400
let t0: Int64 = 1_795_000_000  // a fixed "now" (2026-11)

/// A small signed bundle: `entries` entries, 1–3 rows each, deterministic contents.
func makeBundle(version: UInt64, signer: AuthorityPrivateKey, entries n: Int = 5, dimension: Int = 128,
                issued: Int64 = t0 - day, expires: Int64 = t0 + 30 * day, staleness: Int64 = 14 * day,
                embedder: EmbedderIdentity = testEmbedder, mode: WatchlistMode = .investigative,
                entryExpiry: ((Int) -> Int64)? = nil, floor: Float = 0.9) throws -> [UInt8] {
    var entries: [WatchlistEntry] = [], matrix: [Int8] = [], scales: [Float] = []
    var row = 0
    for i in 0..<n {
        let rows = 1 + i % 3
        var id = [UInt8](repeating: 0, count: 16)
        id[0] = UInt8(i & 0xff); id[1] = UInt8(i >> 8); id[15] = 0xAB
        entries.append(WatchlistEntry(id: id, expires: entryExpiry?(i) ?? expires, category: UInt8(1 + i % 3),
                                      legalBasis: "case 2026-\(1000 + i) / warrant W\(i)", firstRow: row, rowCount: rows))
        for r in 0..<rows {
            for d in 0..<dimension { matrix.append(Int8(truncatingIfNeeded: (i * 31 + r * 7 + d * 13) % 255 - 127)) }
            scales.append(0.0078 + Float(i) * 1e-5)
        }
        row += rows
    }
    let header = WatchlistHeader(listVersion: version, issued: issued, expires: expires, maximumStaleness: staleness,
                                 embedder: embedder, mode: mode, thresholdFloor: floor, dimension: dimension)
    return try WatchlistBundle.build(header: header, entries: entries, matrix: matrix, scales: scales, signer: signer)
}

@Suite("Watchlist bundle format")
struct BundleTests {
    @Test func roundTripAndSignature() throws {
        let key = AuthorityPrivateKey()
        let bytes = try makeBundle(version: 7, signer: key)
        let b = try WatchlistBundle(parsing: bytes)
        #expect(b.header.listVersion == 7)
        #expect(b.header.embedder == testEmbedder)
        #expect(b.entries.count == 5)
        #expect(b.rowCount == 1 + 2 + 3 + 1 + 2)
        #expect(b.matrix.count == b.rowCount * 128)
        #expect(b.entries[3].legalBasis == "case 2026-1003 / warrant W3")
        try b.verify(with: key.publicKey)
        // another authority's key: the bundle names its key, so this is refused before any math
        #expect(throws: WatchlistError.wrongAuthorityKey) { try b.verify(with: AuthorityPrivateKey().publicKey) }
        // the size is exactly the documented layout
        #expect(bytes.count == BundleLayout.signedSize(entries: 5, rows: 9, dimension: 128) + 64)
    }

    /// Any single changed byte is caught: by the parser (structure) or by the signature.
    @Test func everyTamperedByteIsRefused() throws {
        let key = AuthorityPrivateKey()
        let bytes = try makeBundle(version: 3, signer: key, entries: 3, dimension: 20)
        var refused = 0
        for i in stride(from: 0, to: bytes.count, by: 1) {
            var t = bytes
            t[i] ^= 0x01
            do {
                let b = try WatchlistBundle(parsing: t)
                try b.verify(with: key.publicKey)
                Issue.record("byte \(i) flipped and still accepted")
            } catch { refused += 1 }
        }
        #expect(refused == bytes.count)
    }

    @Test func truncationsAndExtensionsAreRefusedPrecisely() throws {
        let key = AuthorityPrivateKey()
        let bytes = try makeBundle(version: 3, signer: key, entries: 2, dimension: 16)
        for n in [0, 1, 7, 8, 100, 255, 256, 300, bytes.count - 65, bytes.count - 1] {
            #expect(throws: WatchlistError.self) { try WatchlistBundle(parsing: Array(bytes.prefix(n))) }
        }
        do { _ = try WatchlistBundle(parsing: Array(bytes.prefix(bytes.count - 1))); Issue.record("accepted") } catch {
            #expect(error == .truncated(needed: bytes.count, have: bytes.count - 1))
        }
        do { _ = try WatchlistBundle(parsing: bytes + [0]); Issue.record("accepted") } catch {
            #expect(error == .badSize(expected: bytes.count, actual: bytes.count + 1))
        }
        do { _ = try WatchlistBundle(parsing: Array("not a bundle at all, just some text......".utf8) + [UInt8](repeating: 0, count: 300)) } catch {
            #expect(error == .badMagic)
        }
    }

    /// Fuzzing: random bundles and random mutations (bit flips, byte runs, length fields set to
    /// extremes, truncation) never crash the parser or read outside the buffer (a Swift array
    /// access out of bounds would trap the test process).
    @Test func fuzzedBundlesNeverCrashTheParser() throws {
        let key = AuthorityPrivateKey()
        let base = try makeBundle(version: 9, signer: key, entries: 4, dimension: 33)
        var rng = SystemRandomNumberGenerator()
        var accepted = 0
        for trial in 0..<3000 {
            var t = base
            switch trial % 5 {
            case 0: for _ in 0..<Int.random(in: 1...8, using: &rng) { let i = Int.random(in: 0..<t.count, using: &rng); t[i] = UInt8.random(in: 0...255, using: &rng) }
            case 1:  // a header count/offset field set to an extreme
                let fields = [8, 10, 12, 16, 120, 124, 128, 136, 144, 152]
                let f = fields.randomElement(using: &rng)!
                for j in 0..<4 { t[f + j] = [0xff, 0x00, 0x7f, 0x80].randomElement(using: &rng)! }
            case 2: t = Array(t.prefix(Int.random(in: 0..<t.count, using: &rng)))
            case 3: t += (0..<Int.random(in: 1...100, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default: t = (0..<Int.random(in: 0...2000, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if t.count >= 8, trial % 2 == 0 { t.replaceSubrange(0..<8, with: BundleLayout.magic) }
            }
            if let b = try? WatchlistBundle(parsing: t), (try? b.verify(with: key.publicKey)) != nil { accepted += 1 }
        }
        // Only an unchanged bundle verifies (a mutation may by chance rewrite a byte to itself).
        #expect(accepted < 30)
    }
}

@Suite("Key files")
struct KeyTests {
    @Test func generateLoadAndRefuseOpenPermissions() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        for role in KeyRole.allCases {
            let g = try generateKey(role: role, directory: dir)
            var st = stat()
            #expect(stat(g.privatePath, &st) == 0)
            #expect(st.st_mode & 0o777 == 0o600, "\(role) private key mode")
            #expect(g.fingerprint.hasPrefix("SHA256:"))
            // never overwritten
            #expect(throws: WatchlistError.self) { try generateKey(role: role, directory: dir) }
        }
        let priv = try AuthorityPrivateKey(file: dir + "/authority.key")
        let pub = try AuthorityPublicKey(file: dir + "/authority.pub")
        #expect(priv.publicKey.raw == pub.raw)
        #expect(pub.fingerprint == fingerprint(ofPublicKey: pub.raw))
        // a private key others can read is refused, with the reason
        chmod(dir + "/authority.key", 0o644)
        do { _ = try AuthorityPrivateKey(file: dir + "/authority.key"); Issue.record("accepted a 0644 key") } catch {
            #expect("\(error)".contains("644"))
        }
        chmod(dir + "/authority.key", 0o640)
        #expect(throws: WatchlistError.self) { try AuthorityPrivateKey(file: dir + "/authority.key") }
        // the wrong kind of file
        #expect(throws: WatchlistError.self) { try AuthorityPublicKey(file: dir + "/device.pub") }
        #expect(throws: WatchlistError.self) { try AuthorityPublicKey(file: dir + "/authority.key") }
    }
}

@Suite("Watchlist store on the device")
struct StoreTests {
    final class Clock: @unchecked Sendable { var t = t0 }

    func store(_ dir: String, _ key: AuthorityPrivateKey, _ clock: Clock, embedder: EmbedderIdentity = testEmbedder) throws -> WatchlistStore {
        try WatchlistStore(directory: dir, authority: key.publicKey, embedder: embedder, now: { clock.t })
    }

    func files(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if n != "." && n != ".." { out.append(n) }
        }
        return out.sorted()
    }

    @Test func installActivatesAndRefusesRollbackExpiryEmbedderAndForgery() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let authority = AuthorityPrivateKey(), clock = Clock()
        let s = try store(dir, authority, clock)
        #expect(s.load().health == .none)
        let r1 = try s.install(try makeBundle(version: 1, signer: authority))
        #expect(r1.version == 1 && r1.previous == nil && r1.entries == 5)
        #expect(s.load().health == .active(version: 1))
        let r2 = try s.install(try makeBundle(version: 2, signer: authority))
        #expect(r2.previous == 1)
        #expect(files(dir) == ["list-1.enc", "list-2.enc", "state", "storage.key"])

        func refused(_ bytes: [UInt8], _ expected: (WatchlistError) -> Bool, _ what: String) {
            let before = files(dir).map { (try? readFile(dir + "/" + $0)) ?? [] }
            do { try s.install(bytes); Issue.record("\(what): installed") } catch {
                #expect(expected(error), "\(what): \(error)")
            }
            #expect(files(dir).map { (try? readFile(dir + "/" + $0)) ?? [] } == before, "\(what) changed the store")
            #expect(s.load().health == .active(version: 2))
        }
        refused(try makeBundle(version: 2, signer: authority), { if case .rollback(2, 2) = $0 { true } else { false } }, "same version")
        refused(try makeBundle(version: 1, signer: authority), { if case .rollback(1, 2) = $0 { true } else { false } }, "rollback")
        refused(try makeBundle(version: 3, signer: authority, issued: t0 - 40 * day, expires: t0 - day),
                { if case .expired = $0 { true } else { false } }, "expired")
        refused(try makeBundle(version: 3, signer: authority, embedder: EmbedderIdentity(id: "sface", sha256: [UInt8](repeating: 1, count: 32))),
                { if case .wrongEmbedder = $0 { true } else { false } }, "other embedder")
        refused(try makeBundle(version: 3, signer: AuthorityPrivateKey()), { $0 == .wrongAuthorityKey }, "other authority")
        var forged = try makeBundle(version: 3, signer: authority)
        forged[BundleLayout.headerSize + 32] ^= 0x01  // the first legal-basis byte, still printable
        refused(forged, { $0 == .badSignature }, "forged")
        refused(Array(try makeBundle(version: 3, signer: authority).dropLast(10)), { if case .truncated = $0 { true } else { false } }, "truncated")

        // The rollback floor survives a restart (a new store object on the same directory).
        let again = try store(dir, authority, clock)
        #expect(again.highestInstalledVersion == 2)
        #expect(throws: WatchlistError.self) { try again.install(try makeBundle(version: 2, signer: authority)) }
    }

    @Test func tamperedActiveListFallsBackToPrevious() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let authority = AuthorityPrivateKey(), clock = Clock()
        let s = try store(dir, authority, clock)
        try s.install(try makeBundle(version: 4, signer: authority))
        try s.install(try makeBundle(version: 5, signer: authority))
        var sealed = try readFile(dir + "/list-5.enc")
        sealed[sealed.count / 2] ^= 0xff
        try writeFileAtomically(dir + "/list-5.enc", sealed)
        let (list, health) = s.load()
        #expect(list?.header.listVersion == 4)
        if case .fallback(4, let reason) = health { #expect(reason.contains("decryption failed")) } else { Issue.record("health \(health)") }
        #expect(health.allowsMatching)
        // Stored files are encrypted: no plaintext legal basis on disk.
        let raw = try readFile(dir + "/list-4.enc")
        #expect(!String(decoding: raw, as: UTF8.self).contains("warrant"))
    }

    /// A list larger than one 1 MiB chunk: swapped, dropped or appended chunks and a truncated
    /// file are all caught at load (the store then falls back to nothing here: no previous list).
    @Test func multiChunkStoredListsResistReorderingAndTruncation() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let authority = AuthorityPrivateKey(), clock = Clock()
        let s = try store(dir, authority, clock)
        try s.install(try makeBundle(version: 8, signer: authority, entries: 12_000))
        #expect(s.load().list?.entries.count == 12_000)
        let path = dir + "/list-8.enc"
        let good = try readFile(path)
        #expect(good.count > 3 << 20)
        let chunk = (1 << 20) + 16, start = 32
        var swapped = good
        swapped.replaceSubrange(start..<(start + chunk), with: good[(start + chunk)..<(start + 2 * chunk)])
        swapped.replaceSubrange((start + chunk)..<(start + 2 * chunk), with: good[start..<(start + chunk)])
        var dropped = good
        dropped.removeSubrange((start + chunk)..<(start + 2 * chunk))
        for (what, bytes) in [("swapped chunks", swapped), ("dropped chunk", dropped), ("truncated", Array(good.dropLast(100))),
                              ("extended", good + [1, 2, 3]), ("empty", [])] {
            try writeFileAtomically(path, bytes, mode: 0o600)
            let (list, health) = s.load()
            #expect(list == nil, "\(what) was loaded")
            #expect(!health.allowsMatching, "\(what): \(health)")
        }
        try writeFileAtomically(path, good, mode: 0o600)
        #expect(s.load().health == .active(version: 8))
    }

    @Test func stalenessAndExpiryStopMatching() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let authority = AuthorityPrivateKey(), clock = Clock()
        let s = try store(dir, authority, clock)
        try s.install(try makeBundle(version: 1, signer: authority, issued: t0 - day, expires: t0 + 60 * day, staleness: 7 * day,
                                     entryExpiry: { i in i == 0 ? t0 + day : t0 + 60 * day }))
        #expect(s.load().health == .active(version: 1))
        clock.t = t0 + 2 * day
        let (list, _) = s.load()
        // entry 0 expired on its own: it never matches, the others still do
        #expect(WatchlistPolicy.matchableEntries(list!, now: clock.t).count == 4)
        clock.t = t0 + 6 * day + 1  // issued + 7 days
        let h = s.load().health
        #expect(h == .stale(version: 1, since: t0 + 6 * day))
        #expect(!h.allowsMatching)
        clock.t = t0 + 61 * day
        #expect(s.load().health == .expired(version: 1, at: t0 + 60 * day))
    }

    @Test func storageKeyIsPrivate() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let authority = AuthorityPrivateKey(), clock = Clock()
        _ = try store(dir, authority, clock)
        var st = stat()
        #expect(stat(dir + "/storage.key", &st) == 0 && st.st_mode & 0o777 == 0o600)
        chmod(dir + "/storage.key", 0o644)
        #expect(throws: WatchlistError.self) { try store(dir, authority, clock) }
    }
}
