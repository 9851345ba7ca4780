// The oversight report for a date range (issue 17, item 8): what the station received, what its
// reviewers decided and how long that took, by device, camera and list, with the sequence gaps
// and refused records. Computed from the store's rows only, so it can be re-derived by anyone
// holding the database; rendered as JSON and CSV (the HTML page and its plots use the same numbers).
import VigilCore

public struct OversightCounts: Sendable, Equatable {
    public var received = 0
    /// Hits with at least one review.
    public var reviewed = 0
    public var verified = 0
    /// False alerts: rejected by both reviewers, or ruled a rejection.
    public var rejected = 0
    public var inconclusive = 0
    public var disputed = 0
    public var awaitingSecond = 0
    public var unreviewed = 0
    /// Seconds from arrival to the decision that settled the hit, for settled hits.
    public var secondsToSettle: [Int64] = []

    public var medianSecondsToSettle: Int64? { percentile(50) }
    public var p90SecondsToSettle: Int64? { percentile(90) }

    /// Nearest-rank percentile.
    func percentile(_ p: Int) -> Int64? {
        guard !secondsToSettle.isEmpty else { return nil }
        let s = secondsToSettle.sorted()
        let rank = max(1, Int((Double(p) / 100 * Double(s.count)).rounded(.up)))
        return s[min(rank, s.count) - 1]
    }

    mutating func add(_ state: ReviewState, receivedAt: Int64, decisions: [ReviewDecision]) {
        received += 1
        if !decisions.isEmpty { reviewed += 1 }
        switch state {
        case .verified, .ruled(.confirm): verified += 1
        case .rejected, .ruled(.reject): rejected += 1
        case .inconclusive, .ruled(.inconclusive): inconclusive += 1
        case .disputed: disputed += 1
        case .awaitingSecond: awaitingSecond += 1
        case .unreviewed: unreviewed += 1
        }
        switch state {
        case .unreviewed, .awaitingSecond, .disputed: break
        default: if let t = decisions.last?.time { secondsToSettle.append(max(0, t - receivedAt)) }
        }
    }
}

public struct OversightReport: Sendable, Equatable {
    public var from: Int64
    public var to: Int64
    public var total = OversightCounts()
    public var byDevice: [String: OversightCounts] = [:]
    public var byCamera: [String: OversightCounts] = [:]
    public var byList: [String: OversightCounts] = [:]
    public var refused = 0
    public var refusedReasons: [String: Int] = [:]
    public var gaps: [String: [ClosedRange<UInt64>]] = [:]

    /// Hits received in [from, to) (station time, seconds), with their decisions.
    public static func make(from: Int64, to: Int64, hits: [StoredHit], decisions: [String: [ReviewDecision]],
                            quarantined: [QuarantinedRecord], gaps: [String: [ClosedRange<UInt64>]]) -> OversightReport {
        var r = OversightReport(from: from, to: to)
        for h in hits where h.receivedSeconds >= from && h.receivedSeconds < to {
            let ds = decisions[h.recordID] ?? []
            let state = TwoPersonReview(decisions: ds).state
            r.total.add(state, receivedAt: h.receivedSeconds, decisions: ds)
            r.byDevice[h.device, default: OversightCounts()].add(state, receivedAt: h.receivedSeconds, decisions: ds)
            r.byCamera[h.device + "/" + h.camera, default: OversightCounts()].add(state, receivedAt: h.receivedSeconds, decisions: ds)
            r.byList["v\(h.listVersion)", default: OversightCounts()].add(state, receivedAt: h.receivedSeconds, decisions: ds)
        }
        for q in quarantined where q.receivedSeconds >= from && q.receivedSeconds < to {
            r.refused += 1
            // the reason's kind, not its details (ids, times): "replayed", "device signature …"
            var kind = Substring(q.reason.prefix { $0 != ":" && $0 != "(" })
            while kind.last == " " { kind = kind.dropLast() }
            r.refusedReasons[String(kind), default: 0] += 1
        }
        r.gaps = gaps
        return r
    }

    static func json(_ c: OversightCounts) -> JSON {
        func n(_ x: Int) -> JSON { .int(x) }
        let median: JSON = c.medianSecondsToSettle.map { JSON.int(Int($0)) } ?? .null
        let p90: JSON = c.p90SecondsToSettle.map { JSON.int(Int($0)) } ?? .null
        var fields: [(String, JSON)] = []
        fields.append(("received", n(c.received)))
        fields.append(("reviewed", n(c.reviewed)))
        fields.append(("verified", n(c.verified)))
        fields.append(("rejected_false_alerts", n(c.rejected)))
        fields.append(("inconclusive", n(c.inconclusive)))
        fields.append(("disputed", n(c.disputed)))
        fields.append(("awaiting_second_review", n(c.awaitingSecond)))
        fields.append(("unreviewed", n(c.unreviewed)))
        fields.append(("median_seconds_to_settle", median))
        fields.append(("p90_seconds_to_settle", p90))
        return .object(fields)
    }

    public var json: JSON {
        func group(_ g: [String: OversightCounts]) -> JSON { .object(g.keys.sorted().map { ($0, Self.json(g[$0]!)) }) }
        return .object([
            ("from", .int(Int(from))), ("to", .int(Int(to))), ("total", Self.json(total)),
            ("by_device", group(byDevice)), ("by_camera", group(byCamera)), ("by_list", group(byList)),
            ("refused_records", .int(refused)),
            ("refused_by_reason", .object(refusedReasons.keys.sorted().map { ($0, .int(refusedReasons[$0]!)) })),
            ("sequence_gaps", .object(gaps.keys.sorted().map { k in
                (k, .array(gaps[k]!.map { .string($0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)") }))
            })),
        ])
    }

    /// One CSV row per group (`scope,name,received,…`), the total first.
    public var csv: String {
        var lines = ["scope,name,received,reviewed,verified,rejected_false_alerts,inconclusive,disputed,awaiting_second_review,unreviewed,median_seconds_to_settle,p90_seconds_to_settle"]
        func row(_ scope: String, _ name: String, _ c: OversightCounts) {
            var cells: [String] = [Self.csvCell(scope), Self.csvCell(name)]
            for x in [c.received, c.reviewed, c.verified, c.rejected, c.inconclusive, c.disputed, c.awaitingSecond, c.unreviewed] {
                cells.append(String(x))
            }
            cells.append(c.medianSecondsToSettle.map { String($0) } ?? "")
            cells.append(c.p90SecondsToSettle.map { String($0) } ?? "")
            lines.append(cells.joined(separator: ","))
        }
        row("total", "all", total)
        for (scope, g) in [("device", byDevice), ("camera", byCamera), ("list", byList)] {
            for k in g.keys.sorted() { row(scope, k, g[k]!) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// RFC 4180 quoting; a leading =, +, - or @ is prefixed with ' so a spreadsheet does not run it.
    static func csvCell(_ s: String) -> String {
        var t = s
        if let f = t.first, "=+-@".contains(f) { t = "'" + t }
        guard t.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return t }
        var out = "\""
        for ch in t { out += ch == "\"" ? "\"\"" : String(ch) }
        return out + "\""
    }
}
