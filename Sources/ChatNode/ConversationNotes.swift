import ChatControl
import ChatCore
import ChatStore

/// The node's durable notes on each conversation, kept beside its history: the join in progress
/// (so a restart does not strand a joiner) and where members listen (so a restart dials them
/// again). A failed write is reported as an `error` event rather than thrown: the node goes on
/// without the note.
struct ConversationNotes: Sendable {
    let store: ChatStore
    let events: NodeEventSink

    /// The join in progress saved for `conversation`, when one was and it still verifies.
    func pendingJoin(of conversation: ConversationID) -> PendingJoin? {
        guard let bytes = try? store.metadata(of: conversation) else { return nil }
        return PendingJoin.saved(bytes, for: conversation)
    }

    /// Saves the join in progress of `conversation`, or that there is none.
    func savePendingJoin(_ join: PendingJoin?, of conversation: ConversationID) {
        do {
            try store.setMetadata(join?.savedBytes ?? [], for: conversation)
        } catch {
            events.yield(.error(code: "store", message: "could not save the pending join: \(error)"))
        }
    }

    /// Where members of each conversation listen, as remembered.
    func rememberedAddresses(in conversations: some Sequence<ConversationID>) -> [ConversationID: [RememberedAddress]] {
        Dictionary(uniqueKeysWithValues: conversations.map { ($0, (try? store.rememberedAddresses(of: $0)) ?? []) })
    }

    /// Remembers that `replica` listens at `endpoint`, for each of `conversations`.
    func rememberAddress(of replica: ReplicaID, at endpoint: PeerEndpoint, in conversations: [ConversationID]) {
        guard let port = UInt16(exactly: endpoint.port) else { return }
        let address = RememberedAddress(replica: replica, host: endpoint.host, port: port)
        for conversation in conversations {
            do {
                try store.rememberAddresses([address], in: conversation)
            } catch {
                events.yield(.error(code: "store", message: "could not remember the address of a member: \(error)"))
            }
        }
    }
}
