// How long the station keeps a hit's face crop (issue 17, item 7). A value type with time passed
// in: the purge job asks `due(...)` for each hit; the rule is tested without a clock or a database.
//
// The defaults, and why:
// - rejected by both reviewers (a false alert), or ruled a rejection: **7 days** after the decision
//   that settled it: long enough for a supervisor or auditor to look at what was rejected, short
//   enough that a person wrongly flagged is not kept on file.
// - never reviewed, in review (one review), or disputed: **30 days** after arrival. A lead nobody
//   acted on within a month is not a lead; keeping it would turn the queue into a stockpile of
//   faces. (Double Take purges unknowns after 8 h and matches after 168 h; a police review needs
//   more than a week for the second reviewer and the supervisor.)
// - inconclusive (both reviewers): **30 days** after the decision.
// - verified, or ruled a confirmation: kept **while its case is open**, then **30 days** after the
//   case is closed (time for the disclosure the case requires).
// What a purge removes is the sealed record (the crop and the body); the hit's row stays with its
// counts-level fields, so the oversight report keeps its numbers.
import Audit
public struct RetentionPolicy: Sendable, Equatable {
    public var rejectedDays: Int = 7
    public var unreviewedDays: Int = 30
    public var inconclusiveDays: Int = 30
    public var afterCaseClosedDays: Int = 30

    public init() {}

    /// Whether the crop of a hit in `state` is due for purging at `now` (all times in seconds).
    /// `settledAt`: the time of the decision that gave the state (nil while in review);
    /// `caseClosedAt`: when the case of a verified hit was closed (nil while open).
    public func due(state: ReviewState, receivedAt: Int64, settledAt: Int64?, caseClosedAt: Int64?, now: Int64) -> Bool {
        func after(_ t: Int64?, days: Int) -> Bool {
            guard let t else { return false }
            let (span, o1) = Int64(clamping: days).multipliedReportingOverflow(by: 86_400)
            let (end, o2) = t.addingReportingOverflow(span)
            return !o1 && !o2 && now >= end
        }
        switch state {
        case .rejected, .ruled(.reject): return after(settledAt ?? receivedAt, days: rejectedDays)
        case .unreviewed, .awaitingSecond, .disputed: return after(receivedAt, days: unreviewedDays)
        case .inconclusive, .ruled(.inconclusive): return after(settledAt ?? receivedAt, days: inconclusiveDays)
        case .verified, .ruled(.confirm): return after(caseClosedAt, days: afterCaseClosedDays)
        }
    }
}

/// The purge job: one pass over the kept hits, each judged by the policy from its decisions as
/// stored; every purge audited (`station.purge`) before the next.
public struct RetentionJob: Sendable {
    public let store: StationStore
    public let policy: RetentionPolicy
    public let audit: AuditLog

    public init(store: StationStore, policy: RetentionPolicy = RetentionPolicy(), audit: AuditLog) {
        self.store = store; self.policy = policy; self.audit = audit
    }

    /// Returns the ids purged.
    @discardableResult
    public func run(now: Int64) throws -> [String] {
        var purged: [String] = []
        for hit in try store.unpurged() {
            let decisions = try store.decisions(recordID: hit.recordID).map(\.decision)
            let state = TwoPersonReview(decisions: decisions).state
            // no case tracking yet: a verified hit's case counts as open, so it is kept
            guard policy.due(state: state, receivedAt: hit.receivedSeconds, settledAt: decisions.last?.time, caseClosedAt: nil, now: now) else { continue }
            try store.purge(recordID: hit.recordID, at: now)
            _ = try audit.append("station.purge", [("record", .string(hit.recordID)), ("state", .string(state.label)),
                                                   ("received", .int(hit.receivedSeconds))])
            purged.append(hit.recordID)
        }
        return purged
    }
}
