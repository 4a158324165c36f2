/// Validation that depends only on signed data, so every replica reaches the same verdict.
public enum ContentRules {
    /// Display names: 1–64 characters, no control characters.
    public static func isValidName(_ name: String) -> Bool {
        let count = name.count
        return count >= 1 && count <= 64 && !name.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// Free text next to a name (custom status, emoji, avatar reference): at most 256 UTF-8
    /// bytes, no control characters.
    public static func isValidShortText(_ text: String?) -> Bool {
        guard let text else { return true }
        return text.utf8.count <= 256 && !text.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// UTF-8 size of scalars.
    public static func utf8Count(_ scalars: [Unicode.Scalar]) -> Int {
        scalars.reduce(0) { $0 + UTF8.width($1) }
    }

    /// The permission an ordinary operation needs, given the author of the message it touches.
    public static func requiredPermission(for op: ConversationOp, by author: ReplicaID, messageAuthor: ReplicaID?) -> Permission {
        switch op {
        case .postMessage: .comment
        case .insertText, .deleteText: messageAuthor == author ? .comment : .edit
        case .deleteMessage: messageAuthor == author ? .comment : .admin
        case .setProfile: .view
        case .genesis, .setPermission, .removeMember, .setSettings, .createLink, .revokeLink: .admin
        case .join, .declineInvite, .requestAccess: .view
        }
    }
}
