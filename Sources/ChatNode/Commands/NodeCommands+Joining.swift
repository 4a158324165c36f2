import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// Joining a conversation: on an invite token (dial, be admitted and receive the admitting
/// member's signed admission, catch up, record the join, kept across restarts until a member
/// holds it), declining a direct invitation, joining a public conversation, or following one this
/// identity already belongs to. Each waits on the node machine's view of the join, read again
/// every 10 ms, until it is done, refused, or the timeout passes.
extension NodeCommands {
    /// Joins the conversation of `tokenBytes` through the peer at `endpoint` (or the token's
    /// addresses): dials, is admitted on the token, catches up, and records the join as a signed
    /// operation carrying the token. Returns once the join is durable here. A node that holds
    /// itself a member already (its state may have missed its removal) returns once a member's
    /// node admits it, and is refused with `revoked` when it was removed.
    public func join(token tokenBytes: [UInt8], via endpoint: PeerEndpoint?,
                     timeout: Duration = .seconds(15)) async throws(NodeCommandError) -> ConversationID {
        try await join(token: tokenBytes, via: endpoint, timeout: timeout, declining: false)
    }

    /// Declines a direct invitation this node received: connects on the invitation's token (to
    /// be admitted), waits for the conversation's history (the invitation's record), and signs
    /// the decline. Returns once the decline is durable here.
    public func decline(token tokenBytes: [UInt8], via endpoint: PeerEndpoint?,
                        timeout: Duration = .seconds(15)) async throws(NodeCommandError) -> ConversationID {
        let conversation = try await join(token: tokenBytes, via: endpoint, timeout: timeout, declining: true)
        if let grant = ConversationInputs.verifyInvite(tokenBytes) {
            await node.noteDeclined(ReceivedInvitationKey(issuer: grant.issuer, tokenID: grant.tokenID))
        }
        return conversation
    }

    func join(token tokenBytes: [UInt8], via endpoint: PeerEndpoint?, timeout: Duration,
              declining: Bool) async throws(NodeCommandError) -> ConversationID {
        guard let grant = ConversationInputs.verifyInvite(tokenBytes), let token = try? InviteToken(decoding: tokenBytes) else {
            throw .invalidToken("it does not decode or its signature does not verify")
        }
        // Said with the code a member's node would refuse it with.
        if let expiresAt = grant.expiresAt, configuration.wallClock() > expiresAt { throw .joinRefused(.inviteExpired) }
        let conversation = grant.conversation
        let targets = endpoint.map { [$0] } ?? token.content.addresses.compactMap { PeerEndpoint($0) }
        guard !targets.isEmpty else { throw .invalidArgument("the token carries no address: give the peer's host:port") }
        try await node.beginJoin(token: tokenBytes, grant: grant, declining: declining, targets: targets)
        let clock = configuration.clock
        let deadline = clock.elapsedTime + timeout
        while true {
            switch await node.joinProgress(conversation, declining: declining) {
            case .done: return conversation
            case .failed(let error): throw error
            case .waiting: break
            }
            guard clock.elapsedTime < deadline else {
                await node.abandonJoin(conversation)
                let addresses = targets.map(\.description).joined(separator: ", ")
                throw .timedOut(declining ? "the invitation's record did not arrive from \(addresses)"
                                          : "no member at \(addresses) admitted this node")
            }
            try? await clock.sleep(for: .milliseconds(10))
        }
        // Durable here. Until a member reports holding the join, the token is presented again on
        // every dial (across restarts too), so the join cannot be stranded.
    }

    /// Joins a public conversation through a member at `endpoint`, with `view` permission: no
    /// token needed, but the member's signed admission (each member vouches for at most
    /// ``SharingLimits/publicAdmissionsPerHour`` joiners an hour). Fails when the conversation is
    /// private (the member refuses the session) or the member is at its limit (`rate_limited`).
    public func joinPublic(_ conversation: ConversationID, via endpoint: PeerEndpoint,
                           timeout: Duration = .seconds(15)) async throws(NodeCommandError) {
        if node.directory.permission(of: replicaID, in: conversation) != nil { return }
        try await follow(conversation)
        await node.askToJoinPublicly(conversation, via: endpoint)
        switch try await publicJoinAnswer(conversation, via: endpoint, timeout: timeout) {
        case .refused(let reason):
            throw .joinRefused(reason)
        case .admitted(let admission):
            try await node.submit([.join(inviteToken: [], admission: admission)], to: conversation)
            if let name = configuration.displayName {
                try await node.submit([.setProfile(Profile(displayName: name))], to: conversation)
            }
        }
    }

    /// Waits for a member's answer to this node's public join of `conversation`.
    private func publicJoinAnswer(_ conversation: ConversationID, via endpoint: PeerEndpoint,
                                  timeout: Duration) async throws(NodeCommandError) -> PublicJoinAnswer {
        let clock = configuration.clock
        let deadline = clock.elapsedTime + timeout
        while true {
            if let answer = await node.publicJoinAnswer(conversation) { return answer }
            guard clock.elapsedTime < deadline else {
                await node.stopAskingToJoinPublicly(conversation)
                throw .notPermitted("no member at \(endpoint) admitted this node: the conversation is private or unreachable")
            }
            try? await clock.sleep(for: .milliseconds(10))
        }
    }

    /// Starts holding a conversation this node's identity is already a member of (another device
    /// of the same identity, or a store that was lost): it syncs from the peers it dials.
    public func follow(_ conversation: ConversationID) async throws(NodeCommandError) {
        _ = try await node.hold(conversation)
    }
}
