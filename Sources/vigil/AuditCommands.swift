import ArgumentParser
import Audit
import VigilCore
import Watchlist

extension Vigil {
    struct AuditCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "The hash-chained audit log: verify it, show its newest records, anchor it.",
            subcommands: [Verify.self, Tail.self, Anchor.self])
    }
}

extension Vigil.AuditCommand {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every record, the sequence and the hash chain across rotated files, and both ends of the log.",
            discussion: "Exit 0 with a summary line when the chain is intact; exit 1 with one line per problem (file, line, what is wrong) otherwise. The first record must start the chain or an audit.pruned record must account for the older ones; the last must be the one audit.checkpoint holds (an edited last record or a cut tail is reported). With --device-key the checkpoint must be signed by that key. Read-only: safe on a live log and on a copy.")
        @Option(name: .customLong("device-key"), help: "The device's public key (device.pub): the checkpoint must be signed with it.")
        var deviceKey: String?
        @Argument(help: "The audit log directory.") var directory: String

        func run() throws {
            var publicKey: [UInt8]?
            if let deviceKey {
                do throws(WatchlistError) { publicKey = try DevicePublicKey(file: deviceKey).raw } catch { throw fail("\(error)") }
            }
            let report: AuditReport
            do { report = try verifyAuditLog(directory: directory, devicePublicKey: publicKey) } catch { throw fail("\(error)") }
            for p in report.problems { _ = fail("\(directory)/\(p.file):\(p.line): \(p.message)", code: 0) }
            guard report.isIntact else { throw ExitCode(1) }
            let span = report.firstSeq.map { "seq \($0)…\(report.lastSeq ?? $0)" } ?? "empty"
            print("audit: \(report.records) records in \(report.files) files, chain intact (\(span))")
            if let cp = report.checkpointSequence {
                print("audit: the last record matches the checkpoint (seq \(cp))" + (report.checkpointSigned ? ", signed by the device key" : publicKey == nil ? " (signature not checked: pass --device-key)" : ""))
            }
            if report.startsAfterRotation {
                print("audit: older records were rotated away (an audit.pruned record says so); the chain is verified from seq \(report.firstSeq ?? 0)")
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

    struct Anchor: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say that the log up to a seq has been copied off the device, so rotation may delete it.",
            discussion: "Rotation never deletes rotated files whose records are not anchored off the device (the agent shows that as audit pressure). After copying the log off the device and verifying the copy, anchor it up to the last seq you hold. The act is itself audited.")
        @Option(help: "The last seq held off the device.") var through: UInt64
        @Option(name: .customLong("device-key"), help: "The device's signing key (device.key), so this writer signs the checkpoint as the agent does.")
        var deviceKey: String?
        @Argument(help: "The audit log directory.") var directory: String

        func run() throws {
            do {
                let key = try deviceKey.map { path throws(WatchlistError) in try DeviceSigningKey(file: path).key }
                let log = try AuditLog(directory: directory, checkpointKey: key)
                try log.noteAnchored(through: through)
                try log.append("audit.anchored", [("through_seq", .string(String(through))), ("by", "vigil audit anchor")])
                print("audit: anchored through seq \(through); rotation may delete files up to it")
            } catch { throw fail("\(error)") }
        }
    }
}
