import Agent
import Audit
import ArgumentParser
import Enrollment
import Faces
import Pipeline
import VigilCore
import Watchlist

#if canImport(Glibc)
import Glibc
#endif

extension Vigil {
    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Key pairs: authority (signs watchlists), agency (opens hit records), device (signs hit records).",
            subcommands: [Generate.self])

        struct Generate: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Generate a key pair: DIR/ROLE.key (0600) and DIR/ROLE.pub; prints the public fingerprint.")
            @Option(help: "authority | agency | device") var role: String
            @Option(help: "Directory for the key files (created 0700 if missing).") var out: String

            func run() throws {
                guard let r = KeyRole(rawValue: role) else { throw fail("unknown role '\(role)' (authority, agency, device)") }
                do {
                    let g = try generateKey(role: r, directory: out)
                    print("\(r.rawValue) key: \(g.privatePath) (0600, keep it secret), \(g.publicPath)")
                    print("fingerprint \(g.fingerprint)")
                } catch { throw fail("\(error)") }
            }
        }
    }

    struct WatchlistCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "watchlist",
            abstract: "Build, inspect, verify and install signed watchlist bundles.",
            subcommands: [Build.self, Inspect.self, Verify.self, Install.self, Status.self, Search.self, Synth.self, Publish.self, Sync.self])
    }
}

extension Vigil.WatchlistCommand {
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Agency side: enroll subject photos with the device's detector and embedder and sign the bundle.",
            discussion: """
                SUBJECTS is a CSV (header photo,legal_basis,category,entry_id,expires) or a directory \
                (each JPEG one entry, each sub-directory one entry with all its JPEGs; then --legal-basis \
                is required). A photo with no face or several faces is reported and skipped, never guessed. \
                Writes OUT and OUT.entries.csv (entry id → subject and photos: the agency's own mapping, \
                never sent to devices).
                """)
        @Option(help: "Subjects CSV or directory.") var subjects: String
        @Option(help: "Authority private key (vigil keys generate --role authority).") var key: String
        @Option(help: "List version: must be above every version devices have installed.") var version: UInt64
        @Option(help: "Expiry date, YYYY-MM-DD (UTC).") var expires: String
        @Option(help: "investigative (hits queued for review) | alert") var mode: String = "investigative"
        @Option(help: "Cosine threshold floor devices must not go below.") var threshold: Float = Float(FaceMatching.defaultThreshold)
        @Option(help: "Days after issue at which devices stop matching unless a newer list arrived.") var maxStalenessDays: Int = 14
        @Option(help: "Legal basis for directory input (a case or warrant reference).") var legalBasis: String?
        @Option(help: "Category code for directory input.") var category: UInt8 = 1
        @Option(help: "Worker threads (default: all cores).") var threads: Int = Enroller.availableCores
        @Option(help: "Output bundle file.") var out: String
        @Option(name: .customLong("false-match-rate"),
                help: "Operating point: the false-match rate each entry is calibrated to, e.g. 1e-4 or 1/10000 (1 in 10,000 comparisons per entry); in (1e-9, 0.1].")
        var falseMatchRate: String = "1e-4"
        @Option(help: "Folder of photos of people NOT on the list, used only to calibrate the thresholds.") var cohort: String?
        @Flag(name: .customLong("no-calibration"), help: "Write a format-1 list (the floor is every entry's threshold) for devices that read only format 1.")
        var noCalibration = false
        @OptionGroup var modelOptions: ModelOptions

        func run() throws {
            let target: Double
            do { target = try parseFalseMatchRate(falseMatchRate) } catch let e as ExitCode { throw e }
            guard !(noCalibration && cohort != nil) else { throw fail("--cohort calibrates: it cannot be combined with --no-calibration") }
            guard let m = WatchlistMode(name: mode) else { throw fail("mode must be investigative or alert, not '\(mode)'") }
            guard let exp = parseDate(expires) else { throw fail("--expires '\(expires)': use YYYY-MM-DD") }
            let now = Int64(time(nil))
            guard exp > now else { throw fail("--expires \(expires) is in the past") }
            // the device's rules (WatchlistPolicy), checked here so a typo never reaches a signature
            let floors = WatchlistPolicy.floorRange
            guard floors.contains(threshold) else { throw fail("--threshold \(threshold): devices accept floors in \(floors.lowerBound)...\(floors.upperBound)") }
            guard maxStalenessDays >= 1, maxStalenessDays <= 366 else { throw fail("--max-staleness-days must be 1...366") }
            guard version >= 1, version <= WatchlistPolicy.maximumVersion else {
                throw fail("--version \(version): must be 1...\(WatchlistPolicy.maximumVersion) (devices refuse more, and refuse a jump of more than \(WatchlistPolicy.maximumVersionJump) over the last version they installed)")
            }
            let signer: AuthorityPrivateKey
            do { signer = try AuthorityPrivateKey(file: key) } catch { throw fail("\(error)") }
            let list: [SubjectPhoto]
            do {
                if isDirectoryPath(subjects) {
                    guard let basis = legalBasis else { throw fail("a subjects directory needs --legal-basis") }
                    list = try SubjectList.readDirectory(subjects, legalBasis: basis, category: category)
                } else {
                    list = try SubjectList.readCSV(subjects, defaultCategory: category)
                }
            } catch let e as ExitCode { throw e } catch { throw fail("\(error)") }
            guard !list.isEmpty else { throw fail("\(subjects): no photos") }
            let embedder: EmbedderIdentity
            do { embedder = try modelOptions.embedderIdentity() } catch { throw fail("\(error)") }
            // The operating point goes into the header (format 2) only when entries are calibrated.
            let header = WatchlistHeader(listVersion: version, issued: now, expires: exp,
                                         maximumStaleness: Int64(maxStalenessDays) * 86_400, embedder: embedder,
                                         mode: m, thresholdFloor: threshold, dimension: 128,
                                         targetFalseMatchRate: noCalibration ? nil : target)
            var calibration: CalibrationOptions? = nil
            if !noCalibration {
                var photos: [String] = []
                if let cohort {
                    guard isDirectoryPath(cohort) else { throw fail("--cohort \(cohort): not a directory") }
                    do { photos = try cohortPhotos(cohort) } catch { throw fail("--cohort \(cohort): \(error)") }
                    guard !photos.isEmpty else { throw fail("--cohort \(cohort): no photos (JPEG, PNG, WebP)") }
                }
                calibration = CalibrationOptions(targetFalseMatchRate: target, cohort: photos)
            }
            let options = modelOptions
            let enroller = Enroller(threads: threads) { try options.analyzer(embed: true) }
            let bar = ProgressBar(total: list.count)
            let result: (bundle: [UInt8], report: EnrollmentReport)
            do { result = try enroller.build(subjects: list, header: header, signer: signer, calibration: calibration) { bar.update($0) } } catch {
                bar.finish()
                throw fail("\(error)")
            }
            bar.finish()
            let r = result.report
            for (photo, reason) in r.skipped { _ = fail("skipped \(photo): \(reason)", code: 0) }
            for s in r.droppedSubjects { _ = fail("subject \(s): no usable photo, left out", code: 0) }
            do {
                // 0600 like the entries map: a bundle holds every entry's embeddings and legal basis
                try writeFileAtomically(out, result.bundle, mode: 0o600)
                var csv = "entry_id,subject,photos\n"
                for e in r.mapping { csv += "\(e.entryID),\(e.subject),\(e.photos.joined(separator: ";"))\n" }
                try writeFileAtomically(out + ".entries.csv", Array(csv.utf8), mode: 0o600)
            } catch { throw fail("\(error)") }
            let rate = Double(r.photos) / max(r.seconds, 1e-9)
            print("\(out): version \(version), \(r.entries) entries, \(r.rows) embeddings, \(r.bundleBytes) bytes, signed by \(signer.publicKey.fingerprint)")
            print("photos \(r.photos): embedded \(r.embedded), skipped \(r.skipped.count) (no face \(r.skipped.filter { $0.1 == .noFace }.count), several faces \(r.skipped.filter { if case .severalFaces = $0.1 { true } else { false } }.count), unreadable \(r.skipped.filter { if case .unreadable = $0.1 { true } else { false } }.count)); subjects left out \(r.droppedSubjects.count)")
            // What was written, read from the file (offset 8, u16), not assumed from the options.
            let format = result.bundle.count >= 10 ? Int(result.bundle[8]) | Int(result.bundle[9]) << 8 : 0
            if r.calibration != nil, format != 2 { _ = fail("calibrated, but the list was written as format \(format): its thresholds are the floor", code: 0) }
            if let c = r.calibration, format == 2 {
                for (photo, reason) in c.cohortSkipped { _ = fail("cohort photo skipped \(photo): \(reason)", code: 0) }
                let t = c.thresholds.sorted()
                let spread = t.isEmpty ? "" : ": thresholds min \(t[0]), median \(t[t.count / 2]), max \(t[t.count - 1])"
                print("format 2: each entry calibrated to \(oneIn(c.targetFalseMatchRate)) comparisons against \(c.cohortFaces) impostor faces\(spread); \(c.fallbackEntries) entries with too few impostors for a fit (judged by the default threshold)")
            } else {
                print("format 1: every entry judged by the floor \(threshold)")
            }
            print("\(format2(r.seconds)) s on \(r.threads) threads, \(format2(rate)) photos/s; mapping in \(out).entries.csv (agency only)")
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a bundle's header, counts and signature status (never its embeddings).")
        @Argument(help: "Bundle file.") var file: String
        @Option(help: "Authority public key to check the signature with.") var pubkey: String?
        @Flag(help: "Also list each entry's calibration (format 2).") var entries = false

        func run() throws {
            let b: WatchlistBundle
            do { b = try WatchlistBundle(parsing: try readFile(file, maximumBytes: ReadLimit.bundle)) } catch { throw fail(about(file, error)) }
            let h = b.header
            print("\(file): watchlist bundle format \(b.formatVersion), version \(h.listVersion)")
            print("  issued \(h.issued), expires \(h.expires), stops matching if not replaced by \(WatchlistPolicy.staleSince(h))")
            print("  mode \(h.mode), threshold floor \(h.thresholdFloor), embedder \(h.embedder.id) sha256 \(hex(h.embedder.sha256))")
            print("  entries \(b.entries.count), embeddings \(b.rowCount) x \(h.dimension)")
            if let rate = h.targetFalseMatchRate, let table = b.calibrations, !table.isEmpty {
                let t = table.map(\.threshold).sorted()
                print("  operating point \(oneIn(rate)) comparisons per entry; entry thresholds min \(t[0]), median \(t[t.count / 2]), max \(t[t.count - 1])")
                if entries {
                    for (e, c) in zip(b.entries, table) {
                        print("    \(e.idHex)  threshold \(c.threshold)  tail start \(c.tailStart) scale \(c.tailScale) mass \(c.tailMass)")
                    }
                }
            } else {
                print("  no calibration (format 1): every entry judged by the floor \(h.thresholdFloor)")
            }
            var categories: [UInt8: Int] = [:]
            for e in b.entries { categories[e.category, default: 0] += 1 }
            print("  categories " + categories.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
            print("  signed by key id \(hex(b.authorityKeyID.prefix(16)))")
            if let pubkey {
                do {
                    let k = try AuthorityPublicKey(file: pubkey)
                    try b.verify(with: k)
                    print("  signature: valid (\(k.fingerprint))")
                } catch { print("  signature: INVALID: \(error)"); throw ExitCode(1) }
            } else {
                print("  signature: not checked (pass --pubkey)")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a bundle's structure and signature; exit 0 only if valid.")
        @Argument(help: "Bundle file.") var file: String
        @Option(help: "Authority public key.") var pubkey: String

        func run() throws {
            do {
                let k = try AuthorityPublicKey(file: pubkey)
                let b = try WatchlistBundle(parsing: try readFile(file, maximumBytes: ReadLimit.bundle))
                try b.verify(with: k)
                print("\(file): signature valid, version \(b.header.listVersion), signed by \(k.fingerprint)")
            } catch { throw fail(about(file, error)) }
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Device side: verify a bundle against policy and install it (encrypted, atomic, previous kept).")
        @Argument(help: "Bundle file.") var file: String
        @Option(help: "Watchlist store directory on the device.") var store: String
        @Option(help: "Authority public key the device trusts.") var pubkey: String
        @OptionGroup var modelOptions: ModelOptions
        @Option(help: "Audit log directory: records watchlist.install or watchlist.reject.") var auditDir: String?

        func run() throws {
            let audit = openAuditDirectory(auditDir)
            do {
                let s = try WatchlistStore(directory: store, authority: try AuthorityPublicKey(file: pubkey),
                                           embedder: try modelOptions.embedderIdentity())
                let r = try s.install(try readFile(file, maximumBytes: ReadLimit.bundle))
                auditInstall(audit, r, by: "vigil watchlist install")
                print("installed watchlist v\(r.version) (\(r.entries) entries, \(r.rows) embeddings)" + (r.previous.map { "; v\($0) kept as fallback" } ?? ""))
            } catch {
                _ = try? audit?.append("watchlist.reject", [("file", .string(file)), ("reason", .string(String("\(error)".prefix(300)))), ("by", "vigil watchlist install")])
                throw fail(about(file, error))
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The device's active watchlist and whether it may match.")
        @Option(help: "Watchlist store directory on the device.") var store: String
        @Option(help: "Authority public key the device trusts.") var pubkey: String
        @OptionGroup var modelOptions: ModelOptions

        func run() throws {
            do {
                let s = try WatchlistStore(directory: store, authority: try AuthorityPublicKey(file: pubkey),
                                           embedder: try modelOptions.embedderIdentity())
                let (list, health) = s.load()
                print("\(health)")
                if let list { print("entries \(list.entries.count), embeddings \(list.rowCount), mode \(list.header.mode), highest version ever installed \(s.highestInstalledVersion)") }
                if !health.allowsMatching { throw ExitCode(2) }
            } catch let e as ExitCode { throw e } catch { throw fail("\(error)") }
        }
    }
}

extension Vigil.WatchlistCommand {
    /// Scale tests and benchmarks: a signed bundle of random unit embeddings (no photos), e.g. the
    /// 300,000 entries of a county booking-photo database. Not for real lists.
    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a signed bundle of random embeddings (scale tests and benchmarks only).", shouldDisplay: false)
        @Option(help: "Entries (one embedding each).") var entries: Int
        @Option(help: "Authority private key.") var key: String
        @Option(help: "List version.") var version: UInt64 = 1
        @Option(help: "Days until expiry.") var days: Int = 30
        @Option(help: "Random seed.") var seed: UInt64 = 1
        @Option(help: "Output bundle file.") var out: String
        @OptionGroup var modelOptions: ModelOptions

        func run() throws {
            guard entries >= 1, entries <= 10_000_000 else { throw fail("--entries must be 1...10000000") }
            do {
                let signer = try AuthorityPrivateKey(file: key)
                let now = Int64(time(nil))
                let header = WatchlistHeader(listVersion: version, issued: now, expires: now + Int64(days) * 86_400,
                                             maximumStaleness: 14 * 86_400,
                                             embedder: try modelOptions.embedderIdentity(),
                                             mode: .investigative, thresholdFloor: Float(FaceMatching.defaultThreshold), dimension: 128)
                var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
                func next() -> Float {  // xorshift → roughly normal (sum of 4 uniforms)
                    var s: Float = 0
                    for _ in 0..<4 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; s += Float(state >> 40) / Float(1 << 24) }
                    return s - 2
                }
                var list: [WatchlistEntry] = [], matrix: [Int8] = [], scales: [Float] = []
                list.reserveCapacity(entries); matrix.reserveCapacity(entries * 128); scales.reserveCapacity(entries)
                for i in 0..<entries {
                    var v = (0..<128).map { _ in next() }
                    let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    v = v.map { $0 / n }
                    let (q, s) = quantizeRow(v)
                    matrix += q; scales.append(s)
                    var id = [UInt8](repeating: 0, count: 16)
                    withUnsafeBytes(of: UInt64(i).littleEndian) { id.replaceSubrange(0..<8, with: $0) }
                    list.append(WatchlistEntry(id: id, expires: header.expires, category: 1, legalBasis: "synthetic \(i)", firstRow: i, rowCount: 1))
                }
                let bytes = try WatchlistBundle.build(header: header, entries: list, matrix: matrix, scales: scales, signer: signer)
                try writeFileAtomically(out, bytes)
                print("\(out): \(entries) synthetic entries, \(bytes.count) bytes")
            } catch { throw fail("\(error)") }
        }
    }
}

func isDirectoryPath(_ p: String) -> Bool {
    var st = stat()
    return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// A progress bar on stderr when it is a terminal (redrawn in place), else a line every 10 %.
final class ProgressBar {
    let total: Int
    let tty = isatty(2) != 0
    var lastDecile = -1
    init(total: Int) { self.total = total }

    func update(_ p: EnrollmentProgress) {
        let rate = Double(p.done) / max(p.elapsed, 1e-9)
        let eta = rate > 0 ? Double(p.total - p.done) / rate : 0
        if tty {
            let width = 30, filled = total > 0 ? width * p.done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            emit("\r[\(bar)] \(p.done)/\(p.total) photos, \(p.skipped) skipped, \(format2(rate))/s, ETA \(Int(eta)) s ")
        } else {
            let decile = total > 0 ? 10 * p.done / total : 10
            if decile != lastDecile {
                lastDecile = decile
                emit("enroll: \(p.done)/\(p.total) photos, \(p.skipped) skipped, \(format2(rate))/s\n")
            }
        }
    }
    func finish() { if tty { emit("\n") } }
    private func emit(_ s: String) {
        _ = s.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    }
}

/// `--false-match-rate`: a decimal ("1e-4", "0.0001") or a fraction ("1/10000"), in (1e-9, 0.1]:
/// below 1e-9 no enrollment has the impostor scores to calibrate it, above 0.1 a "match" is noise.
func parseFalseMatchRate(_ text: String) throws -> Double {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    var value: Double?
    if parts.count == 1 { value = Double(text) }
    else if parts.count == 2, let a = Double(parts[0]), let b = Double(parts[1]), b != 0 { value = a / b }
    guard let r = value, r.isFinite else { throw fail("--false-match-rate '\(text)': use a number such as 1e-4 or 1/10000") }
    guard r > 1e-9, r <= 0.1 else {
        throw fail("--false-match-rate \(text): must be in (1e-9, 0.1] (1e-4 = 1 in 10,000 comparisons per entry)")
    }
    return r
}

/// The photos of a cohort folder (JPEG, PNG, WebP; not recursive), sorted so a build is repeatable.
func cohortPhotos(_ dir: String) throws -> [String] {
    guard let d = opendir(dir) else { throw FileError(path: dir, operation: "open directory", errno: .current) }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if !n.hasPrefix("."), isPhotoName(n) { names.append(n) }
    }
    return names.sorted().map { dir + "/" + $0 }
}
