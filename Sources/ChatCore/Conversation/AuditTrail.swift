/// What an audit entry records. The raw values are stable: they appear in CSV exports and JSON.
public enum AuditAction: String, CaseIterable, Sendable, Codable {
    /// The conversation admitted its first member other than its creator.
    case conversationShared = "conversation_shared"
    /// An invitation was issued to a user.
    case userInvited = "user_invited"
    /// A user gained access (a first grant, or a join).
    case accessGranted = "access_granted"
    /// An admin removed a member.
    case accessRevoked = "access_revoked"
    /// An admin set a member's permission, or changed the conversation's settings.
    case permissionChanged = "permission_changed"
    /// A message was posted.
    case messageSent = "message_sent"
    /// A message's text was edited.
    case messageEdited = "message_edited"
    /// A message was deleted.
    case messageDeleted = "message_deleted"
    /// A share link was created.
    case linkCreated = "link_created"
    /// A share link was revoked.
    case linkRevoked = "link_revoked"
    /// A share link (an invite token) was used to join.
    case linkUsed = "link_used"
    /// A user asked for access.
    case accessRequested = "access_requested"
    /// The invitee of a direct invitation joined with it.
    case invitationAccepted = "invitation_accepted"
    /// The invitee of a direct invitation declined it.
    case invitationDeclined = "invitation_declined"
    /// A peer connected to this node (local session record, not part of the signed log).
    case peerConnected = "peer_connected"
    /// A peer disconnected from this node (local session record, not part of the signed log).
    case peerDisconnected = "peer_disconnected"
    /// A member's node signed two different batches for the same counters; its operations from
    /// the fork point on are excluded (at: the first of its batches from there on).
    case equivocation = "equivocation"
}

/// One line of a conversation's audit trail.
///
/// `Codable` (stdlib only, no Foundation): replica ids are encoded as 64 lower-case hex digits,
/// operation ids as `"<replica hex>@<counter>"`; decoding rejects anything else.
public struct AuditEntry: Sendable, Hashable, Codable {
    /// ms since the Unix epoch: the batch's signed timestamp, or the node's session time for peer events.
    public var at: UInt64
    /// What happened.
    public var action: AuditAction
    /// Who did it.
    public var actor: ReplicaID
    /// Whom it concerns (a member, a message's author, a joiner), if anyone.
    public var target: ReplicaID?
    /// The message it concerns, if any.
    public var message: OpID?
    /// Free-form `key=value` detail (`permission=edit`, `token=…`, `mode=public`); may hold user text.
    public var detail: String
    /// The operation it was derived from (nil for peer session events).
    public var opID: OpID?

    /// Creates an entry.
    public init(at: UInt64, action: AuditAction, actor: ReplicaID, target: ReplicaID? = nil, message: OpID? = nil,
                detail: String = "", opID: OpID? = nil) {
        self.at = at
        self.action = action
        self.actor = actor
        self.target = target
        self.message = message
        self.detail = detail
        self.opID = opID
    }

    private enum CodingKeys: String, CodingKey {
        case at, action, actor, target, message, detail, opID
    }

    /// Decodes an entry whose ids are hex strings (see the type's documentation).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        at = try container.decode(UInt64.self, forKey: .at)
        action = try container.decode(AuditAction.self, forKey: .action)
        actor = try Self.replica(try container.decode(String.self, forKey: .actor), key: .actor, in: container)
        if let text = try container.decodeIfPresent(String.self, forKey: .target) {
            target = try Self.replica(text, key: .target, in: container)
        } else {
            target = nil
        }
        if let text = try container.decodeIfPresent(String.self, forKey: .message) {
            message = try Self.opID(text, key: .message, in: container)
        } else {
            message = nil
        }
        detail = try container.decode(String.self, forKey: .detail)
        if let text = try container.decodeIfPresent(String.self, forKey: .opID) {
            opID = try Self.opID(text, key: .opID, in: container)
        } else {
            opID = nil
        }
    }

    /// Encodes the entry with its ids as hex strings.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(at, forKey: .at)
        try container.encode(action, forKey: .action)
        try container.encode(Hex.encode(actor.bytes), forKey: .actor)
        try container.encodeIfPresent(target.map { Hex.encode($0.bytes) }, forKey: .target)
        try container.encodeIfPresent(message.map(Self.text(of:)), forKey: .message)
        try container.encode(detail, forKey: .detail)
        try container.encodeIfPresent(opID.map(Self.text(of:)), forKey: .opID)
    }

    /// `"<replica hex>@<counter>"`.
    static func text(of id: OpID) -> String { Hex.encode(id.replica.bytes) + "@" + String(id.counter) }

    private static func replica(_ text: String, key: CodingKeys,
                                in container: KeyedDecodingContainer<CodingKeys>) throws -> ReplicaID {
        guard let bytes = Hex.decode(text), let replica = ReplicaID(bytes: bytes) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not 32 hex bytes")
        }
        return replica
    }

    private static func opID(_ text: String, key: CodingKeys,
                             in container: KeyedDecodingContainer<CodingKeys>) throws -> OpID {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, let bytes = Hex.decode(parts[0]), let replica = ReplicaID(bytes: bytes),
              let counter = UInt32(parts[1]) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not <hex>@<counter>")
        }
        return OpID(replica: replica, counter: counter)
    }
}

/// A peer connecting to or disconnecting from this node, as the node's session layer saw it
/// (local and unsigned: other replicas have their own).
public struct PeerSessionRecord: Sendable, Hashable {
    /// The peer.
    public var peer: ReplicaID
    /// ms since the Unix epoch, on this node's clock.
    public var at: UInt64
    /// True for a connection, false for a disconnection.
    public var connected: Bool

    /// Creates a record.
    public init(peer: ReplicaID, at: UInt64, connected: Bool) {
        self.peer = peer
        self.at = at
        self.connected = connected
    }
}

/// A conversation's audit trail, derived purely from its signed log and the node's session records.
///
/// Decisions:
/// - Operations the rules excluded (`excluded(id) == true`) are **left out**: the trail shows what
///   took effect. Why something was excluded is in ``Conversation/excluded``.
/// - `genesis` yields no entry. `conversation_shared` is emitted once, just before the
///   `access_granted` of the first member admitted other than the genesis author (by
///   `setPermission` or by `join`); its actor is whoever admitted them, its target the new member.
/// - `setPermission` yields `permission_changed` (`permission=<level>`), preceded by
///   `access_granted` when the member held no permission earlier in the trail (never granted, or
///   removed since).
/// - `join` with a token yields `link_used` (actor: the joiner; target: the token's issuer when
///   `verifyInvite` is given; detail `token=<token id hex>`), then `access_granted` (actor: the issuer,
///   or the joiner when unknown; target: the joiner). A public join (empty token) uses no link:
///   only `access_granted` with `mode=public`.
/// - Consecutive `insertText`/`deleteText` of one message in one batch become one
///   `message_edited` entry (`inserted=<n> deleted=<n>`, `opID` of the first edit).
/// - `setSettings` yields `permission_changed` with `mode=public|private` and the limits.
/// - `setProfile` yields nothing.
public enum AuditTrail {
    /// The trail of `batches` (in causal order) and `sessions`, sorted by time, then log order
    /// (log entries before session records at the same instant).
    ///
    /// - Parameters:
    ///   - excluded: true for operations the conversation's rules excluded.
    ///   - verifyInvite: decodes join tokens (issuer, token id, permission); nil leaves them opaque.
    ///   - verifyAdmission: decodes the admitting members' records in joins (who admitted, when,
    ///     the use number); nil leaves them out.
    ///   - keyText: how a key is written inside a detail (default: hex).
    /// - Complexity: O(n log n) in the number of operations and session records.
    public static func entries(from batches: some Sequence<OperationBatch>, excluded: (OpID) -> Bool,
                               sessions: [PeerSessionRecord], verifyInvite: InviteVerifier? = nil,
                               verifyAdmission: AdmissionVerifier? = nil,
                               keyText: @escaping (ReplicaID) -> String = { Hex.encode($0.bytes) },
                               equivocators: [ReplicaID: UInt32] = [:]) -> [AuditEntry] {
        var builder = Builder(verifyInvite: verifyInvite, verifyAdmission: verifyAdmission, keyText: keyText)
        var forks = equivocators
        for batch in batches {
            builder.add(batch, excluded: excluded)
            if let point = forks[batch.author], batch.firstCounter >= point {
                builder.entries.append(AuditEntry(at: batch.timestamp, action: .equivocation, actor: batch.author,
                                                  detail: "signed two histories from counter \(point)"))
                forks[batch.author] = nil
            }
        }
        var all = builder.entries
        for session in sessions {
            all.append(AuditEntry(at: session.at, action: session.connected ? .peerConnected : .peerDisconnected,
                                  actor: session.peer))
        }
        // Stable by construction: ties broken by position (log order, then session order).
        return all.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
    }

    /// Walks the log, keeping who holds which permission so far.
    private struct Builder {
        let verifyInvite: InviteVerifier?
        let verifyAdmission: AdmissionVerifier?
        let keyText: (ReplicaID) -> String
        var entries: [AuditEntry] = []
        var creator: ReplicaID?
        var shared = false
        var permissions: [ReplicaID: Permission] = [:]
        /// Who recorded each direct invitation, by token id.
        var issuers: [[UInt8]: ReplicaID] = [:]

        init(verifyInvite: InviteVerifier?, verifyAdmission: AdmissionVerifier?, keyText: @escaping (ReplicaID) -> String) {
            self.verifyInvite = verifyInvite
            self.verifyAdmission = verifyAdmission
            self.keyText = keyText
        }

        /// An edit run being coalesced: the index of its entry and its message.
        struct EditRun {
            var index: Int
            var message: OpID
            var inserted: UInt64
            var deleted: UInt64
        }

        mutating func add(_ batch: OperationBatch, excluded: (OpID) -> Bool) {
            let at = batch.timestamp, author = batch.author
            var run: EditRun?
            for (id, op) in batch.identified where !excluded(id) {
                switch op {
                case .insertText(let insert):
                    edit(&run, message: insert.message, inserted: UInt64(insert.text.count), deleted: 0, id: id, batch: batch)
                    continue
                case .deleteText(let delete):
                    edit(&run, message: delete.message, inserted: 0, deleted: UInt64(delete.count), id: id, batch: batch)
                    continue
                case .genesis:
                    creator = creator ?? author
                    permissions[author] = .admin
                case .postMessage:
                    append(at, .messageSent, author, message: id, opID: id)
                case .deleteMessage(let message):
                    append(at, .messageDeleted, author, target: message.replica, message: message, opID: id)
                case .setProfile:
                    break
                case .setPermission(let member, let permission):
                    if permissions[member] == nil {
                        grant(at, by: author, to: member, detail: "permission=\(permission)", opID: id)
                    }
                    permissions[member] = permission
                    append(at, .permissionChanged, author, target: member, detail: "permission=\(permission)", opID: id)
                case .removeMember(let member):
                    permissions[member] = nil
                    append(at, .accessRevoked, author, target: member, opID: id)
                case .setSettings(let settings):
                    let mode = settings.isPublic ? "public" : "private"
                    let limits = "messagesPerMinute=\(settings.messagesPerMinute) maxMessageBytes=\(settings.maxMessageBytes)"
                    append(at, .permissionChanged, author, detail: "mode=\(mode) \(limits)", opID: id)
                case .join(let token, let admission):
                    join(at, author, token: token, admission: admission, opID: id)
                case .createLink(let record):
                    if record.invitee != nil { issuers[record.tokenID] = author }
                    let token = "token=\(Hex.encode(record.tokenID)) permission=\(record.permission)"
                    append(at, .linkCreated, author, target: record.invitee, detail: token, opID: id)
                    if let invitee = record.invitee {
                        append(at, .userInvited, author, target: invitee, detail: token, opID: id)
                    }
                case .revokeLink(let tokenID):
                    append(at, .linkRevoked, author, detail: "token=\(Hex.encode(tokenID))", opID: id)
                case .declineInvite(let tokenID):
                    append(at, .invitationDeclined, author, target: issuers[tokenID],
                           detail: "token=\(Hex.encode(tokenID))", opID: id)
                case .requestAccess(let permission, _):
                    append(at, .accessRequested, author, detail: "permission=\(permission)", opID: id)
                }
                run = nil
            }
        }

        /// Extends the current edit run, or starts one.
        mutating func edit(_ run: inout EditRun?, message: OpID, inserted: UInt64, deleted: UInt64, id: OpID,
                           batch: OperationBatch) {
            if var current = run, current.message == message {
                current.inserted &+= inserted
                current.deleted &+= deleted
                entries[current.index].detail = "inserted=\(current.inserted) deleted=\(current.deleted)"
                run = current
                return
            }
            run = EditRun(index: entries.count, message: message, inserted: inserted, deleted: deleted)
            append(batch.timestamp, .messageEdited, batch.author, target: message.replica, message: message,
                   detail: "inserted=\(inserted) deleted=\(deleted)", opID: id)
        }

        mutating func join(_ at: UInt64, _ joiner: ReplicaID, token: [UInt8], admission admissionBytes: [UInt8], opID: OpID) {
            guard !token.isEmpty else {
                let had = permissions[joiner] != nil
                permissions[joiner] = permissions[joiner] ?? .view
                var detail = "permission=view mode=public"
                if let admission = admissionBytes.isEmpty ? nil : verifyAdmission?(admissionBytes) {
                    detail += " admitted_by=\(keyText(admission.admitter)) admitted_at=\(AuditCSV.isoTime(admission.admittedAt))"
                }
                if !had { grant(at, by: joiner, to: joiner, detail: detail, opID: opID) }
                return
            }
            let grant = verifyInvite?(token)
            let tokenText = grant.map { Hex.encode($0.tokenID) } ?? "unverified"
            var detail = "token=\(tokenText)"
            if let admission = admissionBytes.isEmpty ? nil : verifyAdmission?(admissionBytes) {
                detail += " admitted_by=\(keyText(admission.admitter)) admitted_at=\(AuditCSV.isoTime(admission.admittedAt))"
                detail += " use=\(UInt64(admission.usesSeen) + 1)"
            }
            append(at, .linkUsed, joiner, target: grant?.issuer, detail: detail, opID: opID)
            if let grant, let inviter = issuers[grant.tokenID] {
                append(at, .invitationAccepted, joiner, target: inviter, detail: "token=\(Hex.encode(grant.tokenID))", opID: opID)
            }
            let level = grant.map { "\($0.permission)" } ?? "unknown"
            let previous = permissions[joiner]
            // Joining never lowers a permission (the rules take the higher of the two).
            permissions[joiner] = max(previous ?? .view, grant?.permission ?? .view)
            if previous == nil {
                self.grant(at, by: grant?.issuer ?? joiner, to: joiner, detail: "permission=\(level)", opID: opID)
            }
        }

        /// `access_granted`, preceded by `conversation_shared` the first time someone other than the creator gets in.
        mutating func grant(_ at: UInt64, by actor: ReplicaID, to member: ReplicaID, detail: String, opID: OpID) {
            if !shared, member != creator {
                shared = true
                append(at, .conversationShared, actor, target: member, opID: opID)
            }
            append(at, .accessGranted, actor, target: member, detail: detail, opID: opID)
        }

        mutating func append(_ at: UInt64, _ action: AuditAction, _ actor: ReplicaID, target: ReplicaID? = nil,
                             message: OpID? = nil, detail: String = "", opID: OpID?) {
            entries.append(AuditEntry(at: at, action: action, actor: actor, target: target, message: message,
                                      detail: detail, opID: opID))
        }
    }
}

/// Which audit entries to show. Every criterion that is set must hold.
public struct AuditFilter: Sendable, Hashable {
    /// Entries whose actor or target is this user.
    public var user: ReplicaID?
    /// Entries with one of these actions.
    public var actions: Set<AuditAction>?
    /// Entries at or after this instant (ms since the Unix epoch, inclusive).
    public var since: UInt64?
    /// Entries before this instant (ms since the Unix epoch, exclusive).
    public var until: UInt64?

    /// Creates a filter; nil criteria match everything.
    public init(user: ReplicaID? = nil, actions: Set<AuditAction>? = nil, since: UInt64? = nil, until: UInt64? = nil) {
        self.user = user
        self.actions = actions
        self.since = since
        self.until = until
    }

    /// True when `entry` meets every criterion.
    public func matches(_ entry: AuditEntry) -> Bool {
        if let user, entry.actor != user, entry.target != user { return false }
        if let actions, !actions.contains(entry.action) { return false }
        if let since, entry.at < since { return false }
        if let until, entry.at >= until { return false }
        return true
    }

    /// The entries that match, in their given order (``AuditTrail/entries(from:excluded:sessions:verifyInvite:)``
    /// returns them sorted by time, then log order).
    /// - Complexity: O(n).
    public func apply(to entries: [AuditEntry]) -> [AuditEntry] {
        entries.filter(matches)
    }
}
