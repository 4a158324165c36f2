@testable import ChatCore
import Testing

/// A strict RFC 4180 reader for checking exports: records end in CRLF, quoted fields may hold
/// anything (quotes doubled); nil on a bare CR or LF outside quotes, or a stray quote.
func parseCSV(_ text: String) -> [[String]]? {
    var rows: [[String]] = [], row: [String] = [], cell = String.UnicodeScalarView()
    var inQuotes = false, wasQuoted = false
    let scalars = Array(text.unicodeScalars)
    var index = 0
    while index < scalars.count {
        let scalar = scalars[index]
        index += 1
        if inQuotes {
            if scalar == "\"" {
                if index < scalars.count, scalars[index] == "\"" {
                    cell.append("\"")
                    index += 1
                } else {
                    inQuotes = false
                }
            } else {
                cell.append(scalar)
            }
            continue
        }
        switch scalar {
        case "\"":
            guard cell.isEmpty, !wasQuoted else { return nil }
            inQuotes = true
            wasQuoted = true
        case ",":
            row.append(String(cell))
            cell = String.UnicodeScalarView()
            wasQuoted = false
        case "\r":
            guard index < scalars.count, scalars[index] == "\n" else { return nil }
            index += 1
            row.append(String(cell))
            rows.append(row)
            row = []
            cell = String.UnicodeScalarView()
            wasQuoted = false
        case "\n":
            return nil
        default:
            guard !wasQuoted else { return nil }
            cell.append(scalar)
        }
    }
    guard !inQuotes, row.isEmpty, cell.isEmpty else { return nil }
    return rows
}

@Suite struct AuditTrailTests {
    let ana = ReplicaID(testValue: 1), ben = ReplicaID(testValue: 2), cat = ReplicaID(testValue: 3)
    let dan = ReplicaID(testValue: 4)

    struct Log {
        var batches: [OperationBatch]
        var excludedPost: OpID
        var benPost: OpID
        var start: UInt64
    }

    /// Ana creates, grants Ben, Ben posts and edits, Ana promotes Ben and goes public, Cat joins
    /// with a link, Dan joins publicly, Ana deletes Ben's message and removes Ben, whose later post
    /// is excluded.
    func log() -> Log {
        var s = Scenario()
        let start = s.time
        var all: [OperationBatch] = []
        all.append(s.batch(ana, [.genesis(Genesis(title: "team", nonce: [1]))]))
        all.append(s.batch(ana, [.setPermission(member: ben, permission: .comment)], seen: s.everything))
        let postBatch = s.batch(ben, [post("hi")], seen: s.everything)
        all.append(postBatch)
        let message = OpID(replica: ben, counter: postBatch.firstCounter)
        all.append(s.batch(ben, [
            .insertText(InsertText(message: message, originLeft: nil, originRight: nil, text: Array("ab".unicodeScalars))),
            .insertText(InsertText(message: message, originLeft: nil, originRight: nil, text: Array("c".unicodeScalars))),
            .deleteText(DeleteText(message: message, target: OpID(replica: ben, counter: 1), count: 1)),
        ], seen: s.everything))
        all.append(s.batch(ana, [.setPermission(member: ben, permission: .edit),
                                 .setSettings(ConversationSettings(messagesPerMinute: 10, maxMessageBytes: 100, isPublic: true))],
                           seen: s.everything))
        all.append(s.batch(cat, [join([7, 7], cat, at: s.time)], seen: s.everything))
        all.append(s.batch(dan, [publicJoin(dan, at: s.time), .setProfile(Profile(displayName: "Dan"))], seen: s.everything))
        all.append(s.batch(ana, [.deleteMessage(message: message), .removeMember(member: ben)], seen: s.everything))
        let late = s.batch(ben, [post("still here")], seen: s.everything)
        all.append(late)
        return Log(batches: all, excludedPost: OpID(replica: ben, counter: late.firstCounter), benPost: message, start: start)
    }

    let verifier: InviteVerifier = { token in
        token == [7, 7]
            ? InviteGrant(conversation: Scenario.conversation, permission: .comment, issuer: ReplicaID(testValue: 1),
                          tokenID: [0xAB, 0x01], expiresAt: nil, useLimit: nil)
            : nil
    }

    func trail(_ log: Log, sessions: [PeerSessionRecord] = []) -> [AuditEntry] {
        AuditTrail.entries(from: log.batches, excluded: { $0 == log.excludedPost }, sessions: sessions, verifyInvite: verifier)
    }

    @Test func derivesEveryActionAvailableToday() {
        let log = log()
        let entries = trail(log)
        #expect(entries.map(\.action) == [
            .conversationShared, .accessGranted, .permissionChanged,  // ana grants ben
            .messageSent, .messageEdited,                             // ben posts, edits (coalesced)
            .permissionChanged, .permissionChanged,                   // ana promotes ben, goes public
            .linkUsed, .accessGranted,                                // cat joins with a link
            .accessGranted,                                           // dan joins publicly
            .messageDeleted, .accessRevoked,                          // ana deletes, removes ben
        ])
        #expect(entries.map(\.at) == entries.map(\.at).sorted())
        #expect(entries[0].actor == ana && entries[0].target == ben)
        #expect(entries[1].detail == "permission=comment")
        #expect(entries[2].detail == "permission=comment" && entries[2].target == ben)
        #expect(entries[3].actor == ben && entries[3].message == log.benPost && entries[3].opID == log.benPost)
        #expect(entries[4].detail == "inserted=3 deleted=1" && entries[4].message == log.benPost && entries[4].target == ben)
        #expect(entries[5].detail == "permission=edit")
        #expect(entries[6].detail == "mode=public messagesPerMinute=10 maxMessageBytes=100" && entries[6].target == nil)
        #expect(entries[7].actor == cat && entries[7].target == ana && entries[7].detail == "token=ab01")
        #expect(entries[8].actor == ana && entries[8].target == cat && entries[8].detail == "permission=comment")
        #expect(entries[9].actor == dan && entries[9].target == dan && entries[9].detail == "permission=view mode=public")
        #expect(entries[10].actor == ana && entries[10].target == ben && entries[10].message == log.benPost)
        #expect(entries[11].actor == ana && entries[11].target == ben)
        #expect(!entries.contains { $0.opID == log.excludedPost })
    }

    @Test func editsOfDifferentMessagesOrSeparatedByOtherOpsAreSeparateEntries() {
        let m1 = OpID(replica: ana, counter: 1), m2 = OpID(replica: ana, counter: 5)
        func insert(_ message: OpID) -> ConversationOp {
            .insertText(InsertText(message: message, originLeft: nil, originRight: nil, text: ["x"]))
        }
        let batch = OperationBatch(author: ana, firstCounter: 10, clock: VectorClock(), timestamp: 5,
                                   operations: [insert(m1), insert(m1), insert(m2), post("p"), insert(m2)])
        let entries = AuditTrail.entries(from: [batch], excluded: { _ in false }, sessions: [])
        #expect(entries.map(\.action) == [.messageEdited, .messageEdited, .messageSent, .messageEdited])
        #expect(entries.map(\.message) == [m1, m2, OpID(replica: ana, counter: 13), m2])
        #expect(entries[0].detail == "inserted=2 deleted=0")
    }

    @Test func regrantAfterRemovalIsAccessGrantedAgainAndSharedOnlyOnce() {
        var s = Scenario()
        let batches = [
            s.batch(ana, [.genesis(Genesis(title: "t", nonce: [1]))]),
            s.batch(ana, [.setPermission(member: ben, permission: .view), .removeMember(member: ben),
                          .setPermission(member: ben, permission: .view), .setPermission(member: cat, permission: .view)]),
        ]
        let entries = AuditTrail.entries(from: batches, excluded: { _ in false }, sessions: [])
        #expect(entries.map(\.action) == [
            .conversationShared, .accessGranted, .permissionChanged, .accessRevoked,
            .accessGranted, .permissionChanged, .accessGranted, .permissionChanged,
        ])
    }

    @Test func linkAndAccessRequestOperations() {
        let record = InviteRecord(tokenID: [0xAB, 0xCD], permission: .edit, label: "=evil", invitee: cat)
        let batches = [
            OperationBatch(author: ana, firstCounter: 0, clock: VectorClock(), timestamp: 1,
                           operations: [.createLink(record), .revokeLink(tokenID: [0xAB, 0xCD])]),
            OperationBatch(author: dan, firstCounter: 0, clock: VectorClock(), timestamp: 2,
                           operations: [.requestAccess(permission: .comment, note: "please")]),
        ]
        let entries = AuditTrail.entries(from: batches, excluded: { _ in false }, sessions: [])
        #expect(entries.map(\.action) == [.linkCreated, .userInvited, .linkRevoked, .accessRequested])
        #expect(entries[1].target == cat && entries[1].actor == ana)
        #expect(entries[2].detail == "token=abcd")
        #expect(entries[3].actor == dan && entries[3].detail == "permission=comment")
    }

    @Test func peerSessionsMergeByTimeAfterLogEntriesOfTheSameInstant() {
        let log = log()
        let t3 = log.start + 3000
        let sessions = [PeerSessionRecord(peer: ben, at: log.start + 100_000, connected: false),
                        PeerSessionRecord(peer: ben, at: t3, connected: true)]
        let entries = trail(log, sessions: sessions)
        let connected = entries.firstIndex { $0.action == .peerConnected }
        #expect(connected == 4)  // after ben's message_sent at the same instant, before the edit
        #expect(entries[3].action == .messageSent && entries[3].at == t3)
        #expect(entries.last?.action == .peerDisconnected && entries.last?.actor == ben)
    }

    @Test func filtersByUserActionAndTime() {
        let log = log()
        let entries = trail(log)
        let catOnly = AuditFilter(user: cat).apply(to: entries)
        #expect(catOnly.map(\.action) == [.linkUsed, .accessGranted])
        let anaActs = AuditFilter(user: ana).apply(to: entries)
        #expect(anaActs.allSatisfy { $0.actor == ana || $0.target == ana })
        #expect(anaActs.contains { $0.action == .linkUsed })  // ana as the link's issuer
        let grants = AuditFilter(actions: [.accessGranted, .accessRevoked]).apply(to: entries)
        #expect(grants.map(\.action) == [.accessGranted, .accessGranted, .accessGranted, .accessRevoked])
        let t2 = log.start + 2000, t5 = log.start + 5000
        let window = AuditFilter(since: t2, until: t5).apply(to: entries)
        #expect(window.allSatisfy { $0.at >= t2 && $0.at < t5 })
        #expect(window.map(\.action) == [.conversationShared, .accessGranted, .permissionChanged, .messageSent, .messageEdited])
        #expect(AuditFilter(since: t5, until: t5).apply(to: entries).isEmpty)
        let combined = AuditFilter(user: ben, actions: [.permissionChanged], since: t5)
        #expect(combined.apply(to: entries).map(\.detail) == ["permission=edit"])
        #expect(AuditFilter().apply(to: entries) == entries)
    }

    @Test func entryRoundTripsThroughCodableWithHexIds() throws {
        let entry = AuditEntry(at: 42, action: .messageEdited, actor: ana, target: ben,
                               message: OpID(replica: ben, counter: 7), detail: "x", opID: OpID(replica: ana, counter: 9))
        let encoder = KeyedProbe()
        try entry.encode(to: encoder)
        #expect(encoder.storage.values["actor"] == Hex.encode(ana.bytes))
        #expect(encoder.storage.values["message"] == Hex.encode(ben.bytes) + "@7")
        let decoded = try AuditEntry(from: KeyedProbe(storage: encoder.storage))
        #expect(decoded == entry)
        let bare = AuditEntry(at: 1, action: .peerConnected, actor: cat)
        let bareEncoder = KeyedProbe()
        try bare.encode(to: bareEncoder)
        #expect(bareEncoder.storage.values["target"] == nil)
        #expect(try AuditEntry(from: KeyedProbe(storage: bareEncoder.storage)) == bare)
        bareEncoder.storage.values["actor"] = "zz"
        #expect(throws: DecodingError.self) { try AuditEntry(from: KeyedProbe(storage: bareEncoder.storage)) }
    }

    // MARK: CSV

    @Test(arguments: [
        (UInt64(0), "1970-01-01T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_790_000_000_000, "2026-09-21T14:13:20.000Z"),
        (1_795_749_300_123, "2026-11-27T03:15:00.123Z"),
        (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
    ])
    func isoTime(milliseconds: UInt64, expected: String) {
        #expect(AuditCSV.isoTime(milliseconds) == expected)
    }

    @Test func quotesCommasQuotesAndNewlines() {
        #expect(AuditCSV.field("plain") == "plain")
        #expect(AuditCSV.field("a,b") == "\"a,b\"")
        #expect(AuditCSV.field("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(AuditCSV.field("a\nb") == "\"a\nb\"")
        #expect(AuditCSV.field("a\r\nb") == "\"a\r\nb\"")
        #expect(AuditCSV.field("") == "")
        let entry = AuditEntry(at: 0, action: .linkUsed, actor: ana, target: ben, message: OpID(replica: ben, counter: 3),
                               detail: "label \"a, b\"\r\nnext")
        let csv = AuditCSV.render([entry], names: [ana: "Ana, Admin"])
        let rows = parseCSV(csv)
        #expect(rows == [
            AuditCSV.header,
            ["1970-01-01T00:00:00.000Z", "link_used", Hex.encode(ana.bytes), "Ana, Admin", Hex.encode(ben.bytes), "",
             Hex.encode(ben.bytes) + "@3", "label \"a, b\"\r\nnext"],
        ])
        #expect(csv.hasPrefix("time,action,actor,actor_name,target,target_name,message,detail\r\n"))
        #expect(csv.hasSuffix("\r\n"))
    }

    @Test func hostileNamesAreNeutralisedAndParseBackToTheIntendedCells() {
        let hostile = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "a\nb", "=1,\"2\"\r\n=3"]
        let intended = ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "a\nb", "'=1,\"2\"\r\n=3"]
        let people = hostile.indices.map { ReplicaID(testValue: UInt64(100 + $0)) }
        var names: [ReplicaID: String] = [:]
        for (person, name) in zip(people, hostile) { names[person] = name }
        let entries = people.enumerated().map { index, person in
            AuditEntry(at: UInt64(index), action: .accessGranted, actor: person, target: people[(index + 1) % people.count],
                       detail: hostile[index])
        }
        let csv = AuditCSV.render(entries, names: names, keyText: { "-" + String($0.description) })
        guard let rows = parseCSV(csv) else {
            Issue.record("export does not parse as RFC 4180")
            return
        }
        #expect(rows.count == entries.count + 1)
        #expect(rows.allSatisfy { $0.count == AuditCSV.header.count })
        for (index, row) in rows.dropFirst().enumerated() {
            #expect(row[3] == intended[index])
            #expect(row[5] == intended[(index + 1) % intended.count])
            #expect(row[7] == intended[index])
            #expect(row[2] == "'-" + people[index].description)
        }
        let dangerous: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r"]
        for cell in rows.joined() {
            #expect(!(cell.unicodeScalars.first.map(dangerous.contains) ?? false), "cell \(cell.debugDescription)")
        }
    }
}

// MARK: A minimal Encoder/Decoder (no Foundation) for checking Codable output.

final class ProbeStorage {
    var values: [String: String] = [:]
    var numbers: [String: UInt64] = [:]
}

struct KeyedProbe: Encoder, Decoder {
    var storage = ProbeStorage()
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Container<Key>(storage: storage))
    }
    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Container<Key>(storage: storage))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { Unsupported() }
    func singleValueContainer() -> any SingleValueEncodingContainer { Unsupported() }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { throw Unsupported.error }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { throw Unsupported.error }

    struct Container<Key: CodingKey>: KeyedEncodingContainerProtocol, KeyedDecodingContainerProtocol {
        let storage: ProbeStorage
        var codingPath: [any CodingKey] = []
        var allKeys: [Key] { (Array(storage.values.keys) + Array(storage.numbers.keys)).compactMap(Key.init(stringValue:)) }

        func contains(_ key: Key) -> Bool { storage.values[key.stringValue] != nil || storage.numbers[key.stringValue] != nil }
        func decodeNil(forKey key: Key) throws -> Bool { !contains(key) }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            if let value = storage.values[key.stringValue] {
                if let string = value as? T { return string }
                if let action = AuditAction(rawValue: value) as? T { return action }
            }
            if let number = storage.numbers[key.stringValue] as? T { return number }
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
        }
        func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: Key) throws -> KeyedDecodingContainer<N> {
            throw Unsupported.error
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { throw Unsupported.error }
        func superDecoder() throws -> any Decoder { throw Unsupported.error }
        func superDecoder(forKey key: Key) throws -> any Decoder { throw Unsupported.error }

        mutating func encodeNil(forKey key: Key) throws {}
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            switch value {
            case let string as String: storage.values[key.stringValue] = string
            case let action as AuditAction: storage.values[key.stringValue] = action.rawValue
            case let number as UInt64: storage.numbers[key.stringValue] = number
            default: throw Unsupported.error
            }
        }
        mutating func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: Key) -> KeyedEncodingContainer<N> {
            KeyedEncodingContainer(Container<N>(storage: storage))
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { Unsupported() }
        mutating func superEncoder() -> any Encoder { KeyedProbe(storage: storage) }
        mutating func superEncoder(forKey key: Key) -> any Encoder { KeyedProbe(storage: storage) }
    }

    /// Unkeyed and single-value containers are not needed by AuditEntry.
    struct Unsupported: UnkeyedEncodingContainer, SingleValueEncodingContainer {
        static let error = DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unsupported"))
        var codingPath: [any CodingKey] = []
        var count = 0
        mutating func encodeNil() throws { throw Self.error }
        mutating func encode<T: Encodable>(_ value: T) throws { throw Self.error }
        mutating func nestedContainer<N: CodingKey>(keyedBy type: N.Type) -> KeyedEncodingContainer<N> {
            KeyedEncodingContainer(Container<N>(storage: ProbeStorage()))
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { self }
        mutating func superEncoder() -> any Encoder { KeyedProbe() }
    }
}
