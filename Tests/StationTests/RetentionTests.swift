import Station
import Testing

@Suite("Retention schedule")
struct RetentionTests {
    let p = RetentionPolicy()
    let day: Int64 = 86_400
    let t0: Int64 = 1_800_000_000

    @Test func rejectedCropsGoAfterSevenDaysFromTheDecision() {
        #expect(!p.due(state: .rejected, receivedAt: t0, settledAt: t0 + day, caseClosedAt: nil, now: t0 + 7 * day))
        #expect(p.due(state: .rejected, receivedAt: t0, settledAt: t0 + day, caseClosedAt: nil, now: t0 + 8 * day))
        #expect(p.due(state: .ruled(.reject), receivedAt: t0, settledAt: t0, caseClosedAt: nil, now: t0 + 7 * day))
    }

    @Test(arguments: [ReviewState.unreviewed, .awaitingSecond, .disputed])
    func leadsNobodySettledGoAfterThirtyDaysFromArrival(_ s: ReviewState) {
        #expect(!p.due(state: s, receivedAt: t0, settledAt: nil, caseClosedAt: nil, now: t0 + 30 * day - 1))
        #expect(p.due(state: s, receivedAt: t0, settledAt: nil, caseClosedAt: nil, now: t0 + 30 * day))
    }

    @Test(arguments: [ReviewState.verified, .ruled(.confirm)])
    func verifiedHitsStayWhileTheirCaseIsOpen(_ s: ReviewState) {
        #expect(!p.due(state: s, receivedAt: t0, settledAt: t0, caseClosedAt: nil, now: t0 + 3650 * day))
        #expect(!p.due(state: s, receivedAt: t0, settledAt: t0, caseClosedAt: t0 + 100 * day, now: t0 + 129 * day))
        #expect(p.due(state: s, receivedAt: t0, settledAt: t0, caseClosedAt: t0 + 100 * day, now: t0 + 130 * day))
    }

    @Test func hugeSchedulesDoNotOverflow() {
        var q = RetentionPolicy()
        q.unreviewedDays = Int.max / 2
        #expect(!q.due(state: .unreviewed, receivedAt: Int64.max - 10, settledAt: nil, caseClosedAt: nil, now: Int64.max))
    }
}
