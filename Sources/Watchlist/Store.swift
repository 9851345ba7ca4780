// The device's watchlist store: install (verify → check policy → encrypt → activate atomically),
// load at start (decrypt → verify again → fall back to the previous list if the active one is
// unusable), and the health of what is active.
//
// Directory layout (0700):
//   storage.key       32-byte ChaCha20-Poly1305 key, 0600, created on first use
//   state             "vigil-watchlist-state 1", highest version ever installed, active, previous
//   list-<V>.enc      bundle V sealed in 1 MiB ChaCha20-Poly1305 chunks (SealedFile.swift), context
//                     "vigil-watchlist-v1:<V>" in every chunk's AAD
// Only the active and the previous list files are kept.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto
import VigilCore

/// What the device's matching may rely on, and why not when it may not.
public enum WatchlistHealth: Sendable, Equatable, CustomStringConvertible {
    /// No list installed: nothing can match.
    case none
    /// The active list matches.
    case active(version: UInt64)
    /// The active list is older than its maximum staleness: it stops matching until a newer one
    /// is installed (a device that missed its dock must not keep matching an old list).
    case stale(version: UInt64, since: Int64)
    /// The active list passed its expiry.
    case expired(version: UInt64, at: Int64)
    /// The active list could not be loaded (corrupt or tampered at rest); the previous one is used.
    case fallback(version: UInt64, reason: String)
    /// No stored list could be loaded (nor a previous one): matching off until a list is installed.
    case unusable(reason: String)

    public var description: String {
        switch self {
        case .none: "no watchlist installed: matching off"
        case .active(let v): "watchlist v\(v) active"
        case .stale(let v, let s): "watchlist v\(v) STALE since \(s): matching off until a newer list is installed"
        case .expired(let v, let a): "watchlist v\(v) EXPIRED at \(a): matching off"
        case .fallback(let v, let r): "watchlist: active list unusable (\(r)); previous v\(v) in use"
        case .unusable(let r): "watchlist UNUSABLE (\(r)): matching off until a list is installed"
        }
    }
    /// Whether faces may be matched at all.
    public var allowsMatching: Bool {
        switch self { case .active, .fallback: true; default: false }
    }
}

/// The outcome of an install.
public struct InstallReport: Sendable, Equatable {
    public var version: UInt64
    public var previous: UInt64?
    public var entries: Int
    public var rows: Int
}

public final class WatchlistStore {
    public let directory: String
    let authority: AuthorityPublicKey
    let embedder: EmbedderIdentity
    let key: SymmetricKey
    /// Unix seconds; injected so tests can travel in time.
    let now: () -> Int64

    struct State: Equatable {
        var highest: UInt64 = 0
        var active: UInt64 = 0
        var previous: UInt64 = 0
    }

    /// Opens (creating if needed) the store in `directory`.
    public init(directory: String, authority: AuthorityPublicKey, embedder: EmbedderIdentity,
                now: @escaping () -> Int64 = { Int64(time(nil)) }) throws(WatchlistError) {
        self.directory = directory
        self.authority = authority
        self.embedder = embedder
        self.now = now
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .storage(FileError(path: directory, operation: "create directory", errno: .current))
        }
        // Whoever can write here can delete the rollback state or swap stored lists: the store is
        // the agent's alone (created 0700; an existing one that others can write is refused).
        var dst = stat()
        guard lstat(directory, &dst) == 0, (dst.st_mode & S_IFMT) == S_IFDIR else { throw .key("\(directory): the watchlist store is not a directory") }
        guard dst.st_mode & 0o022 == 0 else {
            throw .key("\(directory): permissions \(String(dst.st_mode & 0o777, radix: 8)) let others change the watchlist store; it must be 700")
        }
        let keyPath = directory + "/storage.key"
        if access(keyPath, F_OK) != 0 {
            let k = SymmetricKey(size: .bits256)
            let raw = k.withUnsafeBytes { Array($0) }
            do { try writeFileAtomically(keyPath, raw, mode: 0o600) } catch { throw .storage(error) }
        }
        var st = stat()
        guard lstat(keyPath, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw .key("\(keyPath): not a regular file") }
        guard st.st_mode & 0o077 == 0 else { throw .key("\(keyPath): permissions \(String(st.st_mode & 0o777, radix: 8)) let others read the storage key; it must be 600") }
        let raw: [UInt8]
        do { raw = try readFile(keyPath, maximumBytes: ReadLimit.key, symlinks: .refuse) } catch { throw .storage(error) }
        guard raw.count == 32 else { throw .key("\(keyPath): not a 32-byte key") }
        key = SymmetricKey(data: raw)
    }

    var statePath: String { directory + "/state" }
    func listPath(_ v: UInt64) -> String { directory + "/list-\(v).enc" }

    func readState() throws(WatchlistError) -> State {
        guard access(statePath, F_OK) == 0 else { return State() }
        let bytes: [UInt8]
        do { bytes = try readFile(statePath, maximumBytes: ReadLimit.state, symlinks: .refuse) } catch { throw .storage(error) }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard lines.count == 4, lines[0] == "vigil-watchlist-state 1" else { throw .corruptStorage("\(statePath): unreadable state file") }
        func value(_ line: Substring, _ name: String) throws(WatchlistError) -> UInt64 {
            guard line.hasPrefix(name + " "), let v = UInt64(line.dropFirst(name.count + 1)) else {
                throw .corruptStorage("\(statePath): bad '\(name)' line")
            }
            return v
        }
        return State(highest: try value(lines[1], "highest"), active: try value(lines[2], "active"), previous: try value(lines[3], "previous"))
    }

    func writeState(_ s: State) throws(WatchlistError) {
        let text = "vigil-watchlist-state 1\nhighest \(s.highest)\nactive \(s.active)\nprevious \(s.previous)\n"
        do { try writeFileAtomically(statePath, Array(text.utf8), mode: 0o600) } catch { throw .storage(error) }
    }

    /// The highest version ever installed (persisted: survives reboots and reinstalls of the same store).
    public var highestInstalledVersion: UInt64 { (try? readState().highest) ?? 0 }

    /// Verifies and installs a bundle. Nothing is used before the signature verifies; a refused
    /// bundle changes nothing on disk; a crash at any point leaves the previous active list active.
    @discardableResult
    public func install(_ bytes: [UInt8]) throws(WatchlistError) -> InstallReport {
        // Parsed (matrix, entries) only inside this scope: released before the encryption.
        let (h, entryCount, rowCount) = try { () throws(WatchlistError) -> (WatchlistHeader, Int, Int) in
            let bundle = try WatchlistBundle(parsing: bytes)
            try bundle.verify(with: authority)
            return (bundle.header, bundle.entries.count, bundle.rowCount)
        }()
        var state = try readState()
        guard h.listVersion > state.highest else { throw .rollback(offered: h.listVersion, highestInstalled: state.highest) }
        guard h.listVersion - state.highest <= WatchlistPolicy.maximumVersionJump, h.listVersion <= WatchlistPolicy.maximumVersion else {
            throw .versionJump(offered: h.listVersion, highestInstalled: state.highest, limit: WatchlistPolicy.maximumVersionJump)
        }
        let t = now()
        try WatchlistPolicy.checkAdmissible(h, embedder: embedder, now: t)

        // 1. the encrypted list file, durable before anything points at it
        try SealedFile.write(bytes, to: listPath(h.listVersion), key: key, context: aad(h.listVersion))
        // 2. the state: one atomic rename switches the active list and raises the rollback floor
        let old = state
        state = State(highest: h.listVersion, active: h.listVersion, previous: old.active)
        do { try writeState(state) } catch {
            unlink(listPath(h.listVersion))
            throw error
        }
        // 3. only the active and previous lists are kept
        removeListsExcept([state.active, state.previous])
        return InstallReport(version: h.listVersion, previous: old.active == 0 ? nil : old.active,
                             entries: entryCount, rows: rowCount)
    }

    func aad(_ version: UInt64) -> [UInt8] { Array("vigil-watchlist-v1:\(version)".utf8) }

    func removeListsExcept(_ keep: [UInt64]) {
        guard let d = opendir(directory) else { return }
        defer { closedir(d) }
        var doomed: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix("list-"), name.hasSuffix(".enc"), let v = UInt64(name.dropFirst(5).dropLast(4)) else { continue }
            if !keep.contains(v) { doomed.append(directory + "/" + name) }
        }
        for p in doomed { unlink(p) }
        if !doomed.isEmpty { try? syncDirectory(containing: directory + "/state") }
    }

    /// Decrypts and re-verifies stored list `v` (at-rest tampering is caught by the AEAD tag, a
    /// swapped file by the version in the AAD, a key change by the signature).
    func loadList(_ v: UInt64) throws(WatchlistError) -> WatchlistBundle {
        let plain = try SealedFile.read(listPath(v), key: key, context: aad(v))
        let bundle = try WatchlistBundle(parsing: plain)
        try bundle.verify(with: authority)
        guard bundle.header.listVersion == v else { throw .corruptStorage("list \(v): holds version \(bundle.header.listVersion)") }
        guard bundle.header.embedder == embedder else {
            throw .wrongEmbedder(bundle: bundle.header.embedder.description, device: embedder.description)
        }
        return bundle
    }

    /// The list to match against now, and the health to report. Never throws for a bad stored
    /// list: it falls back to the previous one, or to no list, and says why in `health`.
    public func load() -> (list: WatchlistBundle?, health: WatchlistHealth) {
        let state: State
        do { state = try readState() } catch { return (nil, .unusable(reason: "\(error)")) }
        guard state.active != 0 else { return (nil, .none) }
        var reason: String?
        var bundle: WatchlistBundle?
        do { bundle = try loadList(state.active) } catch { reason = "\(error)" }
        if bundle == nil, state.previous != 0 {
            if let b = try? loadList(state.previous) {
                return (b, policyHealth(b, fallbackReason: reason))
            }
        }
        guard let b = bundle else { return (nil, .unusable(reason: reason ?? "no usable list")) }
        return (b, policyHealth(b, fallbackReason: nil))
    }

    func policyHealth(_ b: WatchlistBundle, fallbackReason: String?) -> WatchlistHealth {
        WatchlistPolicy.health(of: b.header, now: now(), fallbackReason: fallbackReason)
    }
}

/// Time rules of a list, as functions of the clock (the agent re-evaluates them continuously).
public enum WatchlistPolicy {
    public static func health(of h: WatchlistHeader, now: Int64, fallbackReason: String? = nil) -> WatchlistHealth {
        if now >= h.expires { return .expired(version: h.listVersion, at: h.expires) }
        let staleAt = staleSince(h)
        if now >= staleAt { return .stale(version: h.listVersion, since: staleAt) }
        if let r = fallbackReason { return .fallback(version: h.listVersion, reason: r) }
        return .active(version: h.listVersion)
    }

    /// The threshold floors a list may sign. Below 0.3 cosine, strangers match routinely with
    /// any L2-normalised face embedder (dlib's impostor scores centre near 0.8, ArcFace-style
    /// models' near 0); at 1 nothing but an identical embedding would ever match, which is
    /// matching switched off in disguise. Either end is a typo or an attack, never a policy.
    public static let floorRange: ClosedRange<Float> = 0.3...0.999

    /// The largest step a new list may take above the highest version a device has installed,
    /// and the largest version at all. One list a minute for two years stays within the step;
    /// versions stay far below 2^64 − 1, so neither a typo in `build --version` nor a stolen
    /// authority key can pin every device's rollback floor out of reach in one install.
    public static let maximumVersionJump: UInt64 = 1_000_000
    public static let maximumVersion: UInt64 = 1 << 40

    /// The rules a verified list must pass before it is used at all — installed on a device or
    /// searched by `vigil watchlist search` (one rule set for both): not expired, not issued in the
    /// future (5 minutes of clock skew allowed), not already stale, a sane floor, enrolled with
    /// this embedder (by content hash).
    public static func checkAdmissible(_ h: WatchlistHeader, embedder: EmbedderIdentity, now t: Int64) throws(WatchlistError) {
        guard t < h.expires else { throw .expired(expires: h.expires, now: t) }
        guard h.issued <= t + 300 else { throw .notYetValid(issued: h.issued, now: t) }
        let staleAt = staleSince(h)
        guard t < staleAt else { throw .staleAtInstall(staleSince: staleAt, now: t) }
        guard floorRange.contains(h.thresholdFloor) else { throw .floorOutOfRange(h.thresholdFloor) }
        guard h.embedder == embedder else { throw .wrongEmbedder(bundle: h.embedder.description, device: embedder.description) }
    }

    /// When a list stops matching unless replaced: issued + maximum staleness, saturating (both
    /// are signed values from outside; an unsigned or hostile header must not trap here).
    public static func staleSince(_ h: WatchlistHeader) -> Int64 {
        let (sum, overflow) = h.issued.addingReportingOverflow(h.maximumStaleness)
        return overflow ? (h.maximumStaleness > 0 ? .max : .min) : sum
    }

    /// Entries that may match at `now`: an entry past its own expiry never matches.
    public static func matchableEntries(_ b: WatchlistBundle, now: Int64) -> [WatchlistEntry] {
        b.entries.filter { now < $0.expires }
    }
}
