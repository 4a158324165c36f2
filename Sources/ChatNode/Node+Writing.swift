import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// Writing this node's operations, and what `status` reports.
extension Node {
    /// Signs, stores and sends this node's operations in `conversation`; returns the sealed
    /// batches once they are durable.
    @discardableResult
    public func submit(_ ops: [ConversationOp], to conversation: ConversationID) async throws(NodeCommandError) -> [SignedBatch] {
        let replica = try replica(conversation)
        let stamp = configuration.wallClock()
        // The copy of the state is let go before the write: held across it, the replica's
        // mutation would copy the whole conversation (copy-on-write), O(messages) per post.
        try await Self.checkLocal(ops, against: replica.conversation, at: stamp)
        let written: [(SignedBatch, IngestOutcome)]
        do {
            written = try await replica.writeLocal(ops, wallClock: stamp)
        } catch {
            throw .node(error)
        }
        for (_, outcome) in written { await committed(outcome.accepted, clockAfter: outcome.clockAfter, in: conversation) }
        return written.map(\.0)
    }

    /// Refuses, before anything is signed, operations the conversation would exclude.
    private static func checkLocal(_ ops: [ConversationOp], against state: Conversation, at stamp: UInt64) throws(NodeCommandError) {
        for op in ops {
            if let reason = state.exclusion(ofLocal: op, timestamp: stamp) {
                if reason == .rateLimited, case .postMessage = op, let next = state.nextPostAllowed(at: stamp) {
                    throw .rateLimited(retryInMilliseconds: next > stamp ? next - stamp : 0,
                                       perMinute: state.document.settings.messagesPerMinute)
                }
                throw .excluded(reason)
            }
        }
    }

    /// The peers this node has a session with.
    var connectedPeers: Set<ReplicaID> { machine.connectedPeers }

    /// How many sessions carry `conversation` now.
    func peerCount(carrying conversation: ConversationID) -> Int {
        machine.sessionCount(carrying: conversation)
    }

    /// Everything `status` reports.
    public func status() async -> NodeStatus {
        let peers = machine.peerStatus { channels[$0]?.window.inUse ?? 0 }
        var conversations: [NodeStatus.Conversation] = []
        for (id, replica) in replicas.sorted(by: { $0.key < $1.key }) {
            let state = await replica.conversation
            let document = state.document
            let clock = await replica.clock
            let batches = (try? store.batchCount(id)) ?? 0
            conversations.append(NodeStatus.Conversation(
                id: id.hex, title: document.title,
                clock: Dictionary(uniqueKeysWithValues: clock.entries.map { (PublicKey($0.replica).text, $0.count) }),
                pendingBatches: await replica.pendingCount, rejections: await replica.rejections.byCode,
                messages: document.messageList.count, members: document.permissions.count,
                joining: machine.pendingJoins[id] != nil, joinStage: machine.joinStage(of: id, historyStored: batches > 0), batches: batches,
                equivocators: Dictionary(uniqueKeysWithValues: state.equivocators.map { (PublicKey($0.key).text, $0.value) })))
        }
        var counters = machine.counters
        counters.inboundPeakBytes = channels.values.reduce(counters.inboundPeakBytes) { max($0, $1.window.peak) }
        return NodeStatus(identity: identity.publicKey.text, listening: listeningOn?.description,
                          dialing: machine.dialing.sorted().map(\.description), peers: peers,
                          conversations: conversations, counters: counters)
    }
}

