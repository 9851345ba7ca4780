// Accountability counters: how much the device looked at, per day, as totals only.
//
// Oversight needs to know the scale of the searching (how many faces were compared against the
// list for each hit), not who was seen: the counters hold numbers keyed by UTC date and nothing
// else, so the file and `vigil report` can be shown to an auditor without exposing anyone.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Config
import Synchronization
import VigilCore

/// One UTC day's totals.
public struct DayCounts: Sendable, Equatable {
    /// "YYYY-MM-DD", UTC.
    public var date: String
    public var framesProcessed: Int = 0
    public var facesDetected: Int = 0
    /// Faces whose embedding was searched against the watchlist (passed the quality gate).
    public var facesCompared: Int = 0
    public var hits: Int = 0
    /// Frames captured but never processed (the pipeline was behind).
    public var framesDropped: Int = 0

    public init(date: String, framesProcessed: Int = 0, facesDetected: Int = 0, facesCompared: Int = 0,
                hits: Int = 0, framesDropped: Int = 0) {
        self.date = date
        self.framesProcessed = framesProcessed
        self.facesDetected = facesDetected
        self.facesCompared = facesCompared
        self.hits = hits
        self.framesDropped = framesDropped
    }

    var values: [Int] { [framesProcessed, facesDetected, facesCompared, hits, framesDropped] }
}

/// The per-day counters, shared by the camera tasks, persisted to a small JSON file.
///
/// Thread-safe: `add` is called from every camera's task; the lock is held only for the
/// arithmetic, never for file I/O. Counts saturate instead of trapping on overflow.
public final class Counters: Sendable {
    /// Days kept in memory and in the file; older days are dropped (a bit over a year, enough
    /// for an annual review).
    public static let maxDays = 400
    public let path: String
    /// Why the file could not be loaded (corrupt, truncated, unreadable) and counting started
    /// afresh; nil when it loaded or did not exist yet. For the agent's log and audit record.
    public let loadNote: String?

    struct State: Sendable {
        var days: [String: DayCounts] = [:]
        var generation = 0
    }
    private let state: Mutex<State>
    struct FlushState: Sendable {
        var written = 0  // the generation last written
        var keepCorruptFile = false
    }
    /// Serialises flushes: two writers would share the temporary file beside `path`.
    private let flushLock: Mutex<FlushState>

    /// Loads `path` if it exists. A corrupt or truncated file is not fatal (counting must go
    /// on): counting starts fresh with `loadNote` saying so, and the first `flush` moves the
    /// bad file aside to `path.corrupt` for inspection instead of overwriting it. Loading
    /// itself changes nothing on disk, so `vigil report` can read the file while the agent runs.
    public init(path: String) {
        self.path = path
        var days: [String: DayCounts] = [:]
        var note: String?
        do throws(FileError) {
            let bytes = try readFile(path, maximumBytes: ReadLimit.state, symlinks: .refuse)
            switch Self.decode(bytes) {
            case .success(let loaded):
                for d in loaded { days[d.date] = d }
                Self.prune(&days)
            case .failure(let why):
                note = "counters file \(path) is corrupt (\(why.reason)); counting starts afresh and the file will be kept as \(path).corrupt"
            }
        } catch {
            if error.errno != .noSuchFile { note = "counters file \(error); starting fresh" }
        }
        loadNote = note
        state = Mutex(State(days: days))
        // A file that exists but could not be used is evidence: kept aside, never overwritten.
        flushLock = Mutex(FlushState(keepCorruptFile: note != nil))
    }

    /// Adds to the day that `wallSeconds` (Unix time, UTC) falls on. The wall clock, not the
    /// monotonic one, because the counts are reported by calendar day.
    public func add(framesProcessed: Int = 0, facesDetected: Int = 0, facesCompared: Int = 0, hits: Int = 0,
                    framesDropped: Int = 0, wallSeconds: Int64 = Counters.wallSecondsNow()) {
        let date = Self.utcDate(wallSeconds)
        state.withLock { s in
            var d = s.days[date] ?? DayCounts(date: date)
            let isNew = s.days[date] == nil
            func bump(_ v: inout Int, _ n: Int) {
                let (r, o) = v.addingReportingOverflow(max(0, n))
                v = o ? .max : r
            }
            bump(&d.framesProcessed, framesProcessed)
            bump(&d.facesDetected, facesDetected)
            bump(&d.facesCompared, facesCompared)
            bump(&d.hits, hits)
            bump(&d.framesDropped, framesDropped)
            s.days[date] = d
            if isNew { Self.prune(&s.days) }
            s.generation &+= 1
        }
    }

    /// Today's totals (UTC, by the system's wall clock).
    public var today: DayCounts { day(wallSeconds: Self.wallSecondsNow()) }

    /// The totals of the UTC day containing `wallSeconds` (zeros if nothing was counted).
    public func day(wallSeconds: Int64) -> DayCounts {
        let date = Self.utcDate(wallSeconds)
        return state.withLock { $0.days[date] } ?? DayCounts(date: date)
    }

    /// Every kept day, oldest first.
    public var days: [DayCounts] {
        state.withLock { s in s.days.values.sorted { $0.date < $1.date } }
    }

    /// Writes the counters atomically (mode 0640: the report is for the operator's group, not
    /// everyone). Skips the write when nothing changed since the last flush (flash wear: the
    /// agent flushes every minute).
    public func flush() throws(FileError) {
        try flushLock.withLock { (f: inout FlushState) throws(FileError) in
            let (generation, days) = state.withLock { s in (s.generation, s.days.values.sorted { $0.date < $1.date }) }
            if generation == f.written && Self.exists(path) && !f.keepCorruptFile { return }
            if f.keepCorruptFile {
                guard rename(path, path + ".corrupt") == 0 || errno == ENOENT else {
                    throw FileError(path: path, operation: "move aside to \(path).corrupt", errno: .current)
                }
                f.keepCorruptFile = false
            }
            try writeFileAtomically(path, Self.encode(days), mode: 0o640)
            f.written = generation
        }
    }

    /// A plain-text table of the last `days` recorded days (all kept days when nil), with
    /// totals. Only dates and numbers under fixed headings: nothing that identifies anyone.
    /// Days without a row were not recorded (the agent did not run), which is not the same as
    /// a day with zero faces, so no zero rows are invented for them.
    public func report(days limit: Int? = nil) -> String {
        var rows = days
        if let limit { rows = Array(rows.suffix(max(0, limit))) }
        let headings = ["date", "frames", "faces detected", "faces compared", "hits", "dropped"]
        var totals = [Int](repeating: 0, count: 5)
        var table: [[String]] = []
        for d in rows {
            for (i, v) in d.values.enumerated() {
                let (r, o) = totals[i].addingReportingOverflow(v)
                totals[i] = o ? .max : r
            }
            table.append([d.date] + d.values.map(String.init))
        }
        let totalRow = ["total"] + totals.map(String.init)
        var widths = headings.map(\.count)
        for row in table + [totalRow] { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i == 0 ? cell + pad : pad + cell  // dates left, numbers right
            }.joined(separator: "  ")
        }
        var out = [line(headings)]
        out += table.map(line)
        out.append(line(totalRow))
        return out.joined(separator: "\n") + "\n"
    }

    /// `vigil report`: the table, then what the configuration does to recall. The scale of the
    /// searching means little to an auditor who cannot see that the device was told to match
    /// less (a larger minimum face, a longer cooldown, a raised threshold: issue 16).
    public func report(days limit: Int? = nil, config: ConfigDocument) -> String {
        report(days: limit) + (config.recallSummary ?? "recall: no setting lowers it (matching settings at their defaults or more sensitive)") + "\n"
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    // MARK: dates

    /// Unix seconds now (CLOCK_REALTIME).
    public static func wallSecondsNow() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }

    /// "YYYY-MM-DD" of the UTC day containing `wallSeconds` (proleptic Gregorian, Howard
    /// Hinnant's civil_from_days). Clamped to 1970…9999 so dates always have four-digit years
    /// and sort as strings; a board whose clock is not set yet counts into 1970-01-01, which
    /// the report shows as it is rather than guessing.
    public static func utcDate(_ wallSeconds: Int64) -> String {
        let secs = min(max(wallSeconds, 0), 253_402_300_799)
        let z = secs / 86_400 + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))"
    }

    static func isDate(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return false }
        for i in [0, 1, 2, 3, 5, 6, 8, 9] where !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) { return false }
        let month = Int(s.dropFirst(5).prefix(2))!, day = Int(s.dropFirst(8))!
        return (1...12).contains(month) && (1...31).contains(day)
    }

    static func prune(_ days: inout [String: DayCounts]) {
        guard days.count > maxDays else { return }
        for old in days.keys.sorted().prefix(days.count - maxDays) { days[old] = nil }
    }

    // MARK: file format
    //
    // {"format":"vigil-counters","version":1,"days":[
    // {"date":"2026-11-27","frames_processed":1,"faces_detected":2,"faces_compared":3,"hits":0,"frames_dropped":0}
    // ]}
    // Our own writer and a small strict reader (no Foundation on the device).

    static let fields = ["frames_processed", "faces_detected", "faces_compared", "hits", "frames_dropped"]

    static func encode(_ days: [DayCounts]) -> [UInt8] {
        var s = "{\"format\":\"vigil-counters\",\"version\":1,\"days\":["
        for (n, d) in days.enumerated() {
            s += n == 0 ? "\n" : ",\n"
            s += "{\"date\":\"\(d.date)\""
            for (k, v) in zip(fields, d.values) { s += ",\"\(k)\":\(v)" }
            s += "}"
        }
        s += "\n]}\n"
        return Array(s.utf8)
    }

    struct DecodeError: Error { var reason: String }

    static func decode(_ bytes: [UInt8]) -> Result<[DayCounts], DecodeError> {
        var p = JSONReader(bytes: bytes)
        let value: JSONReader.Value
        do { value = try p.document() } catch { return .failure(error) }
        guard case .object(let top) = value else { return .failure(DecodeError(reason: "not an object")) }
        guard case .string("vigil-counters")? = top["format"] else { return .failure(DecodeError(reason: "not a counters file")) }
        guard case .int(1)? = top["version"] else { return .failure(DecodeError(reason: "unknown version")) }
        guard case .array(let list)? = top["days"] else { return .failure(DecodeError(reason: "no days")) }
        var out: [DayCounts] = []
        var seen = Set<String>()
        for item in list {
            guard case .object(let o) = item, case .string(let date)? = o["date"], isDate(date), seen.insert(date).inserted
            else { return .failure(DecodeError(reason: "bad day entry")) }
            var v: [Int] = []
            for k in fields {
                guard case .int(let n)? = o[k], n >= 0 else { return .failure(DecodeError(reason: "bad \(k) on \(date)")) }
                v.append(n)
            }
            out.append(DayCounts(date: date, framesProcessed: v[0], facesDetected: v[1], facesCompared: v[2],
                                 hits: v[3], framesDropped: v[4]))
        }
        return .success(out)
    }
}

/// Just enough JSON for the counters file: objects, arrays, strings, integers, true/false/null.
/// Strict (a truncated file fails instead of yielding half the days), depth-limited.
struct JSONReader {
    enum Value { case object([String: Value]), array([Value]), string(String), int(Int), other }
    typealias Failure = Counters.DecodeError
    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws(Failure) -> Value {
        let v = try value(depth: 0)
        skipSpace()
        guard i == bytes.count else { throw fail("trailing bytes") }
        return v
    }

    private func fail(_ what: String) -> Failure { Failure(reason: "\(what) at byte \(i)") }

    private mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    private mutating func expect(_ c: UInt8) throws(Failure) {
        skipSpace()
        guard i < bytes.count, bytes[i] == c else { throw fail(i < bytes.count ? "unexpected byte" : "truncated") }
        i += 1
    }

    private mutating func peek() throws(Failure) -> UInt8 {
        skipSpace()
        guard i < bytes.count else { throw fail("truncated") }
        return bytes[i]
    }

    private mutating func value(depth: Int) throws(Failure) -> Value {
        guard depth < 16 else { throw fail("nested too deeply") }
        switch try peek() {
        case UInt8(ascii: "{"):
            i += 1
            var o: [String: Value] = [:]
            if try peek() == UInt8(ascii: "}") { i += 1; return .object(o) }
            while true {
                guard try peek() == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let k = try string()
                try expect(UInt8(ascii: ":"))
                o[k] = try value(depth: depth + 1)
                let c = try peek()
                i += 1
                if c == UInt8(ascii: "}") { return .object(o) }
                guard c == UInt8(ascii: ",") else { throw fail("expected , or }") }
            }
        case UInt8(ascii: "["):
            i += 1
            var a: [Value] = []
            if try peek() == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                a.append(try value(depth: depth + 1))
                let c = try peek()
                i += 1
                if c == UInt8(ascii: "]") { return .array(a) }
                guard c == UInt8(ascii: ",") else { throw fail("expected , or ]") }
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .int(try integer())
        default:
            for word in ["true", "false", "null"] {
                let w = Array(word.utf8)
                if bytes.count - i >= w.count, Array(bytes[i..<i + w.count]) == w { i += w.count; return .other }
            }
            throw fail("unexpected byte")
        }
    }

    private mutating func string() throws(Failure) -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i < bytes.count else { throw fail("truncated") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    // Not used by our writer; accepted (as a replacement character) so a
                    // hand-edited file is not called corrupt for it.
                    guard bytes.count - i >= 4 else { throw fail("truncated") }
                    i += 4
                    out += Array("\u{FFFD}".utf8)
                default: throw fail("bad escape")
                }
            case 0..<0x20: throw fail("control character in string")
            default: out.append(c)
            }
        }
        throw fail("truncated")
    }

    private mutating func integer() throws(Failure) -> Int {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1 }
        if i < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[i]) {
            throw fail("not an integer")
        }
        guard let n = Int(String(decoding: bytes[start..<i], as: UTF8.self)) else { throw fail("bad number") }
        return n
    }
}
