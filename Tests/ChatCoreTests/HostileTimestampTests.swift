@testable import ChatCore
import Testing

/// Signed timestamps are the author's word: extreme values must be judged, never trap.
@Suite struct HostileTimestampTests {
    @Test(arguments: [UInt64.max, UInt64.max - 1, 0, 59_999])
    func postsAtExtremeTimestampsAreJudgedWithoutOverflow(timestamp: UInt64) {
        let admin = ReplicaID(testValue: 1)
        var scenario = Scenario()
        var conversation = newConversation()
        let genesis = scenario.batch(admin, [.genesis(Genesis(title: "t", nonce: [1]))], at: 1)
        var batches = [genesis]
        for index in 0 ..< 12 {
            let post = ConversationOp.postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("m\(index)".unicodeScalars)))
            batches.append(scenario.batch(admin, [post], seen: scenario.everything, at: timestamp))
        }
        feed(&conversation, batches)
        // Ten per minute: the rest of the burst at one instant is rate-limited, whatever the instant.
        #expect(conversation.document.orderedMessages.count == Int(ConversationSettings.default.messagesPerMinute))
    }
}
