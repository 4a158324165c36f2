import ChatCore
import ChatCrypto
import ChatWire
import Testing

@Suite struct SignedBatchTests {
    let author = TestKeys.alice.publicKey.replicaID

    func sign(_ content: BatchContent) -> SignedBatch {
        SignedBatch(content: content) { TestKeys.alice.sign($0).bytes }
    }

    @Test(arguments: 0 ..< 200)
    func roundTrip(seed: Int) throws {
        let content = randomContent(seed: UInt64(seed), author: author, conversation: testConversation)
        let batch = sign(content)
        let decoded = try SignedBatch(decoding: batch.bytes)
        #expect(decoded.content == content, "seed \(seed)")
        #expect(decoded.bytes == batch.bytes, "seed \(seed)")
        #expect(decoded.content.signingBytes() == Array(batch.signedBytes), "encode(decode(b)) == b, seed \(seed)")
        let signature = try #require(Signature(bytes: decoded.signature))
        #expect(TestKeys.alice.publicKey.isValidSignature(signature, for: decoded.signedBytes))
        // The header alone (what a node reads back to rebuild its causal history).
        let header = try BatchHeader(decoding: batch.bytes)
        #expect(header.author == content.author && header.firstCounter == content.firstCounter, "seed \(seed)")
        #expect(header.previousHash == content.previousHash && header.dependencies == content.dependencies, "seed \(seed)")
        #expect(header.references == (content.previousBatch.map { [$0] } ?? []) + content.dependencies, "seed \(seed)")
    }

    @Test func everyTruncationIsRefused() throws {
        let batch = sign(randomContent(seed: 1, author: author, conversation: testConversation))
        for length in 0 ..< batch.bytes.count {
            #expect(throws: WireError.self) { try SignedBatch(decoding: Array(batch.bytes.prefix(length))) }
        }
    }

    @Test func everySingleByteCorruptionIsRefusedOrFailsTheSignature() throws {
        let batch = sign(randomContent(seed: 2, author: author, conversation: testConversation))
        for index in batch.bytes.indices {
            var bytes = batch.bytes
            bytes[index] ^= 0x5A
            if let decoded = try? SignedBatch(decoding: bytes) {
                let signature = try #require(Signature(bytes: decoded.signature))
                let key = PublicKey(decoded.content.author)
                #expect(!key.isValidSignature(signature, for: decoded.signedBytes), "byte \(index) changed yet verifies")
            }
        }
    }

    @Test func unknownVersionAndKindAndMagic() throws {
        let batch = sign(randomContent(seed: 3, author: author, conversation: testConversation))
        var version = batch.bytes
        version[2] = 2
        #expect(throws: WireError.unknownVersion(2)) { try SignedBatch(decoding: version) }
        var kind = batch.bytes
        kind[3] = 9
        #expect(throws: WireError.unknownKind(9)) { try SignedBatch(decoding: kind) }
        var magic = batch.bytes
        magic[0] = 0
        #expect(throws: WireError.badMagic) { try SignedBatch(decoding: magic) }
    }

    @Test func oversizedInputIsRefusedBeforeDecoding() throws {
        let limits = WireLimits.default
        let huge = [UInt8](repeating: 0, count: limits.maxBatchBytes + 1)
        #expect(throws: WireError.tooLarge(field: "batch", size: huge.count, limit: limits.maxBatchBytes)) {
            try SignedBatch(decoding: huge)
        }
        // A length field claiming more than the limit is refused without allocating.
        var tight = limits
        tight.maxOperationsPerBatch = 3
        let batch = sign(BatchContent(conversation: testConversation, author: author, firstCounter: 0, timestamp: 1,
                                      previousHash: Array(repeating: 0, count: 32), dependencies: [],
                                      operations: Array(repeating: .deleteMessage(message: OpID(replica: author, counter: 0)), count: 4)))
        #expect(throws: WireError.tooLarge(field: "operations", size: 4, limit: 3)) {
            try SignedBatch(decoding: batch.bytes, limits: tight)
        }
    }

    @Test func nonCanonicalFormsAreRefused() throws {
        // A batch with no operations.
        let empty = SignedBatch(content: BatchContent(conversation: testConversation, author: author, firstCounter: 0,
                                                      timestamp: 0, previousHash: Array(repeating: 0, count: 32),
                                                      dependencies: [], operations: [])) { TestKeys.alice.sign($0).bytes }
        #expect(throws: WireError.invalidValue("a batch has at least one operation")) { try SignedBatch(decoding: empty.bytes) }
        // Genesis must be alone at the start of a batch that names no conversation.
        let misplaced = sign(BatchContent(conversation: testConversation, author: author, firstCounter: 0, timestamp: 0,
                                          previousHash: Array(repeating: 0, count: 32), dependencies: [],
                                          operations: [.genesis(Genesis(title: "x", nonce: [1]))]))
        #expect(throws: WireError.self) { try SignedBatch(decoding: misplaced.bytes) }
        // Dependencies are sorted by replica and never name the author (its previous batch is
        // named by hash already); a first batch names no previous hash.
        let low = BatchDependency(replica: ReplicaID(testValue: 1), count: 2, hash: Array(repeating: 1, count: 32))
        let high = BatchDependency(replica: ReplicaID(testValue: 2), count: 2, hash: Array(repeating: 2, count: 32))
        let post = ConversationOp.deleteMessage(message: OpID(replica: author, counter: 0))
        func content(first: UInt32, previous: UInt8, _ dependencies: [BatchDependency]) -> BatchContent {
            BatchContent(conversation: testConversation, author: author, firstCounter: first, timestamp: 1,
                         previousHash: Array(repeating: previous, count: 32), dependencies: dependencies, operations: [post])
        }
        #expect(try SignedBatch(decoding: sign(content(first: 3, previous: 7, [low, high])).bytes).content.dependencies == [low, high])
        #expect(throws: WireError.nonCanonical("dependencies not sorted by replica")) {
            try SignedBatch(decoding: sign(content(first: 3, previous: 7, [high, low])).bytes)
        }
        let own = BatchDependency(replica: author, count: 3, hash: Array(repeating: 7, count: 32))
        #expect(throws: WireError.nonCanonical("a batch depends on its author through previousHash")) {
            try SignedBatch(decoding: sign(content(first: 3, previous: 7, [own])).bytes)
        }
        #expect(throws: WireError.nonCanonical("a first batch names a previous hash")) {
            try SignedBatch(decoding: sign(content(first: 0, previous: 7, [low])).bytes)
        }
    }

    @Test func inviteTokenRoundTripAndCorruption() throws {
        let content = InviteTokenContent(conversation: testConversation, permission: .comment, issuer: author,
                                         tokenID: Array(repeating: 7, count: 16), issuedAt: 1_750_000_000_000,
                                         expiresAt: 1_760_000_000_000, useLimit: 5, label: "team link",
                                         addresses: ["10.0.0.1:7400", "[::1]:7401"])
        let token = InviteToken(content: content) { TestKeys.alice.sign($0).bytes }
        let decoded = try InviteToken(decoding: token.bytes)
        #expect(decoded.content == content)
        #expect(decoded.content.signingBytes() == Array(token.signedBytes))
        for length in 0 ..< token.bytes.count {
            #expect(throws: WireError.self) { try InviteToken(decoding: Array(token.bytes.prefix(length))) }
        }
    }

    @Test func framesRoundTripAndBoundTheirLength() throws {
        let batch = sign(randomContent(seed: 4, author: author, conversation: testConversation))
        let frame = DataFrame.batches(conversation: testConversation, batches: [batch.bytes, batch.bytes])
        let bytes = frame.encoded()
        let header = try FrameHeader(decoding: bytes.prefix(FrameHeader.byteCount))
        #expect(header.length == bytes.count - FrameHeader.byteCount)
        #expect(try DataFrame(type: header.type, body: Array(bytes.dropFirst(FrameHeader.byteCount))) == frame)
        let clockFrame = DataFrame.clock(conversation: testConversation, clock: VectorClock([author: 5]))
        let clockBytes = clockFrame.encoded()
        #expect(try DataFrame(type: clockBytes[3], body: Array(clockBytes.dropFirst(8))) == clockFrame)
        // A want frame: dependencies by hash, at most 256, each with a positive count.
        let wanted = (1 ... 3).map { BatchDependency(replica: author, count: UInt32($0), hash: [UInt8](repeating: UInt8($0), count: 32)) }
        let wantFrame = DataFrame.want(conversation: testConversation, dependencies: wanted)
        let wantBytes = wantFrame.encoded()
        #expect(try DataFrame(type: wantBytes[3], body: Array(wantBytes.dropFirst(8))) == wantFrame)
        let tooMany = DataFrame.want(conversation: testConversation, dependencies: Array(repeating: wanted[0], count: 257)).encoded()
        #expect(throws: WireError.tooLarge(field: "wanted batches", size: 257, limit: 256)) {
            try DataFrame(type: tooMany[3], body: Array(tooMany.dropFirst(8)))
        }
        var zero = wantBytes
        zero[8 + 32 + 1 + 32] = 0 // the first dependency's count
        #expect(throws: WireError.nonCanonical("a dependency names no operations")) {
            try DataFrame(type: zero[3], body: Array(zero.dropFirst(8)))
        }
        let oversized = FrameHeader(type: 1, length: WireLimits.default.maxFrameBytes + 1).bytes
        #expect(throws: WireError.tooLarge(field: "frame", size: WireLimits.default.maxFrameBytes + 1,
                                           limit: WireLimits.default.maxFrameBytes)) { try FrameHeader(decoding: oversized) }
        #expect(throws: WireError.unknownKind(77)) { try DataFrame(type: 77, body: []) }
    }
}
