import ChatNode
import Foundation
import NIOCore
import Testing

/// A peer that sends garbage is disconnected, and its host is refused for a while.
@Suite(.timeLimit(.minutes(1))) struct GarbagePeerTests {
    @Test func garbageClosesTheSessionAndBansTheHost() async throws {
        let (node, directory) = try NodeTests.makeNode(91, name: "ana")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await node.start()
        let address = try #require(await node.listeningOn)

        let channel = try await PeerConnection.connect(host: address.host, port: address.port)
        try await channel.executeThenClose { inbound, outbound in
            // A frame header announcing an unknown frame type, then noise.
            try await outbound.write(ByteBuffer(bytes: [0xFF, 0xFF, 0, 0, 0, 4, 0, 0] + Array(repeating: 0xAB, count: 64)))
            for try await _ in inbound {}
        }
        try await NodeTests.eventually("the session to be refused as malformed") {
            await node.status().counters.closeReasons.keys.contains { $0 == "malformed" || $0 == "protocol_violation" }
        }
        // The next connection from the same host is closed before any handshake.
        let again = try await PeerConnection.connect(host: address.host, port: address.port)
        try await again.executeThenClose { inbound, _ in
            for try await _ in inbound {}
        }
        try await NodeTests.eventually("the host to be refused") { await node.status().counters.refusedBanned >= 1 }
        await node.stop()
    }
}
