import ChatCore
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
    /// Over the conversation's message rate: the next post is allowed in this many ms.
    case rateLimited(retryInMilliseconds: UInt64, perMinute: UInt32)
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
        case .rateLimited: ExclusionReason.rateLimited.rawValue
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
        case .rateLimited(let wait, let perMinute):
            "too fast: this conversation allows \(perMinute) messages a minute; the next one can go in "
                + "\(max((wait + 999) / 1000, 1)) s (nothing was sent)"
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
        case .rateLimited: "the member reached has let in as many people as it may this hour; try later or another member"
        case .invalidInvite: "the link is not valid for this conversation (not recorded there, or its issuer is no admin)"
        case .revoked: "this node's membership was revoked"
        case .notAMember: "the peer reached does not admit this node to the conversation (it may not hold it, or the link may be used up, expired or revoked)"
        default: "the member reached refused (\(reason))"
        }
    }
}
