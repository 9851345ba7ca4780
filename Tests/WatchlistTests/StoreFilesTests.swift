#if canImport(Glibc)
import Glibc
#endif
import Testing
import VigilCore
import Watchlist

/// Issue 16 item 6: the store's own files (state, storage key, stored lists) are opened
/// O_NOFOLLOW and must be regular files; a link planted there is refused, never followed.
@Suite("Watchlist store: links in the store directory")
struct StoreFilesTests {
    final class Clock: @unchecked Sendable { var t = t0 }

    /// Replaces `dir/name` by a link to a copy of it outside the directory.
    func link(_ dir: String, _ name: String) throws -> String {
        let outside = dir + "." + name
        try writeFileAtomically(outside, try readFile(dir + "/" + name, maximumBytes: ReadLimit.bundle), mode: 0o600)
        #expect(unlink(dir + "/" + name) == 0)
        #expect(symlink(outside, dir + "/" + name) == 0)
        return outside
    }

    @Test func aLinkedStateFileIsRefused() throws {
        let dir = temporaryDirectory(), authority = AuthorityPrivateKey(), clock = Clock()
        defer { removeTree(dir) }
        let s = try WatchlistStore(directory: dir, authority: authority.publicKey, embedder: testEmbedder, now: { clock.t })
        try s.install(try makeBundle(version: 1, signer: authority))
        let outside = try link(dir, "state")
        defer { unlink(outside) }
        guard case .unusable(let reason) = s.load().health else { Issue.record("\(s.load().health)"); return }
        #expect(reason.contains("a symbolic link"), "\(reason)")
    }

    @Test func aLinkedStoredListIsRefused() throws {
        let dir = temporaryDirectory(), authority = AuthorityPrivateKey(), clock = Clock()
        defer { removeTree(dir) }
        let s = try WatchlistStore(directory: dir, authority: authority.publicKey, embedder: testEmbedder, now: { clock.t })
        try s.install(try makeBundle(version: 1, signer: authority))
        let outside = try link(dir, "list-1.enc")
        defer { unlink(outside) }
        guard case .unusable(let reason) = s.load().health else { Issue.record("\(s.load().health)"); return }
        #expect(reason.contains("a symbolic link"), "\(reason)")
    }
}
