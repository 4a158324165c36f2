import ChatCore
import ChatCrypto
import ChatWire
import Foundation

/// Fixed test identities: seeds 0x01… and 0x02… (never use these keys for anything real).
enum TestKeys {
    static let alice = try! SigningKey(seed: Array(repeating: 0x01, count: 32)) // SAFETY: fixed valid test seed
    static let bob = try! SigningKey(seed: Array(repeating: 0x02, count: 32)) // SAFETY: fixed valid test seed
}

/// A deterministic random batch content (for round-trip properties).
func randomContent(seed: UInt64, author: ReplicaID, conversation: ConversationID) -> BatchContent {
    var random = SeededGenerator(seed: seed)
    let others = (0 ..< 3).map { ReplicaID(testValue: 100 + UInt64($0) + seed % 7) }
    func someReplica() -> ReplicaID { Bool.random(using: &random) ? author : others[Int.random(in: 0 ..< 3, using: &random)] }
    func someID() -> OpID { OpID(replica: someReplica(), counter: .random(in: 0 ... 100_000, using: &random)) }
    func maybeID() -> OpID? { Bool.random(using: &random) ? someID() : nil }
    func text() -> [Unicode.Scalar] {
        let pool = Array("héllo wörld ✓ 🎉 abc\n\t".unicodeScalars)
        return (0 ..< Int.random(in: 1 ... 12, using: &random)).map { _ in pool[Int.random(in: 0 ..< pool.count, using: &random)] }
    }
    var ops: [ConversationOp] = []
    for _ in 0 ..< Int.random(in: 1 ... 20, using: &random) {
        switch Int.random(in: 0 ..< 13, using: &random) {
        case 0: ops.append(.postMessage(PostMessage(originLeft: maybeID(), originRight: maybeID(), body: text())))
        case 1: ops.append(.insertText(InsertText(message: someID(), originLeft: maybeID(), originRight: maybeID(), text: text())))
        case 2: ops.append(.deleteText(DeleteText(message: someID(), target: someID(), count: .random(in: 1 ... 9, using: &random))))
        case 3: ops.append(.deleteMessage(message: someID()))
        case 4: ops.append(.setProfile(Profile(displayName: "Ana 🌷", avatar: Bool.random(using: &random) ? "https://x/a.png" : nil,
                                               colour: Bool.random(using: &random) ? 0x33AA55 : nil, status: "busy", statusEmoji: nil)))
        case 5: ops.append(.setPermission(member: someReplica(), permission: Permission.allCases[Int.random(in: 0 ..< 4, using: &random)]))
        case 6: ops.append(.removeMember(member: someReplica()))
        case 7: ops.append(.setSettings(ConversationSettings(messagesPerMinute: 10, maxMessageBytes: 16384, isPublic: Bool.random(using: &random))))
        case 8: ops.append(.createLink(InviteRecord(
            tokenID: (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &random) },
            permission: Permission.allCases[Int.random(in: 0 ..< 4, using: &random)],
            expiresAt: Bool.random(using: &random) ? .random(in: 0 ... UInt64.max, using: &random) : nil,
            useLimit: Bool.random(using: &random) ? .random(in: 0 ... UInt32.max, using: &random) : nil,
            label: "link ✓", invitee: Bool.random(using: &random) ? someReplica() : nil)))
        case 9: ops.append(.revokeLink(tokenID: (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &random) }))
        case 10: ops.append(.declineInvite(tokenID: (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &random) }))
        case 11: ops.append(.requestAccess(permission: Permission.allCases[Int.random(in: 0 ..< 4, using: &random)], note: "please 🙏"))
        default: ops.append(.join(inviteToken: (0 ..< 40).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
        }
    }
    var dependencies: [BatchDependency] = []
    for other in Set(others).subtracting([author]).sorted() where Bool.random(using: &random) {
        dependencies.append(BatchDependency(replica: other, count: .random(in: 1 ... 500, using: &random),
                                            hash: (0 ..< 32).map { _ in UInt8.random(in: 0 ... 255, using: &random) }))
    }
    let first = UInt32.random(in: 0 ... 1000, using: &random)
    return BatchContent(conversation: conversation, author: author, firstCounter: first,
                        timestamp: .random(in: 1_700_000_000_000 ... 1_800_000_000_000, using: &random),
                        previousHash: first == 0 ? Array(repeating: 0, count: 32)
                            : (0 ..< 32).map { _ in UInt8.random(in: 0 ... 255, using: &random) },
                        dependencies: dependencies, operations: ops)
}

let testConversation = ConversationID(bytes: Array(repeating: 0xC0, count: 32))! // SAFETY: 32 bytes
