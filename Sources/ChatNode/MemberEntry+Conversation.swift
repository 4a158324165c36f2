import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

extension MemberEntry {
    /// The members of a conversation as `members` lists them: online ones first (this node and
    /// peers in `connected`, or as their presence says), then by name. "Last seen" is the newest
    /// of their presence and their signed messages.
    /// - Complexity: O(messages + members log members).
    public static func list(of state: Conversation, selfID: ReplicaID, connected: Set<ReplicaID>,
                            registers: EphemeralRegisters?, now: UInt64) -> [MemberEntry] {
        let document = state.document
        // The newest signed message time of each author: "last seen" when no presence was heard.
        var lastPosted: [ReplicaID: UInt64] = [:]
        for record in document.messages.values where record.postedAt > lastPosted[record.author] ?? 0 {
            lastPosted[record.author] = record.postedAt
        }
        return document.permissions.map { member, permission in
            let online = member == selfID || connected.contains(member)
            let presence = registers?.presence(of: member, now: now)
            // Without any presence heard: online while connected (or this node), else offline.
            let status = presence?.status ?? (online ? .online : .offline)
            let profileStatus = document.profiles[member]?.profile.status.flatMap { $0.isEmpty ? nil : $0 }
            let heard = [presence?.lastSeen, lastPosted[member]].compactMap { $0 }.max()
            return MemberEntry(key: PublicKey(member).text, name: document.profiles[member]?.profile.displayName,
                               permission: permission.description, online: online,
                               isSelf: member == selfID, equivocated: state.equivocators[member] != nil,
                               forkPoint: state.equivocators[member], status: status.description,
                               customStatus: presence?.customStatus ?? profileStatus,
                               lastSeen: member == selfID ? now : heard)
        }
        .sorted { ($0.online ? 0 : 1, $0.name ?? "~", $0.key) < ($1.online ? 0 : 1, $1.name ?? "~", $1.key) }
    }
}
