@testable import ChatCore
import ChatCrypto
@testable import ChatNode
import ChatSync
import ChatWire
import Testing

/// ``NodeMachine`` admission, event by event: a member vouching (or not) for a token joiner on
/// every state of the token, public joins within the hourly limit, a joiner keeping the right
/// admission, and direct invitations delivered and received within their bounds.
extension NodeMachineTests {
    var tokenID: [UInt8] { Array(repeating: 0x7A, count: 16) }
    var wallNow: UInt64 { 1_750_000_000_000 }

    /// A token for `team` signed by `issuer` (the admin `small` unless said otherwise).
    func token(issuer: SigningKey? = nil, expiresAt: UInt64? = nil, useLimit: UInt32? = nil) -> [UInt8] {
        let issuer = issuer ?? small
        return InviteToken(content: InviteTokenContent(conversation: team, permission: .comment, issuer: issuer.publicKey.replicaID,
                                                       tokenID: tokenID, issuedAt: wallNow - 1000, expiresAt: expiresAt,
                                                       useLimit: useLimit)) { issuer.sign($0).bytes }.bytes
    }

    /// The conversation's record of the link, as replicas materialize it.
    func linkState(revoked: Bool = false, declined: Bool = false, expiresAt: UInt64? = nil, useLimit: UInt32? = nil) -> LinkState {
        LinkState(record: InviteRecord(tokenID: tokenID, permission: .comment, expiresAt: expiresAt, useLimit: useLimit),
                  creator: small.publicKey.replicaID, createdBy: OpID(replica: small.publicKey.replicaID, counter: 1),
                  createdAt: wallNow - 500, revoked: revoked, declined: declined)
    }

    /// `small` is the admin, `middle` a member (the node deciding), `large` the joiner.
    func sharingDirectory(_ sharing: MembershipDirectory.SharingAdmission, public isPublic: Bool = false) -> MembershipDirectory {
        var sharing = sharing
        sharing.isPublic = isPublic
        let directory = MembershipDirectory()
        directory.publish(team, permissions: [small.publicKey.replicaID: .admin, middle.publicKey.replicaID: .comment],
                          revoked: [], sharing: sharing)
        return directory
    }

    /// A member (`middle`) with the joiner's session (it dialled, presenting `token`) established.
    func joinerSession(_ node: inout NodeMachine, presenting token: [UInt8], directory: MembershipDirectory) throws -> Int {
        let opened = node.openSession(role: .listener, held: [team], membership: directory)
        let plan = try #require(opened)
        _ = node.onSessionEstablished(link: plan.link, agreed: SessionPeer(key: large.publicKey, version: 1, conversations: [team],
                                                                           inviteToken: token),
                                      now: now, membership: directory)
        return plan.link
    }

    /// What the member does for the joiner, given the token, the directory and the conversation's link.
    func decision(token: [UInt8], sharing: MembershipDirectory.SharingAdmission, link: LinkState?, usesSeen: Int = 0,
                  public isPublic: Bool = false) throws -> [NodeDirective] {
        let directory = sharingDirectory(sharing, public: isPublic)
        var node = machine(middle)
        let id = try joinerSession(&node, presenting: token, directory: directory)
        guard let grant = node.tokenJoin(on: id, membership: directory) else { return [] }
        return node.onTokenJoinRead(link: id, grant: grant, link: link, usesSeen: usesSeen, wallNow: wallNow,
                                    membership: directory)
    }

    func refused(_ reason: RefuseCode) -> [NodeDirective] { [.send(.admissionRefused(conversation: team, reason: reason), link: 0)] }

    @Test func aMemberVouchesOnlyForATokenThatAdmits() throws {
        let recorded = MembershipDirectory.SharingAdmission(recorded: [tokenID])
        // A valid token: the member signs an admission naming itself, the joiner and the uses it saw.
        let signed = try decision(token: token(), sharing: recorded, link: linkState(), usesSeen: 2)
        let content = JoinAdmission(conversation: team, joiner: large.publicKey.replicaID, tokenID: tokenID,
                                    admitter: middle.publicKey.replicaID, admittedAt: wallNow, usesSeen: 2)
        #expect(signed == [.signAdmission(content, link: 0)])
        // The directory refuses the token: the joiner (admitted to a public conversation all the
        // same, or refused at the handshake) is told why.
        #expect(try decision(token: token(), sharing: .init(), link: linkState(), public: true) == refused(.invalidInvite))
        #expect(try decision(token: token(), sharing: .init(recorded: [tokenID], closedTokens: [tokenID: .inviteRevoked]),
                             link: linkState(revoked: true), public: true) == refused(.inviteRevoked))
        #expect(try decision(token: token(), sharing: .init(recorded: [tokenID], closedTokens: [tokenID: .inviteDeclined]),
                             link: linkState(declined: true), public: true) == refused(.inviteDeclined))
        #expect(try decision(token: token(), sharing: .init(recorded: [tokenID], invitees: [tokenID: small.publicKey.replicaID]),
                             link: linkState(), public: true) == refused(.notTheInvitee))
        #expect(try decision(token: token(expiresAt: wallNow - 1), sharing: recorded, link: linkState(), public: true)
                == refused(.inviteExpired))
        #expect(try decision(token: token(useLimit: 3), sharing: .init(recorded: [tokenID], uses: [tokenID: 3]),
                             link: linkState(), public: true) == refused(.inviteUsedUp))
        // Not an admin's token: refused as invalid.
        #expect(try decision(token: token(issuer: middle), sharing: recorded, link: linkState(), public: true) == refused(.invalidInvite))
        // The directory admits, but the conversation read says otherwise: nothing is signed.
        #expect(try decision(token: token(), sharing: recorded, link: nil).isEmpty, "no record of the link")
        #expect(try decision(token: token(), sharing: recorded, link: linkState(revoked: true)).isEmpty)
        #expect(try decision(token: token(), sharing: recorded, link: linkState(declined: true)).isEmpty)
        #expect(try decision(token: token(), sharing: recorded, link: linkState(expiresAt: wallNow - 1)).isEmpty)
        #expect(try decision(token: token(), sharing: recorded, link: linkState(useLimit: 2), usesSeen: 2).isEmpty)
        #expect(try decision(token: token(useLimit: 2), sharing: recorded, link: linkState(), usesSeen: 2).isEmpty)
        // A forged token (bytes changed after signing) is nobody's to vouch for.
        var forged = token()
        forged[forged.count - 1] ^= 1
        #expect(try decision(token: forged, sharing: recorded, link: linkState()).isEmpty)
    }

    /// Decided again on what was read: a session that ended, or a joiner who became a member
    /// meanwhile, gets nothing signed.
    @Test func aTokenJoinIsDecidedAgainAfterTheRead() throws {
        let directory = sharingDirectory(.init(recorded: [tokenID]))
        var node = machine(middle)
        let id = try joinerSession(&node, presenting: token(), directory: directory)
        let grant = try #require(node.tokenJoin(on: id, membership: directory))
        directory.publish(team, permissions: [small.publicKey.replicaID: .admin, middle.publicKey.replicaID: .comment,
                                              large.publicKey.replicaID: .comment], revoked: [],
                          sharing: .init(recorded: [tokenID]))
        let afterJoin = node.onTokenJoinRead(link: id, grant: grant, link: linkState(), usesSeen: 0, wallNow: wallNow,
                                             membership: directory)
        #expect(afterJoin.isEmpty)
        let fresh = sharingDirectory(.init(recorded: [tokenID]))
        _ = node.onSessionClosed(link: id, backOff: nil, host: nil, inboundPeak: 0, now: now)
        let afterClose = node.onTokenJoinRead(link: id, grant: grant, link: linkState(), usesSeen: 0, wallNow: wallNow,
                                              membership: fresh)
        #expect(afterClose.isEmpty)
        // A dialer's peer is never vouched for: only the member a joiner reached signs.
        var dialer = machine(middle)
        let opened = dialer.openSession(role: .dialer(largeAddress), held: [team], membership: fresh)
        let plan = try #require(opened)
        _ = dialer.onSessionEstablished(link: plan.link, agreed: SessionPeer(key: large.publicKey, version: 1, conversations: [team],
                                                                             inviteToken: token()),
                                        now: now, membership: fresh)
        #expect(dialer.tokenJoin(on: plan.link, membership: fresh) == nil)
    }

    /// A member vouches for public joiners up to the hourly limit, gives the same joiner the
    /// same admission again, and says `rate_limited` beyond; a private conversation gets nothing.
    @Test func publicJoinsAreVouchedForWithinTheHourlyLimit() throws {
        let directory = sharingDirectory(.init(), public: true)
        var node = machine(middle)
        let id = try joinerSession(&node, presenting: [], directory: directory)
        #expect(node.publicJoiner(to: team, on: id, membership: directory) == large.publicKey.replicaID)
        let first = node.onPublicJoinRead(team, link: id, acceptedThisHour: 0, wallNow: wallNow, membership: directory)
        guard case .signAdmission(let content, link: id) = first.first else {
            Issue.record("no admission to sign: \(first)")
            return
        }
        #expect(content.tokenID == JoinAdmission.publicTokenID && content.usesSeen == 0)
        let sent = node.onAdmissionSigned([9, 9, 9], content, link: id)
        #expect(sent == [.send(.admission(conversation: team, admission: [9, 9, 9]), link: id)])
        let again = node.onPublicJoinRead(team, link: id, acceptedThisHour: 1, wallNow: wallNow + 10, membership: directory)
        #expect(again == sent, "the same joiner gets the same admission")
        // Another joiner while this node's admissions already fill the hour.
        var full = machine(middle)
        let other = try joinerSession(&full, presenting: [], directory: directory)
        let limited = full.onPublicJoinRead(team, link: other, acceptedThisHour: SharingLimits.publicAdmissionsPerHour,
                                            wallNow: wallNow, membership: directory)
        #expect(limited == [.send(.admissionRefused(conversation: team, reason: .rateLimited), link: other)])
        #expect(full.counters.admissionsRefused == 1 && node.counters.admissionsSigned == 1)
        // Private: nobody is vouched for.
        let privately = sharingDirectory(.init())
        var closed = machine(middle)
        let link = try joinerSession(&closed, presenting: [], directory: privately)
        #expect(closed.publicJoiner(to: team, on: link, membership: privately) == nil)
        let none = closed.onPublicJoinRead(team, link: link, acceptedThisHour: 0, wallNow: wallNow, membership: privately)
        #expect(none.isEmpty)
    }

    /// A joiner keeps only an admission that verifies, names it, its token and the peer that
    /// sent it, and is not past the token's bounds; of two, the one that saw fewer uses.
    @Test func aJoinerKeepsOnlyAnAdmissionThatFitsItsJoin() throws {
        let directory = MembershipDirectory()
        var node = machine(large)
        let grant = try #require(ConversationInputs.verifyInvite(token(useLimit: 5)))
        node.pendingJoins[team] = PendingJoin(token: token(useLimit: 5), grant: grant)
        let opened = node.openSession(role: .dialer(middleAddress), held: [team], membership: directory)
        let plan = try #require(opened)
        _ = node.onSessionEstablished(link: plan.link, agreed: peer(middle, [team]), now: now, membership: directory)
        func admission(by key: SigningKey, signer: SigningKey? = nil, joiner: SigningKey? = nil, usesSeen: UInt32,
                       tokenID: [UInt8]? = nil) -> [UInt8] {
            SignedAdmission(content: JoinAdmission(conversation: team, joiner: (joiner ?? large).publicKey.replicaID,
                                                   tokenID: tokenID ?? self.tokenID, admitter: key.publicKey.replicaID,
                                                   admittedAt: wallNow, usesSeen: usesSeen)) { (signer ?? key).sign($0).bytes }.bytes
        }
        let dropped: [[UInt8]] = [
            admission(by: small, usesSeen: 1), // not the peer that sent it
            admission(by: middle, signer: small, usesSeen: 1), // forged
            admission(by: middle, joiner: small, usesSeen: 1), // another joiner
            admission(by: middle, usesSeen: 1, tokenID: Array(repeating: 1, count: 16)), // another token
            admission(by: middle, usesSeen: 5), // the token is used up by its own account
            [1, 2, 3],
        ]
        for bytes in dropped {
            let kept = node.onAdmissionReceived(bytes, in: team, link: plan.link, membership: directory)
            #expect(kept.isEmpty)
        }
        #expect(node.counters.admissionsDropped == dropped.count)
        let good = admission(by: middle, usesSeen: 3)
        let kept = node.onAdmissionReceived(good, in: team, link: plan.link, membership: directory)
        #expect(kept == [.savePendingJoin(team), .completeJoin(team)])
        let harder = node.onAdmissionReceived(admission(by: middle, usesSeen: 4), in: team, link: plan.link, membership: directory)
        #expect(harder.isEmpty && node.pendingJoins[team]?.admission?.bytes == good)
        let easier = admission(by: middle, usesSeen: 2)
        let replaced = node.onAdmissionReceived(easier, in: team, link: plan.link, membership: directory)
        #expect(replaced == kept && node.pendingJoins[team]?.admission?.bytes == easier)
    }

    /// A join that began while this node's own state said it was a member (a state that may have
    /// missed its removal) ends only once a member's node admits this one to the conversation,
    /// and fails with the refusal its address gave (`revoked` for a removed member).
    @Test func aJoinOnItsOwnMembershipIsConfirmedOrRefusedByTheMembers() throws {
        let directory = MembershipDirectory()
        let grant = try #require(ConversationInputs.verifyInvite(token()))
        func joining() -> NodeMachine {
            var node = machine(large)
            node.pendingJoins[team] = PendingJoin(token: token(), grant: grant, targets: [middleAddress],
                                                  confirmingMembership: true)
            return node
        }
        var refused = joining()
        let dialling = refused.openSession(role: .dialer(middleAddress), held: [team], membership: directory)
        let dialled = try #require(dialling)
        let early = refused.joinProgress(team, declining: false, isMember: true, excluded: nil)
        #expect(early == (.waiting, []), "no session carries the conversation")
        refused.onSessionClosing(link: dialled.link, reason: .refusedByPeer(.revoked))
        #expect(refused.refusalByEveryTarget(team) == .revoked)
        let afterRefusal = refused.joinProgress(team, declining: false, isMember: true, excluded: nil)
        #expect(afterRefusal == (.failed(.joinRefused(.revoked)), [.abandonJoin(team)]))
        let abandoned = refused.abandonJoin(team)
        #expect(abandoned?.first == .savePendingJoin(team) && refused.pendingJoins[team] == nil)

        var confirmed = joining()
        let opening = confirmed.openSession(role: .dialer(middleAddress), held: [team], membership: directory)
        let opened = try #require(opening)
        _ = confirmed.onSessionEstablished(link: opened.link, agreed: peer(middle, [team]), now: now, membership: directory)
        let done = confirmed.joinProgress(team, declining: false, isMember: true, excluded: nil)
        #expect(done == (.done, [.savePendingJoin(team)]))
        #expect(confirmed.pendingJoins[team] == nil, "nothing is left to record")
    }

    /// A token join begins by saving its token (unless declining) and dialling its addresses;
    /// then it waits, is done once this node is a member, fails when the rules excluded the
    /// recorded join, and a recorded one is never abandoned. A decline reports why it could
    /// not be signed, once.
    @Test func aTokenJoinBeginsWaitsAndEndsAsTheMachineDecides() throws {
        let grant = try #require(ConversationInputs.verifyInvite(token()))
        var node = machine(large)
        let begun = node.beginJoin(token: token(), grant: grant, declining: false, targets: [middleAddress], isMember: false)
        #expect(begun.first == .savePendingJoin(team) && begun.last == .completeJoin(team))
        #expect(begun.contains { if case .dial(middleAddress, _) = $0 { true } else { false } })
        #expect(node.joinProgress(team, declining: false, isMember: false, excluded: nil) == (.waiting, []))
        #expect(node.joinProgress(team, declining: false, isMember: true, excluded: nil) == (.done, []))
        node.pendingJoins[team]?.recorded = true
        #expect(node.abandonJoin(team) == nil, "a recorded join is not given up")
        let excluded = node.joinProgress(team, declining: false, isMember: false, excluded: .inviteUsedUp)
        #expect(excluded == (.failed(.joinRefused(.inviteUsedUp)), [.savePendingJoin(team)]))
        #expect(node.pendingJoins[team] == nil)

        let declining = node.beginJoin(token: token(), grant: grant, declining: true, targets: [], isMember: false)
        #expect(declining == [.completeJoin(team)], "a decline saves nothing")
        #expect(node.joinProgress(team, declining: true, isMember: false, excluded: nil) == (.waiting, []))
        node.pendingJoins[team] = nil
        node.declineFailures[team] = .invalidArgument("no key")
        #expect(node.joinProgress(team, declining: true, isMember: false, excluded: nil) == (.failed(.invalidArgument("no key")), []))
        #expect(node.joinProgress(team, declining: true, isMember: false, excluded: nil) == (.done, []))
    }

    /// Open invitations go over every session with the invitee's node; received ones are kept
    /// once each, within the bounds in all and per delivering peer, and forged ones are dropped.
    @Test func invitationsAreDeliveredAndKeptWithinBounds() throws {
        let directory = membership([small, middle])
        var member = machine(middle)
        let (first, _) = try establish(&member, .listener, with: large, [team], membership: directory)
        let delivered = member.deliverInvitations([[1], [2]], to: large.publicKey.replicaID)
        #expect(delivered == [
            .send(.invitation(conversation: team, token: [1]), link: first),
            .send(.invitation(conversation: team, token: [2]), link: first),
        ])
        let undelivered = member.deliverInvitations([[1]], to: small.publicKey.replicaID)
        #expect(undelivered.isEmpty, "no session with her")
        #expect(member.counters.invitationsDelivered == 2)

        var invitee = machine(large)
        let (link, _) = try establish(&invitee, .dialer(middleAddress), with: middle, [team], membership: directory)
        let received = invitee.onInvitationReceived(token(), link: link, wallNow: wallNow)
        #expect(received == [.emit(.invitationReceived(team, from: middle.publicKey.replicaID))])
        let duplicate = invitee.onInvitationReceived(token(), link: link, wallNow: wallNow)
        #expect(duplicate.isEmpty && invitee.receivedInvitations.count == 1)
        var forged = token()
        forged[forged.count - 1] ^= 1
        let dropped = invitee.onInvitationReceived(forged, link: link, wallNow: wallNow)
        #expect(dropped.isEmpty && invitee.counters.invitationsDropped == 1)
        // One peer fills its share; more from it are dropped.
        for index in 0 ..< NodeMachine.maxReceivedInvitationsPerPeer + 3 {
            let id = (0 ..< 16).map { UInt8(truncatingIfNeeded: index >> ($0 % 2 * 8)) ^ UInt8($0) }
            let bytes = InviteToken(content: InviteTokenContent(conversation: other, permission: .view,
                                                                issuer: small.publicKey.replicaID, tokenID: id,
                                                                issuedAt: wallNow)) { small.sign($0).bytes }.bytes
            _ = invitee.onInvitationReceived(bytes, link: link, wallNow: wallNow)
        }
        #expect(invitee.receivedInvitations.count == NodeMachine.maxReceivedInvitationsPerPeer)
        #expect(invitee.counters.invitationsDropped == 1 + 4)
    }
}
