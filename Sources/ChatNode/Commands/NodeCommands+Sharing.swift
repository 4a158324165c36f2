import ChatControl
import ChatCore
import ChatCrypto
import ChatStore
import ChatSync
import ChatWire

/// Sharing a conversation: links and direct invitations, permissions, removals, access requests,
/// the public mode, and the audit trail. Changes are admins' only, checked before anything is
/// signed.
extension NodeCommands {
    /// Creates a share link (or, with `invitee`, a direct invitation): signs the token and
    /// records the link in the signed log, so every replica counts its uses and honours its
    /// revocation. Admins only; at most 20 per admin per hour.
    public func createLink(in conversation: ConversationID, permission: Permission, expiresAt: UInt64? = nil,
                           useLimit: UInt32? = nil, label: String = "", invitee: ReplicaID? = nil)
        async throws(NodeCommandError) -> ShareLink {
        let address = await node.listeningOn
        let token = try signInviteToken(conversation, permission: permission, expiresAt: expiresAt, useLimit: useLimit,
                                        label: label, listeningOn: address)
        // A direct invitation carries its token in the log, so any member can deliver it. A share
        // link gets a short code: the log keeps the secret's lookup hash and the token sealed
        // under it, so any member's node can answer the code and only its holder can open it.
        var code: InviteCode?
        if invitee == nil, let address = configuration.advertised ?? address {
            code = InviteCode(endpoint: address, secret: InviteCodeCrypto.newSecret())
        }
        let record = InviteRecord(tokenID: token.content.tokenID, permission: permission, expiresAt: expiresAt,
                                  useLimit: useLimit, label: label, invitee: invitee, token: invitee.map { _ in token.bytes },
                                  code: code.map { InviteCodeRecord(lookup: $0.lookup,
                                                                    sealedToken: InviteCodeCrypto.seal(token.bytes, secret: $0.secret)) })
        try await node.submit([.createLink(record)], to: conversation)
        if let invitee { await node.deliverInvitations(to: invitee, only: record.tokenID) }
        return ShareLink(url: ShareLink.prefix + Hex.encode(token.bytes), tokenID: Hex.encode(token.content.tokenID),
                         conversation: conversation.hex, permission: permission.description, expiresAt: expiresAt,
                         useLimit: useLimit, label: label, invitee: invitee.map { PublicKey($0).text },
                         code: code?.description)
    }

    /// Creates a share link for `conversation` (admins only): signs an invite token carrying this
    /// node's address and records the link in the signed log (see ``createLink(in:permission:expiresAt:useLimit:label:invitee:)``),
    /// so it is listed, counted, rate-limited and revocable like every link.
    public func invite(_ conversation: ConversationID, permission: Permission, expiresAt: UInt64? = nil,
                       useLimit: UInt32? = nil, label: String = "") async throws(NodeCommandError) -> InviteToken {
        let link = try await createLink(in: conversation, permission: permission, expiresAt: expiresAt,
                                        useLimit: useLimit, label: label)
        guard let bytes = ShareLink.tokenBytes(from: link.url), let token = try? InviteToken(decoding: bytes) else {
            throw .invalidToken("the link just signed does not decode") // not reached: it was just encoded
        }
        return token
    }

    /// Signs an invite token for `conversation` (admins only) carrying this node's address; it
    /// admits no one until its link is recorded.
    func signInviteToken(_ conversation: ConversationID, permission: Permission, expiresAt: UInt64?,
                         useLimit: UInt32?, label: String, listeningOn: PeerEndpoint?) throws(NodeCommandError) -> InviteToken {
        try requirePermission(in: conversation, { $0 == .admin }, "only admins can invite")
        guard label.utf8.count <= 256 else { throw .invalidArgument("a label is at most 256 bytes") }
        var randomness = SystemRandomNumberGenerator()
        let tokenID = (0 ..< InviteTokenContent.tokenIDBytes).map { _ in UInt8.random(in: 0 ... 255, using: &randomness) }
        let addresses = [configuration.advertised ?? listeningOn].compactMap { $0?.description }
        let content = InviteTokenContent(conversation: conversation, permission: permission, issuer: replicaID,
                                         tokenID: tokenID, issuedAt: configuration.wallClock(), expiresAt: expiresAt,
                                         useLimit: useLimit, label: label, addresses: addresses)
        let key = node.identity
        return InviteToken(content: content) { key.sign($0).bytes }
    }

    /// The links and invitations recorded in a conversation, newest first.
    public func links(of conversation: ConversationID) async throws(NodeCommandError) -> [LinkEntry] {
        LinkEntry.list(of: try await node.replica(conversation).conversation, now: configuration.wallClock())
    }

    /// Revokes a link or invitation by its token id (or an unambiguous prefix). Admins only.
    public func revokeLink(_ tokenIDPrefix: String, in conversation: ConversationID) async throws(NodeCommandError) {
        let state = try await node.replica(conversation).conversation
        let matches = state.links.keys.filter { Hex.encode($0).hasPrefix(tokenIDPrefix.lowercased()) }
        guard !tokenIDPrefix.isEmpty, matches.count == 1, let tokenID = matches.first else {
            throw .invalidArgument(matches.isEmpty ? "no link \(tokenIDPrefix) in this conversation" : "\(tokenIDPrefix) names several links")
        }
        try requirePermission(in: conversation, { $0 == .admin }, "only admins revoke links")
        try await node.submit([.revokeLink(tokenID: tokenID)], to: conversation)
    }

    /// Sets a member's permission (admins only).
    public func grant(_ permission: Permission, to member: ReplicaID, in conversation: ConversationID) async throws(NodeCommandError) {
        try requirePermission(in: conversation, { $0 == .admin }, "only admins change permissions")
        try await node.submit([.setPermission(member: member, permission: permission)], to: conversation)
    }

    /// Removes a member (admins only): their sessions are closed everywhere and their later
    /// operations excluded.
    public func revoke(_ member: ReplicaID, in conversation: ConversationID) async throws(NodeCommandError) {
        try requirePermission(in: conversation, { $0 == .admin }, "only admins remove members")
        try await node.submit([.removeMember(member: member)], to: conversation)
    }

    /// Asks the admins for `permission` (a member denied an action).
    public func requestAccess(_ permission: Permission, note: String, in conversation: ConversationID) async throws(NodeCommandError) {
        try await node.submit([.requestAccess(permission: permission, note: note)], to: conversation)
    }

    /// The access requests of a conversation (admins see them to grant them).
    public func accessRequests(of conversation: ConversationID) async throws(NodeCommandError) -> [AccessRequestEntry] {
        let state = try await node.replica(conversation).conversation
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
        var settings = try await node.replica(conversation).document.settings
        settings.isPublic = isPublic
        try await node.submit([.setSettings(settings)], to: conversation)
    }

    // MARK: - Audit

    /// The audit trail of a conversation — from its signed log plus this node's stored record of
    /// peer sessions (the newest 10,000, kept across restarts) — filtered. Admins only.
    /// - Complexity: O(log size), reading every stored batch and session record of the conversation.
    public func audit(_ conversation: ConversationID, filter: AuditFilter = AuditFilter()) async throws(NodeCommandError)
        -> [AuditEntry] {
        try requirePermission(in: conversation, { $0 == .admin }, "the audit trail is for admins")
        let replica = try await node.replica(conversation)
        let batches: [SignedBatch]
        do { batches = try await replica.loggedBatches() } catch { throw .node(error) }
        let state = await replica.conversation
        let sessions = try await sessionRecords(of: conversation)
        let entries = AuditTrail.entries(from: batches.map { $0.operationBatch(past: $0.content.namedCounts) },
                                         excluded: { state.excluded[$0] != nil }, sessions: sessions,
                                         verifyInvite: ConversationInputs.verifyInvite,
                                         verifyAdmission: ConversationInputs.verifyAdmission,
                                         keyText: { PublicKey($0).text }, equivocators: state.equivocators)
        return filter.apply(to: entries)
    }

    /// The node's stored peer-session records of `conversation`, oldest first, with every record
    /// made so far written. Records that do not decode are left out and reported as an `error` event.
    private func sessionRecords(of conversation: ConversationID) async throws(NodeCommandError) -> [PeerSessionRecord] {
        let page: SessionRecordPage
        do { page = try await node.sessionRecorder.records(of: conversation) } catch { throw .node(.store(error)) }
        if page.skippedCount > 0 {
            node.eventSink.yield(.error(code: "store:session_records_skipped",
                                        message: "\(page.skippedCount) stored peer-session records did not decode; the audit trail leaves them out"))
        }
        return page.records
    }

    /// The audit trail as RFC 4180 CSV, keys as `sc1…` text, names from profiles; user-written
    /// text can neither break a row nor start a spreadsheet formula.
    public func auditCSV(_ conversation: ConversationID, filter: AuditFilter = AuditFilter()) async throws(NodeCommandError)
        -> String {
        let entries = try await audit(conversation, filter: filter)
        let profiles = try await node.replica(conversation).document.profiles
        return AuditCSV.render(entries, names: profiles.mapValues(\.profile.displayName), keyText: { PublicKey($0).text })
    }
}
