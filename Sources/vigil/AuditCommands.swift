import ArgumentParser
import Audit
import VigilCore

extension Vigil {
    struct AuditCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "The hash-chained audit log: verify it, show its newest records.",
            subcommands: [Verify.self, Tail.self])
    }
}

extension Vigil.AuditCommand {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every record, the sequence and the hash chain across rotated files.",
            discussion: "Exit 0 with a summary line when the chain is intact; exit 1 with one line per problem (file, line, what is wrong) otherwise. Read-only: safe on a live log and on a copy.")
        @Argument(help: "The audit log directory.") var directory: String

        func run() throws {
            let report: AuditReport
            do { report = try verifyAuditLog(directory: directory) } catch { throw fail("\(error)") }
            for p in report.problems { _ = fail("\(directory)/\(p.file):\(p.line): \(p.message)", code: 0) }
            guard report.isIntact else { throw ExitCode(1) }
            let span = report.firstSeq.map { "seq \($0)…\(report.lastSeq ?? $0)" } ?? "empty"
            print("audit: \(report.records) records in \(report.files) files, chain intact (\(span))")
            if report.startsAfterRotation {
                print("audit: older records were rotated away; the chain is verified from seq \(report.firstSeq ?? 0)")
            }
        }
    }

    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the newest records (JSON lines, oldest first). Never writes to the log.")
        @Option(name: .short, help: "How many records.") var n: Int = 20
        @Argument(help: "The audit log directory.") var directory: String

        func run() throws {
            guard n >= 0 else { throw fail("-n must not be negative") }
            do {
                for line in try tailAuditLog(directory: directory, count: n) { print(line) }
            } catch { throw fail("\(error)") }
        }
    }
}
