// Issue 16 item 8: crafted sequence numbers, a log cut at either end, rotation under pressure.
#if canImport(Glibc)
import Glibc
#endif
import Audit
import Crypto
import Testing
import VigilCore
import VigilTestSupport

/// `line` with its seq replaced (the rest, prev included, unchanged).
func withSeq(_ line: String, _ seq: UInt64) -> String {
    let start = line.firstRange(of: "{\"seq\":")!.upperBound
    let end = line[start...].firstIndex(of: ",")!
    return String(line[..<start]) + String(seq) + String(line[end...])
}

/// `line` with its prev replaced by the hash of `before` (so it chains onto it).
func chained(_ line: String, onto before: String) -> String {
    let r = line.firstRange(of: "\"prev\":\"")!
    return String(line[..<r.upperBound]) + auditHex(auditLineHash(Array(before.utf8))) + "\"}"
}

func hasProblem(_ r: AuditReport, _ needle: String) -> Bool { r.problems.contains { $0.message.contains(needle) } }

@Suite("Audit log: crafted sequence numbers")
struct CraftedSequenceTests {
    @Test func maximalSequenceNumberIsReportedNotATrap() throws {
        let (dir, log) = try makeLog(3)
        defer { cleanup(dir) }
        _ = log
        var l = try lines(dir + "/audit.log")
        l.append(chained(withSeq(l[2], UInt64.max), onto: l[2]))
        l.append(chained(withSeq(l[2], 5), onto: l[3]))     // and one after it: the expected seq wraps
        try writeLines(dir + "/audit.log", l)
        let r = try verifyAuditLog(directory: dir)
        #expect(!r.isIntact)
        #expect(hasProblem(r, "records 4…18446744073709551614 missing"))
        // writers refuse with a typed error instead of trapping on seq + 1 (no checkpoint, so
        // the sequence itself is what stops them)
        unlink(dir + "/audit.checkpoint")
        _ = try? AuditLog(directory: dir, wallClock: fixedClock)   // tail seq 5: may open, must not trap
        l.removeLast()
        try writeLines(dir + "/audit.log", l)
        unlink(dir + "/audit.checkpoint")
        do {
            _ = try AuditLog(directory: dir, wallClock: fixedClock)
            Issue.record("a log ending at seq 2^64-1 was opened")
        } catch {
            #expect("\(error)".contains("cannot be continued"), "\(error)")
        }
    }

    @Test func firstRecordsWithSeqZeroOrMaxDoNotTrap() throws {
        let (dir, _) = try makeLog(1)
        defer { cleanup(dir) }
        let one = try lines(dir + "/audit.log")[0]
        for seq: UInt64 in [0, UInt64.max, UInt64.max - 1] {
            try writeLines(dir + "/audit.log", [withSeq(one, seq), withSeq(one, 7)])
            let r = try verifyAuditLog(directory: dir)
            #expect(!r.isIntact)
        }
    }

    @Test func unparseableFirstLinesThenSeqOneOpen() throws {
        let (dir, _) = try makeLog(1)
        defer { cleanup(dir) }
        let one = try lines(dir + "/audit.log")[0]
        try writeLines(dir + "/audit.log", ["garbage", "more garbage", one])
        let log = try AuditLog(directory: dir, maxFileBytes: 600, wallClock: fixedClock)
        #expect(log.lastSequence >= 1)
        for _ in 0..<5 { try log.append("agent.start") }   // rotates the damaged file under a sane name
        #expect(log.lastSequence >= 6)
    }

    @Test func rotatedNamesUseTheFullRange() {
        #expect(auditRotatedFileName(firstSeq: 1) == "audit-000000000001.log")
        #expect(auditRotatedFileName(firstSeq: UInt64.max) == "audit-18446744073709551615.log")
    }
}

@Suite("Audit log: the first record")
struct FirstRecordTests {
    @Test func deletingTheOldestLinesIsReported() throws {
        let (dir, _) = try makeLog(10)
        defer { cleanup(dir) }
        let l = try lines(dir + "/audit.log")
        try writeLines(dir + "/audit.log", Array(l.dropFirst(3)))
        let r = try verifyAuditLog(directory: dir)
        #expect(!r.isIntact && !r.startsAfterRotation)
        #expect(hasProblem(r, "records 1…3 missing"), "\(r.problems)")
    }

    @Test func deletingTheFirstLineIsReported() throws {
        let (dir, _) = try makeLog(4)
        defer { cleanup(dir) }
        let l = try lines(dir + "/audit.log")
        try writeLines(dir + "/audit.log", Array(l.dropFirst()))
        let r = try verifyAuditLog(directory: dir)
        #expect(hasProblem(r, "record 1 missing"), "\(r.problems)")
    }

    @Test func prunedFilesAreAccountedForButDeletingMoreIsNot() throws {
        let (dir, log) = try makeLog(0, maxFileBytes: 2048, keepFiles: 2)
        defer { cleanup(dir) }
        for i in 0..<200 {
            try log.append("test.event", [("i", .int(Int64(i)))])
            try log.noteAnchored(through: log.lastSequence)     // everything is off the device at once
        }
        let files = listDir(dir).filter { $0.hasPrefix("audit-") }
        #expect(files.count == 2)
        let r = try verifyAuditLog(directory: dir)
        #expect(r.isIntact && r.startsAfterRotation && r.firstSeq! > 1, "\(r.problems)")
        #expect(log.pressure == .none)
        unlink(dir + "/" + files[0])
        let cut = try verifyAuditLog(directory: dir)
        #expect(!cut.isIntact && hasProblem(cut, "audit.pruned"), "\(cut.problems)")
    }
}

@Suite("Audit log: the checkpoint")
struct CheckpointTests {
    let key = Curve25519.Signing.PrivateKey()

    func signedLog(_ n: Int) throws -> (String, AuditLog) {
        let dir = tempDir() + "/audit"
        let log = try AuditLog(directory: dir, wallClock: fixedClock, checkpointKey: key)
        for i in 0..<n { try log.append("test.event", [("i", .int(Int64(i)))]) }
        return (dir, log)
    }

    var pub: [UInt8] { Array(key.publicKey.rawRepresentation) }

    @Test func anIntactLogVerifiesWithTheKey() throws {
        let (dir, _) = try signedLog(5)
        defer { cleanup(dir) }
        let r = try verifyAuditLog(directory: dir, devicePublicKey: pub)
        #expect(r.isIntact && r.checkpointSequence == 5, "\(r.problems)")
        let other = try verifyAuditLog(directory: dir, devicePublicKey: Array(Curve25519.Signing.PrivateKey().publicKey.rawRepresentation))
        #expect(hasProblem(other, "signature"))
    }

    @Test func editingTheLastRecordIsDetectedAndNotContinued() throws {
        let (dir, _) = try signedLog(5)
        defer { cleanup(dir) }
        var l = try lines(dir + "/audit.log")
        l[4] = l[4].replacingOccurrences("\"i\":4", "\"i\":9")
        try writeLines(dir + "/audit.log", l)
        #expect(hasProblem(try verifyAuditLog(directory: dir), "checkpoint"))
        #expect(hasProblem(try verifyAuditLog(directory: dir, devicePublicKey: pub), "checkpoint"))
        #expect(throws: AuditError.self) { _ = try AuditLog(directory: dir, wallClock: fixedClock, checkpointKey: key) }
        #expect(throws: AuditError.self) { _ = try AuditLog(directory: dir, wallClock: fixedClock) }
    }

    @Test func cuttingTheTailIsDetectedAndNotContinued() throws {
        let (dir, _) = try signedLog(6)
        defer { cleanup(dir) }
        let l = try lines(dir + "/audit.log")
        try writeLines(dir + "/audit.log", Array(l.prefix(3)))
        let r = try verifyAuditLog(directory: dir)
        #expect(hasProblem(r, "records 4…6 missing at the end"), "\(r.problems)")
        #expect(throws: AuditError.self) { _ = try AuditLog(directory: dir, wallClock: fixedClock, checkpointKey: key) }
    }

    @Test func aLastLineOnlyInTheCheckpointIsReportedThenRestored() throws {
        let (dir, _) = try signedLog(4)
        defer { cleanup(dir) }
        let l = try lines(dir + "/audit.log")
        try writeLines(dir + "/audit.log", Array(l.prefix(3)))   // as if the write after the checkpoint was lost
        #expect(hasProblem(try verifyAuditLog(directory: dir), "only in the checkpoint"))
        let log = try AuditLog(directory: dir, wallClock: fixedClock, checkpointKey: key)
        #expect(try lines(dir + "/audit.log")[3] == l[3])
        #expect(log.lastSequence == 5)   // the restored record, then audit.recovered saying so
        let r = try verifyAuditLog(directory: dir, devicePublicKey: pub)
        #expect(r.isIntact, "\(r.problems)")
    }

    @Test func aRewrittenUnsignedCheckpointFailsTheStrictCheck() throws {
        let (dir, _) = try signedLog(3)
        defer { cleanup(dir) }
        // root without the key: edits the last record and writes a matching unsigned checkpoint
        var l = try lines(dir + "/audit.log")
        l[2] = l[2].replacingOccurrences("\"i\":2", "\"i\":7")
        try writeLines(dir + "/audit.log", l)
        try writeFileAtomically(dir + "/audit.checkpoint", Array("vigil-audit-checkpoint-v1\nsig -\n\(l[2])\n".utf8))
        #expect(hasProblem(try verifyAuditLog(directory: dir, devicePublicKey: pub), "not signed"))
        // the device's own writer notes it on the record, so the strict check keeps showing it
        let log = try AuditLog(directory: dir, wallClock: fixedClock, checkpointKey: key)
        try log.append("agent.start")
        let r = try verifyAuditLog(directory: dir, devicePublicKey: pub)
        #expect(hasProblem(r, "unsigned checkpoint"), "\(r.problems)")
    }

    @Test func aDeletedCheckpointIsReportedAndRecorded() throws {
        let (dir, _) = try signedLog(3)
        defer { cleanup(dir) }
        unlink(dir + "/audit.checkpoint")
        #expect(hasProblem(try verifyAuditLog(directory: dir), "no checkpoint"))
        let log = try AuditLog(directory: dir, wallClock: fixedClock, checkpointKey: key)
        try log.append("agent.start")
        let r = try verifyAuditLog(directory: dir)
        #expect(hasProblem(r, "checkpoint was missing"), "\(r.problems)")
    }
}

@Suite("Audit log: rotation under pressure")
struct PressureTests {
    @Test func rotationKeepsUnanchoredFilesAndSaysSo() throws {
        let (dir, log) = try makeLog(300, maxFileBytes: 2048, keepFiles: 3)
        defer { cleanup(dir) }
        let files = listDir(dir).filter { $0.hasPrefix("audit-") }
        #expect(files.count > 3 && files.first == "audit-000000000001.log")
        guard case .unanchoredFilesKept(let n) = log.pressure else { Issue.record("no pressure: \(log.pressure)"); return }
        #expect(n == files.count - 3)
        #expect(try verifyAuditLog(directory: dir).isIntact)
        // once the head is off the device, the next rotation prunes down to keepFiles
        try log.noteAnchored(through: log.lastSequence)
        for _ in 0..<20 { try log.append("test.event") }
        #expect(listDir(dir).filter { $0.hasPrefix("audit-") }.count == 3)
        #expect(log.pressure == .none)
        let r = try verifyAuditLog(directory: dir)
        #expect(r.isIntact && r.startsAfterRotation, "\(r.problems)")
        // another writer opening the directory sees the same state
        let again = try AuditLog(directory: dir, maxFileBytes: 2048, keepFiles: 3, wallClock: fixedClock)
        #expect(again.pressure == .none)
    }

    @Test func anchorsOnlyMoveForward() throws {
        let (dir, log) = try makeLog(10)
        defer { cleanup(dir) }
        try log.noteAnchored(through: 8)
        try log.noteAnchored(through: 3)
        #expect(log.anchoredSequence == 8)
        #expect(throws: AuditError.self) { try log.noteAnchored(through: 11) }   // not written yet
    }
}

/// A log refused at open (here: an unreadable head) releases its descriptors: the agent and the
/// console retry opening it, and each refusal once leaked the lock file's descriptor.
@Test func aRefusedOpenLeaksNoFileDescriptors() throws {
    let dir = makeTempDirectory("auditfd")
    let fd = open(dir + "/audit.log", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let junk = Array("not a record\nnot one either\n".utf8)
    junk.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
    close(fd)
    func openDescriptors() -> Int {
        guard let d = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(d) }
        var n = 0
        while readdir(d) != nil { n += 1 }
        return n
    }
    var refused = 0
    let before = openDescriptors()
    for _ in 0..<200 { if (try? AuditLog(directory: dir)) == nil { refused += 1 } }
    #expect(refused == 200)
    #expect(openDescriptors() - before < 5, "\(openDescriptors() - before) descriptors left open by 200 refused opens")
}
