import ChatCore
import ChatNode
import ChatSync
import Testing

/// Two discovery shells on loopback, each sending its beacons to the other's UDP port.
@Suite struct LANDiscoveryTests {
    static let shared = ConversationID(bytes: Array(repeating: 0x5A, count: 32))!
    static let onlyA = ConversationID(bytes: Array(repeating: 0xA0, count: 32))!
    static let onlyB = ConversationID(bytes: Array(repeating: 0xB0, count: 32))!

    static func configuration(tcpPort: Int) -> LANDiscovery.Configuration {
        LANDiscovery.Configuration(
            tcpPort: tcpPort, bindHost: "127.0.0.1", bindPort: 0, targetHost: "127.0.0.1", targetPort: 9,
            timing: DiscoveryConfiguration(tcpPort: UInt16(tcpPort), interval: .milliseconds(100),
                                           initialDelay: .milliseconds(20)))
    }

    @Test(.timeLimit(.minutes(1)))
    func twoNodesDiscoverTheirSharedConversationOnly() async throws {
        let a = try await LANDiscovery.bind(configuration: Self.configuration(tcpPort: 7_001),
                                            conversations: [Self.shared, Self.onlyA], seed: 1)
        let b = try await LANDiscovery.bind(configuration: Self.configuration(tcpPort: 7_002),
                                            conversations: [Self.shared, Self.onlyB], seed: 2)
        try a.setTarget(host: "127.0.0.1", port: b.localPort)
        try b.setTarget(host: "127.0.0.1", port: a.localPort)

        let found = try await withThrowingTaskGroup(of: Discovery?.self) { group in
            group.addTask { try await a.run(clock: ContinuousClock()); return nil }
            group.addTask { try await b.run(clock: ContinuousClock()); return nil }
            group.addTask {
                var iterator = a.discoveries.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                var iterator = b.discoveries.makeAsyncIterator()
                return await iterator.next()
            }
            // A bounded wait: 15 s (a loaded CI machine), then give up.
            group.addTask {
                try await Task.sleep(for: .seconds(15))
                return nil
            }
            var discoveries: [Discovery] = []
            while discoveries.count < 2, let result = try await group.next() {
                guard let discovery = result else { break }
                discoveries.append(discovery)
            }
            a.stop()
            b.stop()
            group.cancelAll()
            return discoveries
        }

        let byPort = Dictionary(found.map { ($0.port, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(found.count == 2)
        #expect(byPort[7_002]?.conversations == [Self.shared])
        #expect(byPort[7_001]?.conversations == [Self.shared])
        #expect(byPort[7_002]?.host == "127.0.0.1")
        #expect(!found.contains { $0.conversations.contains(Self.onlyA) || $0.conversations.contains(Self.onlyB) })
        #expect(a.counters.beaconsSent > 0)
        #expect(b.counters.beaconsSent > 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func strangersDiscoverNothing() async throws {
        let a = try await LANDiscovery.bind(configuration: Self.configuration(tcpPort: 7_003),
                                            conversations: [Self.onlyA], seed: 3)
        let b = try await LANDiscovery.bind(configuration: Self.configuration(tcpPort: 7_004),
                                            conversations: [Self.onlyB], seed: 4)
        try a.setTarget(host: "127.0.0.1", port: b.localPort)
        try b.setTarget(host: "127.0.0.1", port: a.localPort)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await a.run(clock: ContinuousClock()) }
            group.addTask { try await b.run(clock: ContinuousClock()) }
            group.addTask {
                // Wait until each has heard several of the other's beacons.
                while a.counters.unmatched < 3 || b.counters.unmatched < 3 {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            group.addTask { try await Task.sleep(for: .seconds(15)) }
            _ = try await group.next()
            a.stop()
            b.stop()
            group.cancelAll()
        }
        #expect(a.counters.unmatched >= 3)
        #expect(b.counters.unmatched >= 3)
        #expect(a.counters.discovered == 0)
        #expect(b.counters.discovered == 0)
        var iterator = a.discoveries.makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }
}

extension LANDiscoveryTests {
    @Test(.timeLimit(.minutes(1)))
    func joiningAConversationLaterIsDiscovered() async throws {
        let a = try await LANDiscovery.bind(configuration: Self.configuration(tcpPort: 7_005),
                                            conversations: [Self.onlyA], seed: 5)
        let b = try await LANDiscovery.bind(configuration: Self.configuration(tcpPort: 7_006),
                                            conversations: [Self.shared], seed: 6)
        try a.setTarget(host: "127.0.0.1", port: b.localPort)
        try b.setTarget(host: "127.0.0.1", port: a.localPort)
        let found = try await withThrowingTaskGroup(of: Discovery?.self) { group in
            group.addTask { try await a.run(clock: ContinuousClock()); return nil }
            group.addTask { try await b.run(clock: ContinuousClock()); return nil }
            group.addTask {
                // Strangers first: wait until b has heard a beacon it cannot match, then a joins.
                while b.counters.unmatched < 1 { try await Task.sleep(for: .milliseconds(10)) }
                a.setConversations([Self.onlyA, Self.shared])
                var iterator = b.discoveries.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try await Task.sleep(for: .seconds(15))
                return nil
            }
            var discovery: Discovery?
            while discovery == nil, let result = try await group.next() {
                guard let result else { break }
                discovery = result
            }
            a.stop()
            b.stop()
            group.cancelAll()
            return discovery
        }
        #expect(found == Discovery(host: "127.0.0.1", port: 7_005, conversations: [Self.shared]))
    }

    @Test func refusesPortZero() async throws {
        await #expect(throws: LANDiscovery.ConfigurationError.invalidTCPPort(0)) {
            _ = try await LANDiscovery.bind(configuration: Self.configuration(tcpPort: 0), conversations: [])
        }
    }
}
