import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// How replication with one peer stands.
public enum SyncStatus: String, Sendable, Hashable, Codable {
    /// Authenticated and admitted; clocks exchanged.
    case connected
    /// Catching up: the peer lacks stored batches or we are ingesting its catch-up.
    case syncing
    /// The session ended (the node redials with back-off when it dialed).
    case disconnected
}

/// What a node reports to its user interface and scripts, as it happens.
public enum NodeEvent: Sendable, Hashable {
    /// A message was posted (by anyone, this node included) and is visible.
    case messageReceived(ConversationID, OpID)
    /// A message's text changed.
    case messageEdited(ConversationID, OpID)
    /// A message was deleted.
    case messageDeleted(ConversationID, OpID)
    /// A user joined (by invite, link, or a public join).
    case userJoined(ConversationID, ReplicaID)
    /// A user was removed.
    case userLeft(ConversationID, ReplicaID)
    /// A user's profile changed.
    case userUpdated(ConversationID, ReplicaID)
    /// A member's permission changed (nil: no longer a member).
    case permissionChanged(ConversationID, ReplicaID, Permission?)
    /// The conversation's settings (title, public or private) changed.
    case settingsChanged(ConversationID)
    /// A link or invitation was created, revoked or declined.
    case linksChanged(ConversationID)
    /// A member (or someone who reached a member) asked the admins for more access.
    case accessRequested(ConversationID, ReplicaID, Permission)
    /// A signed ephemeral update (typing, cursor, presence) from a member.
    case ephemeral(ConversationID, EphemeralUpdate)
    /// A member's node delivered a direct invitation to this node (see `invitations received`).
    case invitationReceived(ConversationID, from: ReplicaID)
    /// A peer's session changed state.
    case sync(peer: ReplicaID, SyncStatus)
    /// Something failed that the user should know about (a stable code and a sentence).
    case error(code: String, message: String)
}

extension ConversationDocument {
    /// The user-facing events of newly applied batches, judged against the document after them
    /// (operations the rules excluded produce none).
    /// - Complexity: O(operations).
    func events(of batches: [AuthenticatedBatch], in conversation: ConversationID) -> [NodeEvent] {
        var events: [NodeEvent] = []
        for batch in batches {
            let author = batch.author
            var counter = batch.firstCounter
            for op in batch.batch.content.operations {
                let id = OpID(replica: author, counter: counter)
                counter &+= op.idCount
                switch op {
                case .postMessage:
                    if messages[id] != nil { events.append(.messageReceived(conversation, id)) }
                case .insertText(let insert):
                    if messages[insert.message] != nil { events.append(.messageEdited(conversation, insert.message)) }
                case .deleteText(let delete):
                    if messages[delete.message] != nil { events.append(.messageEdited(conversation, delete.message)) }
                case .deleteMessage(let message):
                    if messages[message]?.isDeleted == true { events.append(.messageDeleted(conversation, message)) }
                case .setProfile:
                    events.append(.userUpdated(conversation, author))
                case .setPermission(let member, let permission):
                    if permissions[member] == permission { events.append(.permissionChanged(conversation, member, permission)) }
                case .removeMember(let member):
                    if permissions[member] == nil {
                        events.append(.userLeft(conversation, member))
                        events.append(.permissionChanged(conversation, member, nil))
                    }
                case .join:
                    if permissions[author] != nil { events.append(.userJoined(conversation, author)) }
                case .genesis:
                    events.append(.userJoined(conversation, author))
                case .setSettings:
                    events.append(.settingsChanged(conversation))
                case .createLink, .revokeLink, .declineInvite:
                    events.append(.linksChanged(conversation))
                case .requestAccess(let permission, _):
                    events.append(.accessRequested(conversation, author, permission))
                }
            }
        }
        return events
    }
}

/// Where a node's events go: its ``Node/events`` stream, with a bump of ``Node/changes`` for
/// each, so control clients waiting on changes wake whoever consumes the stream.
public struct NodeEventSink: Sendable {
    let continuation: AsyncStream<NodeEvent>.Continuation
    let changes: ChangeSignal

    /// Delivers `event` and records a change.
    public func yield(_ event: NodeEvent) {
        continuation.yield(event)
        changes.bump()
    }

    /// Ends the stream.
    func finish() { continuation.finish() }
}
