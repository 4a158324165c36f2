import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Testing

private func conversation(_ byte: UInt8) -> ConversationID {
    ConversationID(bytes: Array(repeating: byte, count: 32))!
}

private let nonceA: [UInt8] = Array(0 ..< 16)
private let nonceB: [UInt8] = Array(16 ..< 32)

private func decodeError(_ bytes: [UInt8]) -> WireError? {
    do {
        _ = try DiscoveryBeacon(decoding: bytes)
        return nil
    } catch {
        return error
    }
}

@Suite struct DiscoveryBeaconTests {
    @Test func roundTripAndMatch() throws {
        let held = [conversation(1), conversation(2), conversation(3)]
        let beacon = try DiscoveryBeacon(port: 9_001, nonce: nonceA, conversations: held)
        let bytes = beacon.encoded()
        #expect(bytes.count == 24 + 3 * 16)
        let decoded = try DiscoveryBeacon(decoding: bytes)
        #expect(decoded == beacon)
        #expect(decoded.port == 9_001)
        #expect(decoded.nonce == nonceA)
        // The receiver holds 2 and 3 and 9: it finds exactly the shared two.
        #expect(decoded.matching([conversation(9), conversation(3), conversation(2)]) == [conversation(2), conversation(3)])
    }

    @Test func outsiderMatchesNothingAndSeesNoId() throws {
        let secret = conversation(0x42)
        let beacon = try DiscoveryBeacon(port: 9_001, nonce: nonceA, conversations: [secret])
        #expect(beacon.matching([conversation(0x41), conversation(0x43)]).isEmpty)
        #expect(beacon.matching([]).isEmpty)
        // The id's bytes do not appear in the datagram.
        let bytes = beacon.encoded()
        #expect(!bytes.indices.contains { bytes[$0...].starts(with: secret.bytes.prefix(8)) })
    }

    @Test func tagsDifferAcrossNonces() throws {
        let held = [conversation(1), conversation(2)]
        let first = try DiscoveryBeacon(port: 9_001, nonce: nonceA, conversations: held)
        let second = try DiscoveryBeacon(port: 9_001, nonce: nonceB, conversations: held)
        #expect(Set(first.tags).isDisjoint(with: second.tags))
        #expect(first.matching(held) == held)
        #expect(second.matching(held) == held)
        // Same nonce, same tags: the tag is a function of (id, nonce) only.
        #expect(DiscoveryBeacon.tag(for: held[0], nonce: nonceA) == DiscoveryBeacon.tag(for: held[0], nonce: nonceA))
        #expect(DiscoveryBeacon.tag(for: held[0], nonce: [1, 2, 3]) == nil)
    }

    @Test func keyedBlake2bIsKeyed() throws {
        let message: [UInt8] = Array("hello".utf8)
        let keyed = try #require(Hashing.blake2b(message, key: Array(repeating: 1, count: 32), length: 16))
        let otherKey = try #require(Hashing.blake2b(message, key: Array(repeating: 2, count: 32), length: 16))
        #expect(keyed.count == 16)
        #expect(keyed != otherKey)
        #expect(keyed != Hashing.blake2b(message, length: 16))
        #expect(Hashing.blake2b(message, key: Array(repeating: 1, count: 8)) == nil)
        #expect(Hashing.blake2b(message, key: Array(repeating: 1, count: 65)) == nil)
    }

    @Test func limits() throws {
        let many = (0 ..< 64).map { conversation(UInt8($0)) }
        let full = try DiscoveryBeacon(port: 1, nonce: nonceA, conversations: many)
        #expect(full.encoded().count <= DiscoveryBeacon.maximumByteCount)
        #expect(try DiscoveryBeacon(decoding: full.encoded()) == full)
        #expect(throws: WireError.tooLarge(field: "discovery tags", size: 65, limit: 64)) {
            try DiscoveryBeacon(port: 1, nonce: nonceA, conversations: many + [conversation(200)])
        }
        #expect(throws: WireError.invalidValue("discovery port 0")) {
            try DiscoveryBeacon(port: 0, nonce: nonceA, conversations: many)
        }
        #expect(throws: WireError.self) { try DiscoveryBeacon(port: 1, nonce: [1], conversations: many) }
    }

    @Test func malformedBeaconsGiveTypedErrors() throws {
        let good = try DiscoveryBeacon(port: 9_001, nonce: nonceA, conversations: [conversation(1), conversation(2)]).encoded()
        #expect(decodeError([]) == .malformed(.truncated(offset: 0)))
        #expect(decodeError([0x53, 0x43]) == .malformed(.truncated(offset: 2)))
        #expect(decodeError([0x00, 0x01, 0x02, 0x03, 0x04]) == .badMagic)
        #expect(decodeError(Array(good.prefix(6))) == .malformed(.truncated(offset: 6)))
        var version = good
        version[4] = 9
        #expect(decodeError(version) == .unknownVersion(9))
        #expect(decodeError(Array(version.prefix(5))) == .unknownVersion(9))
        var portZero = good
        portZero[5] = 0
        portZero[6] = 0
        #expect(decodeError(portZero) == .invalidValue("discovery port 0"))
        #expect(decodeError(Array(good.dropLast())) == .malformed(.truncated(offset: good.count - 1)))
        #expect(decodeError(good + [0]) == .trailingBytes(1))
        var tooManyTags = good
        tooManyTags[23] = 65
        #expect(decodeError(tooManyTags) == .tooLarge(field: "discovery tags", size: 65, limit: 64))
        var swapped = Array(good.prefix(24))
        swapped += good[40 ..< 56]
        swapped += good[24 ..< 40]
        #expect(decodeError(swapped) == .nonCanonical("discovery tags not strictly ascending"))
        var repeated = Array(good.prefix(24))
        repeated += good[24 ..< 40]
        repeated += good[24 ..< 40]
        #expect(decodeError(repeated) == .nonCanonical("discovery tags not strictly ascending"))
        let oversized = good + Array(repeating: 0, count: DiscoveryBeacon.maximumByteCount)
        #expect(decodeError(oversized) == .tooLarge(field: "discovery beacon", size: oversized.count, limit: 1200))
    }

    @Test func randomAndMutatedBytesNeverTrap() throws {
        let good = try DiscoveryBeacon(port: 9_001, nonce: nonceA, conversations: [conversation(1)]).encoded()
        var random = SeededGenerator(seed: 0xD15C)
        for round in 0 ..< 2_000 {
            var bytes = round.isMultiple(of: 2) ? good : (0 ..< Int(random.next() % 80)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if !bytes.isEmpty {
                let index = Int(random.next() % UInt64(bytes.count))
                bytes[index] = UInt8(truncatingIfNeeded: random.next())
                bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count + 1))))
            }
            if let beacon = try? DiscoveryBeacon(decoding: bytes) {
                #expect(beacon.encoded() == bytes)
            }
        }
    }
}

@Suite struct DiscoveryStateMachineTests {
    private func delays(seed: UInt64, count: Int) -> [Duration] {
        var machine = DiscoveryStateMachine(
            configuration: DiscoveryConfiguration(tcpPort: 9_001), conversations: [conversation(1)], seed: seed)
        var result: [Duration] = []
        for case .scheduleBeacon(let delay) in machine.start(now: .zero) { result.append(delay) }
        for step in 1 ..< count {
            for case .scheduleBeacon(let delay) in machine.beaconDue(nonce: nonceA, now: .seconds(step * 5)) {
                result.append(delay)
            }
        }
        return result
    }

    @Test func jitterIsSeededAndDeterministic() {
        let first = delays(seed: 7, count: 20)
        #expect(first == delays(seed: 7, count: 20))
        #expect(first != delays(seed: 8, count: 20))
        #expect(first[0] >= .zero && first[0] <= .milliseconds(250))
        for delay in first.dropFirst() {
            #expect(delay >= .seconds(4) && delay <= .seconds(6))
        }
        #expect(Set(first.dropFirst()).count > 1)
    }

    @Test func beaconAnnouncesConversationsAndIgnoresItsOwnEcho() throws {
        var machine = DiscoveryStateMachine(
            configuration: DiscoveryConfiguration(tcpPort: 9_001), conversations: [conversation(1)], seed: 1)
        let actions = machine.beaconDue(nonce: nonceA, now: .seconds(1))
        guard case .sendBeacon(let bytes) = actions.first else {
            Issue.record("no beacon in \(actions)")
            return
        }
        let beacon = try DiscoveryBeacon(decoding: bytes)
        #expect(beacon.port == 9_001)
        #expect(beacon.matching([conversation(1)]) == [conversation(1)])
        #expect(machine.received(bytes, from: "10.0.0.1", now: .seconds(1)).isEmpty)
        #expect(machine.counters.ownBeacons == 1)
        // No conversations: nothing to announce, but the schedule continues.
        machine.setConversations([])
        let idle = machine.beaconDue(nonce: nonceB, now: .seconds(6))
        #expect(idle.count == 1)
        guard case .scheduleBeacon = idle.first else {
            Issue.record("expected only a schedule, got \(idle)")
            return
        }
    }

    @Test func rotatesThroughMoreThanSixtyFourConversations() throws {
        let held = (0 ..< 100).map { conversation(UInt8($0)) }
        var machine = DiscoveryStateMachine(configuration: DiscoveryConfiguration(tcpPort: 1), conversations: held, seed: 1)
        var announced: Set<ConversationID> = []
        for round in 0 ..< 2 {
            let nonce = Array(repeating: UInt8(round), count: 16)
            for case .sendBeacon(let bytes) in machine.beaconDue(nonce: nonce, now: .seconds(round)) {
                let beacon = try DiscoveryBeacon(decoding: bytes)
                #expect(beacon.tags.count == 64)
                announced.formUnion(beacon.matching(held))
            }
        }
        #expect(announced == Set(held))
    }

    @Test func discoversSharedDeduplicatesAndSkipsUnshared() throws {
        var machine = DiscoveryStateMachine(
            configuration: DiscoveryConfiguration(tcpPort: 9_001, rediscoveryWindow: .seconds(30)),
            conversations: [conversation(1), conversation(2)], seed: 1)
        let shared = try DiscoveryBeacon(port: 7_000, nonce: nonceA, conversations: [conversation(2), conversation(5)]).encoded()
        let unshared = try DiscoveryBeacon(port: 7_001, nonce: nonceB, conversations: [conversation(5)]).encoded()
        let expected = DiscoveryAction.discovered(Discovery(host: "10.0.0.2", port: 7_000, conversations: [conversation(2)]))
        #expect(machine.received(shared, from: "10.0.0.2", now: .seconds(1)) == [expected])
        #expect(machine.received(shared, from: "10.0.0.2", now: .seconds(10)).isEmpty)
        #expect(machine.counters.duplicates == 1)
        #expect(machine.received(unshared, from: "10.0.0.3", now: .seconds(10)).isEmpty)
        #expect(machine.counters.unmatched == 1)
        #expect(machine.received([1, 2, 3], from: "10.0.0.4", now: .seconds(10)).isEmpty)
        #expect(machine.counters.malformed == 1)
        // After the window the same node is reported again.
        #expect(machine.received(shared, from: "10.0.0.2", now: .seconds(32)) == [expected])
        #expect(machine.counters.discovered == 2)
    }

    @Test func floodFromOneSourceIsRateLimited() throws {
        var machine = DiscoveryStateMachine(
            configuration: DiscoveryConfiguration(tcpPort: 9_001, beaconsPerSource: 4, sourceWindow: .seconds(1)),
            conversations: [conversation(1)], seed: 1)
        let beacon = try DiscoveryBeacon(port: 7_000, nonce: nonceA, conversations: [conversation(1)]).encoded()
        var reports = 0
        for index in 0 ..< 1_000 {
            reports += machine.received(beacon, from: "10.0.0.9", now: .microseconds(index)).count
        }
        #expect(reports == 1)
        #expect(machine.counters.datagramsReceived == 1_000)
        #expect(machine.counters.rateLimited == 996)
        #expect(machine.counters.duplicates == 3)
        // Another source is not affected, and the flooder is admitted again in the next window.
        #expect(machine.received(beacon, from: "10.0.0.10", now: .milliseconds(2)).count == 1)
        _ = machine.received(beacon, from: "10.0.0.9", now: .seconds(2))
        #expect(machine.counters.rateLimited == 996)
        #expect(machine.counters.duplicates == 4)
    }

    @Test func sourceTableIsBounded() throws {
        var machine = DiscoveryStateMachine(
            configuration: DiscoveryConfiguration(tcpPort: 9_001, maximumSources: 8),
            conversations: [conversation(1)], seed: 1)
        for index in 0 ..< 100 { _ = machine.received([0], from: "10.0.1.\(index)", now: .milliseconds(1)) }
        #expect(machine.counters.rateLimited == 92)
        #expect(machine.counters.malformed == 8)
        // Once the windows expire the table makes room again.
        _ = machine.received([0], from: "10.0.2.1", now: .seconds(5))
        #expect(machine.counters.malformed == 9)
    }
}
