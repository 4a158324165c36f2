import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Foundation
import NIOCore

/// Invitations as their invitee sees them: the direct invitations members' nodes delivered here
/// (see ``Node/deliverInvitations(to:only:)``), the people commands name, and the short invite
/// codes a member's node resolves into a token.
extension NodeCommands {
    /// The most received invitations kept, in all and per delivering peer (so one peer cannot
    /// crowd out the others); more are dropped and counted.
    public static let maxReceivedInvitations = NodeMachine.maxReceivedInvitations
    public static let maxReceivedInvitationsPerPeer = NodeMachine.maxReceivedInvitationsPerPeer

    /// The direct invitations members' nodes delivered here, newest first. `issuer` is the key
    /// that signed the token (the members check it is an admin when the invitee joins).
    public func receivedInvitationList() async -> [ReceivedInvitationEntry] {
        let now = configuration.wallClock()
        var entries: [ReceivedInvitationEntry] = []
        let (received, declined) = await node.inspect { (Array($0.receivedInvitations.values), $0.declinedInvitations) }
        let sorted = received
            .sorted { ($0.receivedAt, Hex.encode($0.token.content.tokenID)) > ($1.receivedAt, Hex.encode($1.token.content.tokenID)) }
        for invitation in sorted {
            let content = invitation.token.content
            let state: String
            let key = ReceivedInvitationKey(issuer: content.issuer, tokenID: content.tokenID)
            if node.directory.permission(of: replicaID, in: content.conversation) != nil {
                let link = try? await node.replica(content.conversation).conversation.links[content.tokenID]
                state = link?.creator == content.issuer && link?.joiners.contains(replicaID) == true ? "accepted" : "member"
            } else if declined.contains(key) {
                state = "declined"
            } else if content.expiresAt.map({ now > $0 }) == true {
                state = "expired"
            } else {
                state = "pending"
            }
            entries.append(ReceivedInvitationEntry(
                conversation: content.conversation.hex, permission: content.permission.description,
                issuer: PublicKey(content.issuer).text, tokenID: Hex.encode(content.tokenID), label: content.label,
                expiresAt: content.expiresAt, from: PublicKey(invitation.from).text, receivedAt: invitation.receivedAt,
                url: ShareLink.prefix + Hex.encode(invitation.token.bytes), state: state))
        }
        return entries
    }

    /// The token of the received invitation whose token id starts with `prefix` (hex, at least 4
    /// digits), or nil when none or more than one matches.
    public func receivedInvitationToken(matching prefix: String) async -> [UInt8]? {
        let prefix = prefix.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard prefix.count >= 4, prefix.count <= 2 * InviteRecord.tokenIDBytes else { return nil }
        let matches = await node.inspect { Array($0.receivedInvitations.values) }.filter { Hex.encode($0.token.content.tokenID).hasPrefix(prefix) }
        return matches.count == 1 ? matches[0].token.bytes : nil
    }

    /// The person `text` names: a public key (sc1…), or the display name (any case) of exactly
    /// one member of `conversation` (nil: of the conversations this node holds), so an admin can
    /// invite, grant or remove someone they know by name.
    /// - Complexity: O(c · m) for c conversations of m members.
    public func person(_ text: String, in conversation: ConversationID? = nil) async throws(NodeCommandError) -> ReplicaID {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let key = try? PublicKey(text: text) { return key.replicaID }
        var found: Set<ReplicaID> = []
        let searched = if let conversation { [conversation] } else { await node.conversations }
        for id in searched {
            guard let replica = try? await node.replica(id) else { continue }
            for (member, profile) in await replica.document.profiles
            where profile.profile.displayName.caseInsensitiveCompare(text) == .orderedSame {
                found.insert(member)
            }
        }
        guard let only = found.first else {
            let scope = conversation == nil ? "the conversations this node holds" : "this conversation"
            throw .invalidArgument("no one is called \(text) in \(scope); give their key (sc1…)")
        }
        guard found.count == 1 else {
            let keys = found.map { PublicKey($0).text }.sorted().joined(separator: ", ")
            throw .invalidArgument("\(found.count) people are called \(text) (\(keys)); give the key")
        }
        return only
    }

    /// Asks the code's node for the link the code names and opens its token with the code's
    /// secret. The session is a stranger's: it asks for no conversation, shows no token, and
    /// ends with the answer.
    /// - Throws: `invalid_invite` when no node there knows the code (or the answer does not open),
    ///   `timed_out` when it does not answer in time.
    public func resolveInviteCode(_ code: InviteCode, timeout: Duration = .seconds(15)) async throws(NodeCommandError) -> [UInt8] {
        var session = configuration.session
        session.conversations = []
        session.inviteToken = nil
        session.codeLookup = code.lookup
        var randomness = SystemRandomNumberGenerator()
        let machine = SessionStateMachine(role: .dialer, identity: node.identity, configuration: session,
                                          admission: { _ in .admit(conversations: []) }, randomness: &randomness)
        let clock = configuration.clock
        let outcome: Result<[UInt8], NodeCommandError> = await withTaskGroup(of: Result<[UInt8], NodeCommandError>?.self) { group in
            group.addTask {
                let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
                do {
                    channel = try await PeerConnection.connect(host: code.endpoint.host, port: code.endpoint.port)
                } catch {
                    return .failure(.timedOut("no node answers at \(code.endpoint) (\(error))"))
                }
                let (events, sink) = AsyncStream<PeerEvent>.makeStream()
                let (commands, _) = AsyncStream<PeerCommand>.makeStream()
                async let running: Void = PeerConnection.run(channel, session: machine, outgoing: commands, events: sink,
                                                             clock: clock, window: InboundWindow(limit: 1 << 20))
                var result: Result<[UInt8], NodeCommandError> = .failure(.joinRefused(.invalidInvite))
                for await event in events {
                    switch event {
                    case .codeResolved(let sealed):
                        // The one this code's secret opens (others were sealed under other secrets).
                        if let token = sealed.lazy.compactMap({ InviteCodeCrypto.open($0, secret: code.secret) }).first {
                            result = .success(token)
                        }
                    case .closed(.refusedByPeer(let reason)?) where reason != .goingAway:
                        result = .failure(.joinRefused(reason))
                    default:
                        break
                    }
                }
                await running
                return result
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(.timedOut("resolving the invite code at \(code.endpoint)"))
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(.timedOut("resolving the invite code"))
        }
        return try outcome.get()
    }
}
