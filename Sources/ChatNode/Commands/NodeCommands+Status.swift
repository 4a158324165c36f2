import ChatControl
import ChatCore
import ChatCrypto

extension NodeCommands {
    /// Everything `status` reports: the node's identity, sessions and counters, and each
    /// conversation it holds with its clock, size and join.
    /// - Complexity: O(c · m) for c conversations of m messages (each state is read once).
    public func status() async -> NodeStatus {
        let network = await node.networkStatus()
        var conversations: [NodeStatus.Conversation] = []
        for id in await node.conversations {
            guard let replica = try? await node.replica(id) else { continue }
            let state = await replica.conversation
            let document = state.document
            let clock = await replica.clock
            let batches = (try? node.store.batchCount(id)) ?? 0
            let join = await node.joinStatus(of: id, historyStored: batches > 0)
            conversations.append(NodeStatus.Conversation(
                id: id.hex, title: document.title,
                clock: Dictionary(uniqueKeysWithValues: clock.entries.map { (PublicKey($0.replica).text, $0.count) }),
                pendingBatches: await replica.pendingCount, rejections: await replica.rejections.byCode,
                messages: document.messageList.count, members: document.permissions.count,
                joining: join.joining, joinStage: join.stage, batches: batches,
                equivocators: Dictionary(uniqueKeysWithValues: state.equivocators.map { (PublicKey($0.key).text, $0.value) })))
        }
        return NodeStatus(identity: node.identity.publicKey.text, listening: network.listening, dialing: network.dialing,
                          peers: network.peers, conversations: conversations, counters: network.counters)
    }
}
