import ChatCore

/// What `streamingchat bench conversation` prints. Field names are a contract.
public struct ConversationBenchmarkReport: Sendable, Codable, Equatable {
    public var messages: Int
    public var editsPerMessage: Int
    public var ops: Int
    public var batches: Int
    /// Wall time to materialize the conversation from all its operations (ms).
    public var materializeMs: Double
    /// Wall time to load the conversation from its snapshot (ms).
    public var snapshotLoadMs: Double
    public var snapshotBytes: Int
    /// Peak resident set size of the whole process (includes snapshotting and reloading).
    public var peakRSSBytes: Int
    /// Resident memory the materialized conversation adds (process RSS after building it from
    /// its operations, minus before).
    public var conversationResidentBytes: Int
    public var visibleMessages: Int
    public var excludedOps: Int
    /// FNV-1a 64 (hex) of everything a reader sees (``ConversationBenchmark/visibleStateDigest(_:)``);
    /// the reloaded conversation must have the same, or the run fails.
    public var stateDigest: String = ""
    /// Wall time to read every message's text from the reloaded conversation, as `log` does
    /// (its bodies are compact after a load) (ms).
    public var textReadMs: Double = 0
}

/// A large conversation built from its operations, then from its snapshot: the cost of opening
/// a conversation with a long history.
public enum ConversationBenchmark {
    static let conversationID = ConversationID(bytes: Array(repeating: 0xBE, count: 32))! // SAFETY: 32 bytes

    /// Deterministic batches: ten members take turns; each batch posts a message and makes
    /// `editsPerMessage` edits to it (typing inserts and a deletion), as people fix typos.
    public static func workload(messages: Int, editsPerMessage: Int) -> (id: ConversationID, batches: [OperationBatch]) {
        var batches: [OperationBatch] = []
        let id = forEachBatch(messages: messages, editsPerMessage: editsPerMessage) { batches.append($0) }
        return (id, batches)
    }

    /// The same batches, one at a time, so a benchmark holds only the conversation.
    @discardableResult
    public static func forEachBatch(messages: Int, editsPerMessage: Int, _ body: (OperationBatch) -> Void) -> ConversationID {
        let id = conversationID
        let members = (0 ..< 10).map { ReplicaID(testValue: 500 + UInt64($0)) }
        var next = Array(repeating: UInt32(0), count: members.count)
        var clock = VectorClock()
        var time: UInt64 = 1_750_000_000_000
        func seal(_ member: Int, _ ops: [ConversationOp]) {
            var batchClock = clock
            batchClock[members[member]] = next[member]
            body(OperationBatch(author: members[member], firstCounter: next[member], clock: batchClock,
                                timestamp: time, operations: ops))
            next[member] += ops.reduce(0) { $0 + $1.idCount }
            clock[members[member]] = next[member]
            time += 50
        }
        seal(0, [.genesis(Genesis(title: "long history", nonce: [9]))])
        seal(0, [.setSettings(ConversationSettings(messagesPerMinute: 1_000_000, maxMessageBytes: 16 * 1024, isPublic: false))]
            + members.dropFirst().map { .setPermission(member: $0, permission: .edit) })
        let text = Array("Shall we meet at ten tomorrow?".unicodeScalars)
        var last: OpID?
        for index in 0 ..< messages {
            let member = index % members.count
            let message = OpID(replica: members[member], counter: next[member])
            var ops: [ConversationOp] = [.postMessage(PostMessage(originLeft: last, originRight: nil, body: text))]
            var tail = OpID(replica: message.replica, counter: message.counter + UInt32(text.count))
            var counter = message.counter + 1 + UInt32(text.count)
            for edit in 0 ..< editsPerMessage {
                if edit % 5 == 4 {
                    ops.append(.deleteText(DeleteText(message: message, target: tail, count: 1)))
                    tail = OpID(replica: tail.replica, counter: tail.counter - 1)
                } else {
                    ops.append(.insertText(InsertText(message: message, originLeft: tail, originRight: nil, text: ["!"])))
                    tail = OpID(replica: message.replica, counter: counter)
                }
                counter += 1
            }
            last = message
            seal(member, ops)
        }
        return id
    }

    /// Builds, snapshots and reloads; measures each step.
    public static func run(messages: Int, editsPerMessage: Int) throws(DocumentError) -> ConversationBenchmarkReport {
        let clock = ContinuousClock()
        let residentBefore = TraceBenchmark.currentResidentSetBytes()
        var elapsed = Duration.zero
        var conversation = Conversation(id: ConversationBenchmark.conversationID, localReplica: ReplicaID(testValue: 1),
                                        verifyInvite: { _ in nil })
        var operations = 0
        var batchCount = 0
        let id = forEachBatch(messages: messages, editsPerMessage: editsPerMessage) { batch in
            operations += batch.operations.count
            batchCount += 1
            let start = clock.now
            _ = conversation.receive(batch)
            elapsed += clock.now - start
        }
        let materialized = elapsed
        let held = TraceBenchmark.currentResidentSetBytes() - residentBefore
        let snapshot = conversation.encodedSnapshot()
        let visible = conversation.document.messageList.count
        let digest = visibleStateDigest(conversation)
        let excluded = conversation.excluded.count
        conversation = Conversation(id: id, localReplica: ReplicaID(testValue: 1), verifyInvite: { _ in nil })
        let loadStart = clock.now
        let loaded = try Conversation(snapshot: snapshot, id: id, localReplica: ReplicaID(testValue: 1), verifyInvite: { _ in nil })
        let loadTime = clock.now - loadStart
        let readStart = clock.now
        var scalars = 0
        for message in loaded.document.orderedMessages { scalars += message.body.text.unicodeScalars.count }
        let readTime = clock.now - readStart
        guard loaded.document.messageList.count == visible, visibleStateDigest(loaded) == digest, scalars > 0 else {
            throw .malformedSnapshot("the reloaded conversation differs from the one built from its operations")
        }
        return ConversationBenchmarkReport(
            messages: messages, editsPerMessage: editsPerMessage,
            ops: operations, batches: batchCount,
            materializeMs: TraceBenchmark.milliseconds(materialized), snapshotLoadMs: TraceBenchmark.milliseconds(loadTime),
            snapshotBytes: snapshot.count, peakRSSBytes: TraceBenchmark.peakResidentSetBytes(),
            conversationResidentBytes: held,
            visibleMessages: visible, excludedOps: excluded, stateDigest: String(digest, radix: 16),
            textReadMs: TraceBenchmark.milliseconds(readTime))
    }

    /// FNV-1a 64 over everything a reader sees: the title, the members and their permissions, and
    /// for each message in order its id, time, edited and deleted flags and its text, plus the
    /// number of excluded operations.
    /// - Complexity: O(total text + members log members).
    public static func visibleStateDigest(_ conversation: Conversation) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: some Sequence<UInt8>) {
            for byte in bytes {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01b3
            }
        }
        func mix(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { mix($0) } }
        let document = conversation.document
        mix(document.title.utf8)
        for (member, permission) in document.permissions.sorted(by: { $0.key < $1.key }) {
            mix(member.bytes)
            mix(permission.description.utf8)
        }
        for message in document.orderedMessages {
            mix(message.id.replica.bytes)
            mix(UInt64(message.id.counter))
            mix(message.postedAt)
            mix([message.isEdited ? 1 : 0, message.isDeleted ? 1 : 0])
            let text = message.body.elements
            mix(UInt64(text.count))
            for scalar in text { mix(UInt64(scalar.value)) }
        }
        mix(UInt64(conversation.excluded.count))
        return hash
    }
}
