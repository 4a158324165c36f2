import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

/// What a user asks of a node — the CLI, the control socket, the HTTP API and the tests all come
/// through here: write to a conversation, read it, share it, join one.
///
/// Each command checks what the user may do (permissions, arguments), builds the operations, and
/// hands them to the ``Node`` shell, which signs, stores and sends them. Commands hold no state
/// of their own: whatever they wait on (a join, a public admission) is the node machine's, read
/// again after every suspension.
public struct NodeCommands: Sendable {
    let node: Node

    init(node: Node) {
        self.node = node
    }

    var replicaID: ReplicaID { node.replicaID }
    var configuration: NodeConfiguration { node.configuration }

    /// The conversation a hex prefix of its id, or its title (ignoring case), names; an ambiguous
    /// prefix or title is refused (the CLI accepts either).
    public func resolve(_ prefix: String) async throws(NodeCommandError) -> ConversationID {
        let held = Set(await node.conversations)
        let lowered = prefix.lowercased()
        let byID = lowered.isEmpty ? [] : held.filter { $0.hex.hasPrefix(lowered) }
        let byTitle = node.directory.conversations(titled: prefix).filter { held.contains($0) }
        let matches = Set(byID).union(byTitle)
        guard let first = matches.first else { throw .unknownConversation(prefix) }
        guard matches.count == 1 else { throw .ambiguousConversation(prefix) }
        return first
    }

    /// This node's permission in `conversation`, checked before writing so that a refused action
    /// is not signed into the log at all.
    func requirePermission(in conversation: ConversationID, _ allowed: (Permission) -> Bool,
                           _ reason: String) throws(NodeCommandError) {
        guard let permission = node.directory.permission(of: replicaID, in: conversation), allowed(permission) else {
            let held = node.directory.permission(of: replicaID, in: conversation).map { "you have \($0)" } ?? "you are not a member"
            throw .notPermitted("\(reason) (\(held))")
        }
    }

    // MARK: - Writing

    /// Creates a conversation with this node as its only admin; returns its id (the hash of the
    /// signed genesis batch, so nobody can claim another conversation's id).
    public func create(title: String, isPublic: Bool = false) async throws(NodeCommandError) -> ConversationID {
        guard title.utf8.count <= 256 else { throw .invalidArgument("a title is at most 256 bytes") }
        var randomness = SystemRandomNumberGenerator()
        let nonce = (0 ..< 16).map { _ in UInt8.random(in: 0 ... 255, using: &randomness) }
        let key = node.identity
        let genesis = SignedBatch(content: BatchContent(
            conversation: nil, author: replicaID, firstCounter: 0, timestamp: configuration.wallClock(),
            previousHash: Array(repeating: 0, count: 32), dependencies: [],
            operations: [.genesis(Genesis(title: title, isPublic: isPublic, nonce: nonce))])) { key.sign($0).bytes }
        guard let id = ConversationID(bytes: Hashing.blake2b(genesis.bytes)) else {
            throw .invalidArgument("could not derive a conversation id")
        }
        let replica = try await node.hold(id)
        do { _ = try await replica.ingest([genesis.bytes]) } catch { throw .node(error) }
        if let name = configuration.displayName { try await node.submit([.setProfile(Profile(displayName: name))], to: id) }
        return id
    }

    /// Posts a message; returns its id once durable.
    public func post(_ text: String, to conversation: ConversationID) async throws(NodeCommandError) -> OpID {
        try requirePermission(in: conversation, \.canSendMessages, "sending needs comment permission or more")
        let message = try await node.replica(conversation).document.newMessage(Array(text.unicodeScalars))
        let batches = try await node.submit([message], to: conversation)
        guard let batch = batches.last else { throw .node(.noLocalAuthor) }
        return OpID(replica: replicaID, counter: batch.content.firstCounter)
    }

    /// Replaces a message's text (only what changed is written, so concurrent edits merge).
    public func edit(_ message: String, to text: String, in conversation: ConversationID) async throws(NodeCommandError) {
        let document = try await node.replica(conversation).document
        let id = try MessageReference.resolve(message, in: document)
        try requirePermission(in: conversation, { $0.canEditMessage(own: id.replica == replicaID) },
                              "editing others' messages needs edit permission")
        guard document.messages[id]?.isDeleted == false else { throw .unknownMessage(message) }
        guard let ops = document.replaceText(of: id, with: Array(text.unicodeScalars)) else { throw .unknownMessage(message) }
        guard !ops.isEmpty else { return }
        try await node.submit(ops, to: conversation)
    }

    /// Deletes a message.
    public func delete(_ message: String, in conversation: ConversationID) async throws(NodeCommandError) {
        let document = try await node.replica(conversation).document
        let id = try MessageReference.resolve(message, in: document)
        try requirePermission(in: conversation, { $0.canDeleteMessage(own: id.replica == replicaID) },
                              "deleting others' messages needs admin permission")
        guard document.messages[id]?.isDeleted == false else { return }
        try await node.submit([.deleteMessage(message: id)], to: conversation)
    }

    /// Sets this node's display name (and status) in a conversation.
    public func setProfile(_ profile: Profile, in conversation: ConversationID) async throws(NodeCommandError) {
        try await node.submit([.setProfile(profile)], to: conversation)
    }

    // MARK: - Reading

    /// The messages of a conversation in order, deleted ones included (flagged) where they were.
    public func log(_ conversation: ConversationID) async throws(NodeCommandError) -> [LogEntry] {
        try await log(conversation, newest: Int.max).entries
    }

    /// The newest `newest` entries of the log, and how many the whole log has (see
    /// ``LogEntry/newest(_:of:)``).
    public func log(_ conversation: ConversationID, newest: Int) async throws(NodeCommandError) -> (entries: [LogEntry], total: Int) {
        LogEntry.newest(newest, of: try await node.replica(conversation).document)
    }

    /// The members of a conversation: online ones first, then by name (see ``MemberEntry/list(of:selfID:connected:registers:now:)``).
    public func members(_ conversation: ConversationID) async throws(NodeCommandError) -> [MemberEntry] {
        let state = try await node.replica(conversation).conversation
        return MemberEntry.list(of: state, selfID: replicaID, connected: await node.inspect(\.connectedPeers),
                                registers: await node.ephemeralState(of: conversation), now: configuration.wallClock())
    }
}

extension Node {
    /// What a user can ask of this node (see ``NodeCommands``).
    public nonisolated var commands: NodeCommands { NodeCommands(node: self) }
}
