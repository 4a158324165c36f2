@testable import ChatCore
import Testing

/// Builds batches by hand: each author's counters advance, each batch names a clock.
struct Scenario {
    static let conversation = ConversationID(bytes: Array(repeating: 0xCC, count: 32))!
    var next: [ReplicaID: UInt32] = [:]
    var time: UInt64 = 1_750_000_000_000
    var all: [OperationBatch] = []

    /// A batch by `author` that has seen `seen` (plus its own earlier batches).
    mutating func batch(_ author: ReplicaID, _ ops: [ConversationOp], seen: VectorClock = VectorClock(), at time: UInt64? = nil) -> OperationBatch {
        var clock = seen
        let first = next[author] ?? 0
        clock[author] = first
        self.time = time ?? (self.time + 1000)
        let batch = OperationBatch(author: author, firstCounter: first, clock: clock, timestamp: self.time, operations: ops)
        next[author] = first + ops.reduce(0) { $0 + $1.idCount }
        all.append(batch)
        return batch
    }

    /// The clock covering every batch made so far.
    var everything: VectorClock { VectorClock(next) }
}

func newConversation(_ local: ReplicaID = ReplicaID(testValue: 99), invites: @escaping InviteVerifier = { _ in nil }) -> Conversation {
    Conversation(id: Scenario.conversation, localReplica: local, verifyInvite: invites,
                 verifyAdmission: testAdmissions(invites))
}

/// A token join carrying a test admission: `joiner` admitted by `admitter` (ana by default) at
/// `time`, having seen `usesSeen` joins with the token.
func join(_ token: [UInt8], _ joiner: ReplicaID, by admitter: ReplicaID = ReplicaID(testValue: 1), at time: UInt64,
          usesSeen: UInt32 = 0) -> ConversationOp {
    var bytes: [UInt8] = [0xAD] + joiner.bytes + admitter.bytes
    for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: time >> UInt64(shift))) }
    for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: usesSeen >> UInt32(shift))) }
    return .join(inviteToken: token, admission: bytes + token)
}

/// A public join carrying a test admission (no token): `joiner` vouched for by `admitter` at `time`.
func publicJoin(_ joiner: ReplicaID, by admitter: ReplicaID = ReplicaID(testValue: 1), at time: UInt64,
                usesSeen: UInt32 = 0) -> ConversationOp {
    guard case .join(_, let admission) = join([], joiner, by: admitter, at: time, usesSeen: usesSeen) else { fatalError("join") }
    return .join(inviteToken: [], admission: admission)
}

/// Reads the unsigned test admissions ``join(_:_:by:at:usesSeen:)`` makes (0xAD, joiner,
/// admitter, time, uses seen, then the token, whose id `invites` gives, or nothing for a public
/// join's admission); nil for anything else.
func testAdmissions(_ invites: @escaping InviteVerifier) -> AdmissionVerifier {
    { bytes in
        guard bytes.count >= 77, bytes[0] == 0xAD, let joiner = ReplicaID(bytes: bytes[1 ..< 33]),
              let admitter = ReplicaID(bytes: bytes[33 ..< 65]) else { return nil }
        let tokenID: [UInt8]
        if bytes.count == 77 {
            tokenID = JoinAdmission.publicTokenID
        } else if let grant = invites(Array(bytes[77...])) {
            tokenID = grant.tokenID
        } else {
            return nil
        }
        let time = bytes[65 ..< 73].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let uses = bytes[73 ..< 77].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return JoinAdmission(conversation: Scenario.conversation, joiner: joiner, tokenID: tokenID,
                             admitter: admitter, admittedAt: time, usesSeen: uses)
    }
}

/// Receives batches, rebuilding from everything received when asked.
func feed(_ conversation: inout Conversation, _ batches: [OperationBatch]) {
    var received: [OperationBatch] = []
    for batch in batches {
        let result = conversation.receive(batch)
        if !result.duplicate { received.append(batch) }
        if result.needsRebuild { conversation.rebuild(from: received) }
    }
}

func post(_ text: String, after: OpID? = nil) -> ConversationOp {
    .postMessage(PostMessage(originLeft: after, originRight: nil, body: Array(text.unicodeScalars)))
}

@Suite struct ConversationRuleTests {
    let ana = ReplicaID(testValue: 1), ben = ReplicaID(testValue: 2), cat = ReplicaID(testValue: 3)

    func texts(_ conversation: Conversation) -> [String] { conversation.document.orderedMessages.map(\.body.text) }

    /// Ana creates the conversation and grants Ben `level`.
    func start(ben level: Permission, _ s: inout Scenario) -> [OperationBatch] {
        [s.batch(ana, [.genesis(Genesis(title: "team", nonce: [1]))]),
         s.batch(ana, [.setPermission(member: ben, permission: level)], seen: s.everything)]
    }

    @Test func genesisAuthorIsAdminAndStrangersAreExcluded() {
        var s = Scenario()
        var batches = start(ben: .comment, &s)
        let stranger = s.batch(cat, [post("hi")], seen: s.everything)
        batches.append(stranger)
        var c = newConversation()
        feed(&c, batches)
        #expect(c.document.permissions[ana] == .admin)
        #expect(c.document.permissions[ben] == .comment)
        #expect(c.excluded[OpID(replica: cat, counter: 0)] == .notPermitted)
        #expect(c.document.orderedMessages.isEmpty)
    }

    @Test func viewersCannotPostCommentersEditOnlyTheirOwn() {
        var s = Scenario()
        var batches = start(ben: .view, &s)
        batches.append(s.batch(ben, [post("not allowed")], seen: s.everything))
        batches.append(s.batch(ana, [post("ana's")], seen: s.everything))
        let anaMessage = OpID(replica: ana, counter: 2)
        batches.append(s.batch(ana, [.setPermission(member: ben, permission: .comment)], seen: s.everything))
        batches.append(s.batch(ben, [post("ben's")], seen: s.everything))
        let benMessage = OpID(replica: ben, counter: 12) // "not allowed" used ids 0 ..< 12
        batches.append(s.batch(ben, [
            .insertText(InsertText(message: benMessage, originLeft: OpID(replica: ben, counter: 17), originRight: nil, text: Array("!".unicodeScalars))),
            .insertText(InsertText(message: anaMessage, originLeft: nil, originRight: nil, text: Array("x".unicodeScalars))),
            .deleteMessage(message: anaMessage),
        ], seen: s.everything))
        var c = newConversation()
        feed(&c, batches)
        #expect(c.excluded[OpID(replica: ben, counter: 0)] == .notPermitted)
        #expect(texts(c) == ["ana's", "ben's!"])
        #expect(c.excluded.values.filter { $0 == .notPermitted }.count == 3, "\(c.excluded)")
    }

    @Test func editorsEditOthersAndOnlyAdminsDeleteOthers() {
        var s = Scenario()
        var batches = start(ben: .edit, &s)
        batches.append(s.batch(ana, [post("abc")], seen: s.everything))
        let message = OpID(replica: ana, counter: 2)
        batches.append(s.batch(ben, [
            .insertText(InsertText(message: message, originLeft: OpID(replica: ana, counter: 5), originRight: nil, text: Array("d".unicodeScalars))),
            .deleteMessage(message: message),
        ], seen: s.everything))
        var c = newConversation()
        feed(&c, batches)
        #expect(texts(c) == ["abcd"])
        #expect(c.document.messages[message]?.isEdited == true)
        #expect(c.excluded.values.contains(.notPermitted))
        batches.append(s.batch(ana, [.deleteMessage(message: message)], seen: s.everything))
        var d = newConversation()
        feed(&d, batches)
        #expect(texts(d).isEmpty)
    }

    /// Ana removes Ben while Ben, not knowing, edits Ana's message and posts. In every arrival
    /// order, Ben's concurrent operations are excluded and his edit of Ana's text is undone.
    @Test func revocationWinsOverConcurrentEdits() {
        var s = Scenario()
        var batches = start(ben: .edit, &s)
        batches.append(s.batch(ana, [post("hello")], seen: s.everything))
        let message = OpID(replica: ana, counter: 2)
        let shared = s.everything
        let benEdit = s.batch(ben, [
            .insertText(InsertText(message: message, originLeft: OpID(replica: ana, counter: 7), originRight: nil, text: Array(" world".unicodeScalars))),
            post("ben was here", after: message),
        ], seen: shared)
        let removal = s.batch(ana, [.removeMember(member: ben)], seen: shared)
        for order in [[benEdit, removal], [removal, benEdit]] {
            var c = newConversation()
            feed(&c, batches + order)
            #expect(texts(c) == ["hello"], "order \(order.map(\.author))")
            #expect(c.excluded[OpID(replica: ben, counter: 0)] == .revoked)
            #expect(c.document.permissions[ben] == nil)
            #expect(c.document.messages[message]?.isEdited == false)
        }
        // Ben's edit from before the removal (in its causal past) stays.
        var t = Scenario()
        var earlier = start(ben: .edit, &t)
        earlier.append(t.batch(ana, [post("hello")], seen: t.everything))
        earlier.append(t.batch(ben, [post("seen before removal", after: message)], seen: t.everything))
        earlier.append(t.batch(ana, [.removeMember(member: ben)], seen: t.everything))
        var c = newConversation()
        feed(&c, earlier)
        #expect(texts(c) == ["hello", "seen before removal"])
    }

    @Test func theLastAdminCannotBeRemovedOrDemoted() {
        var s = Scenario()
        var batches = start(ben: .comment, &s)
        batches.append(s.batch(ana, [.setPermission(member: ana, permission: .comment)], seen: s.everything))
        batches.append(s.batch(ana, [.removeMember(member: ana)], seen: s.everything))
        var c = newConversation()
        feed(&c, batches)
        #expect(c.document.permissions[ana] == .admin)
        #expect(c.excluded.values.filter { $0 == .lastAdmin }.count == 2)
    }

    /// Two admins remove each other concurrently: every replica keeps the same one.
    @Test func concurrentMutualRemovalResolvesDeterministically() {
        var s = Scenario()
        var batches = start(ben: .admin, &s)
        let shared = s.everything
        let anaRemovesBen = s.batch(ana, [.removeMember(member: ben)], seen: shared)
        let benRemovesAna = s.batch(ben, [.removeMember(member: ana)], seen: shared)
        var outcomes: Set<[UInt8]> = []
        for order in [[anaRemovesBen, benRemovesAna], [benRemovesAna, anaRemovesBen]] {
            var c = newConversation()
            feed(&c, batches + order)
            #expect(c.document.permissions.values.filter { $0 == .admin }.count == 1)
            outcomes.insert(c.document.canonicalVisibleState())
        }
        #expect(outcomes.count == 1)
        batches.removeAll()
    }

    @Test func aMemberReadmittedAfterRemovalIsValidAgain() {
        var s = Scenario()
        var batches = start(ben: .comment, &s)
        batches.append(s.batch(ana, [.removeMember(member: ben)], seen: s.everything))
        batches.append(s.batch(ana, [.setPermission(member: ben, permission: .comment)], seen: s.everything))
        batches.append(s.batch(ben, [post("back")], seen: s.everything))
        var c = newConversation()
        feed(&c, batches)
        #expect(texts(c) == ["back"])
    }

    @Test func messageRateIsJudgedOnSignedTimestamps() {
        var s = Scenario()
        var batches = start(ben: .comment, &s)
        let base: UInt64 = 1_760_000_000_000
        for i in 0 ..< 11 {
            batches.append(s.batch(ben, [post("m\(i)")], seen: s.everything, at: base + UInt64(i) * 1000))
        }
        // A minute after the first, posting is allowed again.
        batches.append(s.batch(ben, [post("later")], seen: s.everything, at: base + 61_000))
        var c = newConversation()
        feed(&c, batches)
        #expect(c.document.orderedMessages.count == 11)
        #expect(c.excluded.values.filter { $0 == .rateLimited }.count == 1)
        // Admins can raise the limit.
        var t = Scenario()
        var raised = start(ben: .comment, &t)
        raised.append(t.batch(ana, [.setSettings(ConversationSettings(messagesPerMinute: 20, maxMessageBytes: 16384, isPublic: false))], seen: t.everything))
        for i in 0 ..< 11 { raised.append(t.batch(ben, [post("m\(i)")], seen: t.everything, at: base + UInt64(i) * 1000)) }
        var d = newConversation()
        feed(&d, raised)
        #expect(d.document.orderedMessages.count == 11)
        #expect(d.excluded.isEmpty)
    }

    @Test func sizesAndNamesAreValidated() {
        var s = Scenario()
        var batches = start(ben: .comment, &s)
        batches.append(s.batch(ben, [post(String(repeating: "é", count: 8193))], seen: s.everything)) // 16,386 bytes
        for name in ["", String(repeating: "n", count: 65), "bell\u{7}", "ok name 🌷"] {
            batches.append(s.batch(ben, [.setProfile(Profile(displayName: name))], seen: s.everything))
        }
        var c = newConversation()
        feed(&c, batches)
        #expect(c.excluded.values.filter { $0 == .tooLarge }.count == 1)
        #expect(c.excluded.values.filter { $0 == .invalidName }.count == 3)
        #expect(c.document.profiles[ben]?.profile.displayName == "ok name 🌷")
    }

    @Test func joinsNeedAValidUnexpiredUnusedToken() {
        let tokenID = Array(repeating: UInt8(7), count: InviteRecord.tokenIDBytes)
        let grant = InviteGrant(conversation: Scenario.conversation, permission: .comment, issuer: ana,
                                tokenID: tokenID, expiresAt: 1_750_000_100_000, useLimit: 1)
        let verifier: InviteVerifier = { bytes in bytes == [1] ? grant : nil }
        let link = ConversationOp.createLink(InviteRecord(tokenID: tokenID, permission: .comment))
        var s = Scenario()
        var batches = [s.batch(ana, [.genesis(Genesis(title: "t", nonce: [1])), link])]
        batches.append(s.batch(ben, [join([1], ben, at: s.time), post("joined")], seen: s.everything))
        batches.append(s.batch(cat, [join([1], cat, at: s.time)], seen: s.everything)) // used up
        let dan = ReplicaID(testValue: 4), eve = ReplicaID(testValue: 5)
        batches.append(s.batch(dan, [join([2], dan, at: s.time)], seen: s.everything)) // forged
        batches.append(s.batch(eve, [.join(inviteToken: [])], seen: s.everything)) // private conversation
        var c = newConversation(invites: verifier)
        feed(&c, batches)
        #expect(c.document.permissions[ben] == .comment)
        #expect(texts(c) == ["joined"])
        #expect(c.document.permissions[cat] == nil && c.document.permissions[dan] == nil && c.document.permissions[eve] == nil)
        #expect(c.excluded.values.filter { $0 == .invalidInvite }.count == 3)
        // Expired: admitted after expiresAt (judged on the admitting member's time).
        var late = Scenario()
        var lateBatches = [late.batch(ana, [.genesis(Genesis(title: "t", nonce: [1])), link])]
        lateBatches.append(late.batch(ben, [join([1], ben, at: 1_750_000_200_000)], seen: late.everything, at: 1_750_000_200_000))
        var d = newConversation(invites: verifier)
        feed(&d, lateBatches)
        #expect(d.document.permissions[ben] == nil)
    }

    @Test func duplicatesChangeNothing() {
        var s = Scenario()
        var batches = start(ben: .comment, &s)
        batches.append(s.batch(ben, [post("once")], seen: s.everything))
        var c = newConversation()
        feed(&c, batches + batches)
        #expect(texts(c) == ["once"])
    }
}

@Suite struct ConversationConvergenceTests {
    /// Seeds that once failed stay here as regressions.
    static let pinnedSeeds: [UInt64] = []

    @Test(arguments: Array(UInt64(0) ..< 40) + pinnedSeeds)
    func replicasConvergeWithRevocationsAndRandomDelivery(seed: UInt64) {
        let outcome = ConversationSimulation.run(.init(replicas: 3 + Int(seed % 4), operations: 400, seed: seed))
        #expect(outcome.converged, "diverged; reproduce with `streamingchat sim conversation --seed \(seed)`: \(String(describing: outcome.firstDifference))")
    }
}

@Suite struct ConversationRegressionTests {
    /// Found by the fuzzer's authors: a text delete whose target counter is 2³²−1 must be
    /// refused with a typed error, not trap, wherever it is applied.
    @Test func deleteTargetAtTheLastCounterIsRefused() throws {
        var text = SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 1))
        try text.insert(contentsOf: Array("ab".unicodeScalars), at: 0)
        let hostile = SequenceOp<Unicode.Scalar>.delete(SequenceDelete(
            id: OpID(replica: ReplicaID(testValue: 2), counter: 0),
            target: OpID(replica: ReplicaID(testValue: 1), counter: UInt32.max), count: 1))
        #expect(throws: SequenceError.counterOverflow) { try text.apply(hostile) }
        var s = Scenario()
        let ana = ReplicaID(testValue: 1)
        var batches = [s.batch(ana, [.genesis(Genesis(title: "t", nonce: [1]))])]
        batches.append(s.batch(ana, [post("hi")], seen: s.everything))
        batches.append(s.batch(ana, [.deleteText(DeleteText(message: OpID(replica: ana, counter: 1),
                                                             target: OpID(replica: ana, counter: UInt32.max), count: 1))],
                               seen: s.everything))
        var c = newConversation()
        feed(&c, batches)
        #expect(c.document.orderedMessages.map(\.body.text) == ["hi"])
        #expect(c.excluded.values.contains(.invalid))
    }

    /// An empty conversation (and an empty sequence) saves and loads.
    @Test func emptyStatesRoundTrip() throws {
        let empty = SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 1), keepsHistory: false)
        let loaded = try SequenceCRDT<Unicode.Scalar>(decoding: empty.encodedState())
        #expect(loaded.count == 0)
        #expect(loaded.encodedState() == empty.encodedState())
        let conversation = newConversation()
        let snapshot = conversation.encodedSnapshot()
        let back = try Conversation(snapshot: snapshot, id: Scenario.conversation, localReplica: ReplicaID(testValue: 99),
                                    verifyInvite: { _ in nil })
        #expect(back.encodedSnapshot() == snapshot)
    }
}

@Suite struct LocalOperationTests {
    /// A new message goes after what its author saw; text goes where the author typed.
    @Test func newMessagesAndTextFollowTheAuthorsView() {
        let ana = ReplicaID(testValue: 1)
        var s = Scenario()
        var c = newConversation(ana)
        feed(&c, [s.batch(ana, [.genesis(Genesis(title: "t", nonce: [1]))])])
        feed(&c, [s.batch(ana, [c.document.newMessage(Array("first".unicodeScalars))], seen: s.everything)])
        feed(&c, [s.batch(ana, [c.document.newMessage(Array("second".unicodeScalars))], seen: s.everything)])
        let second = c.document.orderedMessages[1].id
        let edit = c.document.insertText(Array(" one".unicodeScalars), into: second, at: 6)
        #expect(edit != nil)
        if let edit { feed(&c, [s.batch(ana, [edit], seen: s.everything)]) }
        #expect(c.document.orderedMessages.map(\.body.text) == ["first", "second one"])
        #expect(c.document.insertText(["x"], into: OpID(replica: ana, counter: 999), at: 0) == nil)
    }
}
