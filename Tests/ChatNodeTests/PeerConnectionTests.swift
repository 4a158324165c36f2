import ChatCore
import ChatCrypto
import ChatNode
import ChatSync
import ChatWire
import NIOCore
import Testing

/// Two sessions over a real TCP connection on loopback: handshake, then a sealed frame each way.
@Suite struct PeerConnectionTests {
    static let conversation = ConversationID(bytes: Array(repeating: 0x7A, count: 32))!

    func session(_ role: SessionRole, seed: UInt8) throws -> SessionStateMachine {
        var random = SeededGenerator(seed: UInt64(seed))
        let key = try SigningKey(seed: Array(repeating: seed, count: 32))
        return SessionStateMachine(
            role: role, identity: key, configuration: SessionConfiguration(conversations: [Self.conversation]),
            admission: { request in .admit(conversations: request.conversations) }, randomness: &random)
    }

    @Test func handshakeAndSealedFramesOverLoopback() async throws {
        let server = try await PeerConnection.listen(host: "127.0.0.1", port: 0)
        let port = try #require(server.channel.localAddress?.port)
        let listenerSession = try session(.listener, seed: 1)
        let dialerSession = try session(.dialer, seed: 2)
        let (listenerEvents, listenerEventSink) = AsyncStream<PeerEvent>.makeStream()
        let (dialerEvents, dialerEventSink) = AsyncStream<PeerEvent>.makeStream()
        let (listenerOutgoing, listenerSend) = AsyncStream<PeerCommand>.makeStream()
        let (dialerOutgoing, dialerSend) = AsyncStream<PeerCommand>.makeStream()
        let clockFrame = DataFrame.clock(conversation: Self.conversation, clock: VectorClock([ReplicaID(testValue: 5): 42]))

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        await PeerConnection.run(connection, session: listenerSession, outgoing: listenerOutgoing,
                                                 events: listenerEventSink, clock: ContinuousClock())
                        break
                    }
                }
            }
            group.addTask {
                let channel = try await PeerConnection.connect(host: "127.0.0.1", port: port)
                await PeerConnection.run(channel, session: dialerSession, outgoing: dialerOutgoing,
                                         events: dialerEventSink, clock: ContinuousClock())
            }
            // The dialer learns the listener's identity, then sends a clock frame.
            var dialerIterator = dialerEvents.makeAsyncIterator()
            guard case .established(let listenerPeer) = await dialerIterator.next() else {
                Issue.record("dialer not established")
                return
            }
            let listenerKey = try SigningKey(seed: Array(repeating: 1, count: 32)).publicKey
            #expect(listenerPeer.key == listenerKey)
            dialerSend.yield(.send(clockFrame))
            var listenerIterator = listenerEvents.makeAsyncIterator()
            guard case .established(let dialerPeer) = await listenerIterator.next() else {
                Issue.record("listener not established")
                return
            }
            #expect(dialerPeer.conversations == [Self.conversation])
            guard case .received(let frame) = await listenerIterator.next() else {
                Issue.record("listener received nothing")
                return
            }
            #expect(frame == clockFrame)
            // And back.
            listenerSend.yield(.send(clockFrame))
            guard case .received(let back) = await dialerIterator.next() else {
                Issue.record("dialer received nothing")
                return
            }
            #expect(back == clockFrame)
            dialerSend.finish()
            listenerSend.finish()
            group.cancelAll()
        }
    }
}
