import ChatCore
import ChatCrypto
import ChatNode
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
        let conversation = try await ana.create(title: "big")
        try await ana.submit([.setSettings(ConversationSettings(messagesPerMinute: 100_000, maxMessageBytes: 16 * 1024,
                                                                isPublic: false))], to: conversation)
        let body = String(repeating: "0123456789abcdef", count: 1023) // 16,368 bytes
        for index in 0 ..< 256 { _ = try await ana.post("\(index) " + body, to: conversation) }
        let token = try await ana.invite(conversation, permission: .comment)
        let address = try #require(await ana.listeningOn)
        _ = try await ben.join(token: token.bytes, via: address)
        try await NodeTests.eventually("all 256 large messages at ben", timeout: .seconds(30)) {
            try await ben.log(conversation).count == 256
        }
        #expect(await ana.status().counters.closeReasons.keys.allSatisfy { !$0.contains("malformed") })
        #expect(await ben.status().counters.closeReasons.keys.allSatisfy { !$0.contains("malformed") })
        await ana.stop()
        await ben.stop()
    }
}
