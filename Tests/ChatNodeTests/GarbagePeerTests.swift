import ChatControl
import ChatNode
import ChatSync
import Foundation
import NIOCore
import Testing

/// A peer that sends garbage is disconnected; its host is refused for a while only after
/// repeated offences, so honest nodes behind the same address (NAT, loopback) still get in
/// after a first one (issue 15, item 6).
@Suite(.timeLimit(.minutes(1))) struct GarbagePeerTests {
    /// One connection that sends a header with an unknown frame type, then noise.
    static func sendGarbage(to address: PeerEndpoint) async throws {
        let channel = try await PeerConnection.connect(host: address.host, port: address.port)
        try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: [0xFF, 0xFF, 0, 0, 0, 4, 0, 0] + Array(repeating: 0xAB, count: 64)))
            for try await _ in inbound {}
        }
    }

    @Test func garbageClosesTheSessionAndRepeatedGarbageBansTheHost() async throws {
        let (node, directory) = try NodeTests.makeNode(91, name: "ana")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await node.start()
        let address = try #require(await node.listeningOn)

        try await Self.sendGarbage(to: address)
        try await NodeTests.eventually("the session to be refused as malformed") {
            await node.commands.status().counters.closeReasons.keys.contains { $0 == "malformed" || $0 == "protocol_violation" }
        }
        // A first offence bans nobody: an honest node on the same address joins at once.
        let (ben, benDirectory) = try NodeTests.makeNode(92, name: "ben")
        defer { try? FileManager.default.removeItem(atPath: benDirectory) }
        try await ben.start()
        let conversation = try await node.commands.create(title: "shared address")
        let token = try await node.commands.invite(conversation, permission: .comment)
        #expect(try await ben.commands.join(token: token.bytes, via: address) == conversation)
        #expect(await node.commands.status().counters.refusedBanned == 0)

        // Repeated garbage from the host: it is refused for a while.
        try await Self.sendGarbage(to: address)
        try await Self.sendGarbage(to: address)
        let again = try await PeerConnection.connect(host: address.host, port: address.port)
        try await again.executeThenClose { inbound, _ in
            for try await _ in inbound {}
        }
        try await NodeTests.eventually("the host to be refused") { await node.commands.status().counters.refusedBanned >= 1 }
        await ben.stop()
        await node.stop()
    }

    /// A node stopped while connections pour in refuses each one it had accepted (NIO traps on a
    /// connection dropped unclosed, which would crash the daemon as it stops).
    @Test func stoppingWhileConnectionsArriveClosesEachOne() async throws {
        for round in 0 ..< 5 {
            let (node, directory) = try NodeTests.makeNode(UInt8(94 + round), name: "busy")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try await node.start()
            let address = try #require(await node.listeningOn)
            let dials = (0 ..< 40).map { _ in
                Task {
                    guard let channel = try? await PeerConnection.connect(host: address.host, port: address.port) else { return }
                    try? await channel.executeThenClose { inbound, _ in for try await _ in inbound {} }
                }
            }
            await Task.yield()
            await node.stop()
            for dial in dials { await dial.value }
        }
    }

    @Test func theLedgerRefusesOnlyRepeatedOffencesWithinTheWindow() {
        var ledger = HostOffenceLedger(threshold: 3, window: .seconds(60), capacity: 2)
        #expect(ledger.noteOffence(by: "10.0.0.1", at: .seconds(0), stayAway: .seconds(30)) == nil)
        #expect(ledger.noteOffence(by: "10.0.0.1", at: .seconds(100), stayAway: .seconds(30)) == nil, "outside the window")
        #expect(ledger.noteOffence(by: "10.0.0.1", at: .seconds(110), stayAway: .seconds(30)) == nil)
        #expect(!ledger.isRefused("10.0.0.1", at: .seconds(111)))
        #expect(ledger.noteOffence(by: "10.0.0.1", at: .seconds(120), stayAway: .seconds(30)) == .seconds(150))
        #expect(ledger.isRefused("10.0.0.1", at: .seconds(149)))
        #expect(!ledger.isRefused("10.0.0.2", at: .seconds(149)))
        #expect(!ledger.isRefused("10.0.0.1", at: .seconds(150)), "the ban ends")
        // Bounded: a flood of hosts evicts the oldest entries.
        for index in 0 ..< 10 { _ = ledger.noteOffence(by: "192.168.0.\(index)", at: .seconds(200), stayAway: .seconds(1)) }
        #expect(!ledger.isRefused("10.0.0.1", at: .seconds(200)))
    }
}
