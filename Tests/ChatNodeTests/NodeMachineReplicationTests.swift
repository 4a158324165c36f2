import ChatCore
import ChatCrypto
@testable import ChatNode
import ChatSync
import ChatWire
import Testing

/// Replication as ``NodeMachine`` directs it, without sockets: the frames of a session routed
/// to the conversation's machine, committed batches pushed to every session, a membership
/// change acted on, and fork evidence relayed. Each test feeds inputs and checks the directives.
@Suite struct NodeMachineReplicationTests {
    let base: NodeMachineTests
    let team: ConversationID

    init() throws {
        base = try NodeMachineTests()
        team = base.team
    }

    /// `author`'s batch of `ops` in `team`, first in its chain.
    func batch(by author: SigningKey, _ ops: [ConversationOp]) -> AuthenticatedBatch {
        let content = BatchContent(conversation: team, author: author.publicKey.replicaID, firstCounter: 0, timestamp: 1_000,
                                   previousHash: Array(repeating: 0, count: 32), dependencies: [], operations: ops)
        let signed = SignedBatch(content: content) { author.sign($0).bytes }
        return AuthenticatedBatch(storedBatch: signed, hash: Hashing.blake2b(signed.bytes))
    }

    /// `small`'s node with sessions from `middle` and `large`, both replicating `team` and
    /// having reported their (empty) clocks; returns the node and the two links.
    func replicatingToBoth(_ membership: MembershipDirectory) throws -> (NodeMachine, middle: Int, large: Int) {
        var node = base.machine(base.small)
        var links: [Int] = []
        for key in [base.middle, base.large] {
            let (link, established) = try base.establish(&node, .listener, with: key, [team], membership: membership)
            #expect(established.contains(.replicate(link: link, conversations: [team])))
            let started = node.onClockRead(link: link, team, localClock: VectorClock(), now: base.now, membership: membership)
            #expect(started.contains { if case .send(.clock(team, _), link) = $0 { true } else { false } })
            #expect(started.contains { if case .armTimer(.replication(link, team), _) = $0 { true } else { false } })
            _ = node.onFrameReceived(.clock(conversation: team, clock: VectorClock()), link: link, now: base.now, wallNow: 0,
                                     membership: membership)
            links.append(link)
        }
        return (node, links[0], links[1])
    }

    /// Batches committed here go to every session of the conversation, counted; messages leave
    /// membership alone, and a governance change acts on it: the removed peer's session is
    /// closed (`revoked`) and a join waiting on the history is tried.
    @Test func committedBatchesArePushedToEverySessionAndAMembershipChangeIsActedOn() throws {
        let membership = base.membership([base.small, base.middle, base.large])
        var (node, middle, large) = try replicatingToBoth(membership)
        let post = batch(by: base.small, [.postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("hi".unicodeScalars)))])
        let pushed = node.onCommitted([post], clockAfter: VectorClock(), in: team, now: base.now, membership: membership)
        #expect(pushed == [.send(.batches(conversation: team, batches: [post.batch.bytes]), link: middle),
                           .send(.batches(conversation: team, batches: [post.batch.bytes]), link: large)])
        #expect(node.counters.batchesPushed == 2)

        let removal = batch(by: base.small, [.removeMember(member: base.middle.publicKey.replicaID)])
        let removed = base.membership([base.small, base.large], removed: [base.middle])
        let acted = node.onCommitted([removal], clockAfter: VectorClock(), in: team, now: base.now, membership: removed)
        #expect(acted.contains(.close(link: middle, .revoked)))
        #expect(!acted.contains(.close(link: large, .revoked)))
        #expect(acted.last == .completeJoin(team))
        #expect(node.links(replicating: team) == [large])
    }

    /// Batches revealing a fork go to every session, even with nothing newly accepted.
    @Test func forkEvidenceIsRelayedToEverySession() throws {
        let membership = base.membership([base.small, base.middle, base.large])
        var (node, middle, large) = try replicatingToBoth(membership)
        let evidence = batch(by: base.large, [.postMessage(PostMessage(originLeft: nil, originRight: nil, body: Array("a".unicodeScalars)))])
        let relayed = node.onCommitted([], clockAfter: VectorClock(), evidence: [evidence], in: team, now: base.now,
                                       membership: membership)
        let links = relayed.compactMap { if case .send(.batches(team, _), let link) = $0 { link } else { nil } }
        #expect(links == [middle, large])
    }

    /// A replication frame its machine refuses closes the session (`protocol_violation`); one
    /// for a conversation the session no longer replicates (its peer was removed) is ignored.
    @Test func aRefusedFrameClosesTheSessionAndOneForARevokedConversationIsIgnored() throws {
        let membership = base.membership([base.small, base.middle, base.large])
        var node = NodeMachine(configuration: .init(replicaID: base.small.publicKey.replicaID,
                                                    replication: ReplicationConfiguration(maxIncomingBatchesPerFrame: 1), seed: 7))
        let (link, _) = try base.establish(&node, .listener, with: base.middle, [team], membership: membership)
        _ = node.onClockRead(link: link, team, localClock: VectorClock(), now: base.now, membership: membership)
        let tooMany = DataFrame.batches(conversation: team, batches: [[1], [2]])
        #expect(node.onFrameReceived(tooMany, link: link, now: base.now, wallNow: 0, membership: membership)
            == [.close(link: link, .protocolViolation)])

        let one = DataFrame.batches(conversation: team, batches: [[1]])
        #expect(node.onFrameReceived(one, link: link, now: base.now, wallNow: 0, membership: membership)
            == [.ingest([[1]], link: link, team)])
        _ = node.onGovernanceChanged(team, membership: base.membership([base.small], removed: [base.middle]))
        #expect(node.onFrameReceived(one, link: link, now: base.now, wallNow: 0, membership: membership).isEmpty)
    }

    /// A peer's clock covering this node's recorded join completes it: the token is forgotten
    /// durably before the replication directives.
    @Test func aClockCoveringTheRecordedJoinForgetsTheToken() throws {
        let membership = base.membership([base.small, base.middle])
        var node = base.machine(base.small)
        let (link, _) = try base.establish(&node, .listener, with: base.middle, [team], membership: membership)
        let mine = base.small.publicKey.replicaID
        var localClock = VectorClock()
        localClock[mine] = 2
        _ = node.onClockRead(link: link, team, localClock: localClock, now: base.now, membership: membership)
        var join = base.pendingJoin(through: base.middleAddress)
        join.recorded = true
        node.pendingJoins[team] = join
        let behind = node.onFrameReceived(.clock(conversation: team, clock: VectorClock()), link: link, now: base.now,
                                          wallNow: 0, membership: membership)
        #expect(!behind.contains(.savePendingJoin(team)) && node.pendingJoins[team] != nil)
        let covering = node.onFrameReceived(.clock(conversation: team, clock: localClock), link: link,
                                            now: base.now + .seconds(1), wallNow: 0, membership: membership)
        #expect(covering.first == .savePendingJoin(team))
        #expect(node.pendingJoins[team] == nil)
    }
}
