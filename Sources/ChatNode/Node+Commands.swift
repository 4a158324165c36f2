import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

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

    /// The newest `newest` entries of the log, and how many the whole log has (see
    /// ``LogEntry/newest(_:of:)``).
    public func log(_ conversation: ConversationID, newest: Int) async throws(NodeCommandError) -> (entries: [LogEntry], total: Int) {
        LogEntry.newest(newest, of: try await replica(conversation).document)
    }

    /// The members of a conversation: online ones first, then by name (see ``MemberEntry/list(of:selfID:connected:registers:now:)``).
    public func members(_ conversation: ConversationID) async throws(NodeCommandError) -> [MemberEntry] {
        MemberEntry.list(of: try await replica(conversation).conversation, selfID: replicaID, connected: machine.connectedPeers,
                         registers: ephemeralState(of: conversation), now: configuration.wallClock())
    }

    /// Everything `status` reports.
    public func status() async -> NodeStatus {
        let peers = machine.peerStatus { channels[$0]?.window.inUse ?? 0 }
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

