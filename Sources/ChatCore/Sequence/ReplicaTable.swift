/// The replicas a sequence has met, each with the ids of its that were applied. One array, so a
/// message body with one author costs one allocation here.
@usableFromInline
struct ReplicaTable: Sendable {
    @usableFromInline
    struct Entry: Sendable {
        @usableFromInline var id: ReplicaID
        var seen = IDRangeSet()
    }

    @usableFromInline var entries: ContiguousArray<Entry> = []

    @usableFromInline var count: Int { entries.count }

    /// The replica with local index `number`.
    @usableFromInline subscript(number: Int) -> ReplicaID { entries[number].id }

    /// Every replica, by local index.
    var ids: [ReplicaID] { entries.map(\.id) }

    @inline(__always) func firstIndex(of replica: ReplicaID) -> Int? { entries.firstIndex { $0.id == replica } }

    mutating func append(_ replica: ReplicaID) { entries.append(Entry(id: replica)) }
}
