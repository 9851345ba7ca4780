#if canImport(Glibc)
import Glibc
#endif
import Agent
import Testing
import VigilCore
import VigilTestSupport

/// 2026-11-27 00:00:00 UTC.
let nov27: Int64 = 1_795_737_600

@Suite("Accountability counters")
struct CountersTests {
    @Test func utcDatesWithoutFoundation() {
        #expect(Counters.utcDate(0) == "1970-01-01")
        #expect(Counters.utcDate(86_399) == "1970-01-01")
        #expect(Counters.utcDate(86_400) == "1970-01-02")
        #expect(Counters.utcDate(951_782_400) == "2000-02-29")
        #expect(Counters.utcDate(951_868_799) == "2000-02-29")
        #expect(Counters.utcDate(951_868_800) == "2000-03-01")
        #expect(Counters.utcDate(1_700_000_000) == "2023-11-14")
        #expect(Counters.utcDate(nov27) == "2026-11-27")
        #expect(Counters.utcDate(4_107_542_400) == "2100-03-01")  // 2100 is not a leap year
        #expect(Counters.utcDate(253_402_300_799) == "9999-12-31")
        // Out of range is clamped, never a malformed date.
        #expect(Counters.utcDate(-5) == "1970-01-01")
        #expect(Counters.utcDate(.max) == "9999-12-31")
    }

    @Test func countsAddUpAcrossThreads() async {
        let dir = makeTempDirectory("counters")
        defer { removeTree(dir) }
        let counters = Counters(path: dir + "/counters.json")
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for i in 0..<5_000 {
                        counters.add(framesProcessed: 1, facesDetected: 2, facesCompared: 1, hits: i % 100 == 0 ? 1 : 0,
                                     framesDropped: t % 2, wallSeconds: nov27 + Int64(i % 2) * 86_400)
                        if i % 1000 == 0 { try? counters.flush() }
                    }
                }
            }
        }
        let days = counters.days
        #expect(days.map(\.date) == ["2026-11-27", "2026-11-28"])
        #expect(days[0] == DayCounts(date: "2026-11-27", framesProcessed: 20_000, facesDetected: 40_000, facesCompared: 20_000,
                                     hits: 400, framesDropped: 10_000))
        #expect(days[1].framesProcessed == 20_000 && days[1].hits == 0)
        #expect(counters.day(wallSeconds: nov27 + 3600) == days[0])
    }

    @Test func persistenceRoundTrip() throws {
        let dir = makeTempDirectory("counters")
        defer { removeTree(dir) }
        let path = dir + "/counters.json"
        let counters = Counters(path: path)
        #expect(counters.loadNote == nil)  // a missing file is a first start, not a problem
        #expect(counters.days.isEmpty)
        for d in 0..<3 {
            counters.add(framesProcessed: 100 * (d + 1), facesDetected: 7, facesCompared: 5, hits: d, framesDropped: 3,
                         wallSeconds: nov27 + Int64(d) * 86_400 + 43_200)
        }
        try counters.flush()
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o640)
        let again = Counters(path: path)
        #expect(again.loadNote == nil)
        #expect(again.days == counters.days)
        #expect(again.days.count == 3 && again.days[2].hits == 2)
        // Flushing again with nothing new is fine, and the file still loads.
        try again.flush()
        #expect(Counters(path: path).days == counters.days)
    }

    @Test func corruptOrTruncatedFilesStartFresh() throws {
        let dir = makeTempDirectory("counters")
        defer { removeTree(dir) }
        let path = dir + "/counters.json"
        let good = Counters(path: path)
        good.add(framesProcessed: 10, facesDetected: 4, facesCompared: 3, hits: 1, wallSeconds: nov27)
        good.add(framesProcessed: 10, wallSeconds: nov27 + 86_400)
        try good.flush()
        let bytes = try readFile(path)
        var bad: [[UInt8]] = (0..<bytes.count - 1).map { Array(bytes.prefix($0)) }  // every truncation
        bad += [
            Array("garbage".utf8), [0xFF, 0xFE, 0x00],
            Array(#"{"format":"vigil-counters","version":2,"days":[]}"#.utf8),
            Array(#"{"format":"vigil-counters","version":1,"days":[{"date":"2026-13-01","frames_processed":1,"faces_detected":0,"faces_compared":0,"hits":0,"frames_dropped":0}]}"#.utf8),
            Array(#"{"format":"vigil-counters","version":1,"days":[{"date":"2026-11-01","frames_processed":-1,"faces_detected":0,"faces_compared":0,"hits":0,"frames_dropped":0}]}"#.utf8),
            Array(#"{"format":"vigil-counters","version":1,"days":[{"date":"2026-11-01","frames_processed":1.5,"faces_detected":0,"faces_compared":0,"hits":0,"frames_dropped":0}]}"#.utf8),
            Array(#"{"format":"vigil-counters","version":1,"days":[{"date":"2026-11-01","frames_processed":99999999999999999999999,"faces_detected":0,"faces_compared":0,"hits":0,"frames_dropped":0}]}"#.utf8),
            Array(String(repeating: "[", count: 10_000).utf8),
        ]
        for b in bad {
            try writeFileAtomically(path, b, mode: 0o640)
            let c = Counters(path: path)
            #expect(c.loadNote != nil, "accepted \(String(decoding: b, as: UTF8.self))")
            #expect(c.days.isEmpty)
            // Loading changes nothing on disk (`vigil report` only reads); the first flush keeps
            // the bad file aside for inspection, and counting goes on.
            #expect((try? readFile(path)) == b)
            c.add(framesProcessed: 1, wallSeconds: nov27)
            try c.flush()
            #expect((try? readFile(path + ".corrupt")) == b)
            #expect(Counters(path: path).days == [DayCounts(date: "2026-11-27", framesProcessed: 1)])
        }
        // Even with nothing counted, the first flush keeps the bad file rather than overwriting it.
        try writeFileAtomically(path, Array("{\"days\":[".utf8), mode: 0o640)
        let idle = Counters(path: path)
        try idle.flush()
        #expect((try? readFile(path + ".corrupt")) == Array("{\"days\":[".utf8))
        #expect(Counters(path: path).loadNote == nil)
        // An unrecognised but well-formed extra field does not make the file corrupt.
        try writeFileAtomically(path, Array(#"{"format":"vigil-counters","version":1,"note":{"x":[true,null]},"days":[]}"#.utf8))
        #expect(Counters(path: path).loadNote == nil)
    }

    @Test func daysRollOverByWallTime() {
        let dir = makeTempDirectory("counters")
        defer { removeTree(dir) }
        let c = Counters(path: dir + "/c.json")
        c.add(framesProcessed: 5, wallSeconds: nov27 + 86_399)  // 23:59:59
        c.add(framesProcessed: 7, wallSeconds: nov27 + 86_400)  // 00:00:00 the next day
        c.add(framesProcessed: 1, wallSeconds: nov27 + 86_399)  // a late add for the day before
        #expect(c.days == [DayCounts(date: "2026-11-27", framesProcessed: 6), DayCounts(date: "2026-11-28", framesProcessed: 7)])
        // `today` uses the system clock.
        c.add(facesDetected: 3)
        #expect(c.today.date == Counters.utcDate(Counters.wallSecondsNow()) && c.today.facesDetected == 3)
    }

    @Test func onlyTheLast400DaysAreKept() throws {
        let dir = makeTempDirectory("counters")
        defer { removeTree(dir) }
        let path = dir + "/c.json"
        let c = Counters(path: path)
        for d in 0..<450 { c.add(framesProcessed: d, wallSeconds: nov27 + Int64(d) * 86_400) }
        #expect(c.days.count == Counters.maxDays)
        #expect(c.days.first?.date == Counters.utcDate(nov27 + 50 * 86_400))
        #expect(c.days.last?.framesProcessed == 449)
        try c.flush()
        #expect(Counters(path: path).days == c.days)
        // A day older than everything kept is dropped again at once.
        c.add(framesProcessed: 1, wallSeconds: nov27)
        #expect(c.days.count == Counters.maxDays && c.days.first?.framesProcessed == 50)
    }

    @Test func theReportHoldsOnlyDatesAndNumbers() {
        let dir = makeTempDirectory("counters")
        defer { removeTree(dir) }
        let c = Counters(path: dir + "/c.json")
        var g = SplitMix64(seed: 9)
        for d in 0..<30 {
            c.add(framesProcessed: Int.random(in: 0...1_000_000, using: &g), facesDetected: Int.random(in: 0...50_000, using: &g),
                  facesCompared: Int.random(in: 0...40_000, using: &g), hits: Int.random(in: 0...5, using: &g),
                  framesDropped: Int.random(in: 0...100, using: &g), wallSeconds: nov27 + Int64(d) * 86_400)
        }
        for limit in [nil, 0, 1, 7, 30, 1000] as [Int?] {
            let report = c.report(days: limit)
            var lines = report.split(separator: "\n").map(String.init)
            #expect(lines.removeFirst().split(separator: " ").joined(separator: " ") == "date frames faces detected faces compared hits dropped")
            let total = lines.removeLast().split(separator: " ").map(String.init)
            let rows = lines.map { $0.split(separator: " ").map(String.init) }
            let expected = limit.map { Array(c.days.suffix($0)) } ?? c.days
            #expect(rows.count == expected.count)
            for (row, day) in zip(rows, expected) {
                #expect(row == [day.date, "\(day.framesProcessed)", "\(day.facesDetected)", "\(day.facesCompared)", "\(day.hits)", "\(day.framesDropped)"])
            }
            #expect(total.first == "total" && total.count == 6)
            #expect(Int(total[1]) == expected.reduce(0) { $0 + $1.framesProcessed })
            #expect(Int(total[4]) == expected.reduce(0) { $0 + $1.hits })
            // Nothing but digits, dashes (dates), spaces and the fixed words.
            for line in lines + [total.joined()] {
                #expect(line.allSatisfy { $0.isNumber || $0 == "-" || $0 == " " || "total".contains($0) })
            }
        }
    }
}
