import ChatCore
import ChatCrypto
import ChatNode
import Foundation
import Testing

/// Issue 15, item 2: revocation sticks whichever side dials. Ben is cut off (so his node never
/// learns of his removal), Ana removes him, and when he comes back Cat's node and Ben's node
/// dial each other: Ben's node admits the conversation (it does not know), but Cat's node,
/// which knows, closes the session with `revoked` before anything flows, and stops redialing
/// him. Nothing written after the removal reaches Ben. Run 10 times (5 with each side
/// dialling), each with a seeded delay before Ben comes back, so the redials meet the removal
/// in different orders. (The decision itself, on both sides and in every order, is tested
/// event by event in `NodeMachineTests`.)
@Suite(.timeLimit(.minutes(3))) struct RevocationRaceTests {
    @Test(arguments: [false, true], 0 ..< 5)
    func aRemovedMemberIsNotReadmittedWhicheverSideDials(benDials: Bool, round: Int) async throws {
        var random = LinearCongruentialDelays(seed: UInt64(round) &* 7919 &+ (benDials ? 1 : 0))
        // Redials back off at most 200 ms, so the race happens within the test's time.
        let (ana, anaDirectory) = try NodeTests.makeNode(41, name: "ana", reconnectMaximum: .milliseconds(200))
        let (ben, benDirectory) = try NodeTests.makeNode(42, name: "ben", reconnectMaximum: .milliseconds(200))
        let (cat, catDirectory) = try NodeTests.makeNode(43, name: "cat", reconnectMaximum: .milliseconds(200))
        defer {
            for directory in [anaDirectory, benDirectory, catDirectory] { try? FileManager.default.removeItem(atPath: directory) }
        }
        for node in [ana, ben, cat] { try await node.start() }
        let anaAddress = try #require(await ana.listeningOn)
        let benAddress = try #require(await ben.listeningOn)
        let catAddress = try #require(await cat.listeningOn)
        let conversation = try await ana.commands.create(title: "team")
        _ = try await ben.commands.join(token: try await ana.commands.invite(conversation, permission: .comment).bytes, via: anaAddress)
        _ = try await cat.commands.join(token: try await ana.commands.invite(conversation, permission: .comment).bytes, via: anaAddress)
        if benDials { await ben.connect(to: catAddress) } else { await cat.connect(to: benAddress) }
        try await NodeTests.eventually("a session between ben and cat") {
            await cat.commands.status().peers.contains { $0.key == PublicKey(ben.replicaID).text && !$0.conversations.isEmpty }
        }

        await ben.goOffline()
        try await ana.submit([.removeMember(member: ben.replicaID)], to: conversation)
        try await NodeTests.eventually("cat to learn of the removal") {
            try await !cat.commands.members(conversation).contains { $0.key == PublicKey(ben.replicaID).text }
        }
        _ = try await ana.commands.post("after the removal", to: conversation)
        _ = try await cat.commands.post("cat after the removal", to: conversation)
        try await Task.sleep(for: .milliseconds(random.next(250)))
        await ben.goOnline()
        // Redials happen every 200 ms at most: when Cat dials, Ben's node (which does not know)
        // admits the conversation and Cat's node closes the session with `revoked`; when Ben
        // dials, Cat's node refuses him at the handshake. Either way nothing flows.
        // A while for several redials to happen: still nothing reaches Ben.
        try await Task.sleep(for: .milliseconds(700))
        let benLog = try await ben.commands.log(conversation).map(\.text)
        #expect(!benLog.contains("after the removal") && !benLog.contains("cat after the removal"),
                "round \(round), ben dials: \(benDials): \(benLog)")
        #expect(await !cat.commands.status().peers.contains { $0.key == PublicKey(ben.replicaID).text && !$0.conversations.isEmpty })
        #expect(await !cat.dialedPeers.contains(benAddress), "cat stopped redialing ben")
        for node in [ana, ben, cat] { await node.stop() }
    }
}

extension RevocationRaceTests {
    /// A removed member who tries his old link again is refused as `revoked`, at once.
    @Test func aRemovedMembersRejoinIsRefusedAsRevoked() async throws {
        let (ana, anaDirectory) = try NodeTests.makeNode(44, name: "ana")
        let (ben, benDirectory) = try NodeTests.makeNode(45, name: "ben")
        defer { for directory in [anaDirectory, benDirectory] { try? FileManager.default.removeItem(atPath: directory) } }
        try await ana.start()
        try await ben.start()
        let address = try #require(await ana.listeningOn)
        let conversation = try await ana.commands.create(title: "team")
        let link = try await ana.commands.invite(conversation, permission: .comment)
        _ = try await ben.commands.join(token: link.bytes, via: address)
        try await ana.submit([.removeMember(member: ben.replicaID)], to: conversation)
        try await NodeTests.eventually("ben to learn of his removal") {
            try await !ben.commands.members(conversation).contains { $0.key == PublicKey(ben.replicaID).text }
        }
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: NodeCommandError.joinRefused(.revoked)) {
            try await ben.commands.join(token: link.bytes, via: address, timeout: .seconds(10))
        }
        #expect(clock.now - start < .seconds(5), "refused at once, not timed out")
        await ben.stop()
        await ana.stop()
    }
}

/// Seeded delays for the race (the round and direction are printed with any failure).
private struct LinearCongruentialDelays {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(bound))
    }
}
