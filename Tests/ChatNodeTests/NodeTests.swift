import ChatControl
import ChatCore
import ChatCrypto
import ChatNode
import ChatSync
import ChatTools
import ChatWire
import Foundation
import Synchronization
import Testing

/// Whole nodes on loopback: create, invite, join by address, write on both sides, converge,
/// catch up after a partition, and disconnect a revoked member.
@Suite(.timeLimit(.minutes(2))) struct NodeTests {
    /// A wall clock that moves 7 s per reading, so that posts stay under the default rate of
    /// ten messages per minute per author.
    static func steppingWallClock(start: UInt64 = 1_750_000_000_000) -> @Sendable () -> UInt64 {
        let now = Mutex(start)
        return { now.withLock { $0 += 7_000; return $0 } }
    }

    static func makeNode(_ seed: UInt8, name: String, peers: [PeerEndpoint] = [],
                         wallClock: @escaping @Sendable () -> UInt64 = steppingWallClock(),
                         replication: ReplicationConfiguration = ReplicationConfiguration(antiEntropyInterval: .milliseconds(300)),
                         reconnectMaximum: Duration = .seconds(30))
        throws -> (Node, String) {
        let directory = try temporaryDirectory()
        let key = try SigningKey(seed: Array(repeating: seed, count: 32))
        let configuration = NodeConfiguration(identity: key, dataDirectory: directory, peers: peers,
                                              replication: replication, reconnectMaximum: reconnectMaximum, seed: UInt64(seed),
                                              wallClock: wallClock, displayName: name)
        return (try Node(configuration: configuration), directory)
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes.
    static func eventually(_ what: String, timeout: Duration = .seconds(10),
                           _ condition: () async throws -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting for \(what)")
        throw CancellationError()
    }

    @Test func joinWriteConvergeAndRevoke() async throws {
        let (ana, anaDirectory) = try Self.makeNode(21, name: "ana")
        let (ben, benDirectory) = try Self.makeNode(22, name: "ben")
        defer {
            try? FileManager.default.removeItem(atPath: anaDirectory)
            try? FileManager.default.removeItem(atPath: benDirectory)
        }
        try await ana.start()
        try await ben.start()
        let address = try #require(await ana.listeningOn)

        let conversation = try await ana.commands.create(title: "team")
        _ = try await ana.commands.post("hello from ana", to: conversation)
        let token = try await ana.commands.invite(conversation, permission: .comment)
        let joined = try await ben.commands.join(token: token.bytes, via: address)
        #expect(joined == conversation)
        #expect(try await ben.commands.log(conversation).map(\.text) == ["hello from ana"])

        // Both write; both see both, in the same order.
        let fromBen = try await ben.commands.post("hi, ben here", to: conversation)
        _ = try await ana.commands.post("welcome", to: conversation)
        try await Self.eventually("convergence") {
            let left = try await ana.commands.log(conversation)
            let right = try await ben.commands.log(conversation)
            return left.count == 3 && left == right
        }
        // Ben (comment) may not edit Ana's message: refused before anything is signed.
        let first = try #require(await ana.commands.log(conversation).first)
        await #expect(throws: NodeCommandError.self) {
            try await ben.commands.edit(first.id, to: "changed", in: conversation)
        }
        try await ben.commands.edit(MessageReference.text(fromBen), to: "hi, Ben here!", in: conversation)
        try await Self.eventually("the edit") {
            try await ana.commands.log(conversation).contains { $0.text == "hi, Ben here!" && $0.edited }
        }
        // Anti-entropy: idle sessions keep exchanging clocks (every 300 ms here).
        try await Self.eventually("anti-entropy rounds") {
            await ana.commands.status().peers.first.map { $0.clocksReceived >= 3 } ?? false
        }
        let members = try await ana.commands.members(conversation)
        #expect(members.map(\.permission).sorted() == ["admin", "comment"])
        #expect(members.allSatisfy { $0.online })

        // Revoking Ben disconnects him, and he is refused when he redials.
        try await ana.submit([.removeMember(member: ben.replicaID)], to: conversation)
        try await Self.eventually("the revoked member's session to close") {
            await ana.commands.status().peers.isEmpty
        }
        #expect(await ana.commands.status().counters.revokedDisconnects == 1)
        await #expect(throws: NodeCommandError.self) { try await ben.commands.post("still here?", to: conversation) }
        await ana.stop()
        await ben.stop()
    }

    @Test func catchUpAfterAPartitionAndRestart() async throws {
        let (ana, anaDirectory) = try Self.makeNode(31, name: "ana")
        defer { try? FileManager.default.removeItem(atPath: anaDirectory) }
        try await ana.start()
        let address = try #require(await ana.listeningOn)
        let conversation = try await ana.commands.create(title: "log")
        let token = try await ana.commands.invite(conversation, permission: .comment)

        var (ben, benDirectory) = try Self.makeNode(32, name: "ben")
        defer { try? FileManager.default.removeItem(atPath: benDirectory) }
        try await ben.start()
        _ = try await ben.commands.join(token: token.bytes, via: address)
        await ben.stop()
        weak let stopped = ben
        ben = try Self.makeNode(99, name: "placeholder").0
        #expect(stopped == nil, "a stopped node is released")

        // While Ben is away, Ana writes 300 messages; Ben writes 20 offline... after reopening
        // his store with no listener, so nothing flows until he dials again.
        for index in 0 ..< 300 { _ = try await ana.commands.post("message \(index)", to: conversation) }
        let key = try SigningKey(seed: Array(repeating: 32, count: 32))
        ben = try Node(configuration: NodeConfiguration(identity: key, dataDirectory: benDirectory, listen: nil,
                                                        replication: ReplicationConfiguration(antiEntropyInterval: .milliseconds(300)),
                                                        seed: 32, wallClock: Self.steppingWallClock(start: 1_760_000_000_000)))
        try await ben.start()
        for index in 0 ..< 20 { _ = try await ben.commands.post("offline \(index)", to: conversation) }
        await ben.connect(to: address)
        try await Self.eventually("catch-up both ways") {
            let left = try await ana.commands.log(conversation)
            let right = try await ben.commands.log(conversation)
            return left.count == 320 && left == right
        }
        await ana.stop()
        await ben.stop()
    }

    @Test func aNonMemberIsRefusedBeforeAnyDataFlows() async throws {
        let (ana, anaDirectory) = try Self.makeNode(41, name: "ana")
        let (eve, eveDirectory) = try Self.makeNode(42, name: "eve")
        defer {
            try? FileManager.default.removeItem(atPath: anaDirectory)
            try? FileManager.default.removeItem(atPath: eveDirectory)
        }
        try await ana.start()
        try await eve.start()
        let address = try #require(await ana.listeningOn)
        let conversation = try await ana.commands.create(title: "private")
        _ = try await ana.commands.post("secret", to: conversation)
        // A token Eve forged for herself names her as issuer, who is no admin: refused.
        let forged = InviteToken(content: InviteTokenContent(
            conversation: conversation, permission: .admin, issuer: eve.replicaID, tokenID: Array(repeating: 1, count: 16),
            issuedAt: 1, expiresAt: nil, useLimit: nil, label: "", addresses: [address.description])) {
                eve.identity.sign($0).bytes
            }
        // Refused with the reason, not a timeout (bounded generously: a loaded machine dials slowly).
        await #expect(throws: NodeCommandError.joinRefused(.invalidInvite)) {
            try await eve.commands.join(token: forged.bytes, via: address, timeout: .seconds(30))
        }
        // Nothing of the conversation reached Eve, and her refused join is given up.
        #expect(await !eve.conversations.contains(conversation))
        // The refusal is on record at both ends.
        try await Self.eventually("ana to refuse eve at the handshake", timeout: .seconds(30)) {
            let refused = await ana.commands.status().counters.closeReasons["refused_invalid_invite", default: 0]
            let refusedBy = await eve.commands.status().counters.closeReasons["refused_by_peer_invalid_invite", default: 0]
            return refused >= 1 && refusedBy >= 1
        }
        await ana.stop()
        await eve.stop()
    }

    @Test func twoConversationsOverOneSessionAndGossip() async throws {
        // Real time: ephemeral updates are judged against the receiver's clock.
        let (ana, anaDirectory) = try Self.makeNode(51, name: "ana", wallClock: Node.systemWallClock)
        let (ben, benDirectory) = try Self.makeNode(52, name: "ben", wallClock: Node.systemWallClock)
        defer {
            try? FileManager.default.removeItem(atPath: anaDirectory)
            try? FileManager.default.removeItem(atPath: benDirectory)
        }
        try await ana.start()
        try await ben.start()
        let address = try #require(await ana.listeningOn)
        let first = try await ana.commands.create(title: "first")
        let second = try await ana.commands.create(title: "second")
        _ = try await ben.commands.join(token: try await ana.commands.invite(first, permission: .comment).bytes, via: address)
        // Ben already has a session with Ana; joining the second conversation renews it.
        _ = try await ben.commands.join(token: try await ana.commands.invite(second, permission: .comment).bytes, via: address)
        _ = try await ben.commands.post("in the second", to: second)
        try await Self.eventually("the second conversation to sync") {
            try await ana.commands.log(second).map(\.text) == ["in the second"]
        }
        // Typing travels by signed gossip to the other member.
        try await ben.publish(.typing(Typing(isTyping: true)), in: second)
        try await Self.eventually("ana to see ben typing") {
            await ana.ephemeralState(of: second)?.typingOrigins(now: Node.systemWallClock()).contains(ben.replicaID) ?? false
        }
        // Outsiders cannot gossip: Ana's gossip for a conversation Ben is not in is refused locally.
        let third = try await ana.commands.create(title: "third")
        await #expect(throws: NodeCommandError.self) { try await ben.publish(.typing(Typing(isTyping: true)), in: third) }
        await ana.stop()
        await ben.stop()
    }

    @Test func theLiveDemoConverges() async throws {
        let lines = Mutex<[String]>([])
        let report = try await LiveDemo.run(seed: 7) { line in lines.withLock { $0.append(line) } }
        #expect(report.converged)
        #expect(report.messages == 6)
        #expect(lines.withLock { $0.contains { $0.contains("ben is typing") } })
    }
}
