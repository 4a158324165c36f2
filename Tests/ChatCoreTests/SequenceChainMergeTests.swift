import ChatCore
import Testing

/// Two replicas append independent chains at the end of an empty sequence; one receives the
/// other's chain in two parts. Both must end with the same order.
@Suite struct SequenceChainMergeTests {
    @Test(arguments: [false, true], [false, true]) func concurrentChainsConvergeWhenDeliveredInParts(keepsHistory: Bool, longerFirst: Bool) throws {
        let a = try #require(ReplicaID(bytes: Array(repeating: longerFirst ? 0x0B : 0xA1, count: 32)))
        let b = try #require(ReplicaID(bytes: Array(repeating: longerFirst ? 0xA1 : 0x0B, count: 32)))
        var left = SequenceCRDT<Int>(replica: a, keepsHistory: keepsHistory)
        var right = SequenceCRDT<Int>(replica: b, keepsHistory: keepsHistory)
        var leftOps: [SequenceOp<Int>] = []
        for value in 0 ..< 300 { leftOps.append(try left.insert(value, at: left.count)) }
        var rightOps: [SequenceOp<Int>] = []
        for value in 1000 ..< 1020 { rightOps.append(try right.insert(value, at: right.count)) }
        try left.apply(contentsOf: rightOps)
        try right.apply(contentsOf: leftOps[..<256])
        try right.apply(contentsOf: leftOps[256...])
        #expect(left.elements == right.elements)
    }
}
