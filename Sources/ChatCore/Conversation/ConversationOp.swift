/// One operation in a conversation's signed log. An operation uses `idCount` consecutive ids of
/// its author, starting at the id the batch assigns it; the first is the operation's id.
public enum ConversationOp: Sendable, Hashable {
    /// Creates the conversation; only as the first operation of the genesis batch.
    case genesis(Genesis)
    /// A new message in the message list. Its id is the message id; its body's characters use
    /// the following `body.count` ids.
    case postMessage(PostMessage)
    /// Text typed into a message's body.
    case insertText(InsertText)
    /// Text deleted from a message's body.
    case deleteText(DeleteText)
    /// Removes a message (a tombstone; the log keeps it).
    case deleteMessage(message: OpID)
    /// The author's own profile.
    case setProfile(Profile)
    /// Grants `member` a permission level (admins only).
    case setPermission(member: ReplicaID, permission: Permission)
    /// Revokes `member` (admins only): their later operations are excluded everywhere.
    case removeMember(member: ReplicaID)
    /// Conversation settings (admins only).
    case setSettings(ConversationSettings)
    /// The author joins with a signed invite token (its bytes, as issued; empty: a public
    /// conversation) and the admitting member's signed ``JoinAdmission`` (empty: none).
    case join(inviteToken: [UInt8], admission: [UInt8] = [])
    /// Records a share link or a direct invitation its author (an admin) created: joins with
    /// that token id made after the record are held to it (see ``GovernanceResolution``).
    case createLink(InviteRecord)
    /// Revokes a token id (admins only): joins with it that saw the revocation are refused.
    case revokeLink(tokenID: [UInt8])
    /// The invitee of a direct invitation declines it: joins with it that saw the decline are
    /// refused. Anyone may sign one; it counts only when signed by the record's invitee.
    case declineInvite(tokenID: [UInt8])
    /// The author asks the admins for `permission`, with a short note (at most 256 UTF-8 bytes).
    case requestAccess(permission: Permission, note: String)

    /// True for the operations that change who may do what (members, permissions, settings,
    /// joins, links, access requests): they go through the governance resolution.
    public var isGovernance: Bool {
        switch self {
        case .genesis, .setPermission, .removeMember, .setSettings, .join, .createLink, .revokeLink, .declineInvite,
             .requestAccess: true
        case .postMessage, .insertText, .deleteText, .deleteMessage, .setProfile: false
        }
    }

    /// How many ids the operation uses.
    public var idCount: UInt32 {
        switch self {
        case .postMessage(let post): 1 + UInt32(truncatingIfNeeded: post.body.count)
        case .insertText(let insert): UInt32(truncatingIfNeeded: insert.text.count)
        case .deleteText(let delete): delete.count
        case .genesis, .deleteMessage, .setProfile, .setPermission, .removeMember, .setSettings, .join,
             .createLink, .revokeLink, .declineInvite, .requestAccess: 1
        }
    }
}

/// The first operation of a conversation.
public struct Genesis: Sendable, Hashable {
    /// The conversation's title.
    public var title: String
    /// True when anyone who reaches a member may join with `view` permission.
    public var isPublic: Bool
    /// Random bytes so that two conversations with equal titles have different ids.
    public var nonce: [UInt8]

    public init(title: String, isPublic: Bool = false, nonce: [UInt8]) {
        self.title = title
        self.isPublic = isPublic
        self.nonce = nonce
    }
}

/// A new message placed between two neighbours in the message list, as its author saw it.
public struct PostMessage: Sendable, Hashable {
    /// The message it was posted after (nil: the start of the conversation).
    public var originLeft: OpID?
    /// The message that followed at that moment (nil: the end).
    public var originRight: OpID?
    /// The message text.
    public var body: [Unicode.Scalar]

    public init(originLeft: OpID?, originRight: OpID?, body: [Unicode.Scalar]) {
        self.originLeft = originLeft
        self.originRight = originRight
        self.body = body
    }
}

/// Characters inserted into a message body (a ``SequenceInsert`` addressed to one message).
public struct InsertText: Sendable, Hashable {
    public var message: OpID
    public var originLeft: OpID?
    public var originRight: OpID?
    public var text: [Unicode.Scalar]

    public init(message: OpID, originLeft: OpID?, originRight: OpID?, text: [Unicode.Scalar]) {
        self.message = message
        self.originLeft = originLeft
        self.originRight = originRight
        self.text = text
    }
}

/// Characters deleted from a message body (a ``SequenceDelete`` addressed to one message).
public struct DeleteText: Sendable, Hashable {
    public var message: OpID
    public var target: OpID
    public var count: UInt32

    public init(message: OpID, target: OpID, count: UInt32) {
        self.message = message
        self.target = target
        self.count = count
    }
}

/// A user's profile; only its owner changes it.
public struct Profile: Sendable, Hashable {
    public var displayName: String
    /// An avatar reference (URL or data URI); nil: a generated identicon.
    public var avatar: String?
    /// 0xRRGGBB; nil: derived from the user's key.
    public var colour: UInt32?
    public var status: String?
    public var statusEmoji: String?

    public init(displayName: String, avatar: String? = nil, colour: UInt32? = nil, status: String? = nil,
                statusEmoji: String? = nil) {
        self.displayName = displayName
        self.avatar = avatar
        self.colour = colour
        self.status = status
        self.statusEmoji = statusEmoji
    }
}

/// Conversation-wide settings that admins change.
public struct ConversationSettings: Sendable, Hashable {
    /// Messages each author may post per minute (judged on signed timestamps).
    public var messagesPerMinute: UInt32
    /// The largest message body, in UTF-8 bytes.
    public var maxMessageBytes: UInt32
    /// True when anyone who reaches a member may join with `view` permission.
    public var isPublic: Bool

    public static let `default` = ConversationSettings(messagesPerMinute: 10, maxMessageBytes: 16 * 1024, isPublic: false)

    public init(messagesPerMinute: UInt32, maxMessageBytes: UInt32, isPublic: Bool) {
        self.messagesPerMinute = messagesPerMinute
        self.maxMessageBytes = maxMessageBytes
        self.isPublic = isPublic
    }
}

/// A share link or direct invitation as its creator recorded it in the log. The token itself
/// (signed, carrying the same id) travels out of band; the record lets every replica list the
/// link, count its uses and hold joins to its invitee.
public struct InviteRecord: Sendable, Hashable {
    /// The token id (``InviteRecord/tokenIDBytes`` bytes), as in the token.
    public var tokenID: [UInt8]
    /// The permission the token grants.
    public var permission: Permission
    /// ms since the Unix epoch; nil: never.
    public var expiresAt: UInt64?
    /// nil: unlimited.
    public var useLimit: UInt32?
    /// A note for the admins (at most ``InviteRecord/maxLabelBytes`` UTF-8 bytes).
    public var label: String
    /// nil: a share link anyone holding it may use; set: a direct invitation only that key may use.
    public var invitee: ReplicaID?
    /// A direct invitation's signed token bytes, so that any member who meets the invitee's node
    /// can deliver the invitation (only the invitee can be admitted with it). Nil for share links.
    public var token: [UInt8]?
    /// The link's short code, if it has one: the lookup hash of the code's secret and the token
    /// sealed under a key from that secret. The secret itself is never recorded.
    public var code: InviteCodeRecord?

    /// The length of a token id.
    public static let tokenIDBytes = 16
    /// The longest label, in UTF-8 bytes.
    public static let maxLabelBytes = 256

    public init(tokenID: [UInt8], permission: Permission, expiresAt: UInt64? = nil, useLimit: UInt32? = nil,
                label: String = "", invitee: ReplicaID? = nil, token: [UInt8]? = nil, code: InviteCodeRecord? = nil) {
        self.tokenID = tokenID
        self.permission = permission
        self.expiresAt = expiresAt
        self.useLimit = useLimit
        self.label = label
        self.invitee = invitee
        self.token = token
        self.code = code
    }
}

/// What a link's record keeps of its short invite code (see ChatCrypto's `InviteCodeCrypto`):
/// any member's node hands `sealedToken` to whoever asks with `lookup`, and only the holder of
/// the code's secret can open it.
public struct InviteCodeRecord: Sendable, Hashable {
    /// The lookup hash of the code's secret (``lookupBytes``).
    public var lookup: [UInt8]
    /// The link's token, sealed under a key derived from the secret (at most ``maxSealedBytes``).
    public var sealedToken: [UInt8]

    /// The length of a lookup hash.
    public static let lookupBytes = 32
    /// The longest sealed token.
    public static let maxSealedBytes = 2_048

    public init(lookup: [UInt8], sealedToken: [UInt8]) {
        self.lookup = lookup
        self.sealedToken = sealedToken
    }
}

/// Limits of the sharing operations, judged on signed data alike by every replica.
public enum SharingLimits {
    /// `createLink` operations per admin per rolling hour (of signed timestamps).
    public static let linksPerHour = 20
    /// `requestAccess` operations per author per rolling hour (of signed timestamps).
    public static let accessRequestsPerHour = 5
    /// `declineInvite` operations per author per rolling hour (of signed timestamps).
    public static let declinesPerHour = 20
    /// Public joins one member may vouch for per rolling hour (of the admission's signed
    /// `admittedAt`): an honest member's node signs no more, on its own wall clock, and every
    /// replica excludes the rest. A stranger cannot join a public conversation without one.
    public static let publicAdmissionsPerHour = 60
    /// The longest access-request note, in UTF-8 bytes.
    public static let maxNoteBytes = 256
    /// One hour in ms.
    public static let hour: UInt64 = 3_600_000
}
