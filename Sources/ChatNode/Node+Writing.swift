import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// Writing this node's operations, and what `status` reports of the network.
extension Node {
    /// Signs, stores and sends this node's operations in `conversation`; returns the sealed
    /// batches once they are durable.
    @discardableResult
    public func submit(_ ops: [ConversationOp], to conversation: ConversationID) async throws(NodeCommandError) -> [SignedBatch] {
        let replica = try replica(conversation)
        let stamp = configuration.wallClock()
        // The copy of the state is let go before the write: held across it, the replica's
        // mutation would copy the whole conversation (copy-on-write), O(messages) per post.
        try await replica.conversation.checkLocal(ops, at: stamp)
        let written: [(SignedBatch, IngestOutcome)]
        do {
            written = try await replica.writeLocal(ops, wallClock: stamp)
        } catch {
            throw .node(error)
        }
        for (_, outcome) in written {
            await carryOut(machine.onCommitted(outcome.accepted, clockAfter: outcome.clockAfter, in: conversation, now: now,
                                               membership: directory))
        }
        return written.map(\.0)
    }

    /// What `read` finds in the machine's state now (sessions, joins, invitations), for the
    /// commands that report it.
    func inspect<Value: Sendable>(_ read: @Sendable (NodeMachine) -> Value) -> Value {
        read(machine)
    }

    /// The network side of `status`: where this node listens and dials, its sessions, and its
    /// counters (see ``NodeCommands/status()``).
    func networkStatus() -> (listening: String?, dialing: [String], peers: [NodeStatus.Peer], counters: NodeCounters) {
        var counters = machine.counters
        counters.inboundPeakBytes = channels.values.reduce(counters.inboundPeakBytes) { max($0, $1.window.peak) }
        return (listeningOn?.description, machine.dialing.sorted().map(\.description),
                machine.peerStatus { channels[$0]?.window.inUse ?? 0 }, counters)
    }

    /// Whether this node is joining `conversation`, and where the join stands.
    func joinStatus(of conversation: ConversationID, historyStored: Bool) -> (joining: Bool, stage: String?) {
        (machine.pendingJoins[conversation] != nil, machine.joinStage(of: conversation, historyStored: historyStored))
    }
}
