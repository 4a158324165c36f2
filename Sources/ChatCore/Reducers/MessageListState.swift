/// The messages as the message list shows them, in the order they were first received (feed
/// them in conversation order, e.g. from ``ConversationDocument/orderedMessages``).
///
/// A later snapshot of the same message replaces its text; "edited" and "deleted" never revert.
public struct MessageListState: ConversationViewReducer, Hashable {
    /// The user whose permission decides the offered actions.
    public let localUser: ReplicaID
    /// Message ids in display order.
    public private(set) var order: [OpID] = []
    /// The latest snapshot of each message.
    public private(set) var messages: [OpID: MessageSnapshot] = [:]

    /// No messages, for `localUser`.
    public init(localUser: ReplicaID) {
        self.localUser = localUser
    }

    /// Reacts to received messages.
    /// - Complexity: O(1) amortized.
    public mutating func reduce(_ action: ConversationViewAction) {
        switch action {
        case .messageReceived(var message):
            if let previous = messages[message.id] {
                message.isEdited = message.isEdited || previous.isEdited
                message.isDeleted = message.isDeleted || previous.isDeleted
            } else {
                order.append(message.id)
            }
            messages[message.id] = message
        case .userJoined, .userLeft, .userUpdated, .permissionChanged, .userStartedTyping, .userStoppedTyping,
             .typingTimeout, .cursorMoved, .cursorInactive, .cursorFocusChanged, .presenceUpdated,
             .userActivityDetected, .heartbeatSent, .customStatusSet:
            break
        }
        _checkInvariants()
    }

    /// The rows to draw, with authors from `users` and the actions the local user's permission
    /// allows (``Permission/canEditMessage(own:)``, ``Permission/canDeleteMessage(own:)``).
    /// A deleted message keeps its row, with empty text, the "deleted" marker and no actions.
    /// - Complexity: O(messages); one identicon per distinct author.
    public func rows(users: UserListState) -> [MessageRow] {
        let permission = users.permission(of: localUser)
        var avatars: [ReplicaID: Avatar] = [:]
        return order.compactMap { id in
            guard let message = messages[id] else { return nil }
            let author = message.author
            let avatar = avatars[author] ?? users.avatar(of: author)
            avatars[author] = avatar
            let own = author == localUser
            let live = !message.isDeleted
            return MessageRow(
                id: id, author: author, authorName: users.displayName(of: author), color: users.color(of: author),
                avatar: avatar, text: live ? message.text : "", postedAt: message.postedAt,
                isEdited: message.isEdited, isDeleted: message.isDeleted,
                marker: message.isDeleted ? "deleted" : message.isEdited ? "edited" : nil, isOwn: own,
                canEdit: live && (permission?.canEditMessage(own: own) ?? false),
                canDelete: live && (permission?.canDeleteMessage(own: own) ?? false))
        }
    }

    @inline(__always)
    func _checkInvariants() {
        #if CHAT_INTERNAL_CHECKS
        precondition(order.count == messages.count, "each message appears once in the order")
        #endif
    }
}

/// One message ready to draw.
public struct MessageRow: Sendable, Hashable, Identifiable {
    public var id: OpID
    /// The author's key.
    public var author: ReplicaID
    /// The author's display name.
    public var authorName: String
    /// The author's colour.
    public var color: RGB
    /// The author's avatar or identicon.
    public var avatar: Avatar
    /// The text; empty for a deleted message.
    public var text: String
    /// The author's signed timestamp, ms since the Unix epoch.
    public var postedAt: UInt64
    /// True once the text was edited.
    public var isEdited: Bool
    /// True once the message was deleted.
    public var isDeleted: Bool
    /// "deleted", "edited" or nil.
    public var marker: String?
    /// True when the local user wrote it.
    public var isOwn: Bool
    /// Whether to offer "edit" to the local user.
    public var canEdit: Bool
    /// Whether to offer "delete" to the local user.
    public var canDelete: Bool
}

/// The message input: enabled, or disabled with the reason shown in its place.
public struct ComposerState: Sendable, Hashable {
    /// Whether the input is enabled.
    public var canSend: Bool
    /// Why sending is disabled; nil when it is enabled.
    public var disabledReason: String?

    /// The composer for a user with `permission` (nil: not a member).
    public init(permission: Permission?) {
        switch permission {
        case nil:
            canSend = false
            disabledReason = "You are not a member of this conversation"
        case .view?:
            canSend = false
            disabledReason = "You have view-only access"
        case .comment?, .edit?, .admin?:
            canSend = true
            disabledReason = nil
        }
    }
}

extension Permission {
    /// Whether this level may post messages: `comment` and above.
    public var canSendMessages: Bool { self >= .comment }

    /// Whether this level may edit a message's text: one's own with `comment`, others' with `edit`.
    public func canEditMessage(own: Bool) -> Bool {
        self >= (own ? .comment : .edit)
    }

    /// Whether this level may delete a message: one's own with `comment`, anyone's with `admin`.
    public func canDeleteMessage(own: Bool) -> Bool {
        self >= (own ? .comment : .admin)
    }
}
