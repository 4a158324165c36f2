import ChatCore
import ChatCrypto
import ChatWire
import Foundation
import Testing

/// The sharing operations (tags 11–15) on the wire: round trip and typed refusals of bad fields.
@Suite struct SharingCodecTests {
    let author = TestKeys.alice.publicKey.replicaID

    func batch(_ ops: [ConversationOp]) -> SignedBatch {
        SignedBatch(content: BatchContent(conversation: testConversation, author: author, firstCounter: 3,
                                          timestamp: 1_750_000_000_000, previousHash: Array(repeating: 7, count: 32),
                                          dependencies: [], operations: ops)) { TestKeys.alice.sign($0).bytes }
    }

    @Test func everySharingOperationRoundTrips() throws {
        let bob = TestKeys.bob.publicKey.replicaID
        let ops: [ConversationOp] = [
            .createLink(InviteRecord(tokenID: Array(repeating: 1, count: 16), permission: .view)),
            .createLink(InviteRecord(tokenID: Array(repeating: 2, count: 16), permission: .admin, expiresAt: UInt64.max,
                                     useLimit: UInt32.max, label: String(repeating: "é", count: 128), invitee: bob)),
            .createLink(InviteRecord(tokenID: Array(repeating: 5, count: 16), permission: .edit, invitee: bob,
                                     token: Array(0 ..< 200))),
            .createLink(InviteRecord(tokenID: Array(repeating: 6, count: 16), permission: .comment,
                                     code: InviteCodeRecord(lookup: Array(repeating: 9, count: 32), sealedToken: Array(0 ..< 240)))),
            .revokeLink(tokenID: Array(repeating: 3, count: 16)),
            .declineInvite(tokenID: Array(repeating: 4, count: 16)),
            .join(inviteToken: [1, 2, 3], admission: [4, 5, 6]),
            .requestAccess(permission: .comment, note: ""),
            .requestAccess(permission: .edit, note: String(repeating: "n", count: 256)),
        ]
        let signed = batch(ops)
        let decoded = try SignedBatch(decoding: signed.bytes)
        #expect(decoded.content.operations == ops)
        #expect(decoded.bytes == signed.bytes)
    }

    /// An admitted join (tag 15) with an empty admission has a shorter canonical form: refused.
    @Test func anAdmittedJoinNeedsAnAdmission() throws {
        var bytes = batch([.join(inviteToken: [1, 2, 3], admission: [9])]).bytes
        // The admission is the last field before the signature: length 1, then 9.
        let end = bytes.count - 64
        #expect(Array(bytes[(end - 2) ..< end]) == [1, 9])
        bytes.replaceSubrange((end - 2) ..< end, with: [0])
        #expect(throws: WireError.self) { try SignedBatch(decoding: bytes) }
    }

    @Test func tokenIDsMustBeSixteenBytes() {
        for length in [0, 15] {
            let short = Array(repeating: UInt8(9), count: length)
            for op: ConversationOp in [.revokeLink(tokenID: short), .declineInvite(tokenID: short),
                                       .createLink(InviteRecord(tokenID: short, permission: .view))] {
                #expect(throws: WireError.self) { try SignedBatch(decoding: batch([op]).bytes) }
            }
        }
        let long = Array(repeating: UInt8(9), count: 17)
        #expect(throws: WireError.tooLarge(field: "revoked token id", size: 17, limit: 16)) {
            try SignedBatch(decoding: batch([.revokeLink(tokenID: long)]).bytes)
        }
    }

    @Test func labelsAndNotesAreBounded() {
        let label = String(repeating: "x", count: 257)
        #expect(throws: WireError.tooLarge(field: "link label", size: 257, limit: 256)) {
            try SignedBatch(decoding: batch([.createLink(InviteRecord(tokenID: Array(repeating: 1, count: 16),
                                                                      permission: .view, label: label))]).bytes)
        }
        #expect(throws: WireError.tooLarge(field: "access request note", size: 257, limit: 256)) {
            try SignedBatch(decoding: batch([.requestAccess(permission: .view, note: label)]).bytes)
        }
    }

    /// The committed fuzz seed `conversation-sharing` is a real version 2 snapshot, not one the loader refuses.
    @Test func theSharingSnapshotSeedLoads() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz/corpus/conversation-sharing")
        let seed = try [UInt8](Data(contentsOf: url))
        #expect(seed.first == 7)
        let loaded = try Conversation(snapshot: Array(seed.dropFirst()), id: testConversation,
                                      localReplica: ReplicaID(testValue: 0xF022), verifyInvite: { _ in nil })
        #expect(loaded.links.count == 2)
        #expect(loaded.links.values.contains { $0.declined && $0.record.invitee == ReplicaID(testValue: 2) })
        #expect(loaded.accessRequests.map(\.note) == ["more please"])
    }

    @Test func unknownLinkFlagsAndPermissionsAreRefused() throws {
        let signed = batch([.createLink(InviteRecord(tokenID: Array(repeating: 0xAB, count: 16), permission: .view))])
        // tag 11, length 16, 16 × 0xAB, permission, flags: find the flags byte after the token id.
        let bytes = signed.bytes
        let pattern: [UInt8] = [11, 16] + Array(repeating: 0xAB, count: 16)
        var found: Int?
        for index in 0 ... (bytes.count - pattern.count) where Array(bytes[index ..< index + pattern.count]) == pattern {
            found = index
            break
        }
        let start = try #require(found)
        var flags = bytes
        flags[start + 19] = 0x08
        #expect(throws: WireError.self) { try SignedBatch(decoding: flags) }
        var permission = bytes
        permission[start + 18] = 0x09
        #expect(throws: WireError.self) { try SignedBatch(decoding: permission) }
    }
}
