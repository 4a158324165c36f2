@testable import ChatCore
import Testing

/// The attacks of a lying member against the conversation rules (issue 14), each in every
/// delivery order the causal order allows: every replica ends with the same visible state and
/// the same exclusions, and nothing one bad operation does blocks the others.
@Suite struct ByzantineRuleTests {
    let ana = ReplicaID(testValue: 1), ben = ReplicaID(testValue: 2), cat = ReplicaID(testValue: 3)

    func texts(_ conversation: Conversation) -> [String] { conversation.document.orderedMessages.map(\.body.text) }

    /// Ana creates the conversation and grants Ben and Cat their levels.
    func start(ben: Permission, cat: Permission? = nil, _ s: inout Scenario) -> [OperationBatch] {
        var batches = [s.batch(ana, [.genesis(Genesis(title: "team", nonce: [1]))]),
                       s.batch(ana, [.setPermission(member: self.ben, permission: ben)], seen: s.everything)]
        if let cat { batches.append(s.batch(ana, [.setPermission(member: self.cat, permission: cat)], seen: s.everything)) }
        return batches
    }

    /// Feeds `batches` to a fresh replica in order.
    func replica(_ batches: [OperationBatch]) -> Conversation {
        var conversation = newConversation()
        feed(&conversation, batches)
        return conversation
    }

    /// Attack 1, the wedge: Ben posts a message whose origins are two of his own *future*
    /// message ids in reversed order. It is excluded at once (its origins are not in its past),
    /// never waits, and every later message by anyone applies.
    @Test func futureOriginsInReverseOrderCannotWedge() {
        var s = Scenario()
        var batches = start(ben: .comment, &s)
        // Ben's ids: 0–1 the poison ("P"), then 2–3 "a" and 4–5 "b".
        let poison = s.batch(ben, [.postMessage(PostMessage(
            originLeft: OpID(replica: ben, counter: 4), originRight: OpID(replica: ben, counter: 2),
            body: Array("P".unicodeScalars)))], seen: s.everything)
        batches.append(poison)
        batches.append(s.batch(ben, [post("a")], seen: s.everything))
        batches.append(s.batch(ben, [post("b", after: OpID(replica: ben, counter: 2))], seen: s.everything))
        batches.append(s.batch(ana, [post("after", after: OpID(replica: ben, counter: 4))], seen: s.everything))
        let c = replica(batches)
        #expect(c.excluded[OpID(replica: ben, counter: 0)] == .unknownTarget)
        #expect(texts(c) == ["a", "b", "after"])
        #expect(c.document.messageList.pendingCount == 0)
    }

    /// Attack 1 at the sequence level: a waiting insert that proves ill-formed once its origins
    /// arrive is dropped and counted; the op that released it and every later op apply.
    @Test func anIllFormedWaitingInsertIsDroppedNotWedged() throws {
        var sequence = SequenceCRDT<Character>(replica: cat)
        let poison = SequenceOp<Character>.insert(SequenceInsert(
            id: OpID(replica: ben, counter: 10), originLeft: OpID(replica: ben, counter: 1),
            originRight: OpID(replica: ben, counter: 0), content: ["P"]))
        #expect(try sequence.apply(poison) == .pending)
        try sequence.apply(.insert(SequenceInsert(id: OpID(replica: ben, counter: 0), originLeft: nil, originRight: nil,
                                                  content: ["a", "b"])))
        #expect(sequence.droppedPendingCount == 1)
        #expect(sequence.pendingCount == 0)
        try sequence.apply(.insert(SequenceInsert(id: OpID(replica: ana, counter: 0), originLeft: OpID(replica: ben, counter: 1),
                                                  originRight: nil, content: ["c"])))
        #expect(String(sequence.elements) == "abc")
    }

    /// Attack 4, order dependence: Cat (edit) edits a message of Ben's that is not in her
    /// batch's declared past. Whether Ben's message arrives before or after, the edit is
    /// excluded as `unknown_target`; and a snapshot taken in the middle reloads to the same state.
    @Test func anEditOfATargetOutsideItsPastIsExcludedInEveryOrder() throws {
        var s = Scenario()
        let base = start(ben: .comment, cat: .edit, &s)
        let past = s.everything
        let benPost = s.batch(ben, [post("hello")], seen: past)
        let message = OpID(replica: ben, counter: 0)
        let catEdit = s.batch(cat, [.insertText(InsertText(message: message, originLeft: OpID(replica: ben, counter: 5),
                                                           originRight: nil, text: Array("!".unicodeScalars)))], seen: past)
        let later = s.batch(ana, [post("later", after: message)], seen: s.everything)
        let first = replica(base + [benPost, catEdit, later])
        let second = replica(base + [catEdit, benPost, later])
        #expect(first.excluded[OpID(replica: cat, counter: 0)] == .unknownTarget)
        #expect(second.excluded == first.excluded)
        #expect(texts(first) == ["hello", "later"])
        #expect(first.document.canonicalVisibleState() == second.document.canonicalVisibleState())

        var halfway = replica(base + [catEdit])
        var reloaded = try Conversation(snapshot: halfway.encodedSnapshot(), id: Scenario.conversation,
                                        localReplica: ReplicaID(testValue: 99), verifyInvite: { _ in nil })
        feed(&halfway, [benPost, later])
        feed(&reloaded, [benPost, later])
        #expect(reloaded.document.canonicalVisibleState() == first.document.canonicalVisibleState())
        #expect(halfway.document.canonicalVisibleState() == first.document.canonicalVisibleState())
    }

    /// Attack 5, hidden demotion: Ana demotes Ben from admin to comment; Ben, declaring a past
    /// that leaves the demotion out, removes Cat, deletes Ana's message and posts. In both
    /// orders the admin acts are excluded, the post (allowed at comment) stays.
    @Test func aDemotedAdminKeepsNoAdminRightsByHidingTheDemotion() {
        var s = Scenario()
        var base = start(ben: .admin, cat: .comment, &s)
        base.append(s.batch(ana, [post("ana's")], seen: s.everything))
        let anaMessage = OpID(replica: ana, counter: 3)
        let past = s.everything
        let demotion = s.batch(ana, [.setPermission(member: ben, permission: .comment)], seen: past)
        let hidden = s.batch(ben, [.removeMember(member: cat), .deleteMessage(message: anaMessage), post("ben's", after: anaMessage)],
                             seen: past)
        let first = replica(base + [demotion, hidden])
        let second = replica(base + [hidden, demotion])
        for c in [first, second] {
            #expect(c.document.permissions[cat] == .comment)
            #expect(c.document.permissions[ben] == .comment)
            #expect(c.excluded[OpID(replica: ben, counter: 0)] == .notPermitted)
            #expect(c.excluded[OpID(replica: ben, counter: 1)] == .notPermitted)
            #expect(texts(c) == ["ana's", "ben's"])
        }
        #expect(first.document.canonicalVisibleState() == second.document.canonicalVisibleState())
    }

    /// Attack 5 for a member: Ben (comment) is demoted to view; his concurrent post is
    /// excluded in both orders, while a post that saw an earlier re-grant is not capped.
    @Test func aDemotedCommenterCannotPostConcurrently() {
        var s = Scenario()
        let base = start(ben: .comment, &s)
        let past = s.everything
        let demotion = s.batch(ana, [.setPermission(member: ben, permission: .view)], seen: past)
        let concurrent = s.batch(ben, [post("sneaky")], seen: past)
        let regrant = s.batch(ana, [.setPermission(member: ben, permission: .comment)], seen: s.everything)
        let after = s.batch(ben, [post("allowed")], seen: s.everything)
        let first = replica(base + [demotion, concurrent, regrant, after])
        let second = replica(base + [concurrent, demotion, regrant, after])
        for c in [first, second] {
            #expect(c.excluded[OpID(replica: ben, counter: 0)] == .notPermitted)
            #expect(texts(c) == ["allowed"])
        }
    }

    /// A message excluded by a concurrent removal stays in the list invisibly, so a reply that
    /// a member anchored on it (having seen it) keeps its place and stays visible.
    @Test func aReplyAnchoredOnAnExcludedMessageStaysVisible() {
        var s = Scenario()
        var base = start(ben: .comment, cat: .comment, &s)
        base.append(s.batch(ana, [post("first")], seen: s.everything))
        let past = s.everything
        let removal = s.batch(ana, [.removeMember(member: ben)], seen: past)
        let benPost = s.batch(ben, [post("ben's", after: OpID(replica: ana, counter: 3))], seen: past)
        var seenBen = past
        seenBen[ben] = 6
        let reply = s.batch(cat, [post("cat's reply", after: OpID(replica: ben, counter: 0))], seen: seenBen)
        let first = replica(base + [removal, benPost, reply])
        let second = replica(base + [benPost, reply, removal])
        for c in [first, second] {
            #expect(c.excluded[OpID(replica: ben, counter: 0)] == .revoked)
            #expect(c.excluded[OpID(replica: cat, counter: 0)] == nil)
            #expect(texts(c) == ["first", "cat's reply"])
        }
        #expect(first.document.canonicalVisibleState() == second.document.canonicalVisibleState())
    }

    /// Attack 2, the split: Ben signs two different batches for the same counters and each
    /// replica gets one; Cat replies after Ben's message on one side, Ana on the other. Once
    /// each replica has both, Ben is frozen at the fork point on both: his forked messages are
    /// excluded on both branches, both replies stay, in the same place, and the states match.
    @Test func anEquivocatorIsFrozenAtTheForkAndHonestRepliesOnEitherBranchStay() {
        var s = Scenario()
        var base = start(ben: .comment, cat: .comment, &s)
        base.append(s.batch(ana, [post("first")], seen: s.everything))
        let first = OpID(replica: ana, counter: 3)
        let past = s.everything
        let branchA = s.batch(ben, [post("A", after: first)], seen: past)
        s.next[ben] = 0 // the same counters again
        let branchB = s.batch(ben, [post("B, longer", after: first)], seen: past)
        let benMessage = OpID(replica: ben, counter: 0)
        var sawA = past
        sawA[ben] = 2
        let catReply = s.batch(cat, [post("cat's reply", after: benMessage)], seen: sawA)
        var sawB = past
        sawB[ben] = 10
        let anaReply = s.batch(ana, [post("ana's reply", after: benMessage)], seen: sawB)

        var x = replica(base + [branchA, catReply])
        var y = replica(base + [branchB, anaReply])
        // Each learns the other branch (fork evidence): Ben is frozen from counter 0.
        let xRebuilds = x.noteEquivocation(by: ben, from: 0)
        x.rebuild(from: base + [branchA, catReply])
        let yRebuilds = y.noteEquivocation(by: ben, from: 0)
        y.rebuild(from: base + [branchB, anaReply])
        let again = x.noteEquivocation(by: ben, from: 0)
        #expect(xRebuilds && yRebuilds)
        #expect(!again, "a fork point already known changes nothing")
        feed(&x, [anaReply])
        feed(&y, [catReply])
        for c in [x, y] {
            #expect(c.excluded[benMessage] == .equivocated)
            #expect(c.excluded[OpID(replica: cat, counter: 0)] == nil)
            #expect(c.excluded[OpID(replica: ana, counter: 9)] == nil)
            #expect(Set(texts(c)) == ["first", "cat's reply", "ana's reply"])
            #expect(texts(c).first == "first", "replies stay after the message they followed")
        }
        #expect(x.document.canonicalVisibleState() == y.document.canonicalVisibleState())

        // The fork point survives a snapshot.
        let reloaded = try? Conversation(snapshot: x.encodedSnapshot(), id: Scenario.conversation,
                                         localReplica: ReplicaID(testValue: 99), verifyInvite: { _ in nil })
        #expect(reloaded?.equivocators[ben] == 0)
        #expect(reloaded?.document.canonicalVisibleState() == x.document.canonicalVisibleState())
    }

    /// Found by `sim byzantine --seed 532`: Dan's post follows Ben's message, Cat's is
    /// concurrent with Ben's, and Ana's later post sits between the two. Once Ben is found to
    /// equivocate, Dan's post is re-anchored (after what it saw but Ben's), which puts it after
    /// Cat's: Ana's origins, in order when she wrote, are then not. Her post keeps its
    /// origin-left and ends at the end, on every replica, instead of being excluded.
    @Test func originsReorderedByReanchoringStillPlaceAnHonestPost() {
        let dan = ReplicaID(testValue: 4)
        var s = Scenario()
        var base = start(ben: .comment, cat: .comment, &s)
        base.append(s.batch(ana, [.setPermission(member: dan, permission: .comment)], seen: s.everything))
        base.append(s.batch(ana, [post("first")], seen: s.everything))
        let first = OpID(replica: ana, counter: 4)
        let past = s.everything
        let benPost = s.batch(ben, [post("ben", after: first)], seen: past)
        let catPost = s.batch(cat, [post("cat", after: first)], seen: past) // concurrent with Ben's
        var sawBen = past
        sawBen[ben] = 1
        let danPost = s.batch(dan, [post("dan", after: OpID(replica: ben, counter: 0))], seen: sawBen)
        let catID = OpID(replica: cat, counter: 0), danID = OpID(replica: dan, counter: 0)
        var before = replica(base + [benPost, danPost, catPost])
        // Whichever way the siblings sort, Ana writes between the two that she sees in order.
        let (left, right) = before.document.messageList.canPlace(originLeft: catID, originRight: danID)
            ? (catID, danID) : (danID, catID)
        let anaPost = s.batch(ana, [.postMessage(PostMessage(originLeft: left, originRight: right, body: Array("ana".unicodeScalars)))],
                              seen: s.everything)
        let anaID = OpID(replica: ana, counter: anaPost.firstCounter)
        feed(&before, [anaPost])
        #expect(before.excluded[anaID] == nil, "valid when written")
        let all = base + [benPost, danPost, catPost, anaPost]
        var x = replica(all)
        let xRebuilds = x.noteEquivocation(by: ben, from: 0)
        x.rebuild(from: all)
        var y = replica(base + [danPost, benPost, catPost, anaPost])
        let yRebuilds = y.noteEquivocation(by: ben, from: 0)
        y.rebuild(from: base + [danPost, benPost, catPost, anaPost])
        #expect(xRebuilds && yRebuilds)
        for c in [x, y] {
            #expect(c.excluded[anaID] == nil, "an honest post is not excluded for origins re-anchoring reordered")
            #expect(Set(texts(c)) == ["first", "dan", "cat", "ana"])
        }
        #expect(x.document.canonicalVisibleState() == y.document.canonicalVisibleState())
    }

    /// Attack 3, the author flood, at the conversation level: fresh keys, none a member, each
    /// sign a one-op post on top of everything. None may be stored, so neither the clock nor
    /// the visible state grows (through the node's ingest: `StrangerBatchTests`).
    @Test func aFloodOfFreshKeysMayNotBeStored() {
        var s = Scenario()
        var c = replica(start(ben: .comment, &s))
        let (clock, visible) = (c.clock, texts(c))
        for n in 0 ..< 500 {
            let stranger = ReplicaID(testValue: UInt64(10_000 + n))
            #expect(c.storageRefusal(of: s.batch(stranger, [post("spam \(n)")], seen: s.everything)) == .notAMember)
        }
        #expect(c.clock == clock && texts(c) == visible)
    }

    /// Attack 6, stranger storage: a non-member may make a replica store only a decline of an
    /// invitation recorded for it (once, and not after declining) or a join its past admits.
    /// Access requests, declines of others' invitations, profiles and joins with nothing to
    /// admit them are refused.
    @Test func strangersMayStoreOnlyWhatTheirInvitationsAllow() {
        var s = Scenario()
        let invitation = Array(repeating: UInt8(7), count: InviteRecord.tokenIDBytes)
        var batches = start(ben: .comment, &s)
        batches.append(s.batch(ana, [.createLink(InviteRecord(tokenID: invitation, permission: .comment, invitee: cat))],
                               seen: s.everything))
        var c = replica(batches)
        let dan = ReplicaID(testValue: 4)
        let refused: [(ReplicaID, ConversationOp, String)] = [
            (dan, .requestAccess(permission: .admin, note: "let me in"), "an access request"),
            (dan, .declineInvite(tokenID: invitation), "a decline of someone else's invitation"),
            (dan, .setProfile(Profile(displayName: "dan")), "a profile"),
            (dan, .join(inviteToken: [], admission: []), "a join nothing admits"),
            (cat, .requestAccess(permission: .comment, note: "me"), "the invitee's access request"),
        ]
        for (author, op, label) in refused {
            #expect(c.storageRefusal(of: s.batch(author, [op], seen: s.everything)) != nil, "refused: \(label)")
        }
        let decline = s.batch(cat, [.declineInvite(tokenID: invitation)], seen: s.everything)
        #expect(c.storageRefusal(of: decline) == nil, "the invitee's decline is stored")
        feed(&c, [decline])
        #expect(c.links[invitation]?.declined == true)
        let again = s.batch(cat, [.declineInvite(tokenID: invitation)], seen: s.everything)
        #expect(c.storageRefusal(of: again) == .notAMember, "a second decline is not")
    }
}
