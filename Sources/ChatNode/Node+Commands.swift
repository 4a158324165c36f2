import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// Why a user's command was refused. Stable `code`s for scripts.
public enum NodeCommandError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownConversation(String)
    case ambiguousConversation(String)
    case unknownMessage(String)
    case notPermitted(String)
    case invalidToken(String)
    case invalidArgument(String)
    case timedOut(String)
    /// The members reached refused the join, for this reason (`invite_expired`, `invite_used_up`,
    /// `invite_revoked`, `invite_declined`, `not_the_invitee`, `invalid_invite`, `revoked`, …).
    case joinRefused(RefuseCode)
    /// The conversation's rules would exclude the operation (rate, size, target): not signed.
    case excluded(ExclusionReason)
    case node(NodeError)

    public var code: String {
        switch self {
        case .unknownConversation: "unknown_conversation"
        case .ambiguousConversation: "ambiguous_conversation"
        case .unknownMessage: "unknown_message"
        case .notPermitted: "not_permitted"
        case .invalidToken: "invalid_token"
        case .invalidArgument: "invalid_argument"
        case .timedOut: "timed_out"
        case .joinRefused(let reason): reason.code
        case .excluded(let reason): reason.rawValue
        case .node(let error): error.code
        }
    }

    public var description: String {
        switch self {
        case .unknownConversation(let id): "this node holds no conversation \(id)"
        case .ambiguousConversation(let prefix): "\(prefix) names more than one conversation; give more of its id"
        case .unknownMessage(let id): "no message \(id) in this conversation"
        case .notPermitted(let reason): reason
        case .invalidToken(let reason): "invalid invite token: \(reason)"
        case .invalidArgument(let reason): reason
        case .timedOut(let what): "timed out: \(what)"
        case .joinRefused(let reason): "the join was refused: \(Self.explain(reason))"
        case .excluded(let reason): "the conversation's rules refuse this (\(reason.rawValue)); nothing was sent"
        case .node(let error): error.description
        }
    }
}

extension NodeCommandError {
    /// A sentence for a refusal code a member sent a joiner.
    static func explain(_ reason: RefuseCode) -> String {
        switch reason {
        case .inviteExpired: "the link has expired"
        case .inviteUsedUp: "the link has reached its use limit"
        case .inviteRevoked: "an admin revoked the link"
        case .inviteDeclined: "the invitation was declined"
        case .notTheInvitee: "the invitation is for someone else"
        case .invalidInvite: "the link is not valid for this conversation (not recorded there, or its issuer is no admin)"
        case .revoked: "this node's membership was revoked"
        case .notAMember: "the member reached does not admit this node to the conversation (its link may be used up, expired or revoked)"
        default: "the member reached refused (\(reason))"
        }
    }
}

/// A message as `log` shows it.
public struct LogEntry: Sendable, Hashable, Codable {
    /// The message id (``MessageReference``).
    public var id: String
    /// The author's public key (sc1…).
    public var author: String
    /// The author's display name, if they set one.
    public var authorName: String?
    public var text: String
    public var edited: Bool
    public var deleted: Bool
    /// The author's signed timestamp, ms since the Unix epoch.
    public var postedAt: UInt64
}

/// A member as `members` shows it.
public struct MemberEntry: Sendable, Hashable, Codable {
    public var key: String
    public var name: String?
    public var permission: String
    /// True when this node has a session with the member (or it is this node).
    public var online: Bool
    public var isSelf: Bool
}

/// Message ids in text: the author's key in hex (a prefix of at least 8 digits is enough) and
/// the counter, `9f3a…:42`.
public enum MessageReference {
    public static func text(_ id: OpID) -> String { "\(Hex.encode(id.replica.bytes).prefix(16)):\(id.counter)" }

    /// The message of `document` that `text` names.
    public static func resolve(_ text: String, in document: ConversationDocument) throws(NodeCommandError) -> OpID {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count >= 8, let counter = UInt32(parts[1]) else {
            throw .invalidArgument("a message id looks like 9f3a51c2e07b44d1:42 (see `log --json`)")
        }
        let prefix = parts[0].lowercased()
        let matches = document.messages.keys.filter { $0.counter == counter && Hex.encode($0.replica.bytes).hasPrefix(prefix) }
        guard matches.count == 1, let match = matches.first else { throw .unknownMessage(text) }
        return match
    }
}

extension Node {
    // MARK: - Writing

    /// Creates a conversation with this node as its only admin; returns its id (the hash of the
    /// signed genesis batch, so nobody can claim another conversation's id).
    public func create(title: String, isPublic: Bool = false) async throws(NodeCommandError) -> ConversationID {
        guard title.utf8.count <= 256 else { throw .invalidArgument("a title is at most 256 bytes") }
        var randomness = SystemRandomNumberGenerator()
        let nonce = (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &randomness) }
        let key = identity
        let genesis = SignedBatch(content: BatchContent(
            conversation: nil, author: replicaID, firstCounter: 0, timestamp: configuration.wallClock(),
            previousHash: Array(repeating: 0, count: 32), clock: VectorClock(),
            operations: [.genesis(Genesis(title: title, isPublic: isPublic, nonce: nonce))])) { key.sign($0).bytes }
        guard let id = ConversationID(bytes: Hashing.blake2b(genesis.bytes)) else {
            throw .invalidArgument("could not derive a conversation id")
        }
        do {
            let replica = try ConversationReplica(store: store, conversation: id, localReplica: replicaID)
            replicas[id] = replica
            await prepare(replica)
            _ = try await replica.ingest([genesis.bytes])
        } catch {
            throw .node(error)
        }
        if let name = configuration.displayName { try await submit([.setProfile(Profile(displayName: name))], to: id) }
        return id
    }

    /// Signs, stores and sends this node's operations in `conversation`; returns the sealed
    /// batches once they are durable.
    @discardableResult
    public func submit(_ ops: [ConversationOp], to conversation: ConversationID) async throws(NodeCommandError) -> [SignedBatch] {
        let replica = try replica(conversation)
        let state = await replica.conversation
        let stamp = configuration.wallClock()
        for op in ops {
            if let reason = state.exclusion(ofLocal: op, timestamp: stamp) { throw .excluded(reason) }
        }
        let written: (SignedBatch, IngestOutcome)?
        do {
            written = try await replica.writeLocal(ops, wallClock: stamp)
        } catch {
            throw .node(error)
        }
        guard let (batch, outcome) = written else { return [] }
        await committed(outcome.accepted, clockAfter: outcome.clockAfter, in: conversation)
        return [batch]
    }

    /// This node's permission in `conversation`, checked before writing so that a refused action
    /// is not signed into the log at all.
    func requirePermission(in conversation: ConversationID, _ allowed: (Permission) -> Bool,
                           _ reason: String) throws(NodeCommandError) {
        guard let permission = directory.permission(of: replicaID, in: conversation), allowed(permission) else {
            let held = directory.permission(of: replicaID, in: conversation).map { "you have \($0)" } ?? "you are not a member"
            throw .notPermitted("\(reason) (\(held))")
        }
    }

    /// Posts a message; returns its id once durable.
    public func post(_ text: String, to conversation: ConversationID) async throws(NodeCommandError) -> OpID {
        try requirePermission(in: conversation, \.canSendMessages, "sending needs comment permission or more")
        let document = try await replica(conversation).document
        let batches = try await submit([document.newMessage(Array(text.unicodeScalars))], to: conversation)
        guard let batch = batches.last else { throw .node(.noLocalAuthor) }
        return OpID(replica: replicaID, counter: batch.content.firstCounter)
    }

    /// Replaces a message's text (only what changed is written, so concurrent edits merge).
    public func edit(_ message: String, to text: String, in conversation: ConversationID) async throws(NodeCommandError) {
        let document = try await replica(conversation).document
        let id = try MessageReference.resolve(message, in: document)
        try requirePermission(in: conversation, { $0.canEditMessage(own: id.replica == replicaID) },
                              "editing others' messages needs edit permission")
        guard document.messages[id]?.isDeleted == false else { throw .unknownMessage(message) }
        guard let ops = document.replaceText(of: id, with: Array(text.unicodeScalars)) else { throw .unknownMessage(message) }
        guard !ops.isEmpty else { return }
        try await submit(ops, to: conversation)
    }

    /// Deletes a message.
    public func delete(_ message: String, in conversation: ConversationID) async throws(NodeCommandError) {
        let document = try await replica(conversation).document
        let id = try MessageReference.resolve(message, in: document)
        try requirePermission(in: conversation, { $0.canDeleteMessage(own: id.replica == replicaID) },
                              "deleting others' messages needs admin permission")
        guard document.messages[id]?.isDeleted == false else { return }
        try await submit([.deleteMessage(message: id)], to: conversation)
    }

    /// Sets this node's display name (and status) in a conversation.
    public func setProfile(_ profile: Profile, in conversation: ConversationID) async throws(NodeCommandError) {
        try await submit([.setProfile(profile)], to: conversation)
    }

    // MARK: - Invitations and joining

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
                         useLimit: UInt32?, label: String) throws(NodeCommandError) -> InviteToken {
        try requirePermission(in: conversation, { $0 == .admin }, "only admins can invite")
        guard label.utf8.count <= 256 else { throw .invalidArgument("a label is at most 256 bytes") }
        var randomness = SystemRandomNumberGenerator()
        let tokenID = (0 ..< InviteTokenContent.tokenIDBytes).map { _ in UInt8.random(in: 0 ... 255, using: &randomness) }
        let addresses = [configuration.advertised ?? listeningOn].compactMap { $0?.description }
        let content = InviteTokenContent(conversation: conversation, permission: permission, issuer: replicaID,
                                         tokenID: tokenID, issuedAt: configuration.wallClock(), expiresAt: expiresAt,
                                         useLimit: useLimit, label: label, addresses: addresses)
        let key = identity
        return InviteToken(content: content) { key.sign($0).bytes }
    }

    /// Joins the conversation of `tokenBytes` through the peer at `endpoint` (or the token's
    /// addresses): dials, is admitted on the token, catches up, and records the join as a signed
    /// operation carrying the token. Returns once the join is durable here.
    public func join(token tokenBytes: [UInt8], via endpoint: PeerEndpoint?,
                     timeout: Duration = .seconds(15)) async throws(NodeCommandError) -> ConversationID {
        try await join(token: tokenBytes, via: endpoint, timeout: timeout, declining: false)
    }

    func join(token tokenBytes: [UInt8], via endpoint: PeerEndpoint?, timeout: Duration,
              declining: Bool) async throws(NodeCommandError) -> ConversationID {
        guard let grant = ConversationInputs.verifyInvite(tokenBytes), let token = try? InviteToken(decoding: tokenBytes) else {
            throw .invalidToken("it does not decode or its signature does not verify")
        }
        if let expiresAt = grant.expiresAt, configuration.wallClock() > expiresAt { throw .invalidToken("it has expired") }
        let conversation = grant.conversation
        if directory.permission(of: replicaID, in: conversation) != nil { return conversation }
        if replicas[conversation] == nil {
            do {
                let replica = try ConversationReplica(store: store, conversation: conversation, localReplica: replicaID)
                replicas[conversation] = replica
                await prepare(replica)
            } catch {
                throw .node(error)
            }
        }
        pendingJoins[conversation] = PendingJoin(token: tokenBytes, grant: grant, declining: declining)
        joinRefusals[conversation] = nil
        if !declining { savePendingJoin(conversation) }
        let targets = endpoint.map { [$0] } ?? token.content.addresses.compactMap { PeerEndpoint($0) }
        guard !targets.isEmpty else { throw .invalidArgument("the token carries no address: give the peer's host:port") }
        for target in targets { connectOrRefresh(target) }
        await completeJoinIfReady(conversation)
        let deadline = now + timeout
        if declining {
            while pendingJoins[conversation] != nil {
                guard now < deadline else {
                    await abandonJoin(conversation)
                    throw .timedOut("the invitation's record did not arrive from \(targets.map(\.description).joined(separator: ", "))")
                }
                try? await configuration.clock.sleep(for: .milliseconds(10))
            }
            if let failure = declineFailures.removeValue(forKey: conversation) { throw failure }
            return conversation
        }
        while directory.permission(of: replicaID, in: conversation) == nil {
            // Recorded, but the rules refused it (the last use went to a concurrent join).
            if let refusal = await excludedJoin(conversation) {
                pendingJoins[conversation] = nil
                savePendingJoin(conversation)
                throw .joinRefused(refusal)
            }
            // Every address tried refused: say why rather than wait for the deadline.
            if let refusals = joinRefusals[conversation], Set(targets).isSubset(of: refusals.keys),
               pendingJoins[conversation]?.recorded != true, let reason = targets.compactMap({ refusals[$0] }).first {
                await abandonJoin(conversation)
                throw .joinRefused(reason)
            }
            guard now < deadline else {
                await abandonJoin(conversation)
                throw .timedOut("no member at \(targets.map(\.description).joined(separator: ", ")) admitted this node")
            }
            try? await configuration.clock.sleep(for: .milliseconds(10))
        }
        // Durable here. Until a member reports holding the join, the token is presented again on
        // every dial (across restarts too), so the join cannot be stranded.
        return conversation
    }

    /// Starts holding a conversation this node's identity is already a member of (another device
    /// of the same identity, or a store that was lost): it syncs from the peers it dials.
    public func follow(_ conversation: ConversationID) async throws(NodeCommandError) {
        guard replicas[conversation] == nil else { return }
        do {
            let replica = try ConversationReplica(store: store, conversation: conversation, localReplica: replicaID)
            replicas[conversation] = replica
            await prepare(replica)
        } catch {
            throw .node(error)
        }
    }

    /// Why the rules excluded this node's recorded join in `conversation` (nil: not excluded, or
    /// not recorded yet).
    func excludedJoin(_ conversation: ConversationID) async -> RefuseCode? {
        guard let pending = pendingJoins[conversation], let joinOp = pending.joinOp,
              let state = await replicas[conversation]?.conversation, state.excluded[joinOp] != nil else { return nil }
        guard let link = state.links[pending.grant.tokenID] else { return .invalidInvite }
        if link.revoked { return .inviteRevoked }
        if link.declined { return .inviteDeclined }
        if let invitee = link.record.invitee, invitee != replicaID { return .notTheInvitee }
        if let admittedAt = pending.admission?.content.admittedAt,
           let expiresAt = [link.record.expiresAt, pending.grant.expiresAt].compactMap({ $0 }).min(), admittedAt > expiresAt {
            return .inviteExpired
        }
        if let limit = [link.record.useLimit, pending.grant.useLimit].compactMap({ $0 }).min(), link.uses >= Int(limit) {
            return .inviteUsedUp
        }
        return .invalidInvite
    }

    /// Gives up a join that was refused or timed out: the token is no longer presented, and a
    /// conversation of which nothing arrived is forgotten.
    func abandonJoin(_ conversation: ConversationID) async {
        guard pendingJoins[conversation]?.recorded != true else { return }
        pendingJoins[conversation] = nil
        savePendingJoin(conversation)
        guard let replica = replicas[conversation], await replica.document.permissions.isEmpty else { return }
        replicas[conversation] = nil
        directory.forget(conversation)
        await replica.setEventSink(nil)
    }

    /// Records the join once the issuer's admin grant has arrived (so every replica judges the
    /// token against the same history).
    func completeJoinIfReady(_ conversation: ConversationID) async {
        guard let pending = pendingJoins[conversation], !pending.recorded, let replica = replicas[conversation] else { return }
        if pending.declining {
            guard await replica.conversation.links[pending.grant.tokenID] != nil, pendingJoins[conversation]?.recorded == false
            else { return }
            pendingJoins[conversation]?.recorded = true
            do {
                try await submit([.declineInvite(tokenID: pending.grant.tokenID)], to: conversation)
            } catch {
                declineFailures[conversation] = error
            }
            pendingJoins[conversation] = nil
            return
        }
        let state = await replica.conversation
        let document = state.document
        if document.permissions[replicaID] != nil {
            pendingJoins[conversation]?.recorded = true
            return
        }
        // The join carries the admitting member's record; it is judged against a history holding
        // the issuer's grant, the link's record, the admitting member and the joins it had seen.
        // Read after the await: an easier admission may have replaced the one seen before.
        guard let admission = pendingJoins[conversation]?.admission, pendingJoins[conversation]?.recorded == false,
              document.permissions[pending.grant.issuer] == .admin, document.permissions[admission.content.admitter] != nil,
              state.links[pending.grant.tokenID] != nil,
              state.acceptedJoins(withToken: pending.grant.tokenID) >= Int(admission.content.usesSeen) else { return }
        pendingJoins[conversation]?.recorded = true
        do {
            let batches = try await submit([.join(inviteToken: pending.token, admission: admission.bytes)], to: conversation)
            pendingJoins[conversation]?.joinOp = batches.lazy.flatMap { ConversationInputs.operationBatch($0).identified }
                .first { if case .join = $0.op { true } else { false } }?.id
            // A profile is judged against the membership the join grants: sign it after the join.
            if let name = configuration.displayName { try await submit([.setProfile(Profile(displayName: name))], to: conversation) }
        } catch {
            pendingJoins[conversation]?.recorded = false
            eventSink.yield(.error(code: error.code, message: "could not record the join: \(error)"))
        }
    }

    /// A peer reported its clock: once it holds everything this node wrote (the join included),
    /// the join is complete and the token is no longer presented.
    func acknowledgeJoin(_ conversation: ConversationID, reported: VectorClock?, localClock: VectorClock) {
        guard pendingJoins[conversation]?.recorded == true, let reported, localClock[replicaID] > 0,
              reported[replicaID] >= localClock[replicaID] else { return }
        pendingJoins[conversation] = nil
        savePendingJoin(conversation)
    }

    func savePendingJoin(_ conversation: ConversationID) {
        let bytes = pendingJoins[conversation].map { PendingJoin.encode(token: $0.token, admission: $0.admission?.bytes ?? []) } ?? []
        do {
            try store.setMetadata(bytes, for: conversation)
        } catch {
            eventSink.yield(.error(code: "store", message: "could not save the pending join: \(error)"))
        }
    }

    // MARK: - Reading

    /// The messages of a conversation in order, deleted ones included (flagged) where they were.
    public func log(_ conversation: ConversationID) async throws(NodeCommandError) -> [LogEntry] {
        let document = try await replica(conversation).document
        func entry(_ record: MessageRecord) -> LogEntry {
            LogEntry(id: MessageReference.text(record.id), author: PublicKey(record.author).text,
                     authorName: document.profiles[record.author]?.profile.displayName,
                     text: record.isDeleted ? "" : record.body.text, edited: record.isEdited, deleted: record.isDeleted,
                     postedAt: record.postedAt)
        }
        // Deleted messages leave the visible list; put each back before the first visible message
        // posted after it.
        let deleted = document.messages.values.filter(\.isDeleted)
            .sorted { ($0.postedAt, $0.id.counter, $0.id.replica) < ($1.postedAt, $1.id.counter, $1.id.replica) }
        var entries: [LogEntry] = []
        var pending = deleted[...]
        for record in document.orderedMessages {
            while let next = pending.first, next.postedAt < record.postedAt {
                entries.append(entry(next))
                pending = pending.dropFirst()
            }
            entries.append(entry(record))
        }
        entries += pending.map(entry)
        return entries
    }

    /// The members of a conversation: online ones first, then by name.
    public func members(_ conversation: ConversationID) async throws(NodeCommandError) -> [MemberEntry] {
        let document = try await replica(conversation).document
        let connected = Set(links.values.compactMap { $0.peer?.key.replicaID })
        return document.permissions.map { member, permission in
            MemberEntry(key: PublicKey(member).text, name: document.profiles[member]?.profile.displayName,
                        permission: permission.description, online: member == replicaID || connected.contains(member),
                        isSelf: member == replicaID)
        }
        .sorted { ($0.online ? 0 : 1, $0.name ?? "~", $0.key) < ($1.online ? 0 : 1, $1.name ?? "~", $1.key) }
    }

    /// Everything `status` reports.
    public func status() async -> NodeStatus {
        var peers: [NodeStatus.Peer] = []
        for link in links.values.sorted(by: { $0.id < $1.id }) {
            guard let peer = link.peer else { continue }
            var sent = 0
            var received = 0
            var clocks = 0
            for machine in link.machines.values {
                sent += machine.counters.batchesSent
                received += machine.counters.batchesReceived
                clocks += machine.counters.clocksReceived
            }
            peers.append(NodeStatus.Peer(
                key: peer.key.text, address: link.endpoint?.description ?? knownAddresses[peer.key.replicaID]?.description,
                dialed: link.role == .dialer, conversations: peer.conversations.map(\.hex), batchesSent: sent,
                batchesReceived: received, clocksReceived: clocks))
        }
        var conversations: [NodeStatus.Conversation] = []
        for (id, replica) in replicas.sorted(by: { $0.key < $1.key }) {
            let document = await replica.document
            let clock = await replica.clock
            conversations.append(NodeStatus.Conversation(
                id: id.hex, title: document.title,
                clock: Dictionary(uniqueKeysWithValues: clock.entries.map { (PublicKey($0.replica).text, $0.count) }),
                pendingBatches: await replica.pendingCount, rejections: await replica.rejections.byCode,
                messages: document.orderedMessages.count, members: document.permissions.count,
                joining: pendingJoins[id] != nil))
        }
        return NodeStatus(identity: identity.publicKey.text, listening: listeningOn?.description,
                          dialing: dialers.keys.sorted().map(\.description), peers: peers,
                          conversations: conversations, counters: counters)
    }
}

/// What `status --json` prints.
public struct NodeStatus: Sendable, Hashable, Codable {
    public struct Peer: Sendable, Hashable, Codable {
        public var key: String
        public var address: String?
        public var dialed: Bool
        public var conversations: [String]
        public var batchesSent: Int
        public var batchesReceived: Int
        /// Clock frames received (session start, anti-entropy rounds, replies).
        public var clocksReceived: Int
    }

    public struct Conversation: Sendable, Hashable, Codable {
        public var id: String
        public var title: String
        /// Operations held per author (key text → count).
        public var clock: [String: UInt32]
        /// Batches waiting for predecessors or dependencies.
        public var pendingBatches: Int
        /// Batches refused, by reason code.
        public var rejections: [String: Int]
        public var messages: Int
        public var members: Int
        public var joining: Bool
    }

    public var identity: String
    public var listening: String?
    public var dialing: [String]
    public var peers: [Peer]
    public var conversations: [Conversation]
    public var counters: NodeCounters
}

