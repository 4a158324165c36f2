import ChatFuzzing
import ChatCore
import ChatWire

/// Small valid inputs the wire fixtures do not cover: sequence states, conversation snapshots and
/// a clock frame. Deterministic, so regenerating them gives the same files.
enum SeedCorpus {
    struct Seed {
        var name: String
        var target: FuzzTarget
        var bytes: [UInt8]
    }

    static func generated() -> [Seed] {
        do {
            return try sequenceStates() + snapshots() + frames()
        } catch {
            preconditionFailure("seed construction failed: \(error)") // SAFETY: fixed inputs, not fuzz data
        }
    }

    static let ana = ReplicaID(testValue: 0xA1)
    static let ben = ReplicaID(testValue: 0xB2)

    static func sequenceStates() throws -> [Seed] {
        // Nothing yet.
        let empty = SequenceCRDT<Unicode.Scalar>(replica: ana)

        // One replica typing, correcting and deleting (spans, tombstones, delete history).
        var typed = SequenceCRDT<Unicode.Scalar>(replica: ana)
        try typed.insert(contentsOf: Array("Hello wrld".unicodeScalars), at: 0)
        try typed.insert("o", at: 7)
        try typed.insert(contentsOf: Array(" — ça va? 👋".unicodeScalars), at: typed.count)
        try typed.remove(at: 0, count: 1)
        try typed.insert("h", at: 0)

        // Two replicas editing concurrently and merging (explicit origins, several replicas).
        var a = SequenceCRDT<Unicode.Scalar>(replica: ana)
        var b = SequenceCRDT<Unicode.Scalar>(replica: ben)
        let base = try a.insert(contentsOf: Array("abcdef".unicodeScalars), at: 0)
        try b.apply(base)
        let fromA = try a.insert(contentsOf: Array("XY".unicodeScalars), at: 3)
        let fromB = try b.insert(contentsOf: Array("12".unicodeScalars), at: 3)
        let deletes = try b.remove(at: 0, count: 2)
        try a.apply(fromB)
        try a.apply(contentsOf: deletes)
        try b.apply(fromA)

        return [
            Seed(name: "sequence-empty", target: .sequenceState, bytes: empty.encodedState()),
            Seed(name: "sequence-typed", target: .sequenceState, bytes: typed.encodedState()),
            Seed(name: "sequence-merged", target: .sequenceState, bytes: a.encodedState()),
            Seed(name: "sequence-merged-other", target: .sequenceState, bytes: b.encodedState()),
        ]
    }

    static func snapshots() throws -> [Seed] {
        let empty = ConversationDocument(localReplica: ana)

        var document = ConversationDocument(localReplica: ana)
        var counters: [ReplicaID: UInt32] = [:]
        func apply(_ op: ConversationOp, by author: ReplicaID, at timestamp: UInt64) throws {
            let counter = counters[author, default: 0]
            try document.apply(op, id: OpID(replica: author, counter: counter), timestamp: timestamp)
            counters[author] = counter + op.idCount
        }
        try apply(.genesis(Genesis(title: "fuzz seed", nonce: Array(0 ..< 16))), by: ana, at: 1_750_000_000_000)
        try apply(.setProfile(Profile(displayName: "Ana", colour: 0x3366CC, status: "seeding", statusEmoji: "🌱")),
                  by: ana, at: 1_750_000_000_100)
        try apply(.setPermission(member: ben, permission: .edit), by: ana, at: 1_750_000_000_200)
        let first = OpID(replica: ana, counter: 3)
        try apply(.postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("Hi Ben".unicodeScalars))),
                  by: ana, at: 1_750_000_001_000)
        try apply(.join(inviteToken: Array(repeating: 0x42, count: 8)), by: ben, at: 1_750_000_002_000)
        let second = OpID(replica: ben, counter: 1)
        try apply(.postMessage(PostMessage(originLeft: first, originRight: nil, body: Array("hey 👋".unicodeScalars))),
                  by: ben, at: 1_750_000_003_000)
        try apply(.insertText(InsertText(message: first, originLeft: OpID(replica: ana, counter: 9), originRight: nil,
                                         text: Array("!".unicodeScalars))), by: ana, at: 1_750_000_004_000)
        try apply(.deleteText(DeleteText(message: second, target: OpID(replica: ben, counter: 2), count: 1)),
                  by: ben, at: 1_750_000_005_000)
        try apply(.postMessage(PostMessage(originLeft: second, originRight: nil, body: [])), by: ben, at: 1_750_000_006_000)
        try apply(.deleteMessage(message: OpID(replica: ben, counter: counters[ben, default: 1] - 1)),
                  by: ben, at: 1_750_000_007_000)
        try apply(.setSettings(ConversationSettings(messagesPerMinute: 30, maxMessageBytes: 4096, isPublic: true)),
                  by: ana, at: 1_750_000_008_000)

        return [
            Seed(name: "snapshot-empty", target: .snapshot, bytes: empty.encodedSnapshot()),
            Seed(name: "snapshot-conversation", target: .snapshot, bytes: document.encodedSnapshot()),
        ]
    }

    static func frames() -> [Seed] {
        let conversation = ConversationID(bytes: Array(repeating: 0xC0, count: ConversationID.byteCount))
            ?? { preconditionFailure("32 bytes make a conversation id") }() // SAFETY: constant
        let clock = DataFrame.clock(conversation: conversation, clock: VectorClock([ana: 12, ben: 3]))
        let header = FrameHeader(type: DataFrame.FrameType.batches.rawValue, length: 0)
        return [
            Seed(name: "frame-clock", target: .frame, bytes: clock.encoded()),
            // A header alone: DataFrame then sees an empty body.
            Seed(name: "frame-header-only", target: .frame, bytes: header.bytes),
        ]
    }
}
