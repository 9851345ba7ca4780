import Crypto
import Testing
import VigilCore
import Watchlist

#if canImport(Glibc)
import Glibc
#endif

/// Risky lists an authority can sign by mistake (issue 16, items 10 and 11): each is refused at
/// install and changes nothing, and the same model under another file name is still the same
/// embedder.
@Suite("Install policy: stale lists, floors, version jumps, embedder by content")
struct InstallPolicyTests {
    final class Clock: @unchecked Sendable { var t = t0 }

    func fresh() throws -> (WatchlistStore, AuthorityPrivateKey, String) {
        let dir = temporaryDirectory(), authority = AuthorityPrivateKey(), clock = Clock()
        return (try WatchlistStore(directory: dir, authority: authority.publicKey, embedder: testEmbedder, now: { clock.t }), authority, dir)
    }

    @Test func aListAlreadyStaleAtInstallIsRefusedAndTheWorkingListStays() throws {
        let (s, authority, dir) = try fresh()
        defer { removeTree(dir) }
        try s.install(try makeBundle(version: 1, signer: authority))
        // issued 20 days ago with 14 days of staleness: it would stop matching the moment it landed
        let stale = try makeBundle(version: 2, signer: authority, issued: t0 - 20 * day, expires: t0 + 30 * day, staleness: 14 * day)
        #expect(throws: WatchlistError.staleAtInstall(staleSince: t0 - 6 * day, now: t0)) { try s.install(stale) }
        #expect(s.load().health == .active(version: 1))
        #expect(s.highestInstalledVersion == 1)
    }

    @Test(arguments: [Float(0.0001), 0.2, 1.0])
    func aFloorOutsideTheSaneRangeIsRefused(_ floor: Float) throws {
        let (s, authority, dir) = try fresh()
        defer { removeTree(dir) }
        #expect(throws: WatchlistError.floorOutOfRange(floor)) { try s.install(try makeBundle(version: 1, signer: authority, floor: floor)) }
        #expect(s.load().health == .none)
        try s.install(try makeBundle(version: 1, signer: authority, floor: 0.93))
    }

    @Test func aVersionTypoCannotPinTheRollbackFloor() throws {
        let (s, authority, dir) = try fresh()
        defer { removeTree(dir) }
        try s.install(try makeBundle(version: 5, signer: authority))
        let limit = WatchlistPolicy.maximumVersionJump
        #expect(throws: WatchlistError.versionJump(offered: UInt64.max, highestInstalled: 5, limit: limit)) {
            try s.install(try makeBundle(version: .max, signer: authority))
        }
        #expect(throws: WatchlistError.versionJump(offered: 5 + limit + 1, highestInstalled: 5, limit: limit)) {
            try s.install(try makeBundle(version: 5 + limit + 1, signer: authority))
        }
        #expect(s.highestInstalledVersion == 5)
        try s.install(try makeBundle(version: 5 + limit, signer: authority))
        #expect(s.highestInstalledVersion == 5 + limit)
    }

    @Test func theEmbedderIsCheckedByContentNotByName() throws {
        let sha = Array(SHA256.hash(data: Array("model".utf8)))
        #expect(EmbedderIdentity(id: "renamed_copy", sha256: sha) == testEmbedder)
        #expect(EmbedderIdentity(id: testEmbedder.id, sha256: [UInt8](repeating: 7, count: 32)) != testEmbedder)
        let (s, authority, dir) = try fresh()
        defer { removeTree(dir) }
        // enrolled with the model file under another name: installs, and loads after a restart
        try s.install(try makeBundle(version: 1, signer: authority, embedder: EmbedderIdentity(id: "resnet-copy", sha256: sha)))
        #expect(s.load().health == .active(version: 1))
    }

    @Test func overflowingStalenessFieldsDoNotTrap() {
        let h = WatchlistHeader(listVersion: 1, issued: .max - 10, expires: .max, maximumStaleness: 1 << 40, embedder: testEmbedder,
                                mode: .investigative, thresholdFloor: 0.9, dimension: 128)
        #expect(WatchlistPolicy.staleSince(h) == .max)
        #expect(WatchlistPolicy.health(of: h, now: t0) == .active(version: 1))
    }
}

/// Trust anchors and the store that others could replace (issue 16, item 9).
@Suite("Permissions of trust anchors and the store")
struct TrustAnchorPermissionTests {
    @Test func aWritableAuthorityKeyIsRefused() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        _ = try generateKey(role: .authority, directory: dir)
        #expect(throws: Never.self) { _ = try AuthorityPublicKey(file: dir + "/authority.pub") }
        for mode: mode_t in [0o666, 0o664, 0o646] {
            chmod(dir + "/authority.pub", mode)
            #expect(throws: WatchlistError.self, "mode \(String(mode, radix: 8))") { _ = try AuthorityPublicKey(file: dir + "/authority.pub") }
        }
    }

    @Test func aStoreOthersCanWriteIsRefused() throws {
        let dir = temporaryDirectory()
        defer { removeTree(dir) }
        let store = dir + "/store"
        mkdir(store, 0o700)
        chmod(store, 0o777)
        #expect(throws: WatchlistError.self) {
            _ = try WatchlistStore(directory: store, authority: AuthorityPrivateKey().publicKey, embedder: testEmbedder)
        }
        chmod(store, 0o700)
        _ = try WatchlistStore(directory: store, authority: AuthorityPrivateKey().publicKey, embedder: testEmbedder)
    }
}
