import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// Admission and invitations as the shell carries them out: it reads what ``NodeMachine``
/// needs from the replicas, signs what the machine decided to sign, and hands both back.
extension Node {
    /// What follows a session the machine kept, once the replicas were read: a token joiner's
    /// admission (or why its token does not admit it), and the open invitations for the peer.
    func welcome(link id: Int) async {
        if let grant = machine.tokenJoin(on: id, membership: directory), let replica = replicas[grant.conversation] {
            let state = await replica.conversation
            await carryOut(machine.onTokenJoinRead(link: id, grant: grant, link: state.links[grant.tokenID],
                                                   usesSeen: state.acceptedJoins(withToken: grant.tokenID),
                                                   wallNow: configuration.wallClock(), membership: directory))
        }
        if let peer = machine.sessions[id]?.peerID { await deliverInvitations(to: peer) }
    }

    /// Reads how many public joins this node's admissions got accepted this hour, for the
    /// machine to decide on the joiner on `link` (``NodeDirective/readPublicAdmissions(_:link:)``).
    func readPublicAdmissions(_ conversation: ConversationID, link id: Int) async {
        guard let replica = replicas[conversation] else { return }
        let wallNow = configuration.wallClock()
        let accepted = await replica.conversation.publicAdmissions(by: replicaID, inHourBefore: wallNow)
        await carryOut(machine.onPublicJoinRead(conversation, link: id, acceptedThisHour: accepted, wallNow: wallNow,
                                                membership: directory))
    }

    /// Signs an admission the machine decided on (``NodeDirective/signAdmission(_:link:)``).
    func signAdmission(_ content: JoinAdmission, link id: Int) async {
        let key = identity
        let admission = SignedAdmission(content: content) { key.sign($0).bytes }
        await carryOut(machine.onAdmissionSigned(admission.bytes, content, link: id))
    }

    /// Asks the member at `endpoint`, and every session, to vouch for this node's public join of
    /// `conversation`.
    func askToJoinPublicly(_ conversation: ConversationID, via endpoint: PeerEndpoint) async {
        await carryOut(machine.wantPublicAdmission(to: conversation, via: endpoint))
    }

    /// How a member answered this node's public join of `conversation`, judged against the
    /// conversation as it is now (nil: no answer yet).
    func publicJoinAnswer(_ conversation: ConversationID) async -> PublicJoinAnswer? {
        guard let replica = replicas[conversation] else { return nil }
        let document = await replica.document
        return machine.publicJoinAnswer(conversation, document: document)
    }

    /// Gives up asking for a public admission to `conversation`.
    func stopAskingToJoinPublicly(_ conversation: ConversationID) {
        machine.publicJoins.finish(conversation)
    }
}
