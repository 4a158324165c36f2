import ChatControl
import ChatCore
import ChatCrypto

/// The lines the terminal chat shows between messages: who created the conversation, joined,
/// was added, changed permission, was removed or left, was invited, declined an invitation or
/// asked for access, and changes of mode. Derived from the conversation's accepted governance
/// operations (few, and in memory), not from the audit trail, so every `chat-state` can carry
/// them.
enum ChatTimeline {
    /// The notes of `governance`'s accepted operations in their order, the newest `limit`.
    /// - Complexity: O(governance operations).
    static func notes(of governance: GovernanceResolution, limit: Int, name: (ReplicaID) -> String) -> [ChatState.Note] {
        var notes: [ChatState.Note] = []
        var permissions: [ReplicaID: Permission] = [:]
        var isPublic: Bool?
        for op in governance.acceptedInOrder {
            let actor = op.id.replica
            func note(_ kind: String, _ text: String, subject: ReplicaID? = nil) {
                notes.append(ChatState.Note(at: op.timestamp, kind: kind, text: text,
                                            subject: subject.map { PublicKey($0).text }))
            }
            switch op.kind {
            case .genesis(let title, let opensPublic):
                isPublic = opensPublic
                permissions[actor] = .admin
                note("created", "\(name(actor)) created “\(title)”")
            case .setPermission(let member, let permission):
                let known = permissions[member] != nil
                permissions[member] = permission
                note(known ? "permission" : "added",
                     known ? "\(name(actor)) made \(name(member)) \(permission)" : "\(name(actor)) added \(name(member)) as \(permission)",
                     subject: member)
            case .removeMember(let member):
                permissions[member] = nil
                note(member == actor ? "left" : "removed",
                     member == actor ? "\(name(member)) left" : "\(name(actor)) removed \(name(member))", subject: member)
            case .setSettings(let settings):
                defer { isPublic = settings.isPublic }
                guard let before = isPublic, before != settings.isPublic else { continue }
                note("mode", "\(name(actor)) made the conversation \(settings.isPublic ? "public" : "private")")
            case .join(let request):
                let permission: Permission = switch request {
                case .token(let grant, _): grant.permission
                case .publicJoin, .invalidToken: .view
                }
                permissions[actor] = permission
                note("joined", "\(name(actor)) joined as \(permission)", subject: actor)
            case .createLink(let record):
                guard let invitee = record.invitee else { continue }
                note("invited", "\(name(actor)) invited \(name(invitee)) as \(record.permission)", subject: invitee)
            case .declineInvite:
                note("declined", "\(name(actor)) declined the invitation", subject: actor)
            case .requestAccess(let permission, let text):
                note("request", "\(name(actor)) asked for \(permission) access" + (text.isEmpty ? "" : ": “\(text)”"),
                     subject: actor)
            case .revokeLink:
                continue
            }
        }
        return Array(notes.suffix(limit))
    }

    /// Who removed `member`, when the latest accepted removal of it is someone else's.
    static func remover(of member: ReplicaID, in governance: GovernanceResolution) -> ReplicaID? {
        for op in governance.acceptedInOrder.reversed() {
            switch op.kind {
            case .removeMember(let removed) where removed == member:
                return op.id.replica == member ? nil : op.id.replica
            case .join where op.id.replica == member, .setPermission(member: member, permission: _):
                return nil
            default:
                continue
            }
        }
        return nil
    }
}
