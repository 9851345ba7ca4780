// Issue 16, item 6: a link planted as the sync's staging file is not followed. Before the fix the
// staging file was opened with O_CREAT and no O_NOFOLLOW, so a root-run sync overwrote the target.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import VigilCore
import VigilTestSupport
import Watchlist
import WatchlistSync

@Suite("Sync staging: links are not followed (issue 16)")
struct SyncStagingTests {
    @Test func aLinkAsTheStagingFileIsRemovedNotWrittenThrough() async throws {
        let f = try SyncFixture()
        let manifest = try f.manifest(version: 7, size: 1000)
        let server = try StallServer { req, _ in
            req.uri.hasSuffix("/manifest") ? .full(status: 200, body: manifest) : .full(status: 200, body: [UInt8](repeating: 0x56, count: 1000))
        }
        defer { server.close() }
        let target = f.dir + "/root-only"
        writeTestFile(target, Array("a file root owns".utf8), mode: 0o600)
        #expect(mkdir(f.dir + "/store", 0o700) == 0 || errno == EEXIST)
        #expect(mkdir(f.dir + "/store/staging", 0o700) == 0 || errno == EEXIST)
        #expect(symlink(target, f.part) == 0)

        let r = await runSync(f.config(server), clock: TestClock()).value
        // the bytes are not the manifest's (its digest is made up): refused after download
        guard case .failure = r else { Issue.record("\(r)"); return }
        #expect(try readFile(target, maximumBytes: 1024) == Array("a file root owns".utf8))
        var st = stat()
        #expect(lstat(f.part, &st) != 0 || (st.st_mode & S_IFMT) == S_IFREG)
    }
}
