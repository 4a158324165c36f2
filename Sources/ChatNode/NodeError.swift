import ChatCore
import ChatStore

/// Why a node operation failed. Stable `code`s.
public enum NodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The store failed (disk, LMDB, corruption).
    case store(StoreError)
    /// A stored snapshot does not decode.
    case snapshot(DocumentError)
    /// The store disagrees with what the verifier accepted (a bug or outside interference).
    case inconsistentStore(String)
    /// A local edit on a replica this node does not write in.
    case noLocalAuthor
    /// A local batch the conversation would not store: this node is not a member in its past
    /// and it is not an admissible join or decline.
    case notStored(StorageRefusal)
    /// A local batch whose encoding exceeds what the wire carries (its clock is too large);
    /// nothing was signed into the log.
    case batchTooLarge(bytes: Int, limit: Int)

    public var code: String {
        switch self {
        case .store(let error): "store:\(error.code)"
        case .snapshot: "bad_snapshot"
        case .inconsistentStore: "inconsistent_store"
        case .noLocalAuthor: "no_local_author"
        case .notStored(let refusal): refusal.rawValue
        case .batchTooLarge: "batch_too_large"
        }
    }

    public var description: String {
        switch self {
        case .store(let error): "store: \(error)"
        case .snapshot(let error): "snapshot: \(error)"
        case .inconsistentStore(let reason): "the store disagrees with the verifier: \(reason)"
        case .noLocalAuthor: "this node has no identity attached to the conversation"
        case .notStored(.notAMember): "this node is not a member of the conversation"
        case .notStored(.inadmissibleJoin): "the conversation's history does not admit this join"
        case .batchTooLarge(let bytes, let limit): "the batch would be \(bytes) bytes, over the wire's \(limit)"
        }
    }
}
