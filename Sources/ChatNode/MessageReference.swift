import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

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
