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
    /// The oldest kept record's `prev` is not zeros: older files were rotated away (by design,
    /// `keepFiles`), so the chain is verified from there on. Not a problem.
    public var startsAfterRotation = false
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
/// What the chain cannot show: an edit to the very last record, or the removal of whole records
/// from the end. Those are caught by comparing with a head carried elsewhere (`AuditLog.head`,
/// which hit records include).
public func verifyAuditLog(directory: String) throws(AuditError) -> AuditReport {
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

    // Pass 2: the sequence and the chain.
    var expectedSeq: UInt64?   // the seq the next line should have
    for (k, line) in lines.enumerated() {
        guard let rec = line.record else {
            // Unknown seq: assume it was the next one, so one damaged line is one problem.
            expectedSeq = expectedSeq.map { $0 + 1 }
            continue
        }
        defer { expectedSeq = rec.seq &+ 1 }
        if k == 0 {
            if rec.prev != auditZeroHash {
                report.startsAfterRotation = true
            } else if rec.seq != 1 {
                report.problems.append(AuditProblem(file: line.file, line: line.number,
                    message: "the first record has seq \(rec.seq) but starts a fresh chain: records 1…\(rec.seq - 1) missing (deleted)"))
            }
            continue
        }
        if let expected = expectedSeq, rec.seq != expected {
            if rec.seq > expected {
                let missing = expected...(rec.seq - 1)
                let elsewhere = missing.count <= 1_000_000 ? missing.filter { allSeqs.contains($0) }.count : 0
                let range = missing.lowerBound == missing.upperBound ? "record \(expected)" : "records \(expected)…\(rec.seq - 1)"
                let message = elsewhere == 0
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
    return report
}
