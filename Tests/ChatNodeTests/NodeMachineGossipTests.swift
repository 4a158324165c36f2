import ChatCore
import ChatCrypto
@testable import ChatNode
import ChatSync
import ChatWire
import Testing

/// ``NodeMachine``'s ephemeral gossip, event by event: members only, presence paced to what
/// receivers accept (held, then released by a timer), and peers' updates applied, reported and
/// relayed once.
extension NodeMachineTests {
    func presence(_ status: PresenceStatus, at time: UInt64, customStatus: String? = nil) -> EphemeralPayload {
        .presence(Presence(status: status, lastActiveAt: time, customStatus: customStatus))
    }

    func signedUpdates(_ directives: [NodeDirective]) -> [EphemeralUpdate] {
        directives.compactMap { if case .signEphemeral(let update) = $0 { update } else { nil } }
    }

    @Test func presenceIsPacedHeldAndReleasedByItsTimer() throws {
        let directory = membership([small, middle])
        var node = machine(small)
        let start: UInt64 = 1_750_000_000_000
        // Non-members share nothing; an oversized status is refused before it could be held.
        var stranger = machine(large)
        #expect(throws: NodeCommandError.self) {
            _ = try stranger.onPublish(.typing(Typing(isTyping: true)), in: team, wallNow: start, membership: directory)
        }
        #expect(throws: NodeCommandError.self) {
            _ = try node.onPublish(presence(.away, at: start, customStatus: String(repeating: "x", count: 300)), in: team,
                                   wallNow: start, membership: directory)
        }
        // Publish presences at one instant until the budget is spent: the rest are held, and one
        // timer is armed, however many are held.
        var sent = 0
        var timers: [NodeDirective] = []
        for index in 0 ..< 20 {
            let directives = try node.onPublish(presence(index.isMultiple(of: 2) ? .online : .away, at: start), in: team,
                                                wallNow: start, membership: directory)
            sent += signedUpdates(directives).count
            timers += directives.filter { if case .armTimer(.presence, _) = $0 { true } else { false } }
        }
        #expect(sent > 0 && sent < 20)
        #expect(timers.count == 1)
        guard case .armTimer(.presence(team), let delay) = timers.first else { return }
        #expect(delay > .zero)
        // A heartbeat does not replace the held presence; typing is never paced.
        let heartbeat = try node.onPublish(.heartbeat, in: team, wallNow: start, membership: directory)
        #expect(heartbeat.isEmpty)
        let typing = try node.onPublish(.typing(Typing(isTyping: true)), in: team, wallNow: start, membership: directory)
        #expect(signedUpdates(typing).count == 1)
        // The timer fires when due: the newest presence (the last one offered, `away`) goes out.
        let due = start + UInt64(delay.components.seconds * 1000) + UInt64(delay.components.attoseconds / 1_000_000_000_000_000)
        let released = node.onTimer(.presence(team), now: now, wallNow: due, membership: directory)
        let update = try #require(signedUpdates(released).first)
        #expect(update.payload == presence(.away, at: start))
        // Counters grow: each update of this node is newer than the last.
        #expect(update.counter > signedUpdates(typing)[0].counter)
        // A goodbye drops whatever is held: the timer then sends nothing.
        for _ in 0 ..< 20 { _ = try node.onPublish(presence(.online, at: due), in: team, wallNow: due, membership: directory) }
        let goodbye = try node.onPublish(.goodbye, in: team, wallNow: due, membership: directory)
        #expect(signedUpdates(goodbye).map(\.payload) == [.goodbye])
        #expect(node.onTimer(.presence(team), now: now, wallNow: due + 10_000, membership: directory).isEmpty)
    }

    @Test func peersUpdatesAreAppliedReportedAndRelayedOnce() throws {
        let directory = membership([small, middle, large])
        var node = machine(middle)
        let (fromSmall, _) = try establish(&node, .listener, with: small, [team], membership: directory)
        let (toLarge, _) = try establish(&node, .dialer(largeAddress), with: large, [team], membership: directory)
        let wallNow: UInt64 = 1_750_000_000_000
        func signed(by key: SigningKey, counter: UInt64) throws -> [UInt8] {
            try SignedEphemeral(update: EphemeralUpdate(conversation: team, origin: key.publicKey.replicaID, counter: counter,
                                                        sentAt: wallNow, payload: .typing(Typing(isTyping: true)))) {
                key.sign($0).bytes
            }.bytes
        }
        let update = try signed(by: small, counter: 1)
        // Not replicated yet on that session: ignored.
        let early = node.onEphemeralReceived([update], in: team, link: fromSmall, wallNow: wallNow, membership: directory)
        #expect(early.isEmpty)
        for link in [fromSmall, toLarge] {
            _ = node.startReplication(link: link, conversation: team, localClock: VectorClock(), now: now, membership: directory)
        }
        let stranger = try SigningKey(seed: Array(repeating: 97, count: 32))
        let directives = node.onEphemeralReceived([update, update, try signed(by: stranger, counter: 1)], in: team,
                                                  link: fromSmall, wallNow: wallNow, membership: directory)
        let reported = directives.compactMap { if case .emit(.ephemeral(_, let update)) = $0 { update } else { nil } }
        #expect(reported.map(\.origin) == [small.publicKey.replicaID], "once, and never a stranger's")
        #expect(directives.contains(.send(.ephemeral(conversation: team, updates: [update]), link: toLarge)))
        #expect(!directives.contains { if case .send(_, link: fromSmall) = $0 { true } else { false } }, "not back to its sender")
        #expect(node.gossips[team]?.registers.typingOrigins(now: wallNow) == [small.publicKey.replicaID])
        let again = node.onEphemeralReceived([update], in: team, link: toLarge, wallNow: wallNow, membership: directory)
        #expect(again.isEmpty, "a duplicate is neither reported nor relayed")
    }
}
