import ChatCore
import ChatWire
@testable import ChatNode
import Testing

/// A member's node vouches for at most ``SharingLimits/publicAdmissionsPerHour`` public joiners a
/// rolling hour of its wall clock, once per joiner, counting what the log already accepted (so a
/// restart does not reset the hour); a joiner keeps the admission or the refusal it was sent.
@Suite struct PublicJoinAdmissionsTests {
    let conversation = ConversationID(bytes: Array(repeating: 0xC1, count: 32))!
    let start: UInt64 = 1_780_000_000_000

    func joiner(_ n: Int) -> ReplicaID { ReplicaID(testValue: UInt64(500 + n)) }

    @Test func sixtyJoinersAnHourOnceEachThenRateLimited() {
        var admissions = PublicJoinAdmissions()
        let limit = SharingLimits.publicAdmissionsPerHour
        for n in 0 ..< limit {
            let decision = admissions.decide(for: joiner(n), in: conversation, now: start + UInt64(n), acceptedThisHour: 0)
            #expect(decision == .sign(usesSeen: n))
            admissions.noteSigned([UInt8(n)], for: joiner(n), in: conversation, at: start + UInt64(n))
        }
        // The same joiner again (a redial) gets the same admission, without using a place.
        #expect(admissions.decide(for: joiner(3), in: conversation, now: start + 100, acceptedThisHour: 0) == .resend([3]))
        #expect(admissions.decide(for: joiner(limit), in: conversation, now: start + 100, acceptedThisHour: 0) == .refuse)
        // Another conversation has its own hour.
        let other = ConversationID(bytes: Array(repeating: 0xC2, count: 32))!
        #expect(admissions.decide(for: joiner(limit), in: other, now: start + 100, acceptedThisHour: 0) == .sign(usesSeen: 0))
        // An hour after the first, its place is free again.
        #expect(admissions.decide(for: joiner(limit), in: conversation, now: start + SharingLimits.hour, acceptedThisHour: 0)
            == .sign(usesSeen: limit - 1))
    }

    @Test func afterARestartTheAcceptedJoinsOfTheHourCount() {
        var admissions = PublicJoinAdmissions()
        let limit = SharingLimits.publicAdmissionsPerHour
        #expect(admissions.decide(for: joiner(1), in: conversation, now: start, acceptedThisHour: limit) == .refuse)
        #expect(admissions.decide(for: joiner(1), in: conversation, now: start, acceptedThisHour: limit - 1)
            == .sign(usesSeen: limit - 1))
    }

    @Test func aJoinerKeepsItsAdmissionOrTheRefusalUntilItFinishes() {
        var admissions = PublicJoinAdmissions()
        admissions.noteRefused(.rateLimited, in: conversation)
        #expect(admissions.refusals[conversation] == .rateLimited)
        let content = JoinAdmission(conversation: conversation, joiner: joiner(1), tokenID: JoinAdmission.publicTokenID,
                                    admitter: joiner(2), admittedAt: start, usesSeen: 0)
        admissions.noteReceived([1, 2, 3], content)
        #expect(admissions.refusals[conversation] == nil && admissions.received[conversation]?.bytes == [1, 2, 3])
        // A later refusal (from another member) does not hide the admission already held.
        admissions.noteRefused(.rateLimited, in: conversation)
        #expect(admissions.refusals[conversation] == nil)
        admissions.finish(conversation)
        #expect(admissions.received[conversation] == nil)
    }
}
