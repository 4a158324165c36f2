import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Testing

/// Builds chains of signed batches for tests.
struct ChainBuilder {
    let key: SigningKey
    var conversation: ConversationID
    var next: UInt32 = 0
    var previous = [UInt8](repeating: 0, count: 32)
    var timestamp: UInt64 = 1_750_000_000_000

    init(seed: UInt8, conversation: ConversationID) {
        key = try! SigningKey(seed: Array(repeating: seed, count: 32)) // SAFETY: valid fixed seed
        self.conversation = conversation
    }

    var author: ReplicaID { key.publicKey.replicaID }

    /// This chain's latest batch, as a dependency of another author's.
    var head: BatchDependency { BatchDependency(replica: author, count: next, hash: previous) }

    /// The next batch of `messages` posts, built on `dependencies`.
    mutating func batch(messages: Int = 1, dependencies: [BatchDependency] = []) -> [UInt8] {
        let ops = (0 ..< messages).map { _ in ConversationOp.postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("hi".unicodeScalars))) }
        let signed = SignedBatch(content: BatchContent(
            conversation: conversation, author: author, firstCounter: next, timestamp: timestamp,
            previousHash: previous, dependencies: dependencies, operations: ops), sign: { key.sign($0).bytes })
        next += UInt32(signed.content.idCount)
        previous = Hashing.blake2b(signed.bytes)
        timestamp += 1000
        return signed.bytes
    }
}

func authenticated(_ bytes: [UInt8]) throws -> AuthenticatedBatch {
    try BatchAuthenticator.authenticate(bytes).get()
}

let conversation = ConversationID(bytes: Array(repeating: 0xAB, count: 32))!

@Suite struct BatchVerifierTests {
    @Test func inOrderBatchesAreAccepted() throws {
        var alice = ChainBuilder(seed: 1, conversation: conversation)
        var verifier = BatchVerifier(conversation: conversation)
        for _ in 0 ..< 5 {
            let verdicts = verifier.submit(try authenticated(alice.batch(messages: 2)))
            #expect(verdicts.count == 1)
            guard case .accepted = verdicts[0] else { Issue.record("expected accepted: \(verdicts)"); return }
        }
        #expect(verifier.clock[alice.author] == alice.next)
    }

    @Test func gapsAreHeldThenReleasedInOrder() throws {
        var alice = ChainBuilder(seed: 1, conversation: conversation)
        let batches = (0 ..< 4).map { _ in alice.batch() }
        var verifier = BatchVerifier(conversation: conversation)
        for bytes in batches.reversed().dropLast() {
            let verdicts = verifier.submit(try authenticated(bytes))
            guard case .held = verdicts.first else { Issue.record("expected held"); return }
        }
        #expect(verifier.pendingCount == 3)
        let verdicts = verifier.submit(try authenticated(batches[0]))
        let accepted = verdicts.compactMap { verdict -> UInt32? in
            if case .accepted(let batch) = verdict { return batch.firstCounter } else { return nil }
        }
        #expect(accepted == [0, 3, 6, 9], "a post of \"hi\" uses 3 ids")
        #expect(verifier.pendingCount == 0)
    }

    @Test func missingCausalDependenciesAreHeld() throws {
        var alice = ChainBuilder(seed: 1, conversation: conversation)
        var bob = ChainBuilder(seed: 2, conversation: conversation)
        let fromAlice = alice.batch()
        let fromBob = bob.batch(dependencies: [alice.head])
        var verifier = BatchVerifier(conversation: conversation)
        guard case .held = verifier.submit(try authenticated(fromBob)).first else { Issue.record("expected held"); return }
        let verdicts = verifier.submit(try authenticated(fromAlice))
        #expect(verdicts.count == 2)
    }

    @Test func replaysAreCoveredNotReapplied() throws {
        var alice = ChainBuilder(seed: 1, conversation: conversation)
        let bytes = alice.batch()
        var verifier = BatchVerifier(conversation: conversation)
        _ = verifier.submit(try authenticated(bytes))
        guard case .alreadyCovered = verifier.submit(try authenticated(bytes)).first else { Issue.record("expected covered"); return }
    }

    @Test func forkedChainIsRejectedAsEvidence() throws {
        var alice = ChainBuilder(seed: 1, conversation: conversation)
        _ = alice.batch()
        var forked = alice
        let honest = alice.batch()
        forked.timestamp += 77 // different content, same counter: the second branch of a fork
        let other = forked.batch()
        var verifier = BatchVerifier(conversation: conversation)
        var replay = ChainBuilder(seed: 1, conversation: conversation)
        _ = verifier.submit(try authenticated(replay.batch()))
        _ = verifier.submit(try authenticated(honest))
        // The fork at counter 1 is below the head now: covered (the store tells duplicate from fork).
        guard case .alreadyCovered = verifier.submit(try authenticated(other)).first else { Issue.record("expected covered"); return }
        // A batch whose previous hash does not match the head is chain_mismatch evidence.
        var stranger = forked
        stranger.previous = Array(repeating: 9, count: 32)
        let mismatched = stranger.batch()
        let verdicts = verifier.submit(try authenticated(mismatched))
        guard case .rejected(_, let reason) = verdicts.first else { Issue.record("expected rejection"); return }
        #expect(reason == .chainMismatch)
        #expect(reason.isForkEvidence)
        #expect(verifier.rejections.byCode["chain_mismatch"] == 1)
    }

    @Test func wrongConversationAndBadSignatureAndWrongAuthor() throws {
        var alice = ChainBuilder(seed: 1, conversation: ConversationID(bytes: Array(repeating: 1, count: 32))!)
        var verifier = BatchVerifier(conversation: conversation)
        let verdicts = verifier.submit(try authenticated(alice.batch()))
        guard case .rejected(_, .wrongConversation) = verdicts.first else { Issue.record("expected wrong conversation"); return }

        var good = ChainBuilder(seed: 1, conversation: conversation)
        var bytes = good.batch()
        bytes[bytes.count - 1] ^= 1
        #expect(throws: BatchRejection.badSignature) { try BatchAuthenticator.authenticate(bytes).get() }

        // Claiming to be Bob while signing with Alice's key.
        let bob = try SigningKey(seed: Array(repeating: 2, count: 32))
        let impostor = SignedBatch(content: BatchContent(
            conversation: conversation, author: bob.publicKey.replicaID, firstCounter: 0, timestamp: 1,
            previousHash: Array(repeating: 0, count: 32), dependencies: [],
            operations: [.deleteMessage(message: OpID(replica: bob.publicKey.replicaID, counter: 0))]),
            sign: { good.key.sign($0).bytes })
        #expect(throws: BatchRejection.badSignature) { try BatchAuthenticator.authenticate(impostor.bytes).get() }
        #expect(throws: BatchRejection.self) { try BatchAuthenticator.authenticate([1, 2, 3]).get() }
    }

    /// Issue 15, item 5: when the buffer is full (by count or bytes), the author holding the
    /// most gives way, newest first, so a flooding author evicts its own batches and never an
    /// honest one's; the honest batch is accepted once its predecessor arrives.
    @Test func aFullBufferEvictsTheHeaviestAuthorNotAnHonestOne() throws {
        var flooder = ChainBuilder(seed: 1, conversation: conversation)
        var honest = ChainBuilder(seed: 2, conversation: conversation)
        _ = flooder.batch() // never delivered: everything after it waits
        let honestFirst = try authenticated(honest.batch())
        var verifier = BatchVerifier(conversation: conversation, pendingLimit: 4)
        let honestSecond = try authenticated(honest.batch())
        _ = verifier.submit(honestSecond) // waits for honestFirst
        for _ in 0 ..< 6 { _ = verifier.submit(try authenticated(flooder.batch())) }
        #expect(verifier.pendingCount == 4)
        #expect(verifier.rejections.byCode["pending_full"] == 3, "the flooder is refused once it holds the most")
        let verdicts = verifier.submit(honestFirst)
        #expect(verdicts.count { if case .accepted = $0 { true } else { false } } == 2, "the honest batch stayed and is released")

        // A full buffer by bytes: a new author's batch makes the heaviest give way.
        var other = ChainBuilder(seed: 3, conversation: conversation)
        _ = other.batch()
        let size = try authenticated(flooder.batch()).batch.bytes.count
        var tight = BatchVerifier(conversation: conversation, pendingByteLimit: 3 * size)
        var heavy = ChainBuilder(seed: 4, conversation: conversation)
        _ = heavy.batch()
        for _ in 0 ..< 3 { _ = tight.submit(try authenticated(heavy.batch())) }
        _ = tight.submit(try authenticated(other.batch()))
        #expect(tight.rejections.byCode["pending_evicted"] == 1)
        #expect(tight.pendingBytes <= 3 * size + 64)
    }

    @Test func aForkPointIsTheSmallerStartOfTwoOverlappingBatches() {
        let a: [UInt8] = [1], b: [UInt8] = [2]
        #expect(BatchVerifier.forkPoint(10 ..< 15, hash: a, 12 ..< 20, otherHash: b) == 10)
        #expect(BatchVerifier.forkPoint(10 ..< 15, hash: a, 10 ..< 15, otherHash: a) == nil, "the same batch")
        #expect(BatchVerifier.forkPoint(10 ..< 15, hash: a, 15 ..< 20, otherHash: b) == nil, "consecutive, not a fork")
    }

    @Test func pendingBufferIsBoundedAndCounted() throws {
        var alice = ChainBuilder(seed: 1, conversation: conversation)
        _ = alice.batch() // counter 0 never delivered: everything after waits
        var verifier = BatchVerifier(conversation: conversation, pendingLimit: 3)
        for _ in 0 ..< 5 { _ = verifier.submit(try authenticated(alice.batch())) }
        #expect(verifier.pendingCount == 3)
        #expect(verifier.rejections.byCode["pending_full"] == 2)
    }
}

@Suite struct OperationBatcherTests {
    let op = ConversationOp.insertText(InsertText(message: OpID(replica: ReplicaID(testValue: 1), counter: 0),
                                                  originLeft: nil, originRight: nil, text: ["a"]))

    @Test func aBurstBecomesOneBatchAfterTheInterval() {
        var batcher = OperationBatcher(policy: .init(maxOperations: 100, maxIDs: 1000, flushInterval: .milliseconds(50)))
        #expect(batcher.add(op, now: .milliseconds(1000)) == .sealAt(.milliseconds(1050)))
        for t in 1 ..< 20 { #expect(batcher.add(op, now: .milliseconds(1000 + t)) == .wait) }
        #expect(!batcher.isDue(now: .milliseconds(1049)))
        #expect(batcher.isDue(now: .milliseconds(1050)))
        #expect(batcher.drain().count == 20)
        #expect(batcher.pending.isEmpty)
    }

    @Test func aFullBatchSealsAtOnce() {
        var batcher = OperationBatcher(policy: .init(maxOperations: 3, maxIDs: 1000, flushInterval: .seconds(1)))
        _ = batcher.add(op, now: .zero)
        _ = batcher.add(op, now: .zero)
        #expect(batcher.add(op, now: .zero) == .sealNow)
    }

    /// Bounded by bytes too: a batch seals once its operations' encodings reach `maxBytes`.
    @Test func aBatchSealsAtItsByteBound() {
        let big = ConversationOp.insertText(InsertText(message: OpID(replica: ReplicaID(testValue: 1), counter: 0),
                                                       originLeft: nil, originRight: nil,
                                                       text: Array(String(repeating: "x", count: 1_000).unicodeScalars)))
        #expect(big.encodedByteCount > 1_000 && big.encodedByteCount < 1_100)
        var batcher = OperationBatcher(policy: .init(maxOperations: 100, maxIDs: 1 << 20, flushInterval: .seconds(1),
                                                     maxBytes: 2_500))
        _ = batcher.add(big, now: .zero)
        #expect(batcher.add(big, now: .zero) == .wait)
        #expect(batcher.add(big, now: .zero) == .sealNow)
        #expect(batcher.drain().count == 3)
    }
}
