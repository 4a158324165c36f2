import ChatCore
import ChatCrypto
import ChatNode
import ChatSync
import ChatWire
import NIOCore
import Synchronization
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
            guard case .received(let frame, _) = await listenerIterator.next() else {
                Issue.record("listener received nothing")
                return
            }
            #expect(frame == clockFrame)
            // And back.
            listenerSend.yield(.send(clockFrame))
            guard case .received(let back, _) = await dialerIterator.next() else {
                Issue.record("dialer received nothing")
                return
            }
            #expect(back == clockFrame)
            dialerSend.finish()
            listenerSend.finish()
            group.cancelAll()
        }
    }

    /// Issue 15, item 5: a sender faster than the node. The receiver handles nothing until told;
    /// meanwhile at most its window of bytes is read off the socket (NIO stops reading, TCP pushes
    /// back), and once it handles frames again every one arrives, in order.
    @Test func aSlowReceiverPausesReadingAndLosesNothing() async throws {
        let server = try await PeerConnection.listen(host: "127.0.0.1", port: 0)
        let port = try #require(server.channel.localAddress?.port)
        let listenerSession = try session(.listener, seed: 1)
        let dialerSession = try session(.dialer, seed: 2)
        let (listenerEvents, listenerEventSink) = AsyncStream<PeerEvent>.makeStream()
        let (dialerEvents, dialerEventSink) = AsyncStream<PeerEvent>.makeStream()
        let (listenerOutgoing, listenerSend) = AsyncStream<PeerCommand>.makeStream()
        let (dialerOutgoing, dialerSend) = AsyncStream<PeerCommand>.makeStream()
        let window = InboundWindow(limit: 256 << 10)
        let frameCount = 150
        let frames = (0 ..< frameCount).map { index in
            DataFrame.batches(conversation: Self.conversation, batches: [Array(repeating: UInt8(index % 251), count: 64 << 10)])
        }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        await PeerConnection.run(connection, session: listenerSession, outgoing: listenerOutgoing,
                                                 events: listenerEventSink, clock: ContinuousClock(), window: window)
                        break
                    }
                }
            }
            group.addTask {
                let channel = try await PeerConnection.connect(host: "127.0.0.1", port: port)
                await PeerConnection.run(channel, session: dialerSession, outgoing: dialerOutgoing,
                                         events: dialerEventSink, clock: ContinuousClock())
            }
            var dialerIterator = dialerEvents.makeAsyncIterator()
            guard case .established = await dialerIterator.next() else {
                Issue.record("dialer not established")
                return
            }
            let collected = Mutex<[(frame: DataFrame, charge: Int)]>([])
            group.addTask {
                for await event in listenerEvents {
                    if case .received(let frame, let charge) = event { collected.withLock { $0.append((frame, charge)) } }
                }
            }
            for frame in frames { dialerSend.yield(.send(frame)) }
            // Handle nothing for a while: reading stops at the window.
            try await Task.sleep(for: .milliseconds(600))
            let readWhileStalled = collected.withLock { $0.count }
            #expect(readWhileStalled >= 1 && readWhileStalled <= 5, "frames read while stalled: \(readWhileStalled)")
            #expect(window.peak <= window.limit + (64 << 10), "peak \(window.peak)")
            // Handle everything now, releasing as we go: all frames arrive, in order.
            var released = 0
            let deadline = ContinuousClock.now + .seconds(20)
            while released < frameCount, ContinuousClock.now < deadline {
                let fresh = collected.withLock { Array($0[released...]) }
                for item in fresh { window.release(item.charge) }
                released += fresh.count
                if fresh.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(collected.withLock { $0.map(\.frame) } == frames)
            dialerSend.finish()
            listenerSend.finish()
            group.cancelAll()
        }
    }

    /// A dial cancelled while it connects (a join abandoned mid-dial) closes its connection
    /// properly: NIO traps on a connection wrapper dropped unclosed, which crashed a node.
    @Test func dialsCancelledWhileConnectingCloseCleanly() async throws {
        // Accepted connections are held until taken, as the node holds them: one NIO wrapped but
        // the listener's loop never yielded (it is cancelled at the end) is closed, not dropped.
        let accepted = AcceptedConnections()
        let server = try await PeerConnection.listen(host: "127.0.0.1", port: 0, accepted: accepted)
        let port = try #require(server.channel.localAddress?.port)
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        accepted.take(connection)
                        try? await connection.executeThenClose { _, _ in }
                    }
                }
            }
            var cancelled = 0
            for round in 0 ..< 300 {
                let dial = Task { try await PeerConnection.connect(host: "127.0.0.1", port: port) }
                if round % 3 != 0 { await Task.yield() }
                dial.cancel()
                switch await dial.result {
                case .success(let channel): try? await channel.executeThenClose { _, _ in }
                case .failure: cancelled += 1
                }
            }
            #expect(cancelled > 0)
            group.cancelAll()
        }
        await accepted.closeRemaining()
    }
}
