import ChatControl
import ChatCore
import ChatCrypto
import ChatNode
import ChatSync
import Foundation
import Testing

/// The audit trail's peer-session records live in the node's store: they survive a restart.
@Suite(.timeLimit(.minutes(2))) struct AuditPersistenceTests {
    let anaKey: SigningKey
    let benKey: SigningKey

    init() throws {
        anaKey = try SigningKey(seed: Array(repeating: 111, count: 32))
        benKey = try SigningKey(seed: Array(repeating: 112, count: 32))
    }

    /// A node of `key` on `directory`, with a wall clock of its own.
    func node(_ key: SigningKey, _ directory: String, listening: Bool, clockStart: UInt64) throws -> Node {
        try Node(configuration: NodeConfiguration(
            identity: key, dataDirectory: directory,
            listen: listening ? PeerEndpoint(host: "127.0.0.1", port: 0) : nil,
            replication: ReplicationConfiguration(antiEntropyInterval: .milliseconds(300)), seed: 111,
            wallClock: NodeTests.steppingWallClock(start: clockStart)))
    }

    /// Ana's first life: Ben joins her conversation and leaves again. Returns the conversation and
    /// what Ana's trail says about Ben; both nodes are stopped and released when it returns.
    func connectAndDisconnect(anaDirectory: String, benDirectory: String) async throws
        -> (ConversationID, [AuditEntry]) {
        let ana = try node(anaKey, anaDirectory, listening: true, clockStart: 1_750_000_000_000)
        let ben = try node(benKey, benDirectory, listening: true, clockStart: 1_750_000_000_000)
        try await ana.start()
        try await ben.start()
        let address = try #require(await ana.listeningOn)
        let conversation = try await ana.commands.create(title: "audited")
        let token = try await ana.commands.invite(conversation, permission: .comment)
        _ = try await ben.commands.join(token: token.bytes, via: address)
        try await NodeTests.eventually("ana to see ben's session") { await ana.commands.status().peers.count == 1 }
        await ben.stop()
        try await NodeTests.eventually("ana to see ben's session end") { await ana.commands.status().peers.isEmpty }
        let trail = try await ana.commands.audit(conversation).filter { $0.actor == benKey.publicKey.replicaID }
        await ana.stop()
        return (conversation, trail)
    }

    @Test func peerSessionsStayInTheAuditTrailAfterARestart() async throws {
        let anaDirectory = try temporaryDirectory()
        let benDirectory = try temporaryDirectory()
        defer {
            for directory in [anaDirectory, benDirectory] { try? FileManager.default.removeItem(atPath: directory) }
        }
        let (conversation, before) = try await connectAndDisconnect(anaDirectory: anaDirectory, benDirectory: benDirectory)
        let sessionActions: Set<AuditAction> = [.peerConnected, .peerDisconnected]
        // One session, or more when both sides dialled at once and one was closed as a duplicate.
        let sessionsBefore = before.filter { sessionActions.contains($0.action) }.map(\.action)
        #expect(sessionsBefore.first == .peerConnected && sessionsBefore.last == .peerDisconnected)
        #expect(sessionsBefore.count { $0 == .peerConnected } == sessionsBefore.count { $0 == .peerDisconnected })

        // Reopened from the same directory (the first node is released, its store closed).
        let ana = try node(anaKey, anaDirectory, listening: false, clockStart: 1_760_000_000_000)
        try await ana.start()
        let after = try await ana.commands.audit(conversation).filter { $0.actor == benKey.publicKey.replicaID }
        let sessions = after.filter { sessionActions.contains($0.action) }
        #expect(sessions.map(\.action) == sessionsBefore)
        #expect(sessions.allSatisfy { $0.at < 1_760_000_000_000 }, "recorded before the restart, on the first clock")
        #expect(after == before, "the trail reads the same after the restart")
        await ana.stop()
    }
}
