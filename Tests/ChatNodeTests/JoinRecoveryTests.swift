import ChatControl
import ChatCore
import ChatCrypto
import ChatNode
import Foundation
import Testing

/// Issue 15, item 6: a refused join gives up its redialing, and a later join with a valid link
/// through the same member is admitted at once (it used to wait out the old dialer's back-off).
@Suite(.timeLimit(.minutes(1))) struct JoinRecoveryTests {
    @Test func aRefusedJoinStopsRedialingAndALaterJoinIsNotAffected() async throws {
        let (ana, anaDirectory) = try NodeTests.makeNode(71, name: "ana")
        let (ben, benDirectory) = try NodeTests.makeNode(72, name: "ben")
        let (cat, catDirectory) = try NodeTests.makeNode(73, name: "cat")
        defer {
            for directory in [anaDirectory, benDirectory, catDirectory] { try? FileManager.default.removeItem(atPath: directory) }
        }
        for node in [ana, ben, cat] { try await node.start() }
        let address = try #require(await ana.listeningOn)
        let conversation = try await ana.commands.create(title: "team")
        let once = try await ana.commands.invite(conversation, permission: .comment, useLimit: 1)
        _ = try await cat.commands.join(token: once.bytes, via: address)
        try await NodeTests.eventually("ana to count the use") {
            try await ana.replica(conversation).conversation.links.values.contains { $0.uses == 1 }
        }
        await #expect(throws: NodeCommandError.self) { try await ben.commands.join(token: once.bytes, via: address, timeout: .seconds(5)) }
        #expect(await !ben.dialedPeers.contains(address), "the refused join stopped dialing")

        let clock = ContinuousClock()
        let start = clock.now
        let fresh = try await ana.commands.invite(conversation, permission: .comment)
        #expect(try await ben.commands.join(token: fresh.bytes, via: address) == conversation)
        #expect(clock.now - start < .seconds(3), "admitted at once, not after a back-off")
        for node in [ana, ben, cat] { await node.stop() }
    }

    /// `status` says where a join stands: dialling while no member answers, then recorded (or
    /// done) once `join` returns.
    @Test func statusReportsTheJoinStage() async throws {
        let (ana, anaDirectory) = try NodeTests.makeNode(74, name: "ana")
        let (ben, benDirectory) = try NodeTests.makeNode(75, name: "ben")
        defer { for directory in [anaDirectory, benDirectory] { try? FileManager.default.removeItem(atPath: directory) } }
        try await ana.start()
        try await ben.start()
        let address = try #require(await ana.listeningOn)
        let conversation = try await ana.commands.create(title: "stages")
        let token = try await ana.commands.invite(conversation, permission: .comment)
        let nowhere = PeerEndpoint(host: "127.0.0.1", port: 9)
        let stalled = Task { try await ben.commands.join(token: token.bytes, via: nowhere, timeout: .seconds(2)) }
        try await NodeTests.eventually("ben to report dialling") {
            await ben.commands.status().conversations.first { $0.id == conversation.hex }?.joinStage == "dialling"
        }
        _ = try? await stalled.value
        #expect(try await ben.commands.join(token: token.bytes, via: address) == conversation)
        let entry = await ben.commands.status().conversations.first { $0.id == conversation.hex }
        #expect(entry?.joinStage == nil || entry?.joinStage == "recorded")
        #expect((entry?.batches ?? 0) > 0)
        await ben.stop()
        await ana.stop()
    }

    /// A member removed while its node was down still holds itself a member when it comes back:
    /// `join` with a fresh link asks the members rather than say it joined, and is refused with
    /// `revoked`. A member who was not removed is confirmed at once.
    @Test func aMemberRemovedWhileAwayIsToldSoWhenItJoinsAgain() async throws {
        let (ana, anaDirectory) = try NodeTests.makeNode(76, name: "ana")
        var (ben, benDirectory) = try NodeTests.makeNode(77, name: "ben")
        let (cat, catDirectory) = try NodeTests.makeNode(78, name: "cat")
        defer {
            for directory in [anaDirectory, benDirectory, catDirectory] { try? FileManager.default.removeItem(atPath: directory) }
        }
        for node in [ana, ben, cat] { try await node.start() }
        let address = try #require(await ana.listeningOn)
        let conversation = try await ana.commands.create(title: "team")
        for node in [ben, cat] {
            _ = try await node.commands.join(token: try await ana.commands.invite(conversation, permission: .comment).bytes,
                                             via: address)
        }
        let benID = ben.replicaID
        await ben.stop()
        ben = try NodeTests.makeNode(99, name: "placeholder").0 // the stopped node is released: its store closes
        try await ana.commands.revoke(benID, in: conversation)

        let key = try SigningKey(seed: Array(repeating: 77, count: 32))
        ben = try Node(configuration: NodeConfiguration(identity: key, dataDirectory: benDirectory, listen: nil, seed: 77,
                                                        wallClock: NodeTests.steppingWallClock(start: 1_760_000_000_000)))
        try await ben.start()
        #expect(ben.directory.permission(of: benID, in: conversation) == .comment, "it missed its removal")
        let fresh = try await ana.commands.invite(conversation, permission: .comment)
        await #expect(throws: NodeCommandError.joinRefused(.revoked)) {
            try await ben.commands.join(token: fresh.bytes, via: address, timeout: .seconds(10))
        }
        #expect(try await cat.commands.join(token: fresh.bytes, via: address) == conversation)
        for node in [ana, ben, cat] { await node.stop() }
    }
}
