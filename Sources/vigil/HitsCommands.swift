import ArgumentParser
import Audit
import Enrollment
import Hits
import VigilCore
import Watchlist

#if canImport(Glibc)
import Glibc
#endif

extension Vigil {
    struct HitsCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hits",
            abstract: "Sealed hit records: open them (agency side), test sealing.",
            subcommands: [Open.self, SealTest.self, Upload.self])
    }
}

extension Vigil.HitsCommand {
    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Agency side: verify device signatures and decrypt hit records (files or directories).",
            discussion: "Tampered, foreign or replayed records are reported, never opened silently. A hit is a candidate for human review, not an identification.")
        @Option(help: "Agency private key (vigil keys generate --role agency).") var key: String
        @Option(name: .customLong("device-pub"), help: "Public key of a device whose records are accepted (repeatable); FILE@YYYY-MM-DD: not after that date (retired or compromised key).") var devicePub: [String]
        @Flag(help: "One JSON object per record and line.") var json = false
        @Argument(help: "Record files or directories of them.") var paths: [String]

        func run() throws {
            let agency: AgencyPrivateKey
            var devices: [(key: DevicePublicKey, validUntilMillis: Int64?)] = []
            do {
                agency = try AgencyPrivateKey(file: key)
                for p in devicePub {
                    let parts = p.split(separator: "@", maxSplits: 1).map(String.init)
                    var end: Int64?
                    if parts.count == 2 {
                        guard let day = parseDay(parts[1]) else { throw fail("--device-pub \(p): date must be YYYY-MM-DD") }
                        end = (day + 86_400) * 1000 - 1  // through the end of that day (UTC)
                    }
                    devices.append((try DevicePublicKey(file: parts[0]), end))
                }
            } catch let e as ExitCode { throw e } catch { throw fail("\(error)") }
            let listing: RecordFileListing
            do { listing = try RecordFileListing.collect(paths) } catch { throw fail("\(error)") }
            let files = listing.files
            var seen = Set<[UInt8]>()
            var bad = 0
            if !json { print("record                                sequence  captured (UTC)            clock     camera     list  entry                             score  threshold  est. FMR      mode") }
            for f in files {
                do {
                    let r = try SealedRecord(parsing: try readFile(f, maximumBytes: ReadLimit.hitRecord))
                    let body = try r.open(agency: agency, devices: devices)
                    guard seen.insert(r.id + r.deviceKeyID).inserted else { throw HitRecordError.replayed(id: r.idString) }
                    if json {
                        print(body.json(record: r).text)
                    } else {
                        let when = auditTimestamp(seconds: body.captureWallMillis / 1000, nanos: Int32(body.captureWallMillis % 1000) * 1_000_000)
                        let clock = body.clockSynchronized.map { $0 ? "synced" : "UNSYNCED" } ?? "unknown"
                        print("\(r.idString)  \(r.sequence)  \(when)  \(clock)  \(TerminalText.safe(body.cameraID))  v\(body.watchlistVersion)  \(hex(body.entryID))  \(body.score)  \(body.threshold)  \(body.estimatedFalseMatchRate.map(oneIn) ?? "unknown")  \(body.mode)")
                    }
                } catch {
                    bad += 1
                    _ = fail(about(f, error), code: 0)
                }
            }
            for (path, reason) in listing.skipped { _ = fail("\(path): skipped: \(reason)", code: 0) }
            let skipped = listing.skipped.isEmpty ? "" : ", \(listing.skipped.count) skipped"
            if !json { print("\(files.count - bad) opened, \(bad) refused\(skipped) — each hit is a candidate for human review, not an identification") }
            if bad > 0 { throw ExitCode(1) }
        }
    }

    /// Seals synthetic hits into an outbox (tests of the outbox, uploader and crash safety).
    struct SealTest: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seal-test", abstract: "Seal N synthetic hit records into an outbox (tests only).", shouldDisplay: false)
        @Option(help: "Records to seal.") var count: Int = 1
        @Option(help: "Outbox directory.") var outbox: String
        @Option(help: "Outbox capacity in bytes.") var capacity: Int = 64 << 20
        @Option(name: .customLong("device-key"), help: "Device private key.") var deviceKey: String
        @Option(name: .customLong("agency-pub"), help: "Agency public key.") var agencyPub: String
        @Option(help: "Crop bytes per record (synthetic).") var crop: Int = 0
        @Option(name: .customLong("audit-dir"), help: "Also append a `hit` audit record per seal, with the audit head in the record (as the agent does).")
        var auditDir: String?

        func run() throws {
            do {
                let device = try DeviceSigningKey(file: deviceKey)
                let agency = try AgencyPublicKey(file: agencyPub)
                let box = try Outbox(directory: outbox, capacityBytes: capacity)
                let audit = try auditDir.map { try AuditLog(directory: $0) }
                for i in 0..<count {
                    var ts = timespec()
                    clock_gettime(CLOCK_REALTIME, &ts)
                    let ms = Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
                    var entry = [UInt8](repeating: 0, count: 16)
                    entry[0] = UInt8(i & 0xff); entry[1] = UInt8((i >> 8) & 0xff); entry[15] = 0xE7
                    let body = HitBody(captureWallMillis: ms, captureMonotonicNanos: MonotonicInstant.now().nanoseconds, cameraID: "cam0",
                                       watchlistVersion: 1, entryID: entry, score: 0.95, threshold: 0.93, embedderID: "dlib_resnet_int8",
                                       quality: 0.8, box: [10, 20, 64, 80], mode: .investigative, auditHead: audit?.head.hash ?? [UInt8](repeating: 0xA5, count: 32),
                                       crop: [UInt8](repeating: 0xD8, count: crop))
                    let item = try box.record(body, device: device, agency: agency, nowMillis: ms)
                    _ = try audit?.append("hit", [("id", .string(item.id))])
                    // flushed at once: a power-cut test counts only what was reported sealed
                    print("sealed \(item.id) seq \(item.sequence) \(item.size) bytes")
                    fflush(nil)
                }
            } catch { throw fail("\(error)") }
        }
    }
}

/// A false-match rate as a reviewer reads it: "1 in 48,000" (1/rate to two significant
/// figures, thousands grouped); "1 in 1" at or above 1, "below 1 in 10^15" for tiny rates.
func oneIn(_ rate: Double) -> String {
    guard rate.isFinite, rate > 0 else { return rate == 0 ? "below 1 in 10^15" : "unknown" }
    let n = 1 / rate
    guard n < 1e15 else { return "below 1 in 10^15" }
    guard n >= 1 else { return "1 in 1" }
    let digits = Int(log10(n).rounded(.down))
    let unit = digits >= 2 ? pow(10, Double(digits - 1)) : 1
    let rounded = Int64((n / unit).rounded() * unit)
    var text = String(rounded), grouped = ""
    while text.count > 3 { grouped = "," + text.suffix(3) + grouped; text = String(text.dropLast(3)) }
    return "1 in " + text + grouped
}

/// YYYY-MM-DD → Unix seconds at UTC midnight.
func parseDay(_ s: String) -> Int64? { Enrollment.parseDate(s) }
