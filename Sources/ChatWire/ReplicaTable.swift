import ChatCore

/// The replicas a batch's operations refer to, each written once. Index 0 is the batch's author;
/// the others are numbered in order of first use, which makes the table canonical.
struct ReplicaTableBuilder {
    private(set) var replicas: [ReplicaID]
    private var numbers: [ReplicaID: UInt64]

    init(author: ReplicaID) {
        replicas = [author]
        numbers = [author: 0]
    }

    mutating func number(of replica: ReplicaID) -> UInt64 {
        if let number = numbers[replica] { return number }
        let number = UInt64(replicas.count)
        replicas.append(replica)
        numbers[replica] = number
        return number
    }
}

/// Decoding side: resolves numbers and checks first-use order.
struct ReplicaTableReader {
    let replicas: [ReplicaID]
    private(set) var nextUnused = 1

    init(author: ReplicaID, others: [ReplicaID]) {
        replicas = [author] + others
    }

    mutating func replica(_ number: UInt64) throws(WireError) -> ReplicaID {
        guard number < UInt64(replicas.count) else { throw .invalidValue("replica number \(number) is not in the table") }
        let index = Int(number)
        if index == nextUnused {
            nextUnused += 1
        } else if index > nextUnused {
            throw .nonCanonical("replica table is not in order of first use")
        }
        return replicas[index]
    }

    /// Every table entry must have been used.
    func checkAllUsed() throws(WireError) {
        guard nextUnused == replicas.count else { throw .nonCanonical("replica table has unused entries") }
    }
}
