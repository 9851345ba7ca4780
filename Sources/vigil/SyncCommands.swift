import Agent
import Audit
// `vigil watchlist publish` (agency side: bundle + signed manifest into a web directory) and
// `vigil watchlist sync` (device side: HTTPS download and install). See docs/SYNC.md.
import ArgumentParser
import Crypto
import VigilCore
import Watchlist
import WatchlistSync

#if canImport(Glibc)
import Glibc
#endif

extension Vigil.WatchlistCommand {
    struct Publish: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Agency side: copy a bundle into a web directory as list-<version>.vwl and write the signed manifest beside it.")
        @Argument(help: "Bundle file (vigil watchlist build).") var bundle: String
        @Option(help: "Authority private key (the one that signed the bundle).") var key: String
        @Option(help: "Directory served over HTTPS (created if missing).") var out: String

        func run() throws {
            do {
                let signer = try AuthorityPrivateKey(file: key)
                let bytes = try readFile(bundle, maximumBytes: ReadLimit.bundle)
                let b = try WatchlistBundle(parsing: bytes)
                // the authority publishes only what it signed: catches a wrong file or key here,
                // long before a thousand devices refuse it
                try b.verify(with: signer.publicKey)
                let name = "list-\(b.header.listVersion).vwl"
                let manifest = try WatchlistManifest.build(bundle: bytes, bundlePath: name, signer: signer)
                try makeDirectories(out)
                // 0640: the list holds embeddings and legal bases; the web server reads it as the
                // owner or through the directory's group (docs/SYNC.md), nobody else.
                try writeFileAtomically(out + "/" + name, bytes, mode: 0o640)
                try writeFileAtomically(out + "/manifest", manifest, mode: 0o640)  // last: devices see the new list only once it is complete
                print("published \(out)/\(name) (version \(b.header.listVersion), \(bytes.count) bytes, sha256 \(hex(SHA256.hash(data: bytes))))")
                print("manifest \(out)/manifest signed by \(signer.publicKey.fingerprint)")
            } catch { throw fail("\(bundle): \(error)") }
        }
    }

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Device side: fetch the signed manifest and bundle over HTTPS (pinned CA, client certificate) and install it.",
            discussion: "Config keys (key = value): server, ca, client_cert, client_key, store, authority_key, embedder, bandwidth, retries, backoff, timeout. See docs/SYNC.md.")
        @Option(help: "Sync config file.") var config: String
        @Option(help: "Audit log directory: records sync.result and watchlist.install / watchlist.reject.") var auditDir: String?

        func run() async throws {
            let outcome: SyncOutcome
            let audit = openAuditDirectory(auditDir)
            do throws(SyncError) {
                let c = try SyncConfig(file: config)
                // Expiry and staleness by a time that never goes back, as the agent judges them
                // (issue 16: the standalone sync used the raw wall clock, so setting the clock back
                // revived an expired list). Its high-water mark is kept beside the store.
                let clock = TrustedClock(path: c.store + "/clock")
                outcome = try await syncWatchlist(c, log: { line in
                    _ = ("vigil: sync: " + line + "\n").utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
                }, now: { clock.failSafeNow() })
                clock.save()
                auditSync(audit, .success(outcome), by: "vigil watchlist sync")
            } catch {
                auditSync(audit, .failure(error), by: "vigil watchlist sync")
                throw fail("sync: \(error)")
            }
            switch outcome {
            case .upToDate(let v):
                print("up to date (v\(v))")
            case .installed(let r, let from, let attempts):
                var line = "installed watchlist v\(r.version) (\(r.entries) entries, \(r.rows) embeddings)"
                if let p = r.previous { line += "; v\(p) kept as fallback" }
                if from > 0 { line += "; resumed at byte \(from)" }
                if attempts > 1 { line += "; \(attempts) attempts" }
                print(line)
            }
        }
    }
}
