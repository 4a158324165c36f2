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

    public var code: String {
        switch self {
        case .store(let error): "store:\(error.code)"
        case .snapshot: "bad_snapshot"
        case .inconsistentStore: "inconsistent_store"
        case .noLocalAuthor: "no_local_author"
        }
    }

    public var description: String {
        switch self {
        case .store(let error): "store: \(error)"
        case .snapshot(let error): "snapshot: \(error)"
        case .inconsistentStore(let reason): "the store disagrees with the verifier: \(reason)"
        case .noLocalAuthor: "this node has no identity attached to the conversation"
        }
    }
}
