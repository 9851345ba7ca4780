#if canImport(Glibc)
import Glibc
#endif
import Audit
import Testing
import VigilCore
import VigilTestSupport

func tempDir() -> String { makeTempDirectory("audit") }

func rmTree(_ path: String) { removeTree(path) }

func listDir(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        // .lock: the writers' lock; the checkpoint and the anchor are not records
        if ![".", "..", ".lock", auditCheckpointFileName, auditAnchorFileName].contains(name) && !name.hasSuffix(".tmp") { names.append(name) }
    }
    closedir(d)
    return names.sorted()
}

func lines(_ path: String) throws -> [String] {
    try readFile(path).split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
}

func writeLines(_ path: String, _ ls: [String]) throws {
    try writeFileAtomically(path, Array((ls.joined(separator: "\n") + "\n").utf8), mode: 0o640)
}

let fixedClock: @Sendable () -> (seconds: Int64, nanos: Int32) = { (1_795_802_400, 123_456_789) }

/// A directory with `n` records written with a fixed clock.
func makeLog(_ n: Int, maxFileBytes: Int = 1 << 20, keepFiles: Int = 16) throws -> (String, AuditLog) {
    let dir = tempDir() + "/audit"
    let log = try AuditLog(directory: dir, maxFileBytes: maxFileBytes, keepFiles: keepFiles, wallClock: fixedClock)
    for i in 0..<n { try log.append("test.event", [("i", .int(Int64(i))), ("who", "tech")]) }
    return (dir, log)
}

func cleanup(_ dir: String) {
    let parent = String(dir[..<dir.lastIndex(of: "/")!])
    rmTree(parent)
}

@Suite("Audit log: format")
struct FormatTests {
    @Test func timestamps() {
        #expect(auditTimestamp(seconds: 0, nanos: 0) == "1970-01-01T00:00:00.000Z")
        #expect(auditTimestamp(seconds: 1_795_802_400, nanos: 123_456_789) == "2026-11-27T18:00:00.123Z")
        #expect(auditTimestamp(seconds: 951_782_400, nanos: 999_999_999) == "2000-02-29T00:00:00.999Z")
        #expect(auditTimestamp(seconds: 4_107_542_399, nanos: 0) == "2100-02-28T23:59:59.000Z")
        #expect(auditTimestamp(seconds: -1, nanos: 0) == "1969-12-31T23:59:59.000Z")
    }

    @Test func escaping() {
        #expect(jsonString("plain") == "\"plain\"")
        #expect(jsonString("a\"b\\c") == "\"a\\\"b\\\\c\"")
        #expect(jsonString("l1\nl2\r\t\u{0}\u{1f}\u{7f}") == "\"l1\\u000al2\\u000d\\u0009\\u0000\\u001f\\u007f\"")
        #expect(jsonString("Zoë ✓") == "\"Zoë ✓\"")
    }

    @Test func recordLayoutAndEscapingInTheLog() throws {
        let (dir, log) = try makeLog(0)
        defer { cleanup(dir) }
        let seq = try log.append("config.change", [("key", "name\"with\\odd\nchars\u{1}"), ("pin", .masked), ("n", -42),
                                                   ("ok", true), ("none", .null)])
        #expect(seq == 1)
        let l = try lines(dir + "/audit.log")
        #expect(l.count == 1)
        let expectedPrefix = "{\"seq\":1,\"time\":\"2026-11-27T18:00:00.123Z\",\"mono_ns\":"
        #expect(l[0].hasPrefix(expectedPrefix))
        #expect(l[0].hasSuffix(",\"event\":\"config.change\",\"data\":{\"key\":\"name\\\"with\\\\odd\\u000achars\\u0001\",\"pin\":\"***\",\"n\":-42,\"ok\":true,\"none\":null},\"prev\":\"" + String(repeating: "0", count: 64) + "\"}"))
        #expect(!l[0].contains("\n"))
        #expect(parseAuditRecord(Array(l[0].utf8)).record?.event == "config.change")
        #expect(try verifyAuditLog(directory: dir).isIntact)
    }

    @Test func permissions() throws {
        let (dir, _) = try makeLog(1)
        defer { cleanup(dir) }
        var st = stat()
        #expect(stat(dir, &st) == 0 && st.st_mode & 0o777 == 0o750)
        #expect(stat(dir + "/audit.log", &st) == 0 && st.st_mode & 0o777 == 0o640)
    }
}

@Suite("Audit log: chain and verification")
struct ChainTests {
    @Test func thousandRecordsVerify() throws {
        let (dir, log) = try makeLog(1000)
        defer { cleanup(dir) }
        #expect(log.lastSequence == 1000)
        let r = try verifyAuditLog(directory: dir)
        #expect(r.isIntact && r.records == 1000 && r.files == 1 && r.firstSeq == 1 && r.lastSeq == 1000 && !r.startsAfterRotation)
        // prev of each line is the hash of the one before.
        let l = try lines(dir + "/audit.log")
        #expect(l[1].hasSuffix("\"prev\":\"" + auditHex(auditLineHash(Array(l[0].utf8))) + "\"}"))
        #expect(log.head.hash == auditLineHash(Array(l[999].utf8)))
    }

    @Test func editedLineIsNamed() throws {
        let (dir, _) = try makeLog(50)
        defer { cleanup(dir) }
        var l = try lines(dir + "/audit.log")
        l[19] = l[19].replacingOccurrences("\"tech\"", "\"tecH\"")
        try writeLines(dir + "/audit.log", l)
        let r = try verifyAuditLog(directory: dir)
        #expect(r.problems == [AuditProblem(file: "audit.log", line: 20,
            message: "line 20 was changed (or a line after it was inserted): its hash does not match the prev of audit.log line 21")])
    }

    @Test func deletedLineIsAGap() throws {
        let (dir, _) = try makeLog(30)
        defer { cleanup(dir) }
        var l = try lines(dir + "/audit.log")
        l.removeSubrange(9...11)  // seq 10, 11, 12
        try writeLines(dir + "/audit.log", l)
        let r = try verifyAuditLog(directory: dir)
        #expect(r.problems.count == 1)
        #expect(r.problems.first == AuditProblem(file: "audit.log", line: 10, message: "records 10…12 missing (deleted)"))
        #expect(r.records == 27)
    }

    @Test func swappedLinesAreReported() throws {
        let (dir, _) = try makeLog(30)
        defer { cleanup(dir) }
        var l = try lines(dir + "/audit.log")
        l.swapAt(4, 5)
        try writeLines(dir + "/audit.log", l)
        let r = try verifyAuditLog(directory: dir)
        #expect(!r.isIntact)
        #expect(r.problems.contains { $0.line == 6 && $0.message.contains("backwards") })
        #expect(r.problems.allSatisfy { !$0.message.contains("deleted") })
    }

    @Test func garbageAndPartialLines() throws {
        let (dir, _) = try makeLog(10)
        defer { cleanup(dir) }
        var l = try lines(dir + "/audit.log")
        l[3] = "not json at all"
        var bytes = Array((l.joined(separator: "\n") + "\n").utf8)
        bytes += Array("{\"seq\":11,\"ti".utf8)
        try writeFileAtomically(dir + "/audit.log", bytes)
        let r = try verifyAuditLog(directory: dir)
        #expect(r.problems.contains { $0.line == 4 && $0.message.contains("not an audit record") })
        #expect(r.problems.contains { $0.line == 11 && $0.message.contains("partial last line") })
        #expect(!r.problems.contains { $0.message.contains("missing") })
    }

    @Test func reopenContinuesSeqAndChain() throws {
        let (dir, log) = try makeLog(5)
        defer { cleanup(dir) }
        _ = log
        let again = try AuditLog(directory: dir, wallClock: fixedClock)
        #expect(again.lastSequence == 5)
        #expect(try again.append("agent.start") == 6)
        let r = try verifyAuditLog(directory: dir)
        #expect(r.isIntact && r.records == 6 && r.lastSeq == 6)
        #expect(try again.tail(2).map { parseAuditRecord(Array($0.utf8)).record!.seq } == [5, 6])
    }

    @Test func partialLastLineIsRecovered() throws {
        let (dir, _) = try makeLog(7)
        defer { cleanup(dir) }
        let fd = open(dir + "/audit.log", O_WRONLY | O_APPEND)
        let junk = Array("{\"seq\":8,\"time\":\"2026-11-27T18:0".utf8)
        _ = junk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        #expect(!(try verifyAuditLog(directory: dir).isIntact))
        let log = try AuditLog(directory: dir, wallClock: fixedClock)
        #expect(log.lastSequence == 8)
        let last = try log.tail(1)[0]
        #expect(last.contains("\"event\":\"audit.recovered\""))
        #expect(last.contains("\"dropped_bytes\":\(junk.count)"))
        try log.append("agent.start")
        let r = try verifyAuditLog(directory: dir)
        #expect(r.isIntact && r.records == 9)
    }

    @Test func concurrentAppendsAreContiguous() async throws {
        let (dir, log) = try makeLog(0)
        defer { cleanup(dir) }
        let seqs = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for t in 0..<8 {
                group.addTask {
                    var mine: [UInt64] = []
                    for i in 0..<50 { mine.append(try log.append("hit", [("thread", .int(Int64(t))), ("i", .int(Int64(i)))])) }
                    return mine
                }
            }
            var all: [UInt64] = []
            for try await part in group { all += part }
            return all
        }
        #expect(seqs.sorted() == Array(1...400))
        let r = try verifyAuditLog(directory: dir)
        #expect(r.isIntact && r.records == 400)
    }
}

@Suite("Audit log: several processes")
struct MultiWriterTests {
    /// Two writers on one directory (the agent, and root running `vigil watchlist install
    /// --audit-dir` meanwhile) — here two `AuditLog`s in one process: each has its own state and
    /// its own descriptor of the lock file, as two processes would. Found by the power-cut test,
    /// where the two interleaved their sequence numbers; now the chain stays one chain, across
    /// rotations done by either.
    @Test func twoWritersKeepOneChain() async throws {
        let dir = tempDir() + "/audit"
        defer { cleanup(dir) }
        let a = try AuditLog(directory: dir, maxFileBytes: 8192, keepFiles: 100, wallClock: fixedClock)
        let b = try AuditLog(directory: dir, maxFileBytes: 8192, keepFiles: 100, wallClock: fixedClock)
        try a.append("agent.start")
        try b.append("watchlist.install")
        try a.append("hit")
        #expect(a.lastSequence == 3 && b.lastSequence == 2)   // b learns of a's append at its next one
        let seqs = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for (k, log) in [a, b].enumerated() {
                group.addTask {
                    var mine: [UInt64] = []
                    for i in 0..<150 { mine.append(try log.append("w\(k)", [("i", .int(Int64(i)))])) }
                    return mine
                }
            }
            var all: [UInt64] = []
            for try await part in group { all += part }
            return all
        }
        #expect(seqs.sorted() == Array(4...303))
        let r = try verifyAuditLog(directory: dir)
        #expect(r.isIntact && r.records == 303 && r.files > 2, "\(r.problems)")
        // a third writer opened afterwards continues the same chain
        let c = try AuditLog(directory: dir, maxFileBytes: 8192, keepFiles: 100, wallClock: fixedClock)
        #expect(try c.append("agent.stop") == 304)
        #expect(try verifyAuditLog(directory: dir).isIntact)
    }
}

@Suite("Audit log: rotation")
struct RotationTests {
    @Test func chainCrossesFiles() throws {
        let (dir, log) = try makeLog(200, maxFileBytes: 4096)
        defer { cleanup(dir) }
        let files = listDir(dir)
        #expect(files.count > 3 && files.last == "audit.log" && files.first == "audit-000000000001.log")
        let r = try verifyAuditLog(directory: dir)
        #expect(r.isIntact && r.records == 200 && r.files == files.count && r.firstSeq == 1 && r.lastSeq == 200)
        for f in files {
            var st = stat()
            #expect(stat(dir + "/" + f, &st) == 0 && st.st_size <= 4096)
        }
        // The first record of the second file chains to the last line of the first.
        let first = try lines(dir + "/" + files[0]), second = try lines(dir + "/" + files[1])
        #expect(parseAuditRecord(Array(second[0].utf8)).record?.prev == auditLineHash(Array(first.last!.utf8)))
        #expect(log.lastSequence == 200)
        // tail reaches back across files.
        #expect(try log.tail(150).count == 150)
        #expect(try tailAuditLog(directory: dir, count: 1000).count == 200)

        // An edit in a rotated file is found and named.
        var l = try lines(dir + "/" + files[1])
        l[2] = l[2].replacingOccurrences("\"tech\"", "\"xech\"")
        try writeLines(dir + "/" + files[1], l)
        let bad = try verifyAuditLog(directory: dir)
        #expect(bad.problems.count == 1 && bad.problems.first?.file == files[1] && bad.problems.first?.line == 3)
    }

    @Test func editToLastLineOfRotatedFileIsFoundInNextFile() throws {
        let (dir, _) = try makeLog(60, maxFileBytes: 4096)
        defer { cleanup(dir) }
        let files = listDir(dir)
        var l = try lines(dir + "/" + files[0])
        l[l.count - 1] = l[l.count - 1].replacingOccurrences("\"tech\"", "\"tecx\"")
        try writeLines(dir + "/" + files[0], l)
        let r = try verifyAuditLog(directory: dir)
        #expect(r.problems.count == 1 && r.problems.first?.file == files[0] && r.problems.first?.line == l.count)
    }

    @Test func keepFilesPrunesOldest() throws {
        let (dir, log) = try makeLog(200, maxFileBytes: 2048, keepFiles: 3)
        defer { cleanup(dir) }
        try log.noteAnchored(through: log.lastSequence)   // the head went off the device: pruning may delete
        #expect(log.pressure != .none)   // nothing could be deleted before
        var n = 0
        while log.pressure != .none && n < 100 { try log.append("test.event", [("who", "tech")]); n += 1 }   // up to the next rotation
        let files = listDir(dir)
        #expect(files.count == 4 && files.last == "audit.log")
        #expect(!files.contains("audit-000000000001.log"))
        let r = try verifyAuditLog(directory: dir)
        let last = log.lastSequence
        #expect(r.isIntact && r.startsAfterRotation && r.lastSeq == last && r.firstSeq! > 1)
        #expect(r.records == Int(r.lastSeq! - r.firstSeq! + 1))
        // Reopening after rotation continues.
        let again = try AuditLog(directory: dir, maxFileBytes: 2048, keepFiles: 3, wallClock: fixedClock)
        #expect(try again.append("agent.stop") == last + 1)
        #expect(try verifyAuditLog(directory: dir).isIntact)
    }

    @Test func deletingARotatedFileInTheMiddleIsAGap() throws {
        let (dir, _) = try makeLog(120, maxFileBytes: 2048)
        defer { cleanup(dir) }
        let files = listDir(dir)
        #expect(files.count >= 4)
        unlink(dir + "/" + files[1])
        let r = try verifyAuditLog(directory: dir)
        #expect(r.problems.count == 1 && r.problems.first!.message.hasSuffix("missing (deleted)") && r.problems.first?.file == files[2])
    }
}

extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String {
        guard let r = self.firstRange(of: a) else { return self }
        var s = self
        s.replaceSubrange(r, with: b)
        return s
    }
}
