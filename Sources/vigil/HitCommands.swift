// `vigil hits upload` (device side): the outbox's sealed records PUT over HTTPS, deleted only once
// the server acknowledged them. See docs/HITS-SERVER.md.
import ArgumentParser
import Agent
import Audit
import Dispatch
import HitUpload
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Set by the first SIGTERM/SIGINT, which cancels the upload (a PUT in flight is abandoned, its
/// record stays queued); a second signal exits at once.
private let uploadStopRequested = Atomic<Bool>(false)

extension Vigil.HitsCommand {
    struct Upload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Device side: upload sealed hit records from the outbox over HTTPS (pinned CA, client certificate).",
            discussion: "Config keys (key = value): server, ca, client_cert, client_key, outbox, capacity, backoff, max_backoff, retries, timeout. A record is deleted only after the server answered 2xx for it. See docs/HITS-SERVER.md.")
        @Option(help: "Upload config file.") var config: String
        @Flag(help: "Upload what is pending and exit (0 once the outbox is empty, non-zero on failure); without it, keep running until SIGTERM/SIGINT.") var once = false
        @Option(help: "Audit log directory: records each run's upload.result (counts only, never record contents).") var auditDir: String?

        func run() async throws {
            let audit = openAuditDirectory(auditDir)
            let c: UploadConfig
            do { c = try UploadConfig(file: config) } catch {
                _ = try? audit?.append("upload.result", [("result", "failed"), ("reason", .string(String("\(error)".prefix(300))))])
                throw fail("upload: \(error)")
            }
            let uploader = HitUploader(config: c, log: { line in
                _ = ("vigil: upload: " + line + "\n").utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
            })
            let work = Task { try await uploader.run(once: once) }
            // signals as events (no flag to poll): the first cancels the upload task
            let sources = [SIGTERM, SIGINT].map { sig in
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler {
                    if uploadStopRequested.exchange(true, ordering: .relaxed) { _exit(130) }
                    work.cancel()
                }
                source.resume()
                return source
            }
            defer { sources.forEach { $0.cancel() } }
            let r: UploadReport
            do { r = try await work.value } catch {
                _ = try? audit?.append("upload.result", [("result", "failed"), ("reason", .string(String("\(error)".prefix(300))))])
                throw fail("upload: \(error)")
            }
            _ = try? audit?.append("upload.result", [("result", r.left == 0 ? "outbox empty" : "records left"), ("uploaded", .int(Int64(r.uploaded))),
                                                     ("bytes", .int(Int64(r.bytes))), ("retried", .int(Int64(r.retried))),
                                                     ("left", .int(Int64(r.left))), ("stopped", .bool(r.stopped)),
                                                     ("quarantined", .int(Int64(r.quarantined)))])
            var line = "uploaded \(r.uploaded) record\(r.uploaded == 1 ? "" : "s") (\(r.bytes) bytes)"
            if r.retried > 0 { line += ", \(r.retried) failed attempt\(r.retried == 1 ? "" : "s") retried" }
            line += r.left == 0 ? "; outbox empty" : "; \(r.left) left in the outbox"
            if r.quarantined > 0 { line += "; \(r.quarantined) refused entr\(r.quarantined == 1 ? "y" : "ies") moved to outbox/quarantine" }
            if r.stopped { line += "; stopped by signal" }
            print(line)
        }
    }
}
