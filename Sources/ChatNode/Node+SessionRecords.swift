import ChatCore
import ChatStore

/// The node's record of its peer sessions, per conversation, for the audit trail.
extension Node {
    /// Records a session starting or ending, once per conversation it carried (the store keeps
    /// the newest 10,000 per conversation). Written in order off this actor (see
    /// ``SessionRecorder``); a store failure is reported as an `error` event.
    func recordSession(_ peer: ReplicaID, connected: Bool, conversations: [ConversationID]) {
        let session = PeerSessionRecord(peer: peer, at: configuration.wallClock(), connected: connected)
        sessionRecorder.record(Set(conversations).sorted().map { ConversationSessionRecord(conversation: $0, session: session) })
    }

    /// The stored session records of `conversation`, oldest first, once every record made so far
    /// is written. Records that do not decode are left out and reported as an `error` event.
    func sessionRecords(of conversation: ConversationID) async throws(NodeCommandError) -> [PeerSessionRecord] {
        await sessionRecorder.flush()
        let page: SessionRecordPage
        do { page = try store.sessionRecords(of: conversation) } catch { throw .node(.store(error)) }
        if page.skippedCount > 0 {
            eventSink.yield(.error(code: "store:session_records_skipped",
                                   message: "\(page.skippedCount) stored peer-session records did not decode; the audit trail leaves them out"))
        }
        return page.records
    }
}
