import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

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
    /// True when the member's node signed two different batches for the same counters: its
    /// operations from the fork point on are excluded everywhere.
    public var equivocated: Bool = false
    /// The counter from which its operations are excluded, when it equivocated.
    public var forkPoint: UInt32?
    /// online, away, dnd or offline: its announced presence (away after idling), as the chat
    /// shows it; without any presence heard, online while connected.
    public var status: String = "offline"
    /// Its custom status text, from its presence or else its profile.
    public var customStatus: String?
    /// When this node last heard from it or saw it post (ms since the Unix epoch); nil if never.
    public var lastSeen: UInt64?
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
            previousHash: Array(repeating: 0, count: 32), dependencies: [],
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
        let stamp = configuration.wallClock()
        // The copy of the state is let go before the write: held across it, the replica's
        // mutation would copy the whole conversation (copy-on-write), O(messages) per post.
        try await Self.checkLocal(ops, against: replica.conversation, at: stamp)
        let written: [(SignedBatch, IngestOutcome)]
        do {
            written = try await replica.writeLocal(ops, wallClock: stamp)
        } catch {
            throw .node(error)
        }
        for (_, outcome) in written { await committed(outcome.accepted, clockAfter: outcome.clockAfter, in: conversation) }
        return written.map(\.0)
    }

    /// Refuses, before anything is signed, operations the conversation would exclude.
    private static func checkLocal(_ ops: [ConversationOp], against state: Conversation, at stamp: UInt64) throws(NodeCommandError) {
        for op in ops {
            if let reason = state.exclusion(ofLocal: op, timestamp: stamp) {
                if reason == .rateLimited, case .postMessage = op, let next = state.nextPostAllowed(at: stamp) {
                    throw .rateLimited(retryInMilliseconds: next > stamp ? next - stamp : 0,
                                       perMinute: state.document.settings.messagesPerMinute)
                }
                throw .excluded(reason)
            }
        }
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
        let message = try await replica(conversation).document.newMessage(Array(text.unicodeScalars))
        let batches = try await submit([message], to: conversation)
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

    // MARK: - Reading

    /// The messages of a conversation in order, deleted ones included (flagged) where they were.
    public func log(_ conversation: ConversationID) async throws(NodeCommandError) -> [LogEntry] {
        try await log(conversation, newest: Int.max).entries
    }

    /// The newest `newest` entries of the log, and how many the whole log has. Only those entries
    /// are built (their text and names), so a chat state of a long conversation stays cheap.
    /// - Complexity: O(messages) to order them, plus O(newest) entries; each author's key text is
    ///   made once.
    public func log(_ conversation: ConversationID, newest: Int) async throws(NodeCommandError) -> (entries: [LogEntry], total: Int) {
        let document = try await replica(conversation).document
        // Deleted messages leave the visible list; put each back before the first visible message
        // posted after it.
        let deleted = document.messages.values.filter(\.isDeleted)
            .sorted { ($0.postedAt, $0.id.counter, $0.id.replica) < ($1.postedAt, $1.id.counter, $1.id.replica) }
        var ordered: [MessageRecord] = []
        ordered.reserveCapacity(document.messages.count)
        var pending = deleted[...]
        for record in document.orderedMessages {
            while let next = pending.first, next.postedAt < record.postedAt {
                ordered.append(next)
                pending = pending.dropFirst()
            }
            ordered.append(record)
        }
        ordered += pending
        var keys: [ReplicaID: String] = [:]
        let entries = ordered.suffix(newest).map { record in
            let author = keys[record.author] ?? PublicKey(record.author).text
            keys[record.author] = author
            return LogEntry(id: MessageReference.text(record.id), author: author,
                            authorName: document.profiles[record.author]?.profile.displayName,
                            text: record.isDeleted ? "" : record.body.text, edited: record.isEdited, deleted: record.isDeleted,
                            postedAt: record.postedAt)
        }
        return (entries, ordered.count)
    }

    /// The members of a conversation: online ones first, then by name.
    public func members(_ conversation: ConversationID) async throws(NodeCommandError) -> [MemberEntry] {
        let state = try await replica(conversation).conversation
        let document = state.document
        let connected = machine.connectedPeers
        let registers = ephemeralState(of: conversation)
        let now = configuration.wallClock()
        // The newest signed message time of each author: "last seen" when no presence was heard.
        var lastPosted: [ReplicaID: UInt64] = [:]
        for record in document.messages.values where record.postedAt > lastPosted[record.author] ?? 0 {
            lastPosted[record.author] = record.postedAt
        }
        return document.permissions.map { member, permission in
            let online = member == replicaID || connected.contains(member)
            let presence = registers?.presence(of: member, now: now)
            // Without any presence heard: online while connected (or this node), else offline.
            let status = presence?.status ?? (online ? .online : .offline)
            let profileStatus = document.profiles[member]?.profile.status.flatMap { $0.isEmpty ? nil : $0 }
            let heard = [presence?.lastSeen, lastPosted[member]].compactMap { $0 }.max()
            return MemberEntry(key: PublicKey(member).text, name: document.profiles[member]?.profile.displayName,
                               permission: permission.description, online: online,
                               isSelf: member == replicaID, equivocated: state.equivocators[member] != nil,
                               forkPoint: state.equivocators[member], status: status.description,
                               customStatus: presence?.customStatus ?? profileStatus,
                               lastSeen: member == replicaID ? now : heard)
        }
        .sorted { ($0.online ? 0 : 1, $0.name ?? "~", $0.key) < ($1.online ? 0 : 1, $1.name ?? "~", $1.key) }
    }

    /// Everything `status` reports.
    public func status() async -> NodeStatus {
        var peers: [NodeStatus.Peer] = []
        for session in machine.sessions.values.sorted(by: { $0.id < $1.id }) {
            guard let peer = session.peer else { continue }
            let traffic = machine.replicationCounters(link: session.id)
            peers.append(NodeStatus.Peer(
                key: peer.key.text,
                address: session.endpoint?.description ?? machine.knownAddresses[peer.key.replicaID]?.description,
                dialed: session.role == .dialer, conversations: peer.conversations.map(\.hex), batchesSent: traffic.sent,
                batchesReceived: traffic.received, clocksReceived: traffic.clocks,
                inboundBytes: channels[session.id]?.window.inUse ?? 0))
        }
        var conversations: [NodeStatus.Conversation] = []
        for (id, replica) in replicas.sorted(by: { $0.key < $1.key }) {
            let state = await replica.conversation
            let document = state.document
            let clock = await replica.clock
            conversations.append(NodeStatus.Conversation(
                id: id.hex, title: document.title,
                clock: Dictionary(uniqueKeysWithValues: clock.entries.map { (PublicKey($0.replica).text, $0.count) }),
                pendingBatches: await replica.pendingCount, rejections: await replica.rejections.byCode,
                messages: document.messageList.count, members: document.permissions.count,
                joining: machine.pendingJoins[id] != nil, joinStage: joinStage(of: id), batches: (try? store.batchCount(id)) ?? 0,
                equivocators: Dictionary(uniqueKeysWithValues: state.equivocators.map { (PublicKey($0.key).text, $0.value) })))
        }
        var counters = machine.counters
        counters.inboundPeakBytes = channels.values.reduce(counters.inboundPeakBytes) { max($0, $1.window.peak) }
        return NodeStatus(identity: identity.publicKey.text, listening: listeningOn?.description,
                          dialing: machine.dialing.sorted().map(\.description), peers: peers,
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
        /// Bytes read from this peer and not yet handled (bounded by the inbound window).
        public var inboundBytes: Int = 0
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
        /// Where this node's join stands while `joining`: `dialling`, `authenticated` (a member's
        /// node proved its key and took the token), `admitted` (its signed admission arrived),
        /// `catching_up`, `recorded` (signed and stored here; a member has not confirmed it yet).
        public var joinStage: String?
        /// Batches stored here.
        public var batches: Int = 0
        /// Members whose nodes forked their history (key text → fork point).
        public var equivocators: [String: UInt32] = [:]
    }

    public var identity: String
    public var listening: String?
    public var dialing: [String]
    public var peers: [Peer]
    public var conversations: [Conversation]
    public var counters: NodeCounters
}

