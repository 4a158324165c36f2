import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

extension Node {
    // MARK: - Ephemeral gossip (typing, cursors, presence)

    /// Signs an ephemeral update of this node (typing, cursor, presence) and gossips it to every
    /// session of the conversation, at the pace ``NodeMachine/onPublish(_:in:wallNow:membership:)``
    /// allows. Members only.
    public func publish(_ payload: EphemeralPayload, in conversation: ConversationID) async throws(NodeCommandError) {
        for directive in try machine.onPublish(payload, in: conversation, wallNow: configuration.wallClock(), membership: directory) {
            if case .signEphemeral(let update) = directive {
                try await gossip(update)
            } else {
                await carryOut([directive])
            }
        }
    }

    /// Signs this node's update and hands it back to the machine to send.
    func gossip(_ update: EphemeralUpdate) async throws(NodeCommandError) {
        let key = identity
        let signed: SignedEphemeral
        do {
            signed = try SignedEphemeral(update: update) { key.sign($0).bytes }
        } catch {
            throw .invalidArgument("ephemeral update: \(error)")
        }
        await carryOut(machine.onEphemeralSigned(signed.bytes, in: update.conversation, wallNow: configuration.wallClock()))
    }

    /// The newest ephemeral state of every member (presence, typing, cursors) this node holds.
    public func ephemeralState(of conversation: ConversationID) -> EphemeralRegisters? {
        machine.gossips[conversation]?.registers
    }
}
