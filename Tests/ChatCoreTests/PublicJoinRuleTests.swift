@testable import ChatCore
import Testing

/// Public joins need a member's signed admission, and each member vouches for at most
/// ``SharingLimits/publicAdmissionsPerHour`` joiners a rolling hour of its signed clock, so a
/// flood of fresh keys can neither join nor make a replica store their joins without a member.
@Suite struct PublicJoinRuleTests {
    let ana = ReplicaID(testValue: 1), ben = ReplicaID(testValue: 2)

    /// Ana creates a public conversation; Ben is a `comment` member.
    func publicConversation(_ s: inout Scenario) -> [OperationBatch] {
        [s.batch(ana, [.genesis(Genesis(title: "open", isPublic: true, nonce: [1]))]),
         s.batch(ana, [.setPermission(member: ben, permission: .comment)], seen: s.everything)]
    }

    func stranger(_ n: Int) -> ReplicaID { ReplicaID(testValue: UInt64(1000 + n)) }

    @Test func aPublicJoinCountsOnlyWithAMembersAdmissionForThatJoiner() {
        var s = Scenario()
        var c = newConversation()
        feed(&c, publicConversation(&s))
        let setup = s.everything
        let cases: [(ReplicaID, ConversationOp, Bool, String)] = [
            (stranger(1), .join(inviteToken: []), false, "no admission"),
            (stranger(2), publicJoin(stranger(2), by: ben, at: s.time), true, "a member vouched"),
            (stranger(3), publicJoin(stranger(3), by: stranger(9), at: s.time), false, "a non-member vouched"),
            (stranger(4), publicJoin(stranger(5), by: ana, at: s.time), false, "the admission names someone else"),
            (stranger(6), publicJoin(stranger(6), by: stranger(6), at: s.time), false, "the joiner vouched for itself"),
            (stranger(7), publicJoin(stranger(7), by: ana, at: s.time, usesSeen: 60), false, "the member had used its hour"),
        ]
        for (joiner, op, admitted, label) in cases {
            let batch = s.batch(joiner, [op], seen: setup)
            let refusal = c.storageRefusal(of: batch)
            #expect((refusal == nil) == admitted, "stored: \(label)")
            feed(&c, [batch])
            #expect((c.document.permissions[joiner] == .view) == admitted, "member: \(label)")
        }
    }

    @Test func eachMemberVouchesForSixtyJoinersAnHourAndBackdatingDoesNotHelp() {
        var s = Scenario()
        var c = newConversation()
        feed(&c, publicConversation(&s))
        let setup = s.everything
        let start = s.time
        let limit = SharingLimits.publicAdmissionsPerHour
        var joins: [OperationBatch] = []
        for n in 0 ... limit {
            joins.append(s.batch(stranger(n), [publicJoin(stranger(n), by: ana, at: start + UInt64(n) * 1000)], seen: setup))
        }
        feed(&c, joins)
        #expect((0 ..< limit).allSatisfy { c.document.permissions[stranger($0)] == .view })
        #expect(c.document.permissions[stranger(limit)] == nil, "the 61st within the hour is excluded")
        #expect(c.excluded[OpID(replica: stranger(limit), counter: 0)] == .invalidInvite)
        #expect(c.publicAdmissions(by: ana, inHourBefore: start + 2 * SharingLimits.hour) == 0)
        #expect(c.publicAdmissions(by: ana, inHourBefore: start + 100_000) == limit)
        // An admission dated two hours earlier still sees the 60 later ones: refused.
        let backdated = s.batch(stranger(200), [publicJoin(stranger(200), by: ana, at: start - 2 * SharingLimits.hour)], seen: setup)
        feed(&c, [backdated])
        #expect(c.document.permissions[stranger(200)] == nil)
        // Ben has a quota of his own, and Ana's is back an hour later.
        let byBen = s.batch(stranger(201), [publicJoin(stranger(201), by: ben, at: start + 5000)], seen: setup)
        let later = s.batch(stranger(202), [publicJoin(stranger(202), by: ana, at: start + SharingLimits.hour + 61_000)], seen: setup)
        feed(&c, [byBen, later])
        #expect(c.document.permissions[stranger(201)] == .view && c.document.permissions[stranger(202)] == .view)
        // A replica that receives the same joins in another order agrees.
        let seed: UInt64 = 0x5EED_0014
        var random = SeededGenerator(seed: seed)
        var other = newConversation()
        feed(&other, Array(s.all.prefix(2)))
        feed(&other, (joins + [backdated, byBen, later]).shuffled(using: &random))
        #expect(other.document.permissions == c.document.permissions, "seed \(seed)")
    }

    @Test func aSnapshotKeepsPublicAdmissionsAndJudgesTheNextJoinAlike() throws {
        var s = Scenario()
        var c = newConversation()
        feed(&c, publicConversation(&s))
        let setup = s.everything
        let limit = SharingLimits.publicAdmissionsPerHour
        feed(&c, (0 ..< limit).map { n in s.batch(stranger(n), [publicJoin(stranger(n), by: ana, at: s.time)], seen: setup) })
        let snapshot = c.encodedSnapshot()
        #expect(snapshot.prefix(3) == [0x53, 0x56, 0x06])
        var back = try Conversation(snapshot: snapshot, id: Scenario.conversation, localReplica: ReplicaID(testValue: 99),
                                    verifyInvite: { _ in nil }, verifyAdmission: testAdmissions({ _ in nil }))
        #expect(back.document.permissions == c.document.permissions)
        #expect(back.encodedSnapshot() == snapshot)
        let next = s.batch(stranger(99), [publicJoin(stranger(99), by: ana, at: s.time)], seen: setup)
        feed(&back, [next])
        feed(&c, [next])
        #expect(back.document.permissions[stranger(99)] == nil && c.document.permissions[stranger(99)] == nil)
    }

    @Test func noLinkMayBeRecordedUnderThePublicTokenID() {
        var s = Scenario()
        var c = newConversation()
        feed(&c, publicConversation(&s))
        let link = s.batch(ana, [.createLink(InviteRecord(tokenID: JoinAdmission.publicTokenID, permission: .admin))], seen: s.everything)
        feed(&c, [link])
        #expect(c.links.isEmpty)
        #expect(c.excluded[OpID(replica: ana, counter: link.firstCounter)] == .invalid)
    }
}
