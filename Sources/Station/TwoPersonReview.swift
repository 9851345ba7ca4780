// The review station's core rule (issue 17), as a value type with time passed in (like the device's
// HitGate): a hit is *verified* only when two different reviewers confirmed it independently.
//
// Why a value type: the rule is the product's promise (EU AI Act art. 14(5): no action unless the
// identification is separately verified by at least two people). It must hold whichever storage,
// web form or API drives it, so it lives in one place that tests can drive decision by decision.
// Storage keeps the decisions (append-only); the state is always derived from them, never stored.

/// What one person concluded about one hit.
public enum Verdict: String, Sendable, Equatable, CaseIterable {
    case confirm, reject, inconclusive
}

/// Who may decide what.
public enum StationRole: String, Sendable, Equatable, CaseIterable, Comparable {
    /// Reviews hits (one of the two people).
    case reviewer
    /// Settles disagreements; runs investigative searches.
    case supervisor
    /// Read-only: reports and the audit log.
    case auditor
    /// Users, device keys, retention. Decides nothing about hits.
    case administrator

    public static func < (a: StationRole, b: StationRole) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One decision, as recorded. Never edited: a change of mind is a new decision that `amends` an
/// earlier one of the same person.
public struct ReviewDecision: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// One of the two independent reviews.
        case review
        /// A supervisor's ruling on a disagreement.
        case ruling
    }
    public var kind: Kind
    public var user: String
    public var verdict: Verdict
    /// Why, in the reviewer's words (required: a verdict without a reason cannot be audited).
    public var reason: String
    /// The case or deployment this decision belongs to (required).
    public var reference: String
    /// Seconds since 1970, the station's clock.
    public var time: Int64
    /// The index of the decision (same user, same kind) this one replaces, if any.
    public var amends: Int?

    public init(kind: Kind, user: String, verdict: Verdict, reason: String, reference: String, time: Int64, amends: Int? = nil) {
        self.kind = kind; self.user = user; self.verdict = verdict; self.reason = reason
        self.reference = reference; self.time = time; self.amends = amends
    }
}

public enum ReviewError: Error, Sendable, Equatable, CustomStringConvertible {
    case notAllowed(role: StationRole, what: String)
    case alreadyDecided(user: String)
    case reviewsComplete
    case notDisputed
    case rulingByAReviewer(user: String)
    case missing(String)
    case badAmendment(String)

    public var description: String {
        switch self {
        case .notAllowed(let r, let w): "a \(r.rawValue) may not \(w)"
        case .alreadyDecided(let u): "\(u) has already decided on this hit: nobody decides twice (amend the decision instead)"
        case .reviewsComplete: "two reviewers have already decided on this hit"
        case .notDisputed: "only a disagreement between the two reviewers goes to a supervisor"
        case .rulingByAReviewer(let u): "\(u) reviewed this hit: a ruling must come from a supervisor who did not"
        case .missing(let what): "\(what) is required"
        case .badAmendment(let why): "amendment refused: \(why)"
        }
    }
}

/// Where a hit stands, derived from its decisions.
public enum ReviewState: Sendable, Equatable {
    case unreviewed
    /// One review recorded; a second, independent one is needed.
    case awaitingSecond
    /// Two reviewers confirmed independently: an investigative lead that two people verified —
    /// still not an identification.
    case verified
    /// Both reviewers rejected it: a false alert.
    case rejected
    /// Neither could tell (both inconclusive).
    case inconclusive
    /// The reviewers disagree: a supervisor rules.
    case disputed
    /// A supervisor ruled on a disagreement.
    case ruled(Verdict)

    /// The label the queue and the report use.
    public var label: String {
        switch self {
        case .unreviewed: "unreviewed"
        case .awaitingSecond: "awaiting second review"
        case .verified: "verified"
        case .rejected: "rejected"
        case .inconclusive: "inconclusive"
        case .disputed: "disputed"
        case .ruled(let v): "ruled \(v.rawValue)"
        }
    }
}

/// The decisions on one hit and the two-person rule over them.
public struct TwoPersonReview: Sendable, Equatable {
    public private(set) var decisions: [ReviewDecision]

    public init(decisions: [ReviewDecision] = []) { self.decisions = decisions }

    /// Each person's standing decision of `kind`: the last in their chain of amendments.
    func current(_ kind: ReviewDecision.Kind) -> [ReviewDecision] {
        var order: [String] = []
        var latest: [String: ReviewDecision] = [:]
        for d in decisions where d.kind == kind {
            if latest[d.user] == nil { order.append(d.user) }
            latest[d.user] = d
        }
        return order.compactMap { latest[$0] }
    }

    public var state: ReviewState {
        let reviews = current(.review)
        switch reviews.count {
        case 0: return .unreviewed
        case 1: return .awaitingSecond
        default:
            let a = reviews[0].verdict, b = reviews[1].verdict
            if a == b {
                switch a {
                case .confirm: return .verified
                case .reject: return .rejected
                case .inconclusive: return .inconclusive
                }
            }
            if let ruling = current(.ruling).last { return .ruled(ruling.verdict) }
            return .disputed
        }
    }

    /// The decisions `user` may see. A reviewer sees no other review until they have recorded
    /// their own (independence: the second must not follow the first); supervisors and auditors
    /// see everything, since they judge or audit the reviews.
    public func visible(to user: String, role: StationRole) -> [ReviewDecision] {
        if role == .supervisor || role == .auditor { return decisions }
        if decisions.contains(where: { $0.kind == .review && $0.user == user }) { return decisions }
        return []
    }

    /// Records a new decision, or refuses it and changes nothing.
    public mutating func record(_ d: ReviewDecision, role: StationRole) throws(ReviewError) {
        guard !d.user.isEmpty else { throw .missing("the user") }
        guard !d.reason.allSatisfy(\.isWhitespace) else { throw .missing("a reason") }
        guard !d.reference.allSatisfy(\.isWhitespace) else { throw .missing("a case or deployment reference") }
        let mine = decisions.indices.filter { decisions[$0].user == d.user && decisions[$0].kind == d.kind }
        if let a = d.amends {
            // an amendment replaces the person's own standing decision, nothing else
            guard let last = mine.last, a == last else {
                throw .badAmendment("it must name \(d.user)'s own latest \(d.kind.rawValue) (\(mine.last.map(String.init) ?? "none"))")
            }
            if d.kind == .ruling, role != .supervisor { throw .notAllowed(role: role, what: "rule on a disagreement") }
            if d.kind == .review, role != .reviewer && role != .supervisor { throw .notAllowed(role: role, what: "review hits") }
            decisions.append(d)
            return
        }
        guard mine.isEmpty else { throw .alreadyDecided(user: d.user) }
        switch d.kind {
        case .review:
            guard role == .reviewer || role == .supervisor else { throw .notAllowed(role: role, what: "review hits") }
            guard current(.ruling).allSatisfy({ $0.user != d.user }) else { throw .alreadyDecided(user: d.user) }
            guard current(.review).count < 2 else { throw .reviewsComplete }
        case .ruling:
            guard role == .supervisor else { throw .notAllowed(role: role, what: "rule on a disagreement") }
            guard current(.review).allSatisfy({ $0.user != d.user }) else { throw .rulingByAReviewer(user: d.user) }
            guard state == .disputed else { throw .notDisputed }
        }
        decisions.append(d)
    }
}
