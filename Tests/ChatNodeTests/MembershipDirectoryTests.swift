import ChatCore
import ChatCrypto
import ChatNode
import ChatStore
import ChatSync
import ChatWire
import Foundation
import Testing

/// Sessions admit members, and non-members only with a valid invite; removed members are refused.
@Suite struct MembershipDirectoryTests {
    /// Issue 15, item 2, without sockets: whichever side dialled, a session keeps only the
    /// conversations its peer was not removed from (the peer's node may admit one it does not
    /// know it lost); a re-admitted member is synced again.
    @Test func aSessionKeepsNoConversationItsPeerWasRemovedFrom() {
        let members = MembershipDirectory()
        let ben = ReplicaID(testValue: 2), cat = ReplicaID(testValue: 3)
        let team = ConversationID(bytes: Array(repeating: 1, count: 32))!
        let other = ConversationID(bytes: Array(repeating: 2, count: 32))!
        members.publish(team, permissions: [cat: .comment], revoked: [ben])
        members.publish(other, permissions: [ben: .comment, cat: .comment], revoked: [])
        #expect(members.conversationsToSync(with: ben, agreed: [team, other]) == [other])
        #expect(members.conversationsToSync(with: ben, agreed: [team]).isEmpty)
        #expect(members.conversationsToSync(with: cat, agreed: [team, other]) == [team, other])
        members.publish(team, permissions: [ben: .view, cat: .comment], revoked: [])
        #expect(members.conversationsToSync(with: ben, agreed: [team]) == [team])
    }

    /// Issue 19: a code lookup is answered with every conversation's sealed token for it, so a
    /// lookup copied into another conversation (by an admin there) cannot block the code; an
    /// unknown lookup is `invalid_invite`, and a stranger learns nothing else.
    @Test func aCodeLookupGetsEverySealedTokenRecordedForIt() throws {
        let members = MembershipDirectory()
        let stranger = try SigningKey(seed: Array(repeating: 73, count: 32)).publicKey
        let first = ConversationID(bytes: Array(repeating: 1, count: 32))!
        let second = ConversationID(bytes: Array(repeating: 2, count: 32))!
        let lookup = Array(repeating: UInt8(7), count: 32)
        var genuine = MembershipDirectory.SharingAdmission()
        genuine.codes[lookup] = [1, 1]
        var copied = MembershipDirectory.SharingAdmission()
        copied.codes[lookup] = [2, 2]
        members.publish(second, permissions: [:], revoked: [], sharing: genuine)
        members.publish(first, permissions: [:], revoked: [], sharing: copied)
        let admit = members.admission(now: { 0 })
        #expect(admit(AdmissionRequest(peer: stranger, conversations: [first, second], inviteToken: nil, codeLookup: lookup))
            == .resolved(sealedTokens: [[2, 2], [1, 1]]))
        #expect(admit(AdmissionRequest(peer: stranger, conversations: [], inviteToken: nil, codeLookup: Array(repeating: 8, count: 32)))
            == .refuse(.invalidInvite))
    }

    @Test func admissionFollowsTheCommittedMembership() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ana = try SigningKey(seed: Array(repeating: 11, count: 32))
        let ben = try SigningKey(seed: Array(repeating: 12, count: 32))
        let cat = try SigningKey(seed: Array(repeating: 13, count: 32))
        let genesis = SignedBatch(content: BatchContent(
            conversation: nil, author: ana.publicKey.replicaID, firstCounter: 0, timestamp: 1_750_000_000_000,
            previousHash: Array(repeating: 0, count: 32), dependencies: [],
            operations: [.genesis(Genesis(title: "t", nonce: [1]))]), sign: { ana.sign($0).bytes })
        let conversation = try #require(ConversationID(bytes: Hashing.blake2b(genesis.bytes)))
        let store = try ChatStore(directory: directory + "/store")
        let replica = try ConversationReplica(store: store, conversation: conversation, localReplica: ana.publicKey.replicaID)
        let members = MembershipDirectory()
        await replica.publishMembership(to: members)
        _ = try await replica.ingest([genesis.bytes])
        await replica.attachAuthor(ana, policy: .init(maxOperations: 1, maxIDs: 100, flushInterval: .milliseconds(1)))
        _ = try await replica.submit(.setPermission(member: ben.publicKey.replicaID, permission: .comment),
                                     now: .zero, wallClock: 1_750_000_001_000)
        let admit = members.admission(now: { 1_750_000_002_000 })
        func ask(_ key: SigningKey, token: [UInt8]? = nil) -> AdmissionDecision {
            admit(AdmissionRequest(peer: key.publicKey, conversations: [conversation], inviteToken: token))
        }
        #expect(ask(ana) == .admit(conversations: [conversation]))
        #expect(ask(ben) == .admit(conversations: [conversation]))
        #expect(ask(cat) == .refuse(.notAMember))
        // An invite from an admin lets Cat in; one from a non-admin, or expired, does not.
        func token(by issuer: SigningKey, expiresAt: UInt64? = nil) -> [UInt8] {
            InviteToken(content: InviteTokenContent(
                conversation: conversation, permission: .comment, issuer: issuer.publicKey.replicaID,
                tokenID: Array(repeating: 3, count: 16), issuedAt: 1_750_000_000_000, expiresAt: expiresAt),
                sign: { issuer.sign($0).bytes }).bytes
        }
        // Not recorded as a link yet: refused.
        #expect(ask(cat, token: token(by: ana)) == .refuse(.invalidInvite))
        _ = try await replica.submit(.createLink(InviteRecord(tokenID: Array(repeating: 3, count: 16), permission: .comment)),
                                     now: .milliseconds(500), wallClock: 1_750_000_001_200)
        #expect(ask(cat, token: token(by: ana)) == .admit(conversations: [conversation]))
        #expect(ask(cat, token: token(by: ben)) == .refuse(.invalidInvite))
        #expect(ask(cat, token: token(by: ana, expiresAt: 1_750_000_001_500)) == .refuse(.inviteExpired))
        #expect(ask(cat, token: [1, 2, 3]) == .refuse(.invalidInvite))
        // Removed: refused at once, even with an invite, and told why.
        _ = try await replica.submit(.removeMember(member: ben.publicKey.replicaID), now: .seconds(1), wallClock: 1_750_000_003_000)
        #expect(ask(ben) == .refuse(.revoked))
        #expect(ask(ben, token: token(by: ana)) == .refuse(.revoked))
    }
}
