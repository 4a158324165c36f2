import ChatCore
import ChatCrypto
import ChatNode
import ChatSync
import ChatWire
import Foundation
import Testing

/// Issue 15, item 4, through real nodes: a history whose catch-up is larger than one frame
/// (256 messages of 16 KiB, about 4 MiB) reaches a new joiner in full; frames are split by bytes.
@Suite(.timeLimit(.minutes(2))) struct LargeCatchUpTests {
    @Test func aJoinerCatchesUpOnHistoryLargerThanAFrame() async throws {
        let (ana, anaDirectory) = try NodeTests.makeNode(61, name: "ana")
        let (ben, benDirectory) = try NodeTests.makeNode(62, name: "ben")
        defer {
            try? FileManager.default.removeItem(atPath: anaDirectory)
            try? FileManager.default.removeItem(atPath: benDirectory)
        }
        try await ana.start()
        try await ben.start()
        let conversation = try await ana.commands.create(title: "big")
        try await ana.submit([.setSettings(ConversationSettings(messagesPerMinute: 100_000, maxMessageBytes: 16 * 1024,
                                                                isPublic: false))], to: conversation)
        let body = String(repeating: "0123456789abcdef", count: 1023) // 16,368 bytes
        for index in 0 ..< 256 { _ = try await ana.commands.post("\(index) " + body, to: conversation) }
        let token = try await ana.commands.invite(conversation, permission: .comment)
        let address = try #require(await ana.listeningOn)
        _ = try await ben.commands.join(token: token.bytes, via: address)
        try await NodeTests.eventually("all 256 large messages at ben", timeout: .seconds(30)) {
            try await ben.commands.log(conversation).count == 256
        }
        #expect(await ana.commands.status().counters.closeReasons.keys.allSatisfy { !$0.contains("malformed") })
        #expect(await ben.commands.status().counters.closeReasons.keys.allSatisfy { !$0.contains("malformed") })
        await ana.stop()
        await ben.stop()
    }

    /// Batches of nearly the wire's 1 MiB limit (Ana's node batches by bytes up to 960 KiB here;
    /// by default a batch holds at most 4,096 ids, so one long message each): a joiner catches up
    /// on all of them, two to a frame. The default batcher never makes a batch over the limit.
    @Test func aJoinerCatchesUpOnMaximumSizeBatches() async throws {
        let (ana, anaDirectory) = try NodeTests.makeNode(63, name: "ana")
        let (ben, benDirectory) = try NodeTests.makeNode(64, name: "ben")
        defer {
            try? FileManager.default.removeItem(atPath: anaDirectory)
            try? FileManager.default.removeItem(atPath: benDirectory)
        }
        try await ana.start()
        try await ben.start()
        let conversation = try await ana.commands.create(title: "big batches")
        try await ana.submit([.setSettings(ConversationSettings(messagesPerMinute: 100_000, maxMessageBytes: 16 * 1024,
                                                                isPublic: false))], to: conversation)
        let body = String(repeating: "0123456789abcdef", count: 1023) // 16,368 bytes
        let replica = try await ana.replica(conversation)
        let document = await replica.document
        let posts = (0 ..< 96).map { document.newMessage(Array(("\($0) " + body).unicodeScalars)) }
        let small = try await ana.submit(posts, to: conversation)
        #expect(small.count == 96, "the default batcher seals at 4,096 ids: one long message per batch")
        await replica.attachAuthor(try SigningKey(seed: Array(repeating: 63, count: 32)), policy: OperationBatcher.Policy(
            maxOperations: 256, maxIDs: 1 << 20, flushInterval: .milliseconds(50), maxBytes: 960 << 10))
        let more = (96 ..< 276).map { document.newMessage(Array(("\($0) " + body).unicodeScalars)) }
        let batches = try await ana.submit(more, to: conversation)
        let sizes = batches.map(\.bytes.count)
        #expect(batches.count == 3 && sizes.allSatisfy { $0 > 900_000 && $0 <= WireLimits.default.maxBatchBytes }, "\(sizes)")
        let token = try await ana.commands.invite(conversation, permission: .comment)
        let address = try #require(await ana.listeningOn)
        _ = try await ben.commands.join(token: token.bytes, via: address)
        try await NodeTests.eventually("all 276 messages at ben", timeout: .seconds(30)) {
            try await ben.commands.log(conversation).count == 276
        }
        await ana.stop()
        await ben.stop()
    }
}
