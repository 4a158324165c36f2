import ChatCore
import ChatCrypto
import ChatNode
import ChatSync
import ChatWire
import Foundation
import Testing

/// Issue 15, item 5, at a whole node: a member's node floods Ana with large junk batch frames as
/// fast as its socket allows, while Cat, another member, keeps writing. What Ana has read from the
/// flooder and not handled stays within her inbound window (reading pauses beyond it), the flooder
/// is cut off by its per-peer budget, and every message of Cat's arrives.
@Suite(.timeLimit(.minutes(1))) struct InboundFloodTests {
    @Test func aFloodingMemberStaysWithinTheWindowAndOthersAreServed() async throws {
        let (ana, anaDirectory) = try NodeTests.makeNode(111, name: "ana")
        let (ben, benDirectory) = try NodeTests.makeNode(112, name: "ben")
        let (cat, catDirectory) = try NodeTests.makeNode(113, name: "cat")
        defer { for directory in [anaDirectory, benDirectory, catDirectory] { try? FileManager.default.removeItem(atPath: directory) } }
        try await ana.start()
        try await ben.start()
        try await cat.start()
        let address = try #require(await ana.listeningOn)
        let conversation = try await ana.commands.create(title: "flooded")
        for joiner in [ben, cat] {
            let token = try await ana.commands.invite(conversation, permission: .comment)
            #expect(try await joiner.commands.join(token: token.bytes, via: address) == conversation)
        }
        // Ben's node goes away; his key, a member's, now floods through a raw session.
        await ben.stop()
        let benKey = try SigningKey(seed: Array(repeating: 112, count: 32))
        var random = SeededGenerator(seed: 112)
        let session = SessionStateMachine(role: .dialer, identity: benKey,
                                          configuration: SessionConfiguration(conversations: [conversation]),
                                          admission: { .admit(conversations: $0.conversations) }, randomness: &random)
        let channel = try await PeerConnection.connect(host: address.host, port: address.port)
        let (events, eventSink) = AsyncStream<PeerEvent>.makeStream()
        let (outgoing, send) = AsyncStream<PeerCommand>.makeStream()
        let flooder = Task {
            await PeerConnection.run(channel, session: session, outgoing: outgoing, events: eventSink, clock: ContinuousClock())
        }
        var iterator = events.makeAsyncIterator()
        guard case .established(let peer) = await iterator.next() else {
            Issue.record("the flooder was not admitted")
            return
        }
        #expect(peer.conversations == [conversation])
        // 48 frames of 512 KiB junk batches (24 MiB): more than a second's byte budget (16 MiB).
        for index in 0 ..< 48 {
            send.yield(.send(.batches(conversation: conversation, batches: [Array(repeating: UInt8(index), count: 512 << 10)])))
        }
        // Cat writes meanwhile; every message reaches Ana.
        var posted: [String] = []
        for index in 0 ..< 3 {
            let text = "cat during the flood \(index)"
            _ = try await cat.commands.post(text, to: conversation)
            posted.append(text)
        }
        try await NodeTests.eventually("cat's messages to reach ana", timeout: .seconds(20)) {
            let texts = Set(try await ana.commands.log(conversation).map(\.text))
            return posted.allSatisfy(texts.contains)
        }
        try await NodeTests.eventually("the flooder to be cut off", timeout: .seconds(20)) {
            await ana.commands.status().counters.closeReasons["flood", default: 0] >= 1
        }
        let status = await ana.commands.status()
        let window = await ana.configuration.inboundWindowBytes
        #expect(status.counters.inboundPeakBytes <= window + (64 << 10), "peak \(status.counters.inboundPeakBytes)")
        #expect(status.counters.inboundPeakBytes > 0)
        print("flood: inbound peak \(status.counters.inboundPeakBytes) bytes of a \(window)-byte window, closes \(status.counters.closeReasons)")
        send.finish()
        flooder.cancel()
        await flooder.value
        await cat.stop()
        await ana.stop()
    }
}
