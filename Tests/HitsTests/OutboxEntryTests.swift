#if canImport(Glibc)
import Glibc
#endif
import Hits
import Testing
import VigilCore
import Watchlist
import VigilTestSupport

/// Issue 16 item 6: whoever can write to the outbox (the agent's user) must not make a root-run
/// `hits upload` send another file, nor a record under another record's id.
@Suite("Outbox entries: links, non-records and names that lie")
struct OutboxEntryTests {
    let device = DeviceSigningKey(), agency = AgencyPrivateKey()

    func outbox(_ dir: String) throws -> (Outbox, OutboxItem) {
        let box = try Outbox(directory: dir, capacityBytes: 1 << 20)
        let item = try box.record(sampleBody(1), device: device, agency: agency.publicKey, nowMillis: 1_795_000_000_000)
        return (box, item)
    }

    func expectRefused(_ reason: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws(OutboxError) -> Void) {
        do throws(OutboxError) {
            try body()
            Issue.record("accepted, expected a refusal mentioning '\(reason)'", sourceLocation: sourceLocation)
        } catch {
            guard case .refusedEntry(_, let r) = error else { Issue.record("\(error)", sourceLocation: sourceLocation); return }
            #expect(r.contains(reason), "\(r)", sourceLocation: sourceLocation)
        }
    }

    /// The attack of the issue: a `.hit` that is a link to a root-only file. Before the fix its
    /// bytes were read (and uploaded).
    @Test func anEntryThatIsASymlinkIsNeverRead() throws {
        let dir = tempDir(); defer { rmTree(dir) }
        let (box, _) = try outbox(dir)
        let secret = dir + ".secret"
        try writeFileAtomically(secret, Array("root:$6$hash".utf8), mode: 0o600)
        defer { unlink(secret) }
        let name = "00000000000000000007-" + uuidString(makeUUIDv7(millis: 1_795_000_000_000)) + ".hit"
        #expect(symlink(secret, dir + "/" + name) == 0)
        let link = try #require(try box.pending().first { $0.path.hasSuffix(name) })
        expectRefused("a symbolic link") { () throws(OutboxError) in _ = try box.read(link) }
        expectRefused("a symbolic link") { () throws(OutboxError) in _ = try box.readEntry(link) }
        // quarantined: the link itself moves, out of the queue; the target is untouched
        let moved = try box.quarantine(link)
        #expect(moved == dir + "/quarantine/" + name)
        #expect(try !box.pending().contains { $0.path.hasSuffix(name) })
        #expect(try readFile(secret, maximumBytes: 64) == Array("root:$6$hash".utf8))
        var st = stat()
        #expect(lstat(moved, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK)
    }

    /// The id to upload under comes from the record; a record copied under another record's
    /// name is refused, not uploaded over that other record.
    @Test func theIdComesFromTheRecordAndANameThatLiesIsRefused() throws {
        let dir = tempDir(); defer { rmTree(dir) }
        let (box, item) = try outbox(dir)
        let entry = try box.readEntry(item)
        #expect(entry.id == item.id && entry.record.sequence == item.sequence)
        #expect(entry.bytes == (try box.read(item)))
        let other = uuidString(makeUUIDv7(millis: 1_795_000_009_000))
        try writeFileAtomically(dir + "/00000000000000000001-\(other).hit", entry.bytes, mode: 0o600)
        let liar = try #require(try box.pending().first { $0.id == other })
        expectRefused("the name says record \(other)") { () throws(OutboxError) in _ = try box.readEntry(liar) }
        // not a record at all
        try writeFileAtomically(dir + "/00000000000000000002-\(other).hit", Array("hello".utf8), mode: 0o600)
        let junk = try #require(try box.pending().first { $0.sequence == 2 })
        expectRefused("not a sealed record") { () throws(OutboxError) in _ = try box.readEntry(junk) }
    }

    /// A FIFO entry does not block the uploader; an oversize one is refused before it is read.
    @Test func fifoAndOversizeEntriesAreRefusedAtOnce() throws {
        let dir = tempDir(); defer { rmTree(dir) }
        let (box, _) = try outbox(dir)
        let id = uuidString(makeUUIDv7(millis: 1_795_000_000_000))
        #expect(mkfifo(dir + "/00000000000000000005-\(id).hit", 0o600) == 0)
        let fifo = try #require(try box.pending().first { $0.sequence == 5 })
        expectRefused("a FIFO") { () throws(OutboxError) in _ = try box.read(fifo) }
        let fd = open(dir + "/00000000000000000006-\(id).hit", O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(fd >= 0 && ftruncate(fd, 1 << 40) == 0)
        close(fd)
        let huge = try #require(try box.pending().first { $0.sequence == 6 })
        expectRefused("more than 2 MiB") { () throws(OutboxError) in _ = try box.read(huge) }
    }

    /// The sequence file is ours too: a link there is refused, not followed.
    @Test func aSymlinkedSequenceFileIsRefused() throws {
        let dir = tempDir(); defer { rmTree(dir) }
        let (box, _) = try outbox(dir)
        try writeFileAtomically(dir + ".seq", Array("1\n".utf8))
        defer { unlink(dir + ".seq") }
        unlink(dir + "/sequence")
        #expect(symlink(dir + ".seq", dir + "/sequence") == 0)
        do {
            _ = try box.record(sampleBody(2), device: device, agency: agency.publicKey, nowMillis: 1_795_000_001_000)
            Issue.record("sealed a record after reading a linked sequence file")
        } catch {
            guard case .storage(let e) = error else { Issue.record("\(error)"); return }
            #expect(e.errno == .tooManySymlinks, "\(e)")
        }
    }
}
