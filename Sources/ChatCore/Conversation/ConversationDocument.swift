/// Why an operation could not be applied to a conversation document.
public enum DocumentError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The operation refers to a message this document does not have.
    case unknownMessage(OpID)
    /// The sequence CRDT refused the operation.
    case sequence(SequenceError)
    /// An element an operation names (an origin or a deletion target) is not here.
    case missingElement(OpID)
    /// A second genesis.
    case duplicateGenesis
    /// A snapshot that does not decode.
    case malformedSnapshot(String)

    public var code: String {
        switch self {
        case .unknownMessage: "unknown_message"
        case .sequence(let error): "sequence_\(error.code)"
        case .missingElement: "missing_element"
        case .duplicateGenesis: "duplicate_genesis"
        case .malformedSnapshot: "malformed_snapshot"
        }
    }

    public var description: String {
        switch self {
        case .unknownMessage(let id): "no message \(id)"
        case .sequence(let error): error.description
        case .missingElement(let id): "the operation names \(id), which is not here"
        case .duplicateGenesis: "the conversation already has a genesis"
        case .malformedSnapshot(let reason): "malformed conversation snapshot: \(reason)"
        }
    }
}

/// The materialized state of one conversation: the ordered messages with their bodies, profiles,
/// members and settings. Pure: operations come in (in causal order) with their ids and signed
/// timestamps; nothing reads a clock.
public struct ConversationDocument: Sendable {
    /// The replica whose local edits this document makes.
    public let localReplica: ReplicaID
    public internal(set) var title = ""
    /// The message list: each element is a message id.
    public internal(set) var messageList: SequenceCRDT<OpID>
    public internal(set) var messages = MessageTable()
    /// Each user's latest profile, with the counter of the op that set it.
    public internal(set) var profiles: [ReplicaID: (counter: UInt32, profile: Profile)] = [:]
    public internal(set) var permissions: [ReplicaID: Permission] = [:]
    public internal(set) var settings = ConversationSettings.default
    /// Operations applied.
    public internal(set) var appliedCount = 0
    /// The messages whose bodies are live (see ``MessageBody``), least recently edited first:
    /// past ``liveBodyLimit``, the least recently edited is compacted.
    private var liveBodies: [OpID] = []
    /// How many bodies stay live: edits come in bursts on a few recent messages.
    static let liveBodyLimit = 32

    public init(localReplica: ReplicaID) {
        self.localReplica = localReplica
        messageList = SequenceCRDT(replica: localReplica, keepsHistory: false)
    }

    /// Visible (not deleted) messages in conversation order.
    /// - Complexity: O(messages).
    public var orderedMessages: [MessageRecord] {
        messageList.elements.compactMap { messages[$0] }
    }

    /// Applies one operation, made by `id.replica`, with the batch's signed `timestamp`.
    /// - Complexity: O(log n) for messages and text in the common case.
    public mutating func apply(_ op: ConversationOp, id: OpID, timestamp: UInt64) throws(DocumentError) {
        switch op {
        case .genesis(let genesis):
            guard title.isEmpty, permissions.isEmpty else { throw .duplicateGenesis }
            title = genesis.title
            settings.isPublic = genesis.isPublic
            permissions[id.replica] = .admin
        case .postMessage(let post):
            try Self.applyNow(.insert(SequenceInsert(
                id: id, originLeft: post.originLeft, originRight: post.originRight, content: [id])), to: &messageList)
            var body = SequenceCRDT<Unicode.Scalar>(replica: localReplica, keepsHistory: false)
            if !post.body.isEmpty {
                try Self.applyNow(.insert(SequenceInsert(
                    id: OpID(replica: id.replica, counter: id.counter &+ 1), originLeft: nil, originRight: nil,
                    content: post.body)), to: &body)
            }
            messages.insert(StoredMessage(postedAt: timestamp, body: MessageBody(body)), for: id)
            keepLive(id)
        case .insertText(let insert):
            // Tracked even when the edit throws: the body was made live before the edit ran.
            defer { keepLive(insert.message) }
            // Mutate the record in place: no copy of the body, one hash lookup.
            let edited: Void? = try messages.update(insert.message) { (message) throws(DocumentError) in
                try message.body.edit { (body) throws(DocumentError) in
                    try Self.applyNow(.insert(SequenceInsert(
                        id: id, originLeft: insert.originLeft, originRight: insert.originRight, content: insert.text)), to: &body)
                }
                message.isEdited = true
            }
            guard edited != nil else { throw .unknownMessage(insert.message) }
        case .deleteText(let delete):
            defer { keepLive(delete.message) }
            let edited: Void? = try messages.update(delete.message) { (message) throws(DocumentError) in
                try message.body.edit { (body) throws(DocumentError) in
                    try Self.applyNow(.delete(SequenceDelete(id: id, target: delete.target, count: delete.count)), to: &body)
                }
                message.isEdited = true
            }
            guard edited != nil else { throw .unknownMessage(delete.message) }
        case .deleteMessage(let message):
            guard messages.contains(message) else { throw .unknownMessage(message) }
            try Self.applyNow(.delete(SequenceDelete(id: id, target: message, count: 1)), to: &messageList)
            messages.update(message) { $0.isDeleted = true }
        case .setProfile(let profile):
            if (profiles[id.replica]?.counter).map({ $0 < id.counter }) ?? true {
                profiles[id.replica] = (id.counter, profile)
            }
        case .setPermission(let member, let permission):
            permissions[member] = permission
        case .removeMember(let member):
            permissions[member] = nil
        case .setSettings(let newSettings):
            settings = newSettings
        case .join:
            if permissions[id.replica] == nil { permissions[id.replica] = .view }
        case .createLink, .revokeLink, .declineInvite, .requestAccess:
            break // materialized from the governance resolution (``GovernanceResolution/sharing``)
        }
        appliedCount += 1
    }

    /// Keeps an excluded insert only as an invisible element, so that valid operations
    /// anchored on it (made by members who saw it before it was excluded) keep their place: a
    /// post's message id joins the message list hidden (no message record), inserted text joins
    /// its message's body hidden. Other excluded operations leave no trace. Does nothing when
    /// the insert cannot be placed.
    /// - Complexity: O(log n).
    public mutating func keepInvisibly(_ op: ConversationOp, id: OpID) {
        switch op {
        case .postMessage(let post):
            guard messageList.canPlace(originLeft: post.originLeft, originRight: post.originRight),
                  (try? messageList.apply(.insert(SequenceInsert(
                      id: id, originLeft: post.originLeft, originRight: post.originRight, content: [id])), waits: false))
                    == .applied else { return }
            messageList.hide(from: id, count: 1)
        case .insertText(let insert):
            guard !insert.text.isEmpty else { return }
            let found: Void? = messages.update(insert.message) { message in
                message.body.edit { body in
                    guard body.canPlace(originLeft: insert.originLeft, originRight: insert.originRight),
                          (try? body.apply(.insert(SequenceInsert(
                              id: id, originLeft: insert.originLeft, originRight: insert.originRight, content: insert.text)),
                              waits: false)) == .applied else { return }
                    body.hide(from: id, count: UInt32(truncatingIfNeeded: insert.text.count))
                }
            }
            if found != nil { keepLive(insert.message) }
        default:
            break
        }
    }

    /// Notes that `message`'s body was just made or edited (it is live), and compacts the least
    /// recently edited live body when more than ``liveBodyLimit`` are.
    /// - Complexity: O(``liveBodyLimit``), plus the compaction of one body.
    private mutating func keepLive(_ message: OpID) {
        if let at = liveBodies.lastIndex(of: message) {
            guard at != liveBodies.count - 1 else { return }
            liveBodies.remove(at: at)
        } else {
            guard messages.contains(message) else { return }
        }
        liveBodies.append(message)
        guard liveBodies.count > Self.liveBodyLimit else { return }
        let coldest = liveBodies.removeFirst()
        messages.update(coldest) { $0.body.compact() }
    }

    /// Applies `op` to `sequence` at once or not at all: an operation whose elements are not
    /// all here is refused rather than buffered (the conversation judges references in the
    /// operation's causal past first, so this happens only to ill-formed input).
    private static func applyNow<Element>(_ op: SequenceOp<Element>, to sequence: inout SequenceCRDT<Element>)
        throws(DocumentError) {
        let outcome: SequenceApplyOutcome
        do { outcome = try sequence.apply(op, waits: false) } catch { throw .sequence(error) }
        guard outcome == .pending else { return }
        switch op {
        case .insert(let insert): throw .missingElement(insert.id)
        case .delete(let delete): throw .missingElement(delete.target)
        }
    }
}

extension ConversationDocument {
    /// The visible state in one canonical byte form: title, settings, members with permissions
    /// and profiles (sorted by key), then the visible messages in order with author, text and
    /// edited flag. Two replicas show the same thing exactly when these bytes are equal.
    public func canonicalVisibleState() -> [UInt8] {
        var writer = ByteWriter(capacity: 4096)
        func string(_ value: String) { writeString(value, into: &writer) }
        string(title)
        writer.write(varint: settings.messagesPerMinute)
        writer.write(varint: settings.maxMessageBytes)
        writer.write(byte: settings.isPublic ? 1 : 0)
        for (member, permission) in permissions.sorted(by: { $0.key < $1.key }) {
            writer.write(bytes: member.bytes)
            writer.write(byte: permission.rawValue)
        }
        for (person, entry) in profiles.sorted(by: { $0.key < $1.key }) {
            writer.write(bytes: person.bytes)
            string(entry.profile.displayName)
            string(entry.profile.status ?? "")
            string(entry.profile.statusEmoji ?? "")
            string(entry.profile.avatar ?? "")
            writer.write(varint: UInt64(entry.profile.colour ?? 0x100_0000))
        }
        for message in orderedMessages {
            message.id.encode(into: &writer)
            writer.write(varint: message.postedAt)
            writer.write(byte: message.isEdited ? 1 : 0)
            string(message.body.text)
        }
        return writer.bytes
    }
}

extension ConversationDocument {
    /// The operation that posts `body` as a new message at the end of the conversation as this
    /// replica sees it (after the last visible message).
    /// - Complexity: O(log n).
    public func newMessage(_ body: [Unicode.Scalar]) -> ConversationOp {
        let origins = (try? messageList.insertionOrigins(at: messageList.count)) ?? (originLeft: nil, originRight: nil)
        return .postMessage(PostMessage(originLeft: origins.originLeft, originRight: origins.originRight, body: body))
    }

    /// The operation that inserts `text` into message `message`'s body before visible index
    /// `index`, or nil when the message or index does not exist.
    public func insertText(_ text: [Unicode.Scalar], into message: OpID, at index: Int) -> ConversationOp? {
        guard let origins = messages.readingBody(of: message, { try? $0.insertionOrigins(at: index) }) ?? nil else { return nil }
        return .insertText(InsertText(message: message, originLeft: origins.originLeft, originRight: origins.originRight, text: text))
    }
}

extension ConversationDocument {
    /// The operations that turn message `message`'s visible text into `text`: a shortest edit
    /// script between the old and new text (``TextDiff``), each deleted run deleted by its ids
    /// and each inserted run inserted at its place in the old text, so concurrent edits
    /// elsewhere in the text merge: two people who change different words of one message keep
    /// both changes, and nothing is duplicated. Nil when the message does not exist; empty when
    /// the text is unchanged.
    /// - Complexity: O((old + new) · d) for d inserted and deleted elements, d bounded by
    ///   ``TextDiff/maxDistance`` (past it, the changed middle is replaced whole), plus
    ///   O(log n) per run.
    public func replaceText(of message: OpID, with text: [Unicode.Scalar]) -> [ConversationOp]? {
        guard let body = messages[message]?.body.sequence else { return nil }
        var ops: [ConversationOp] = []
        for change in TextDiff.changes(from: body.elements, to: text) {
            // Deletions: consecutive ids of one author form one run.
            var run: (target: OpID, count: UInt32)?
            for index in change.deleted {
                guard let id = try? body.visibleID(at: index) else { return nil }
                if let current = run, current.target.replica == id.replica,
                   current.target.counter &+ current.count == id.counter {
                    run = (current.target, current.count + 1)
                } else {
                    if let current = run { ops.append(.deleteText(DeleteText(message: message, target: current.target, count: current.count))) }
                    run = (id, 1)
                }
            }
            if let current = run { ops.append(.deleteText(DeleteText(message: message, target: current.target, count: current.count))) }
            if !change.inserted.isEmpty {
                guard let insert = insertText(Array(text[change.inserted]), into: message, at: change.deleted.upperBound) else { return nil }
                ops.append(insert)
            }
        }
        return ops
    }
}
