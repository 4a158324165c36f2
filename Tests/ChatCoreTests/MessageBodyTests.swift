@testable import ChatCore
import Testing

/// Message bodies kept compact (encoded) once they are no longer among the recently edited
/// ones, and live again when edited: the same text, edits and snapshots either way.
@Suite struct MessageBodyTests {
    let ana = ReplicaID(testValue: 1)

    func body(_ text: String, by author: ReplicaID, counter: UInt32) throws -> SequenceCRDT<Unicode.Scalar> {
        var sequence = SequenceCRDT<Unicode.Scalar>(replica: author, keepsHistory: false)
        _ = try sequence.apply(.insert(SequenceInsert(id: OpID(replica: author, counter: counter), originLeft: nil,
                                                      originRight: nil, content: Array(text.unicodeScalars))), waits: false)
        return sequence
    }

    /// A compacted body reads the same, is edited like a live one, and a copy keeps its own
    /// text (value semantics, also once live).
    @Test func aCompactBodyReadsAndEditsLikeALiveOne() throws {
        var body = MessageBody(try body("hello", by: ana, counter: 1))
        #expect(body.isLive)
        body.compact()
        #expect(!body.isLive && body.text == "hello" && body.count == 5)
        let copy = body
        let last = try body.sequence.visibleID(at: 4)
        try body.edit { (sequence) throws(SequenceError) in
            _ = try sequence.apply(.insert(SequenceInsert(id: OpID(replica: ana, counter: 9), originLeft: last,
                                                          originRight: nil, content: Array("!".unicodeScalars))), waits: false)
        }
        #expect(body.isLive && body.text == "hello!")
        #expect(copy.text == "hello" && !copy.isLive)
        var shared = body
        shared.edit { sequence in sequence.hide(from: OpID(replica: ana, counter: 9), count: 1) }
        #expect(shared.text == "hello" && body.text == "hello!", "the live storage is copied before it is changed")
    }

    /// An encoded state is checked when loaded: the bytes of a compact body round-trip, and
    /// malformed bytes throw rather than become a body.
    @Test func aLoadedBodyIsChecked() throws {
        var writer = ByteWriter(capacity: 64)
        MessageBody(try body("héllo", by: ana, counter: 1)).encodeState(into: &writer)
        var reader = ByteReader(writer.bytes)
        var checker = SequenceStateChecker()
        let loaded = try MessageBody(checkedState: &reader, checker: &checker)
        #expect(reader.isAtEnd && loaded.text == "héllo" && !loaded.isLive)
        var again = ByteWriter(capacity: 64)
        loaded.encodeState(into: &again)
        #expect(again.bytes == writer.bytes)
        var truncated = ByteReader(Array(writer.bytes.dropLast()))
        #expect(throws: SequenceError.self) { try MessageBody(checkedState: &truncated, checker: &checker) }
    }

    /// In a conversation, only the most recently edited bodies stay live; older messages are
    /// compact, still edited correctly, and the snapshot carries every text.
    @Test func aConversationKeepsOnlyRecentBodiesLive() throws {
        var scenario = Scenario()
        var conversation = newConversation()
        _ = conversation.receive(scenario.batch(ana, [.genesis(Genesis(title: "t", nonce: Array(repeating: 1, count: 16)))]))
        _ = conversation.receive(scenario.batch(ana, [.setSettings(ConversationSettings(messagesPerMinute: 10_000, maxMessageBytes: 4096, isPublic: false))]))
        let count = ConversationDocument.liveBodyLimit + 10
        var ids: [OpID] = []
        for index in 0 ..< count {
            let batch = scenario.batch(ana, [conversation.document.newMessage(Array("m\(index)".unicodeScalars))],
                                       seen: scenario.everything)
            ids.append(OpID(replica: ana, counter: batch.firstCounter))
            _ = conversation.receive(batch)
        }
        let live = ids.filter { conversation.document.messages[$0]?.body.isLive == true }
        #expect(live == Array(ids.suffix(ConversationDocument.liveBodyLimit)))
        // The oldest message is compact; an edit makes it live again and lands.
        let edit = try #require(conversation.document.insertText(Array("!".unicodeScalars), into: ids[0], at: 2))
        _ = conversation.receive(scenario.batch(ana, [edit], seen: scenario.everything))
        #expect(conversation.document.messages[ids[0]]?.body.isLive == true)
        #expect(conversation.document.messages[ids[0]]?.body.text == "m0!")
        #expect(conversation.document.messages[ids[1]]?.body.isLive == false, "the least recently edited was compacted")
        // An edit that fails on a compact body leaves it live, and it is compacted again in turn.
        var document = conversation.document
        let missing = OpID(replica: ana, counter: 9_999)
        #expect(throws: DocumentError.self) {
            try document.apply(.insertText(InsertText(message: ids[2], originLeft: missing, originRight: nil,
                                                      text: Array("?".unicodeScalars))),
                               id: OpID(replica: ana, counter: 10_000), timestamp: scenario.time)
        }
        #expect(document.messages[ids[2]]?.body.isLive == true && document.messages[ids[2]]?.body.text == "m2")
        for index in 0 ..< ConversationDocument.liveBodyLimit {
            try document.apply(document.newMessage(Array("n\(index)".unicodeScalars)), id: OpID(replica: ana, counter: 20_000 + UInt32(index) * 10),
                               timestamp: scenario.time)
        }
        #expect(document.messages[ids[2]]?.body.isLive == false)
        let reloaded = try ConversationDocument(snapshot: conversation.document.encodedSnapshot(), localReplica: ana)
        #expect(reloaded.canonicalVisibleState() == conversation.document.canonicalVisibleState())
        #expect(reloaded.messages.values.allSatisfy { !$0.body.isLive })
    }
}
