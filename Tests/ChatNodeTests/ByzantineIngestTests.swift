import ChatCore
import ChatCrypto
import ChatNode
import ChatStore
import ChatSync
import ChatWire
import Foundation
import Testing

/// Attacks 1, 4 and 5 of issue 14 through the node's real ingest path (signed bytes, verifier,
/// store, rules), each in both arrival orders: two replicas end with the same visible state,
/// the bad operations excluded alike, and everything else applied.
@Suite struct ByzantineIngestTests {
    typealias Signer = EquivocationNodeTests.Signer

    /// Ana (admin) creates a conversation, grants Ben `ben` and Cat `cat`, and posts "hello".
    struct Setup {
        var ana: Signer, ben: Signer, cat: Signer
        var conversation: ConversationID
        var batches: [[UInt8]] = []
        var time: UInt64 = 1_750_000_000_000

        init(ben level: Permission, cat catLevel: Permission) throws {
            ana = try Signer(1)
            ben = try Signer(2)
            cat = try Signer(3)
            let genesis = ana.sign([.genesis(Genesis(title: "attacks", nonce: [2]))], conversation: nil, at: time)
            conversation = try #require(ConversationID(bytes: Hashing.blake2b(genesis.bytes)))
            batches = [genesis.bytes]
            let grants = [ConversationOp.setPermission(member: ben.id, permission: level),
                          .setPermission(member: cat.id, permission: catLevel)]
            batches.append(ana.sign(grants, conversation: conversation, at: tick()).bytes)
            batches.append(ana.sign([.postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("hello".unicodeScalars)))],
                                    conversation: conversation, at: tick()).bytes)
        }

        mutating func tick() -> UInt64 {
            time += 1000
            return time
        }

        /// What the others build on: Ana's latest batch, which names everything before it.
        var base: [BatchDependency] { [ana.latest] }

        var hello: OpID { OpID(replica: ana.id, counter: 3) }
    }

    /// Two fresh replicas fed `base` then `rest` in each given order; their visible states.
    func replicas(_ setup: Setup, orders: [[[UInt8]]]) async throws -> [ConversationReplica] {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var replicas: [ConversationReplica] = []
        for (index, order) in orders.enumerated() {
            let replica = try ConversationReplica(store: try ChatStore(directory: directory + "/\(index)"),
                                                  conversation: setup.conversation, localReplica: ReplicaID(testValue: 50 + UInt64(index)))
            _ = try await replica.receive(setup.batches)
            for bytes in order { _ = try await replica.receive([bytes]) }
            replicas.append(replica)
        }
        return replicas
    }

    func texts(_ replica: ConversationReplica) async -> [String] { await replica.document.orderedMessages.map(\.body.text) }

    @Test func attack1FutureOriginsDoNotWedgeTheConversation() async throws {
        var setup = try Setup(ben: .comment, cat: .comment)
        let base = setup.base
        let ben = setup.ben.id
        // Ben's ids: 0–1 the poison, 2–3 "a", 4–5 "b" after "a".
        let poison = setup.ben.sign([.postMessage(PostMessage(originLeft: OpID(replica: ben, counter: 4),
                                                              originRight: OpID(replica: ben, counter: 2),
                                                              body: Array("P".unicodeScalars)))],
                                    conversation: setup.conversation, dependencies: base, at: setup.tick())
        let a = setup.ben.sign([.postMessage(PostMessage(originLeft: setup.hello, originRight: nil, body: Array("a".unicodeScalars)))],
                               conversation: setup.conversation, dependencies: base, at: setup.tick())
        let b = setup.ben.sign([.postMessage(PostMessage(originLeft: OpID(replica: ben, counter: 2), originRight: nil,
                                                         body: Array("b".unicodeScalars)))],
                               conversation: setup.conversation, dependencies: base, at: setup.tick())
        let seen = (base + [setup.ben.latest]).sorted()
        let after = setup.cat.sign([.postMessage(PostMessage(originLeft: OpID(replica: ben, counter: 4), originRight: nil,
                                                             body: Array("cat".unicodeScalars)))],
                                   conversation: setup.conversation, dependencies: seen, at: setup.tick())
        let orders = [[poison.bytes, a.bytes, b.bytes, after.bytes], [after.bytes, b.bytes, a.bytes, poison.bytes]]
        let replicas = try await replicas(setup, orders: orders)
        for replica in replicas {
            #expect(await texts(replica) == ["hello", "a", "b", "cat"])
            #expect(await replica.conversation.excluded[OpID(replica: ben, counter: 0)] == .unknownTarget)
        }
    }

    @Test func attack4AnEditOutsideItsPastIsExcludedInEitherOrder() async throws {
        var setup = try Setup(ben: .comment, cat: .edit)
        let base = setup.base
        let benPost = setup.ben.sign([.postMessage(PostMessage(originLeft: setup.hello, originRight: nil, body: Array("ben".unicodeScalars)))],
                                     conversation: setup.conversation, dependencies: base, at: setup.tick())
        let message = OpID(replica: setup.ben.id, counter: 0)
        let catEdit = setup.cat.sign([.insertText(InsertText(message: message, originLeft: OpID(replica: setup.ben.id, counter: 3),
                                                             originRight: nil, text: Array("!".unicodeScalars)))],
                                     conversation: setup.conversation, dependencies: base, at: setup.tick())
        let replicas = try await replicas(setup, orders: [[benPost.bytes, catEdit.bytes], [catEdit.bytes, benPost.bytes]])
        for replica in replicas {
            #expect(await texts(replica) == ["hello", "ben"])
            #expect(await replica.conversation.excluded[OpID(replica: setup.cat.id, counter: 0)] == .unknownTarget)
        }
    }

    @Test func attack5AHiddenDemotionKeepsNoRights() async throws {
        var setup = try Setup(ben: .admin, cat: .comment)
        let base = setup.base
        let demotion = setup.ana.sign([.setPermission(member: setup.ben.id, permission: .comment)],
                                      conversation: setup.conversation, dependencies: base, at: setup.tick())
        let hidden = setup.ben.sign([.removeMember(member: setup.cat.id), .deleteMessage(message: setup.hello)],
                                    conversation: setup.conversation, dependencies: base, at: setup.tick())
        let replicas = try await replicas(setup, orders: [[demotion.bytes, hidden.bytes], [hidden.bytes, demotion.bytes]])
        for replica in replicas {
            let state = await replica.conversation
            #expect(state.document.permissions[setup.cat.id] == .comment)
            #expect(state.document.permissions[setup.ben.id] == .comment)
            #expect(state.excluded[OpID(replica: setup.ben.id, counter: 0)] == .notPermitted)
            #expect(state.excluded[OpID(replica: setup.ben.id, counter: 1)] == .notPermitted)
            #expect(await texts(replica) == ["hello"])
        }
    }
}
