import ChatCore
import ChatCrypto
import ChatNode
import ChatStore
import ChatSync
import ChatWire
import Foundation
import Testing

/// Attack 2 of issue 14 through the node's real ingest path: a member signs two batches for
/// the same counters and two replicas each store one. Once each sees the other's, both freeze
/// the member at the fork point, show the same conversation, relay the evidence, flag it, and
/// keep all of that across a restart.
@Suite struct EquivocationNodeTests {
    /// A signer with its own chain.
    struct Signer {
        let key: SigningKey
        var head = BatchVerifier.Head.empty
        var id: ReplicaID { key.publicKey.replicaID }

        init(_ seed: UInt8) throws { key = try SigningKey(seed: [UInt8](repeating: seed, count: 32)) }

        /// Signs `ops` at the next counter; `advance: false` leaves the chain where it was.
        /// Its latest batch, as another author's dependency.
        var latest: BatchDependency { BatchDependency(replica: id, count: head.nextCounter, hash: head.hash) }

        mutating func sign(_ ops: [ConversationOp], conversation: ConversationID?, dependencies: [BatchDependency] = [],
                           at time: UInt64, advance: Bool = true) -> SignedBatch {
            let content = BatchContent(conversation: conversation, author: id, firstCounter: head.nextCounter, timestamp: time,
                                       previousHash: head.hash, dependencies: dependencies.filter { $0.replica != id }, operations: ops)
            let batch = SignedBatch(content: content) { key.sign($0).bytes }
            if advance { head = BatchVerifier.Head(nextCounter: head.nextCounter + UInt32(batch.idCount), hash: Hashing.blake2b(batch.bytes)) }
            return batch
        }
    }

    @Test func twoReplicasWithDifferentBranchesFreezeTheEquivocatorAndAgree() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var ana = try Signer(1), ben = try Signer(2)
        let genesis = ana.sign([.genesis(Genesis(title: "fork", nonce: [1]))], conversation: nil, at: 1_750_000_000_000)
        let conversation = try #require(ConversationID(bytes: Hashing.blake2b(genesis.bytes)))
        let grant = ana.sign([.setPermission(member: ben.id, permission: .comment)], conversation: conversation,
                             at: 1_750_000_001_000)
        let hello = ana.sign([.postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("hello".unicodeScalars)))],
                             conversation: conversation, at: 1_750_000_002_000)
        let seen = [ana.latest]
        let post = { (text: String) in ConversationOp.postMessage(PostMessage(
            originLeft: OpID(replica: ana.id, counter: 2), originRight: nil, body: Array(text.unicodeScalars))) }
        let branchB = ben.sign([post("B, the long one")], conversation: conversation, dependencies: seen, at: 1_750_000_003_000, advance: false)
        let branchA = ben.sign([post("A")], conversation: conversation, dependencies: seen, at: 1_750_000_003_000)
        let afterA = ben.sign([post("after A")], conversation: conversation, dependencies: seen, at: 1_750_000_004_000)

        let storeX = try ChatStore(directory: directory + "/x")
        let x = try ConversationReplica(store: storeX, conversation: conversation,
                                        localReplica: ReplicaID(testValue: 7))
        let y = try ConversationReplica(store: try ChatStore(directory: directory + "/y"), conversation: conversation,
                                        localReplica: ReplicaID(testValue: 8))
        let base = [genesis.bytes, grant.bytes, hello.bytes]
        _ = try await x.receive(base + [branchA.bytes, afterA.bytes])
        _ = try await y.receive(base + [branchB.bytes])
        #expect(await x.document.canonicalVisibleState() != y.document.canonicalVisibleState())

        // Y gets A's continuation first: a chain that does not continue its own. It keeps it as
        // evidence and relays it with its own batch there; then each gets the other's branch.
        let toX = try await y.receive([afterA.bytes])
        #expect(toX.evidence.contains { $0.hash == Hashing.blake2b(branchB.bytes) }, "Y relays its own side")
        let atX = try await x.receive(toX.evidence.map(\.batch.bytes))
        #expect(atX.report.forks >= 1)
        _ = try await y.receive([branchA.bytes])

        for replica in [x, y] {
            let state = await replica.conversation
            #expect(state.equivocators[ben.id] == 0)
            #expect(state.document.orderedMessages.map(\.body.text) == ["hello"])
        }
        #expect(await x.document.canonicalVisibleState() == y.document.canonicalVisibleState())

        // A restart keeps the freeze: it is derived again from the stored evidence.
        let reopened = try ConversationReplica(store: storeX, conversation: conversation,
                                               localReplica: ReplicaID(testValue: 7))
        #expect(await reopened.conversation.equivocators[ben.id] == 0)
        #expect(await reopened.document.canonicalVisibleState() == y.document.canonicalVisibleState())
    }

    @Test func aBatchBuiltOnTheOtherBranchIsFetchedByHashAndApplied() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var ana = try Signer(1), ben = try Signer(2), cat = try Signer(3)
        let genesis = ana.sign([.genesis(Genesis(title: "want", nonce: [3]))], conversation: nil, at: 1_750_000_000_000)
        let conversation = try #require(ConversationID(bytes: Hashing.blake2b(genesis.bytes)))
        let grant = ana.sign([.setPermission(member: ben.id, permission: .comment), .setPermission(member: cat.id, permission: .comment)],
                             conversation: conversation, at: 1_750_000_001_000)
        let hello = ana.sign([.postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("hello".unicodeScalars)))],
                             conversation: conversation, at: 1_750_000_002_000)
        let post = { (text: String) in ConversationOp.postMessage(PostMessage(
            originLeft: OpID(replica: ana.id, counter: 3), originRight: nil, body: Array(text.unicodeScalars))) }
        // Ben forks: X keeps the longer branch, so its clock covers the shorter one's counters and
        // only a hash can tell that Cat built on the other.
        let branchShort = ben.sign([post("B")], conversation: conversation, dependencies: [ana.latest], at: 1_750_000_003_000,
                                   advance: false)
        let branchLong = ben.sign([post("A, the long one")], conversation: conversation, dependencies: [ana.latest],
                                  at: 1_750_000_003_000)
        let short = BatchDependency(replica: ben.id, count: UInt32(branchShort.idCount), hash: Hashing.blake2b(branchShort.bytes))
        let reply = cat.sign([post("cat")], conversation: conversation, dependencies: [ana.latest, short].sorted(),
                             at: 1_750_000_004_000)

        let x = try ConversationReplica(store: try ChatStore(directory: directory + "/x"), conversation: conversation,
                                        localReplica: ReplicaID(testValue: 7))
        let y = try ConversationReplica(store: try ChatStore(directory: directory + "/y"), conversation: conversation,
                                        localReplica: ReplicaID(testValue: 8))
        let base = [genesis.bytes, grant.bytes, hello.bytes]
        _ = try await x.receive(base + [branchLong.bytes])
        _ = try await y.receive(base + [branchShort.bytes, reply.bytes])
        #expect(await y.document.orderedMessages.map(\.body.text).contains("cat"))

        // X holds Ben's counters on its branch: Cat's reply waits, and X asks for the batch by hash.
        let held = try await x.receive([reply.bytes])
        #expect(held.report.held == 1)
        #expect(held.wanted == [short])
        let answer = await y.batches(wanted: held.wanted)
        #expect(answer == [branchShort.bytes])
        let released = try await x.receive(answer)
        #expect(released.accepted.contains { $0.hash == Hashing.blake2b(reply.bytes) })
        _ = try await y.receive([branchLong.bytes])

        for replica in [x, y] {
            let state = await replica.conversation
            #expect(state.equivocators[ben.id] == 0)
            #expect(state.document.orderedMessages.map(\.body.text) == ["hello", "cat"])
        }
        #expect(await x.document.canonicalVisibleState() == y.document.canonicalVisibleState())
        #expect(await x.pendingCount == 0)
    }
}
