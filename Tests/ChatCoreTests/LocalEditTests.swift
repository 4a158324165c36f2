import ChatCore
import Testing

/// `insertLocally` and `removeLocally` make exactly the edits of `insert` and `remove`, without
/// the operations: the same state, byte for byte, and the same operation count.
@Suite struct LocalEditTests {
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func localEditsMatchTheEditsThatBuildOperations(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let replica = ReplicaID(testValue: 5)
        var withOps = SequenceCRDT<Unicode.Scalar>(replica: replica)
        var local = SequenceCRDT<Unicode.Scalar>(replica: replica)
        var opCount = 0
        var localCount = 0
        for step in 0 ..< 3000 {
            let length = withOps.count
            if length > 0, random.next() % 3 == 0 {
                let position = Int(random.next() % UInt64(length))
                let count = 1 + Int(random.next() % UInt64(min(length - position, 8)))
                opCount += try withOps.remove(at: position, count: count).count
                localCount += try local.removeLocally(at: position, count: count)
            } else {
                let position = Int(random.next() % UInt64(length + 1))
                let text = Array("abcdefgh".unicodeScalars.prefix(1 + Int(random.next() % 8)))
                try withOps.insert(contentsOf: text, at: position)
                let id = try local.insertLocally(contentsOf: text, at: position)
                #expect(id.replica == replica, "seed \(seed), step \(step)")
                opCount += 1
                localCount += 1
            }
        }
        #expect(local.encodedState() == withOps.encodedState(), "seed \(seed)")
        #expect(localCount == opCount, "seed \(seed)")
    }
}
