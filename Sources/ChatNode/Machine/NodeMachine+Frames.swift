import ChatCore
import ChatSync
import ChatWire

/// The frames of an established session, each routed to what handles it: replication, gossip,
/// peer exchange, admission or invitations.
extension NodeMachine {
    /// The peer on `link` sent `frame`. A replication frame the conversation's machine refuses
    /// closes the session (`protocol_violation`); one for a conversation no longer replicated
    /// with the peer (revoked since) is ignored.
    mutating func onFrameReceived(_ frame: DataFrame, link id: Int, now: Duration, wallNow: UInt64,
                                  membership: MembershipDirectory) -> [NodeDirective] {
        switch frame {
        case .batches(let conversation, _), .want(let conversation, _):
            return replicationFrame(frame, in: conversation, link: id, now: now)
        case .clock(let conversation, _):
            let directives = replicationFrame(frame, in: conversation, link: id, now: now)
            guard let replication = sessions[id]?.replication[conversation],
                  onClockReported(conversation, reported: replication.peerReported, localClock: replication.localClock)
            else { return directives }
            return [.savePendingJoin(conversation)] + directives
        case .ephemeral(let conversation, let updates):
            return onEphemeralReceived(updates, in: conversation, link: id, wallNow: wallNow, membership: membership)
        case .peers(let conversation, let addresses):
            return onPeersReceived(addresses, in: conversation, link: id, membership: membership)
        case .admission(let conversation, let admission) where admission.isEmpty:
            // A non-member asks this member to vouch for its public join.
            guard publicJoiner(to: conversation, on: id, membership: membership) != nil else { return [] }
            return [.readPublicAdmissions(conversation, link: id)]
        case .admission(let conversation, let admission):
            return onAdmissionReceived(admission, in: conversation, link: id, membership: membership)
        case .invitation(_, let token):
            return onInvitationReceived(token, link: id, wallNow: wallNow)
        case .admissionRefused(let conversation, let reason):
            onAdmissionRefused(reason, in: conversation, link: id)
            return []
        }
    }

    private mutating func replicationFrame(_ frame: DataFrame, in conversation: ConversationID, link id: Int,
                                           now: Duration) -> [NodeDirective] {
        do {
            return directives(try replicate(link: id, conversation) { try $0.receive(frame, now: now) }, link: id, conversation)
        } catch {
            return [.close(link: id, .protocolViolation)]
        }
    }
}
