// Verification of a log directory: the chain, the sequence, the shape of every line. Read-only;
// works on a copy of the directory pulled off a device as well as on the live one.

/// One thing wrong with the log, named by file (its name inside the directory) and line (1-based).
public struct AuditProblem: Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String
    public init(file: String, line: Int, message: String) {
        self.file = file; self.line = line; self.message = message
    }
    public var description: String { "\(file):\(line): \(message)" }
}

/// The result of `verifyAuditLog`.
public struct AuditReport: Equatable, Sendable {
    /// Complete lines read (parseable or not).
    public var records = 0
    /// Files read (rotated files and `audit.log`).
    public var files = 0
    public var firstSeq: UInt64?
    public var lastSeq: UInt64?
    /// The oldest kept record's `prev` is not zeros and an `audit.pruned` record says the
    /// records before it were rotated away (by design, `keepFiles`), so the chain is verified
    /// from there on. Not a problem. (Older records gone *without* such a record are one.)
    public var startsAfterRotation = false
    /// The seq of the record `audit.checkpoint` holds (nil: no readable checkpoint).
    public var checkpointSequence: UInt64?
    /// The checkpoint is signed by the device key given to `verifyAuditLog`.
    public var checkpointSigned = false
    public var problems: [AuditProblem] = []
    /// The chain is unbroken and every line is a well-formed record.
    public var isIntact: Bool { problems.isEmpty }
    public init() {}
}

/// Verifies the log in `directory`: rotated files in sequence order, then `audit.log`. Every line
/// must parse, seq must go up by exactly one, and each `prev` must be the SHA-256 of the line
/// before it (across file boundaries too). Problems are told apart so a reader knows what
/// happened: a changed line (the next record's `prev` no longer matches it), deleted records (a
/// gap in seq), reordered or duplicated lines (seq out of order), lines that are not records, and
/// a partial last line (an interrupted write, repaired when the log is next opened).
///
/// Both ends: the first record must be seq 1 with `prev` zeros, or the latest `audit.pruned`
/// record must say the older ones were rotated away; the newest must be the one the checkpoint
/// (`audit.checkpoint`) holds — which catches an edited last record and a cut tail, the two
/// things the chain alone cannot show. With `devicePublicKey` the checkpoint must also be signed
/// with it (without, an attacker who rewrites the checkpoint unsigned is not caught; hit records
/// carry the head off the device either way).
public func verifyAuditLog(directory: String, devicePublicKey: [UInt8]? = nil) throws(AuditError) -> AuditReport {
    struct Line {
        var file: String
        var number: Int
        var hash: [UInt8]
        var record: ParsedAuditRecord?
    }
    var report = AuditReport()
    var names = try listRotatedFiles(directory).map { (name: $0.name, claimed: Optional($0.firstSeq)) }
    names.append((auditCurrentFileName, nil))

    // Pass 1: read everything, so that a seq gap can be told apart from lines moved elsewhere.
    var lines: [Line] = []
    for (name, claimed) in names {
        guard let bytes = try readIfExists(directory + "/" + name) else { continue }
        report.files += 1
        let (raw, partial) = splitLines(bytes)
        for (k, l) in raw.enumerated() {
            let parsed = parseAuditRecord(l)
            if parsed.record == nil {
                report.problems.append(AuditProblem(file: name, line: k + 1, message: "line \(k + 1) is not an audit record: \(parsed.error)"))
            }
            lines.append(Line(file: name, number: k + 1, hash: auditLineHash(l), record: parsed.record))
        }
        if !partial.isEmpty {
            report.problems.append(AuditProblem(
                file: name, line: raw.count + 1,
                message: "partial last line (\(partial.count) bytes without a newline): an interrupted write; opening the log repairs it"))
        }
        if let claimed {
            if raw.isEmpty {
                report.problems.append(AuditProblem(file: name, line: 1, message: "rotated file is empty"))
            } else if let first = parseAuditRecord(raw[0]).record, first.seq != claimed {
                report.problems.append(AuditProblem(file: name, line: 1, message: "file is named for seq \(claimed) but starts at seq \(first.seq)"))
            }
        }
    }
    report.records = lines.count
    let allSeqs = Set(lines.compactMap { $0.record?.seq })
    report.firstSeq = lines.lazy.compactMap { $0.record?.seq }.first
    report.lastSeq = lines.last(where: { $0.record != nil })?.record?.seq

    // The oldest records: gone by design only as far as the latest audit.pruned record says.
    let pruned = lines.last { $0.record?.event == "audit.pruned" && $0.record?.sequenceField("first_kept_seq") != nil }

    // Pass 2: the sequence and the chain. Every value read from the files is checked before any
    // arithmetic on it: a crafted seq of 0 or 2^64−1 is a problem to report, not a trap.
    var expectedSeq: UInt64?   // the seq the next line should have (nil: unknown)
    var afterLargest = false   // the line before had seq 2^64−1: nothing valid can follow
    for (k, line) in lines.enumerated() {
        guard let rec = line.record else {
            // Unknown seq: assume it was the next one, so one damaged line is one problem.
            expectedSeq = expectedSeq.flatMap { $0 < .max ? $0 + 1 : nil }
            continue
        }
        defer {
            expectedSeq = rec.seq < .max ? rec.seq + 1 : nil
            afterLargest = rec.seq == .max
        }
        if k == 0 {
            if rec.seq == 0 {
                report.problems.append(AuditProblem(file: line.file, line: line.number, message: "the first record has seq 0 (a log starts at seq 1)"))
            } else if rec.prev == auditZeroHash {
                if rec.seq != 1 {
                    report.problems.append(AuditProblem(file: line.file, line: line.number,
                        message: "the first record has seq \(rec.seq) but starts a fresh chain: \(seqRange(1, rec.seq - 1)) missing (deleted)"))
                }
            } else if let pruned, let kept = pruned.record?.sequenceField("first_kept_seq") {
                if rec.seq > kept {
                    report.problems.append(AuditProblem(file: line.file, line: line.number,
                        message: "\(seqRange(kept, rec.seq - 1)) missing (deleted): the latest audit.pruned record (\(pruned.file) line \(pruned.number)) kept them"))
                } else {
                    report.startsAfterRotation = true
                }
            } else if rec.seq == 1 {
                report.problems.append(AuditProblem(file: line.file, line: line.number,
                    message: "record 1 does not start a chain (its prev is not zeros)"))
            } else {
                report.problems.append(AuditProblem(file: line.file, line: line.number,
                    message: "\(seqRange(1, rec.seq - 1)) missing (deleted): the first record chains onto an older one and no audit.pruned record says they were rotated away"))
            }
            continue
        }
        if afterLargest {
            report.problems.append(AuditProblem(file: line.file, line: line.number,
                message: "seq \(rec.seq) follows seq \(UInt64.max), the largest possible (lines forged or reordered)"))
            continue
        }
        if let expected = expectedSeq, rec.seq != expected {
            // expected ≥ 1 here: it is a seq read before plus one
            if rec.seq > expected {
                let range = seqRange(expected, rec.seq - 1)
                let count = rec.seq - expected
                let elsewhere = count <= 1_000_000 ? (expected...(rec.seq - 1)).contains { allSeqs.contains($0) } : false
                let message = !elsewhere
                    ? "\(range) missing (deleted)"
                    : "seq jumps from \(expected - 1) to \(rec.seq): \(range) appear elsewhere (lines reordered)"
                report.problems.append(AuditProblem(file: line.file, line: line.number, message: message))
            } else if rec.seq == expected - 1 {
                report.problems.append(AuditProblem(file: line.file, line: line.number,
                    message: "seq \(rec.seq) repeated (line duplicated or inserted)"))
            } else {
                report.problems.append(AuditProblem(file: line.file, line: line.number,
                    message: "seq goes backwards from \(expected - 1) to \(rec.seq) (lines reordered)"))
            }
            continue  // the prev of a misplaced line is not expected to match its neighbour
        }
        let before = lines[k - 1]
        if rec.prev != before.hash {
            if rec.prev == auditZeroHash {
                report.problems.append(AuditProblem(file: line.file, line: line.number,
                    message: "line \(line.number) starts a new chain (prev is zeros) in the middle of the log"))
            } else {
                report.problems.append(AuditProblem(file: before.file, line: before.number,
                    message: "line \(before.number) was changed (or a line after it was inserted): its hash does not match the prev of \(line.file) line \(line.number)"))
            }
        }
    }

    // The newest record: held against the checkpoint.
    let (checkpoint, unreadable) = try AuditCheckpoint.load(directory)
    func cpProblem(_ m: String) { report.problems.append(AuditProblem(file: auditCheckpointFileName, line: 1, message: m)) }
    if let unreadable {
        cpProblem("the checkpoint cannot be read: \(unreadable)")
    } else if let checkpoint {
        report.checkpointSequence = checkpoint.record.seq
        if let devicePublicKey {
            report.checkpointSigned = checkpoint.isSigned(by: devicePublicKey)
            if checkpoint.signature == nil {
                cpProblem("the checkpoint is not signed (written without the device key, or rewritten by someone who lacks it)")
            } else if !report.checkpointSigned {
                cpProblem("the checkpoint's signature does not verify with the given device key")
            }
        }
        let last = lines.last
        switch checkpoint.fit(lastSeq: last.map { $0.record?.seq ?? 0 }, lastHash: last?.hash) {
        case .matches: break
        case .oneAhead:
            cpProblem("the last record (seq \(checkpoint.record.seq)) is only in the checkpoint: an interrupted write, or the last line deleted; opening the log restores it")
        case .mismatch(let why): cpProblem(why)
        }
    } else if !lines.isEmpty {
        cpProblem("no checkpoint beside the log: an edited last record or a cut tail cannot be detected")
    }
    // What writers found at open stays on the record.
    for line in lines {
        switch line.record?.event {
        case "audit.checkpoint_missing":
            report.problems.append(AuditProblem(file: line.file, line: line.number,
                message: "the checkpoint was missing when a writer opened the log here: records at the end before this one may have been cut"))
        case "audit.checkpoint_unsigned" where devicePublicKey != nil:
            report.problems.append(AuditProblem(file: line.file, line: line.number,
                message: "a writer with the device key found an unsigned checkpoint here: the records before it are vouched for only by a writer without the key"))
        default: break
        }
    }
    return report
}
