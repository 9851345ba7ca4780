// Issue 16, item 6: the uploader sends only what the outbox holds itself, under the record's own id.
// Before the fix, a link in the outbox was followed (a root-run `hits upload` sent the root-only
// file it pointed to) and the id in the URL came from the file name.
#if canImport(Glibc)
import Glibc
#endif
import HitUpload
import Hits
import Testing
import VigilCore
import VigilTestSupport

@Suite("Upload: links and misnamed records are set aside, never sent (issue 16)")
struct OutboxUploadSafetyTests {
    @Test func linksAndMisnamedRecordsAreQuarantinedAndTheQueueGoesOn() async throws {
        let o = try OutboxFixture()
        let good = try #require(try Outbox(directory: o.path, capacityBytes: 1 << 20).pending().first)
        // another well-formed id: the last hex digit changed
        let otherID = String(good.id.dropLast()) + (good.id.hasSuffix("0") ? "1" : "0")
        // a link to a file only root may read, named like a record
        let secret = o.dir + "/root-only"
        writeTestFile(secret, Array("not a record: a secret".utf8), mode: 0o600)
        #expect(symlink(secret, o.path + "/\(good.sequence + 1)-\(otherID).hit") == 0)
        // the good record copied under another record's name
        let bytes = try readFile(good.path, maximumBytes: ReadLimit.hitRecord)
        writeTestFile(o.path + "/\(good.sequence + 2)-\(otherID).hit", bytes, mode: 0o600)

        let server = try StallServer { _, _ in .full(status: 201, body: []) }
        defer { server.close() }
        var logged: [String] = []
        let lines = Events<String>()
        let uploader = HitUploader(config: o.config(server), log: { lines.post($0) }, clock: TestClock())
        let report = try await uploader.run(once: true)
        for _ in 0..<2 { logged.append(await lines.next { $0.contains("refused, not uploaded") }) }

        #expect(report.uploaded == 1 && report.quarantined == 2 && report.left == 0)
        let put = await server.next()
        #expect(put.method == "PUT" && put.uri == "/hits/\(good.id)")
        #expect(o.pending == 0)
        let q = try Outbox(directory: o.path + "/quarantine", capacityBytes: 1 << 20).names().sorted()
        #expect(q == ["\(good.sequence + 1)-\(otherID).hit", "\(good.sequence + 2)-\(otherID).hit"])
        var st = stat()
        #expect(lstat(o.path + "/quarantine/\(good.sequence + 1)-\(otherID).hit", &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK)
        #expect(try readFile(secret, maximumBytes: 1024) == Array("not a record: a secret".utf8))  // the target untouched
        #expect(logged.contains { $0.contains("a symbolic link") })
        #expect(logged.contains { $0.contains("the name says record \(otherID)") })
    }
}
