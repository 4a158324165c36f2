import ChatCore
import ChatCrypto
import ChatStore
import ChatSync
import ChatWire

extension Node {
    /// Creates a share link (or, with `invitee`, a direct invitation): signs the token and
    /// records the link in the signed log, so every replica counts its uses and honours its
    /// revocation. Admins only; at most 20 per admin per hour.
    public func createLink(in conversation: ConversationID, permission: Permission, expiresAt: UInt64? = nil,
                           useLimit: UInt32? = nil, label: String = "", invitee: ReplicaID? = nil)
        async throws(NodeCommandError) -> ShareLink {
        let token = try signInviteToken(conversation, permission: permission, expiresAt: expiresAt, useLimit: useLimit,
                                        label: label)
        // A direct invitation carries its token in the log, so any member can deliver it. A share
        // link gets a short code: the log keeps the secret's lookup hash and the token sealed
        // under it, so any member's node can answer the code and only its holder can open it.
        var code: InviteCode?
        if invitee == nil, let address = configuration.advertised ?? listeningOn {
            code = InviteCode(endpoint: address, secret: InviteCodeCrypto.newSecret())
        }
        let record = InviteRecord(tokenID: token.content.tokenID, permission: permission, expiresAt: expiresAt,
                                  useLimit: useLimit, label: label, invitee: invitee, token: invitee.map { _ in token.bytes },
                                  code: code.map { InviteCodeRecord(lookup: $0.lookup,
                                                                    sealedToken: InviteCodeCrypto.seal(token.bytes, secret: $0.secret)) })
        try await submit([.createLink(record)], to: conversation)
        if let invitee { await deliverInvitations(to: invitee, only: record.tokenID) }
        return ShareLink(url: ShareLink.prefix + Hex.encode(token.bytes), tokenID: Hex.encode(token.content.tokenID),
                         conversation: conversation.hex, permission: permission.description, expiresAt: expiresAt,
                         useLimit: useLimit, label: label, invitee: invitee.map { PublicKey($0).text },
                         code: code?.description)
    }

    /// The links and invitations recorded in a conversation, newest first.
    public func links(of conversation: ConversationID) async throws(NodeCommandError) -> [LinkEntry] {
        LinkEntry.list(of: try await replica(conversation).conversation, now: configuration.wallClock())
    }

    /// Revokes a link or invitation by its token id (or an unambiguous prefix). Admins only.
    public func revokeLink(_ tokenIDPrefix: String, in conversation: ConversationID) async throws(NodeCommandError) {
        let state = try await replica(conversation).conversation
        let matches = state.links.keys.filter { Hex.encode($0).hasPrefix(tokenIDPrefix.lowercased()) }
        guard !tokenIDPrefix.isEmpty, matches.count == 1, let tokenID = matches.first else {
            throw .invalidArgument(matches.isEmpty ? "no link \(tokenIDPrefix) in this conversation" : "\(tokenIDPrefix) names several links")
        }
        try requirePermission(in: conversation, { $0 == .admin }, "only admins revoke links")
        try await submit([.revokeLink(tokenID: tokenID)], to: conversation)
    }

    /// Declines a direct invitation this node received: connects on the invitation's token (to
    /// be admitted), waits for the conversation's history (the invitation's record), and signs
    /// the decline. Returns once the decline is durable here.
    public func decline(token tokenBytes: [UInt8], via endpoint: PeerEndpoint?,
                        timeout: Duration = .seconds(15)) async throws(NodeCommandError) -> ConversationID {
        let conversation = try await join(token: tokenBytes, via: endpoint, timeout: timeout, declining: true)
        if let grant = ConversationInputs.verifyInvite(tokenBytes) {
            machine.declinedInvitations.insert(ReceivedInvitationKey(issuer: grant.issuer, tokenID: grant.tokenID))
        }
        return conversation
    }

    /// Sets a member's permission (admins only).
    public func grant(_ permission: Permission, to member: ReplicaID, in conversation: ConversationID) async throws(NodeCommandError) {
        try requirePermission(in: conversation, { $0 == .admin }, "only admins change permissions")
        try await submit([.setPermission(member: member, permission: permission)], to: conversation)
    }

    /// Removes a member (admins only): their sessions are closed everywhere and their later
    /// operations excluded.
    public func revoke(_ member: ReplicaID, in conversation: ConversationID) async throws(NodeCommandError) {
        try requirePermission(in: conversation, { $0 == .admin }, "only admins remove members")
        try await submit([.removeMember(member: member)], to: conversation)
    }

    /// Asks the admins for `permission` (a member denied an action).
    public func requestAccess(_ permission: Permission, note: String, in conversation: ConversationID) async throws(NodeCommandError) {
        try await submit([.requestAccess(permission: permission, note: note)], to: conversation)
    }

    /// The access requests of a conversation (admins see them to grant them).
    public func accessRequests(of conversation: ConversationID) async throws(NodeCommandError) -> [AccessRequestEntry] {
        let state = try await replica(conversation).conversation
        return state.accessRequests.map { request in
            AccessRequestEntry(id: MessageReference.text(request.id), author: PublicKey(request.author).text,
                               authorName: state.document.profiles[request.author]?.profile.displayName,
                               permission: request.permission.description, note: request.note, at: request.at,
                               granted: request.granted)
        }
    }

    /// Makes a conversation public (anyone who reaches a member may join with `view`) or private
    /// (only holders of a valid link or invitation). Admins only.
    public func setMode(public isPublic: Bool, in conversation: ConversationID) async throws(NodeCommandError) {
        try requirePermission(in: conversation, { $0 == .admin }, "only admins change the mode")
        var settings = try await replica(conversation).document.settings
        settings.isPublic = isPublic
        try await submit([.setSettings(settings)], to: conversation)
    }
}

extension Node {
    /// The audit trail of a conversation — from its signed log plus this node's stored record of
    /// peer sessions (the newest 10,000, kept across restarts) — filtered. Admins only.
    /// - Complexity: O(log size), reading every stored batch and session record of the conversation.
    public func audit(_ conversation: ConversationID, filter: AuditFilter = AuditFilter()) async throws(NodeCommandError)
        -> [AuditEntry] {
        try requirePermission(in: conversation, { $0 == .admin }, "the audit trail is for admins")
        let replica = try replica(conversation)
        let batches: [SignedBatch]
        do { batches = try await replica.loggedBatches() } catch { throw .node(error) }
        let state = await replica.conversation
        await sessionRecorder.flush()
        let sessions: SessionRecordPage
        do { sessions = try store.sessionRecords(of: conversation) } catch { throw .node(.store(error)) }
        if sessions.skippedCount > 0 {
            eventSink.yield(.error(code: "store:session_records_skipped",
                                   message: "\(sessions.skippedCount) stored peer-session records did not decode; the audit trail leaves them out"))
        }
        let entries = AuditTrail.entries(from: batches.map { $0.operationBatch(past: $0.content.namedCounts) },
                                         excluded: { state.excluded[$0] != nil }, sessions: sessions.records,
                                         verifyInvite: ConversationInputs.verifyInvite,
                                         verifyAdmission: ConversationInputs.verifyAdmission,
                                         keyText: { PublicKey($0).text }, equivocators: state.equivocators)
        return filter.apply(to: entries)
    }

    /// The audit trail as RFC 4180 CSV, keys as `sc1…` text, names from profiles; user-written
    /// text can neither break a row nor start a spreadsheet formula.
    public func auditCSV(_ conversation: ConversationID, filter: AuditFilter = AuditFilter()) async throws(NodeCommandError)
        -> String {
        let entries = try await audit(conversation, filter: filter)
        let profiles = try await replica(conversation).document.profiles
        return AuditCSV.render(entries, names: profiles.mapValues(\.profile.displayName), keyText: { PublicKey($0).text })
    }

    /// Records a session starting or ending, once per conversation it carried, for the audit
    /// trail (the store keeps the newest 10,000 per conversation). Written in order off this
    /// actor (see ``SessionRecorder``); a store failure is reported as an `error` event.
    func recordSession(_ peer: ReplicaID, connected: Bool, conversations: [ConversationID]) {
        let session = PeerSessionRecord(peer: peer, at: configuration.wallClock(), connected: connected)
        sessionRecorder.record(Set(conversations).sorted().map { ConversationSessionRecord(conversation: $0, session: session) })
    }
}

extension Node {
    /// Joins a public conversation through a member at `endpoint`, with `view` permission: no
    /// token needed, but the member's signed admission (each member vouches for at most
    /// ``SharingLimits/publicAdmissionsPerHour`` joiners an hour). Fails when the conversation is
    /// private (the member refuses the session) or the member is at its limit (`rate_limited`).
    public func joinPublic(_ conversation: ConversationID, via endpoint: PeerEndpoint,
                           timeout: Duration = .seconds(15)) async throws(NodeCommandError) {
        if directory.permission(of: replicaID, in: conversation) != nil { return }
        try await follow(conversation)
        let asking = machine.wantPublicAdmission(to: conversation)
        await carryOut(machine.dialOrRefresh(endpoint) + asking)
        let replica = try replica(conversation)
        let deadline = now + timeout
        var admission: [UInt8]
        while true {
            let document = await replica.document
            if document.settings.isPublic, let received = machine.publicJoins.received[conversation],
               document.permissions[received.content.admitter] != nil {
                admission = received.bytes
                break
            }
            if let refusal = machine.publicJoins.refusals[conversation] {
                machine.publicJoins.finish(conversation)
                throw .joinRefused(refusal)
            }
            guard now < deadline else {
                machine.publicJoins.finish(conversation)
                throw .notPermitted("no member at \(endpoint) admitted this node: the conversation is private or unreachable")
            }
            try? await configuration.clock.sleep(for: .milliseconds(10))
        }
        machine.publicJoins.finish(conversation)
        try await submit([.join(inviteToken: [], admission: admission)], to: conversation)
        if let name = configuration.displayName { try await submit([.setProfile(Profile(displayName: name))], to: conversation) }
    }
}
