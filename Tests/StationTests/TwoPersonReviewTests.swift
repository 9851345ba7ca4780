import Station
import Testing

/// The two-person rule, decision by decision (issue 17, item 4).
@Suite("Two-person review")
struct TwoPersonReviewTests {
    func d(_ user: String, _ v: Verdict, kind: ReviewDecision.Kind = .review, t: Int64 = 1_800_000_000, amends: Int? = nil,
           reason: String = "compared the crop with the enrolled photos", reference: String = "case 2026-0147") -> ReviewDecision {
        ReviewDecision(kind: kind, user: user, verdict: v, reason: reason, reference: reference, time: t, amends: amends)
    }

    @Test func twoIndependentConfirmationsVerify() throws {
        var r = TwoPersonReview()
        #expect(r.state == .unreviewed)
        try r.record(d("ana", .confirm), role: .reviewer)
        #expect(r.state == .awaitingSecond)
        try r.record(d("ben", .confirm), role: .reviewer)
        #expect(r.state == .verified)
    }

    @Test(arguments: [(Verdict.reject, ReviewState.rejected), (.inconclusive, .inconclusive)])
    func agreementOtherThanConfirm(_ v: Verdict, _ expected: ReviewState) throws {
        var r = TwoPersonReview()
        try r.record(d("ana", v), role: .reviewer)
        try r.record(d("ben", v), role: .reviewer)
        #expect(r.state == expected)
    }

    @Test func oneConfirmationIsNeverEnough() throws {
        var r = TwoPersonReview()
        try r.record(d("ana", .confirm), role: .reviewer)
        #expect(throws: ReviewError.alreadyDecided(user: "ana")) { try r.record(d("ana", .confirm), role: .reviewer) }
        #expect(r.state == .awaitingSecond)
        #expect(r.decisions.count == 1)
    }

    @Test func aDisagreementGoesToASupervisorWhoDidNotReview() throws {
        var r = TwoPersonReview()
        try r.record(d("ana", .confirm), role: .reviewer)
        try r.record(d("ben", .reject), role: .reviewer)
        #expect(r.state == .disputed)
        #expect(throws: ReviewError.reviewsComplete) { try r.record(d("cleo", .confirm), role: .reviewer) }
        #expect(throws: ReviewError.notAllowed(role: .reviewer, what: "rule on a disagreement")) { try r.record(d("cleo", .confirm, kind: .ruling), role: .reviewer) }
        #expect(throws: ReviewError.rulingByAReviewer(user: "ana")) { try r.record(d("ana", .confirm, kind: .ruling), role: .supervisor) }
        try r.record(d("sam", .reject, kind: .ruling), role: .supervisor)
        #expect(r.state == .ruled(.reject))
        #expect(throws: ReviewError.alreadyDecided(user: "sam")) { try r.record(d("sam", .confirm, kind: .ruling), role: .supervisor) }
    }

    @Test func noRulingWithoutADisagreement() throws {
        var r = TwoPersonReview()
        try r.record(d("ana", .confirm), role: .reviewer)
        #expect(throws: ReviewError.notDisputed) { try r.record(d("sam", .confirm, kind: .ruling), role: .supervisor) }
    }

    @Test func auditorsAndAdministratorsDecideNothing() {
        var r = TwoPersonReview()
        #expect(throws: ReviewError.notAllowed(role: .auditor, what: "review hits")) { try r.record(d("aud", .confirm), role: .auditor) }
        #expect(throws: ReviewError.notAllowed(role: .administrator, what: "review hits")) { try r.record(d("adm", .confirm), role: .administrator) }
        #expect(r.decisions.isEmpty)
    }

    @Test func theSecondReviewerDoesNotSeeTheFirstUntilTheyDecide() throws {
        var r = TwoPersonReview()
        try r.record(d("ana", .confirm), role: .reviewer)
        #expect(r.visible(to: "ben", role: .reviewer).isEmpty)
        #expect(r.visible(to: "ana", role: .reviewer).count == 1)
        #expect(r.visible(to: "sam", role: .supervisor).count == 1)
        #expect(r.visible(to: "aud", role: .auditor).count == 1)
        try r.record(d("ben", .reject), role: .reviewer)
        #expect(r.visible(to: "ben", role: .reviewer).count == 2)
    }

    @Test func anAmendmentIsANewRecordAndTheOriginalStays() throws {
        var r = TwoPersonReview()
        try r.record(d("ana", .confirm), role: .reviewer)
        try r.record(d("ben", .reject), role: .reviewer)
        #expect(r.state == .disputed)
        // ben looks again and changes his mind: a new decision amending his own
        try r.record(d("ben", .confirm, t: 1_800_000_100, amends: 1, reason: "second look at the ear"), role: .reviewer)
        #expect(r.state == .verified)
        #expect(r.decisions.count == 3)
        #expect(r.decisions[1].verdict == .reject)  // never edited
        // only one's own latest decision can be amended
        #expect(throws: ReviewError.self) { try r.record(d("ben", .reject, amends: 1), role: .reviewer) }
        #expect(throws: ReviewError.self) { try r.record(d("ben", .reject, amends: 0), role: .reviewer) }
        #expect(throws: ReviewError.self) { try r.record(d("cleo", .reject, amends: 0), role: .reviewer) }
    }

    @Test func aReasonAndAReferenceAreRequired() {
        var r = TwoPersonReview()
        #expect(throws: ReviewError.missing("a reason")) { try r.record(d("ana", .confirm, reason: "  "), role: .reviewer) }
        #expect(throws: ReviewError.missing("a case or deployment reference")) { try r.record(d("ana", .confirm, reference: ""), role: .reviewer) }
        #expect(r.state == .unreviewed)
    }

    /// Every order of the same decisions by different people gives a state that needs two people:
    /// verified never comes from fewer than two distinct confirming users.
    @Test func verifiedAlwaysMeansTwoDistinctConfirmations() throws {
        let users = ["ana", "ben", "cleo"]
        for a in Verdict.allCases { for b in Verdict.allCases { for c in Verdict.allCases {
            var r = TwoPersonReview()
            for (u, v) in zip(users, [a, b, c]) { try? r.record(d(u, v), role: .reviewer) }
            if r.state == .verified {
                let confirming = Set(r.decisions.filter { $0.verdict == .confirm }.map(\.user))
                #expect(confirming.count >= 2)
            }
            #expect(r.decisions.count == 2)
        } } }
    }
}
