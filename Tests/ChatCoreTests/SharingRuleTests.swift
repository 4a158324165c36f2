@testable import ChatCore
import Testing

/// Share links, direct invitations and access requests: the rules every replica applies alike.
@Suite struct SharingRuleTests {
    let ana = ReplicaID(testValue: 1), ben = ReplicaID(testValue: 2), cat = ReplicaID(testValue: 3)
    let dan = ReplicaID(testValue: 4)
    static let hour = SharingLimits.hour

    /// A 16-byte token id.
    func tid(_ byte: UInt8) -> [UInt8] { Array(repeating: byte, count: InviteRecord.tokenIDBytes) }

    /// Token bytes `[n]` verify as a token by ana with id `tid(n)`; `[n, 1]` as one expiring at
    /// `1_750_000_100_000`.
    func verifier(issuer: ReplicaID? = nil) -> InviteVerifier {
        let issuer = issuer ?? ana
        return { bytes in
            guard let first = bytes.first else { return nil }
            return InviteGrant(conversation: Scenario.conversation, permission: .comment, issuer: issuer,
                               tokenID: Array(repeating: first, count: InviteRecord.tokenIDBytes),
                               expiresAt: nil, useLimit: nil)
        }
    }

    func genesis(_ s: inout Scenario) -> OperationBatch {
        s.batch(ana, [.genesis(Genesis(title: "team", nonce: [1]))])
    }

    func load(_ batches: [OperationBatch], local: ReplicaID = ReplicaID(testValue: 99)) -> Conversation {
        var c = newConversation(local, invites: verifier())
        feed(&c, batches)
        return c
    }

    func reason(_ c: Conversation, _ batch: OperationBatch, op index: Int = 0) -> ExclusionReason? {
        c.excluded[batch.identified[index].id]
    }

    /// Everything a replica materializes from governance, for convergence checks.
    func state(_ c: Conversation) -> String {
        let links = c.links.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { "\($0.key.first ?? 0):\($0.value)" }
        let excluded = c.excluded.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let permissions = c.document.permissions.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return "\(links) \(c.accessRequests) \(excluded) \(permissions)"
    }

    @Test func onlyAdminsCreateAndRevokeLinks() {
        var s = Scenario()
        var batches = [genesis(&s)]
        batches.append(s.batch(ana, [.setPermission(member: ben, permission: .edit)], seen: s.everything))
        let byBen = s.batch(ben, [.createLink(InviteRecord(tokenID: tid(1), permission: .view)), .revokeLink(tokenID: tid(2))],
                            seen: s.everything)
        let byAna = s.batch(ana, [.createLink(InviteRecord(tokenID: tid(3), permission: .comment, label: "team"))], seen: s.everything)
        batches += [byBen, byAna]
        let c = load(batches)
        #expect(reason(c, byBen, op: 0) == .notPermitted)
        #expect(reason(c, byBen, op: 1) == .notPermitted)
        #expect(reason(c, byAna) == nil)
        #expect(c.links.keys.sorted { $0.lexicographicallyPrecedes($1) } == [tid(3)])
        #expect(c.links[tid(3)]?.creator == ana && c.links[tid(3)]?.record.label == "team")
        #expect(c.links[tid(3)]?.createdAt == byAna.timestamp)
        // The node refuses ben's link before signing it.
        var local = newConversation(ben, invites: verifier())
        feed(&local, Array(batches.prefix(2)))
        #expect(local.exclusion(ofLocal: .createLink(InviteRecord(tokenID: tid(4), permission: .view)), timestamp: s.time) == .notPermitted)
        #expect(local.exclusion(ofLocal: .revokeLink(tokenID: tid(4)), timestamp: s.time) == .notPermitted)
        #expect(local.exclusion(ofLocal: .requestAccess(permission: .admin, note: "hi"), timestamp: s.time) == nil)
    }

    @Test func malformedRecordsAreExcluded() {
        var s = Scenario()
        var batches = [genesis(&s)]
        let bad = s.batch(ana, [
            .createLink(InviteRecord(tokenID: [1, 2], permission: .view)),
            .createLink(InviteRecord(tokenID: tid(1), permission: .view, label: String(repeating: "x", count: 257))),
            .createLink(InviteRecord(tokenID: tid(2), permission: .view)),
            .createLink(InviteRecord(tokenID: tid(2), permission: .admin)), // already recorded
            .requestAccess(permission: .view, note: String(repeating: "n", count: 257)),
        ], seen: s.everything)
        batches.append(bad)
        let c = load(batches)
        #expect((0 ..< 5).map { reason(c, bad, op: $0) } == [.invalid, .tooLarge, nil, .invalid, .tooLarge])
        #expect(c.links[tid(2)]?.record.permission == .view)
    }

    @Test func twentyLinksPerAdminPerHour() {
        var s = Scenario()
        var batches = [genesis(&s)]
        let start = s.time + 1000
        var links: [OperationBatch] = []
        for index in 0 ..< 21 {
            links.append(s.batch(ana, [.createLink(InviteRecord(tokenID: tid(UInt8(index + 1)), permission: .view))],
                                 seen: s.everything, at: start + UInt64(index) * 1000))
        }
        batches += links
        var c = newConversation(ana, invites: verifier())
        feed(&c, batches)
        #expect(links.prefix(20).allSatisfy { reason(c, $0) == nil })
        #expect(reason(c, links[20]) == .rateLimited)
        #expect(c.links.count == 20)
        let next = ConversationOp.createLink(InviteRecord(tokenID: tid(100), permission: .view))
        // Refused locally within the hour, allowed once the first link is an hour old.
        #expect(c.exclusion(ofLocal: next, timestamp: start + Self.hour - 1) == .rateLimited)
        #expect(c.exclusion(ofLocal: next, timestamp: start + Self.hour) == nil)
        let later = s.batch(ana, [next], seen: s.everything, at: start + Self.hour)
        feed(&c, [later])
        #expect(reason(c, later) == nil)
        #expect(c.links[tid(100)] != nil)
        // Another admin has a window of their own.
        var t = Scenario()
        var other = [genesis(&t), t.batch(ana, [.setPermission(member: ben, permission: .admin)], seen: t.everything)]
        for index in 0 ..< 20 {
            other.append(t.batch(ana, [.createLink(InviteRecord(tokenID: tid(UInt8(index)), permission: .view))], seen: t.everything))
        }
        let bens = t.batch(ben, [.createLink(InviteRecord(tokenID: tid(200), permission: .view))], seen: t.everything)
        #expect(reason(load(other + [bens]), bens) == nil)
    }

    /// Ana records link 1 and revokes it. Cat joins concurrently with the revocation (having seen
    /// only the record); Ben joins after seeing it. Every replica, whatever the delivery order,
    /// admits Cat and refuses Ben.
    @Test func revokedLinksRefuseLaterJoinsAndConcurrentOrdersConverge() {
        var s = Scenario()
        let g = genesis(&s)
        let record = s.batch(ana, [.createLink(InviteRecord(tokenID: tid(1), permission: .comment))], seen: s.everything)
        let seenRecord = s.everything
        let revoke = s.batch(ana, [.revokeLink(tokenID: tid(1))], seen: s.everything)
        let catJoin = s.batch(cat, [join([1], cat, at: s.time), post("cat here")], seen: seenRecord)
        let benJoin = s.batch(ben, [join([1], ben, at: s.time), post("ben here")], seen: s.everything)
        let orders: [[OperationBatch]] = [
            [g, record, revoke, catJoin, benJoin],
            [g, record, catJoin, revoke, benJoin],
            [g, record, revoke, benJoin, catJoin],
        ]
        var states: [String] = []
        for (index, order) in orders.enumerated() {
            for local in [ana, ben, cat, ReplicaID(testValue: 50 + UInt64(index))] {
                let c = load(order, local: local)
                #expect(c.document.permissions[cat] == .comment)
                #expect(c.document.permissions[ben] == nil)
                #expect(reason(c, benJoin) == .invalidInvite)
                #expect(reason(c, benJoin, op: 1) == .notPermitted)
                #expect(c.document.orderedMessages.map(\.body.text) == ["cat here"])
                #expect(c.links[tid(1)]?.revoked == true)
                #expect(c.links[tid(1)]?.joiners == [cat])
                #expect(c.links[tid(1)]?.uses == 1)
                states.append(state(c))
            }
        }
        #expect(Set(states).count == 1)
        // A token revoked with no record refuses too (tokens made before records existed).
        var t = Scenario()
        let plain = [genesis(&t), t.batch(ana, [.revokeLink(tokenID: tid(2))], seen: t.everything)]
        let join = t.batch(dan, [join([2], dan, at: t.time)], seen: t.everything)
        #expect(reason(load(plain + [join]), join) == .invalidInvite)
    }

    @Test func usedUpAndExpiredLinksRefuse() {
        var s = Scenario()
        var batches = [genesis(&s)]
        batches.append(s.batch(ana, [
            .createLink(InviteRecord(tokenID: tid(1), permission: .comment, useLimit: 1)),
            .createLink(InviteRecord(tokenID: tid(2), permission: .comment, expiresAt: s.time + 10_000)),
        ], seen: s.everything))
        let first = s.batch(ben, [join([1], ben, at: s.time)], seen: s.everything)
        let second = s.batch(cat, [join([1], cat, at: s.time)], seen: s.everything)
        let inTime = s.batch(dan, [join([2], dan, at: s.time)], seen: s.everything, at: s.time + 1000)
        let eve = ReplicaID(testValue: 5)
        let late = s.batch(eve, [join([2], eve, at: s.time + 60_000)], seen: s.everything, at: s.time + 60_000)
        batches += [first, second, inTime, late]
        let c = load(batches)
        #expect(reason(c, first) == nil && reason(c, inTime) == nil)
        #expect(reason(c, second) == .invalidInvite)
        #expect(reason(c, late) == .invalidInvite)
        #expect(c.links[tid(1)]?.uses == 1 && c.links[tid(2)]?.joiners == [dan])
        #expect(c.document.permissions[cat] == nil && c.document.permissions[eve] == nil)
    }

    /// Expiry is judged on the admitting member's time, not the joiner's: a joiner admitted in
    /// time who signs its join late is in; one admitted late who backdates its join is out.
    @Test func theAdmittingMembersClockDecidesExpiry() {
        var s = Scenario()
        var batches = [genesis(&s)]
        let expiry = s.time + 10_000
        batches.append(s.batch(ana, [.createLink(InviteRecord(tokenID: tid(2), permission: .comment, expiresAt: expiry))],
                               seen: s.everything))
        let slowButAdmitted = s.batch(ben, [join([2], ben, at: expiry - 1)], seen: s.everything, at: expiry + 60_000)
        let backdated = s.batch(cat, [join([2], cat, at: expiry + 1)], seen: s.everything, at: expiry - 5_000)
        let noAdmission = s.batch(dan, [.join(inviteToken: [2])], seen: s.everything, at: expiry - 5_000)
        batches += [slowButAdmitted, backdated, noAdmission]
        let c = load(batches)
        #expect(reason(c, slowButAdmitted) == nil)
        #expect(reason(c, backdated) == .invalidInvite)
        #expect(reason(c, noAdmission) == .invalidInvite)
        #expect(c.links[tid(2)]?.joiners == [ben])
        #expect(c.links[tid(2)]?.admissions.map(\.admittedAt) == [expiry - 1])
    }

    /// An admission counts only from someone else who is a member in the join's past, for this
    /// joiner; one that does not verify counts as none.
    @Test func onlyAMemberCanAdmitAndOnlyTheJoinerItNames() {
        var s = Scenario()
        var batches = [genesis(&s)]
        batches.append(s.batch(ana, [.setPermission(member: ben, permission: .view),
                                     .createLink(InviteRecord(tokenID: tid(1), permission: .comment))], seen: s.everything))
        let eve = ReplicaID(testValue: 5), fay = ReplicaID(testValue: 6)
        let byMember = s.batch(cat, [join([1], cat, by: ben, at: s.time)], seen: s.everything)
        let byStranger = s.batch(dan, [join([1], dan, by: eve, at: s.time)], seen: s.everything)
        let byItself = s.batch(eve, [join([1], eve, by: eve, at: s.time)], seen: s.everything)
        // Fay carries the admission ana signed for Dan.
        guard case .join(_, let dansAdmission) = join([1], dan, at: s.time) else { return }
        let borrowed = s.batch(fay, [.join(inviteToken: [1], admission: dansAdmission)], seen: s.everything)
        let garbage = s.batch(fay, [.join(inviteToken: [1], admission: [0xAD, 1, 2])], seen: s.everything)
        batches += [byMember, byStranger, byItself, borrowed, garbage]
        let c = load(batches)
        #expect(reason(c, byMember) == nil)
        #expect([byStranger, byItself, borrowed, garbage].map { reason(c, $0) } == Array(repeating: .invalidInvite, count: 4))
        #expect(c.document.permissions[cat] == .comment)
        #expect(c.document.permissions[dan] == nil && c.document.permissions[eve] == nil && c.document.permissions[fay] == nil)
    }

    /// The use limit holds on the uses the admitting member saw and on the joins accepted before
    /// in causal order; a joiner cannot jump the queue by hiding the joins its admitter saw; two
    /// members admitting the last use concurrently admit exactly one, alike on every replica.
    @Test func useLimitsFollowTheAdmissionAndTheLog() {
        var s = Scenario()
        let g = genesis(&s)
        let setup = s.batch(ana, [.setPermission(member: dan, permission: .view),
                                  .createLink(InviteRecord(tokenID: tid(1), permission: .comment, useLimit: 2))], seen: s.everything)
        let beforeBen = s.everything
        let benJoins = s.batch(ben, [join([1], ben, at: s.time)], seen: s.everything)
        // Cat's admitter saw Ben's join, but Cat's join claims a past without it.
        let hidden = s.batch(cat, [join([1], cat, at: s.time, usesSeen: 1)], seen: beforeBen)
        // The admitting member saw the link used up already.
        let eve = ReplicaID(testValue: 5), fay = ReplicaID(testValue: 6), gus = ReplicaID(testValue: 7)
        let sawUsedUp = s.batch(eve, [join([1], eve, at: s.time, usesSeen: 2)], seen: s.everything)
        let afterBen = s.everything
        // Ana and Dan each admit the last use concurrently.
        let fayByAna = s.batch(fay, [join([1], fay, at: s.time, usesSeen: 1)], seen: afterBen)
        let gusByDan = s.batch(gus, [join([1], gus, by: dan, at: s.time, usesSeen: 1)], seen: afterBen)
        let all = [g, setup, benJoins, hidden, sawUsedUp, fayByAna, gusByDan]
        var states: Set<String> = []
        for order in [all, [g, setup, benJoins, gusByDan, fayByAna, sawUsedUp, hidden]] {
            let c = load(order)
            #expect(reason(c, benJoins) == nil)
            #expect(reason(c, hidden) == .invalidInvite)
            #expect(reason(c, sawUsedUp) == .invalidInvite)
            #expect((reason(c, fayByAna) == nil) != (reason(c, gusByDan) == nil), "exactly one of the concurrent last uses")
            #expect(c.links[tid(1)]?.uses == 2)
            states.insert(state(c))
        }
        #expect(states.count == 1)
        // With Ben's join in its past, the same admission is fine.
        let honest = s.batch(cat, [join([1], cat, at: s.time, usesSeen: 1)], seen: afterBen)
        let c = load([g, setup, benJoins, honest])
        #expect(reason(c, honest) == nil && c.links[tid(1)]?.joiners == [ben, cat])
    }

    /// An invitation's carried token is kept only when it is that link's own (id and signer).
    @Test func anInvitationCarriesOnlyItsOwnToken() {
        var s = Scenario()
        var batches = [genesis(&s)]
        batches.append(s.batch(ana, [.setPermission(member: ben, permission: .admin)], seen: s.everything))
        batches.append(s.batch(ana, [
            .createLink(InviteRecord(tokenID: tid(1), permission: .view, invitee: cat, token: [1])),
            .createLink(InviteRecord(tokenID: tid(2), permission: .view, invitee: cat, token: [3])), // another link's token
        ], seen: s.everything))
        // Ben records a token that ana signed (the test verifier names ana as every token's issuer).
        batches.append(s.batch(ben, [.createLink(InviteRecord(tokenID: tid(4), permission: .view, invitee: cat, token: [4]))],
                               seen: s.everything))
        let c = load(batches)
        #expect(c.links[tid(1)]?.record.token == [1])
        #expect(c.links[tid(2)]?.record.token == nil && c.links[tid(4)]?.record.token == nil)
        #expect(c.links.count == 3)
    }

    @Test func directInvitationsAdmitOnlyTheirInvitee() {
        var s = Scenario()
        var batches = [genesis(&s)]
        batches.append(s.batch(ana, [.createLink(InviteRecord(tokenID: tid(1), permission: .edit, label: "for Ben", invitee: ben))],
                               seen: s.everything))
        let catTries = s.batch(cat, [join([1], cat, at: s.time)], seen: s.everything)
        let benJoins = s.batch(ben, [join([1], ben, at: s.time)], seen: s.everything)
        batches += [catTries, benJoins]
        let c = load(batches)
        #expect(reason(c, catTries) == .invalidInvite)
        #expect(reason(c, benJoins) == nil)
        #expect(c.document.permissions[ben] == .comment) // the token's permission
        #expect(c.document.permissions[cat] == nil)
        #expect(c.links[tid(1)]?.joiners == [ben])
        // A token whose link is not recorded in the join's past admits no one, even signed by an admin.
        var t = Scenario()
        let unrecorded = [genesis(&t), t.batch(cat, [join([7], cat, at: t.time)], seen: t.everything)]
        #expect(load(unrecorded).document.permissions[cat] == nil)
        #expect(reason(load(unrecorded), unrecorded[1]) == .invalidInvite)
        // Recorded after the join was signed (concurrently): still not in its past.
        let record = t.batch(ana, [.createLink(InviteRecord(tokenID: tid(7), permission: .comment))], seen: t.everything)
        #expect(load(unrecorded + [record]).document.permissions[cat] == nil)
    }

    @Test func aDeclinedInvitationAdmitsNoOne() {
        var s = Scenario()
        var batches = [genesis(&s)]
        batches.append(s.batch(ana, [
            .createLink(InviteRecord(tokenID: tid(1), permission: .comment, invitee: ben)),
            .createLink(InviteRecord(tokenID: tid(2), permission: .comment, invitee: dan)),
        ], seen: s.everything))
        // Ben declines without having the log (a non-member); Cat's decline of Dan's invitation does not count.
        let benDeclines = s.batch(ben, [.declineInvite(tokenID: tid(1))])
        let catDeclines = s.batch(cat, [.declineInvite(tokenID: tid(2))])
        batches += [benDeclines, catDeclines]
        var seen = s.everything
        seen[ben] = 0
        let benJoins = s.batch(ben, [join([1], ben, at: s.time)], seen: seen)
        let danJoins = s.batch(dan, [join([2], dan, at: s.time)], seen: s.everything)
        batches += [benJoins, danJoins]
        let c = load(batches)
        #expect(reason(c, benDeclines) == nil && reason(c, catDeclines) == nil)
        #expect(reason(c, benJoins) == .invalidInvite)
        #expect(reason(c, danJoins) == nil)
        #expect(c.links[tid(1)]?.declined == true && c.links[tid(2)]?.declined == false)
        #expect(c.document.permissions[ben] == nil && c.document.permissions[dan] == .comment)
    }

    /// Declines cost every replica a governance operation: 20 per author per hour.
    @Test func declinesAreRateLimited() {
        var s = Scenario()
        var batches = [genesis(&s)]
        batches.append(s.batch(ana, [.createLink(InviteRecord(tokenID: tid(1), permission: .view, invitee: ben))],
                               seen: s.everything))
        var declines: [OperationBatch] = []
        for _ in 0 ..< 21 { declines.append(s.batch(ben, [.declineInvite(tokenID: tid(1))], seen: s.everything)) }
        let c = load(batches + declines)
        #expect(declines.prefix(20).allSatisfy { reason(c, $0) == nil })
        #expect(reason(c, declines[20]) == .rateLimited)
        #expect(c.links[tid(1)]?.declined == true)
        var d = c
        let later = s.batch(ben, [.declineInvite(tokenID: tid(1))], seen: s.everything, at: declines[0].timestamp + Self.hour)
        feed(&d, [later])
        #expect(reason(d, later) == nil)
    }

    @Test func accessRequestsAreListedRateLimitedAndMarkedGranted() {
        var s = Scenario()
        var batches = [genesis(&s)]
        batches.append(s.batch(ana, [.setPermission(member: ben, permission: .view)], seen: s.everything))
        let catAsks = s.batch(cat, [.requestAccess(permission: .comment, note: "I'm on the team")], seen: s.everything)
        let benAsks = s.batch(ben, [.requestAccess(permission: .admin, note: "")], seen: s.everything)
        batches += [catAsks, benAsks]
        batches.append(s.batch(ana, [.setPermission(member: cat, permission: .edit), .setPermission(member: ben, permission: .edit)],
                               seen: s.everything))
        var flood: [OperationBatch] = []
        for index in 0 ..< 6 {
            flood.append(s.batch(dan, [.requestAccess(permission: .view, note: "\(index)")], seen: s.everything))
        }
        batches += flood
        let c = load(batches)
        let requests = c.accessRequests
        #expect(requests.count == 7)
        let catsRequest = requests.first { $0.author == cat }
        #expect(catsRequest?.permission == .comment && catsRequest?.note == "I'm on the team")
        #expect(catsRequest?.granted == true && catsRequest?.at == catAsks.timestamp)
        #expect(catsRequest?.id == catAsks.identified[0].id)
        #expect(requests.first { $0.author == ben }?.granted == false) // edit < admin
        #expect(requests.filter { $0.author == dan }.map(\.note) == ["0", "1", "2", "3", "4"])
        #expect(reason(c, flood[5]) == .rateLimited)
        // After an hour Dan may ask again.
        var d = c
        let later = s.batch(dan, [.requestAccess(permission: .view, note: "again")], seen: s.everything,
                            at: flood[0].timestamp + Self.hour)
        feed(&d, [later])
        #expect(reason(d, later) == nil)
        #expect(d.accessRequests.count == 8)
    }

    @Test func snapshotsKeepLinksAndRequests() throws {
        var s = Scenario()
        var batches = [genesis(&s)]
        batches.append(s.batch(ana, [
            .createLink(InviteRecord(tokenID: tid(1), permission: .comment, expiresAt: s.time + Self.hour, useLimit: 3, label: "team")),
            .createLink(InviteRecord(tokenID: tid(2), permission: .edit, label: "for Ben", invitee: ben, token: [2, 0xFF])),
            .createLink(InviteRecord(tokenID: tid(4), permission: .view, label: "coded",
                                     code: InviteCodeRecord(lookup: Array(repeating: 4, count: 32), sealedToken: Array(0 ..< 60)))),
            .revokeLink(tokenID: tid(3)),
        ], seen: s.everything))
        batches.append(s.batch(cat, [join([1], cat, at: s.time), .requestAccess(permission: .edit, note: "more please")], seen: s.everything))
        batches.append(s.batch(ben, [.declineInvite(tokenID: tid(2))], seen: s.everything))
        batches.append(s.batch(ana, [.setPermission(member: cat, permission: .edit)], seen: s.everything))
        let c = load(batches)
        #expect(c.links.count == 3 && c.accessRequests.count == 1 && c.accessRequests[0].granted)
        #expect(c.links[tid(4)]?.record.code?.sealedToken == Array(0 ..< 60), "the short code is kept with its link")
        let snapshot = c.encodedSnapshot()
        #expect(snapshot.prefix(3) == [0x53, 0x56, 0x06])
        let back = try Conversation(snapshot: snapshot, id: Scenario.conversation, localReplica: ReplicaID(testValue: 99),
                                    verifyInvite: verifier(), verifyAdmission: testAdmissions(verifier()))
        #expect(back.links == c.links)
        #expect(back.accessRequests == c.accessRequests)
        #expect(back.encodedSnapshot() == snapshot)
        // Receiving more after loading continues from the same state.
        var next = back, direct = c
        let more = s.batch(dan, [join([1], dan, at: s.time)], seen: s.everything)
        feed(&next, [more])
        feed(&direct, [more])
        #expect(next.links == direct.links && next.links[tid(1)]?.joiners == [cat, dan])
    }

    @Test func versionOneSnapshotsStillLoad() throws {
        var s = Scenario()
        let batches = [genesis(&s), s.batch(ana, [.setPermission(member: ben, permission: .comment)], seen: s.everything),
                       s.batch(ben, [post("hi")], seen: s.everything)]
        let c = load(batches)
        var snapshot = c.encodedSnapshot()
        snapshot[2] = 1 // no sharing operations: the version 1 layout
        snapshot.removeLast() // nor the (empty) equivocators of version 4
        let back = try Conversation(snapshot: snapshot, id: Scenario.conversation, localReplica: ReplicaID(testValue: 99),
                                    verifyInvite: verifier(), verifyAdmission: testAdmissions(verifier()))
        #expect(back.document.orderedMessages.map(\.body.text) == ["hi"])
        #expect(back.document.permissions == c.document.permissions)
        // A version 1 snapshot cannot hold sharing operations.
        var t = Scenario()
        var withLink = load([genesis(&t)])
        feed(&withLink, [t.batch(ana, [.revokeLink(tokenID: tid(1))], seen: t.everything)])
        var v1 = withLink.encodedSnapshot()
        v1[2] = 1
        #expect(throws: DocumentError.self) {
            try Conversation(snapshot: v1, id: Scenario.conversation, localReplica: ReplicaID(testValue: 99), verifyInvite: verifier())
        }
        var future = withLink.encodedSnapshot()
        future[2] = 7
        #expect(throws: DocumentError.self) {
            try Conversation(snapshot: future, id: Scenario.conversation, localReplica: ReplicaID(testValue: 99), verifyInvite: verifier())
        }
    }
}

/// Random delivery orders of a sharing scenario converge (seeded; the seed is in the message).
@Suite struct SharingConvergenceTests {
    @Test(arguments: UInt64(0) ..< 24)
    func randomCausalDeliveryConverges(seed: UInt64) {
        let ana = ReplicaID(testValue: 1)
        let joiners = (2 ... 6).map { ReplicaID(testValue: $0) }
        let verifier: InviteVerifier = { bytes in
            bytes.first.map { InviteGrant(conversation: Scenario.conversation, permission: .comment, issuer: ana,
                                          tokenID: Array(repeating: $0, count: 16), expiresAt: nil, useLimit: nil) }
        }
        var random = SeededGenerator(seed: seed)
        var s = Scenario()
        var batches = [s.batch(ana, [.genesis(Genesis(title: "t", nonce: [1]))])]
        var snapshots: [VectorClock] = [s.everything]
        var seenBy: [ReplicaID: VectorClock] = [:]
        func someCut() -> VectorClock { snapshots[Int.random(in: 0 ..< snapshots.count, using: &random)] }
        for step in 0 ..< 14 {
            let op: ConversationOp
            let author: ReplicaID
            switch Int.random(in: 0 ..< 5, using: &random) {
            case 0:
                author = ana
                op = .createLink(InviteRecord(tokenID: Array(repeating: UInt8(step % 3), count: 16), permission: .comment,
                                              useLimit: Bool.random(using: &random) ? 1 : nil,
                                              invitee: Bool.random(using: &random) ? joiners[step % 5] : nil))
            case 1:
                author = ana
                op = .revokeLink(tokenID: Array(repeating: UInt8(step % 3), count: 16))
            case 2:
                author = joiners[Int.random(in: 0 ..< 5, using: &random)]
                op = .declineInvite(tokenID: Array(repeating: UInt8(step % 3), count: 16))
            case 3:
                author = joiners[Int.random(in: 0 ..< 5, using: &random)]
                op = .requestAccess(permission: .edit, note: "\(step)")
            default:
                author = joiners[Int.random(in: 0 ..< 5, using: &random)]
                op = join([UInt8(Int.random(in: 0 ..< 3, using: &random))], author, at: s.time)
            }
            // Ana always sees everything; others a random earlier cut, never less than they saw before.
            var seen = author == ana ? s.everything : someCut()
            for entry in (seenBy[author] ?? VectorClock()).entries where entry.count > seen[entry.replica] {
                seen[entry.replica] = entry.count
            }
            seenBy[author] = seen
            batches.append(s.batch(author, [op], seen: seen))
            snapshots.append(s.everything)
        }
        var reference: String?
        for round in 0 ..< 4 {
            let order = causalShuffle(batches, using: &random)
            var c = newConversation(ReplicaID(testValue: 90 + UInt64(round)), invites: verifier)
            feed(&c, order)
            let links = c.links.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { "\($0.value)" }
            let excluded = c.excluded.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let permissions = c.document.permissions.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            let state = "\(links) \(c.accessRequests) \(excluded) \(permissions)"
            if let reference { #expect(state == reference, "seed \(seed), round \(round)") } else { reference = state }
        }
    }

    /// A random order in which each batch comes after everything in its clock.
    func causalShuffle(_ batches: [OperationBatch], using random: inout SeededGenerator) -> [OperationBatch] {
        var pending = batches
        var delivered = VectorClock()
        var order: [OperationBatch] = []
        while !pending.isEmpty {
            let ready = pending.indices.filter { index in
                let batch = pending[index]
                return batch.clock.entries.allSatisfy { delivered[$0.replica] >= $0.count || $0.replica == batch.author }
                    && delivered[batch.author] == batch.firstCounter
            }
            guard !ready.isEmpty else { break }
            let pick = ready[Int.random(in: 0 ..< ready.count, using: &random)]
            let batch = pending.remove(at: pick)
            delivered[batch.author] = batch.firstCounter + batch.operations.reduce(0) { $0 + $1.idCount }
            order.append(batch)
        }
        return order
    }
}
