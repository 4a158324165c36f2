import ChatControl
import ChatCore
import ChatCrypto
import ChatSync
import ChatWire

extension LogEntry {
    /// The newest `newest` entries of a conversation's log, and how many the whole log has.
    /// Deleted messages stay in the log (empty) where they were posted. Only those entries are
    /// built (their text and names), so a chat state of a long conversation stays cheap.
    /// - Complexity: O(messages) to order them, plus O(newest) entries; each author's key text is
    ///   made once.
    public static func newest(_ newest: Int, of document: ConversationDocument) -> (entries: [LogEntry], total: Int) {
        // Deleted messages leave the visible list; put each back before the first visible message
        // posted after it.
        let deleted = document.messages.values.filter(\.isDeleted)
            .sorted { ($0.postedAt, $0.id.counter, $0.id.replica) < ($1.postedAt, $1.id.counter, $1.id.replica) }
        var ordered: [MessageRecord] = []
        ordered.reserveCapacity(document.messages.count)
        var pending = deleted[...]
        for record in document.orderedMessages {
            while let next = pending.first, next.postedAt < record.postedAt {
                ordered.append(next)
                pending = pending.dropFirst()
            }
            ordered.append(record)
        }
        ordered += pending
        var keys: [ReplicaID: String] = [:]
        let entries = ordered.suffix(newest).map { record in
            let author = keys[record.author] ?? PublicKey(record.author).text
            keys[record.author] = author
            return LogEntry(id: MessageReference.text(record.id), author: author,
                            authorName: document.profiles[record.author]?.profile.displayName,
                            text: record.isDeleted ? "" : record.body.text, edited: record.isEdited, deleted: record.isDeleted,
                            postedAt: record.postedAt)
        }
        return (entries, ordered.count)
    }
}
