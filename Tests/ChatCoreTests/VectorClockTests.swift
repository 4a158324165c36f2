import ChatCore
import Testing

@Suite struct VectorClockTests {
    let a = ReplicaID(testValue: 1), b = ReplicaID(testValue: 2), c = ReplicaID(testValue: 3)

    @Test func mergeIsPointwiseMaximum() {
        let x = VectorClock([a: 3, b: 1])
        let y = VectorClock([b: 4, c: 2])
        #expect(x.merged(with: y) == VectorClock([a: 3, b: 4, c: 2]))
    }

    @Test(arguments: 0 ..< 50)
    func mergeLaws(seed: Int) {
        var random = SeededGenerator(seed: UInt64(seed))
        func randomClock() -> VectorClock {
            VectorClock([a: .random(in: 0 ... 5, using: &random), b: .random(in: 0 ... 5, using: &random),
                         c: .random(in: 0 ... 5, using: &random)])
        }
        let x = randomClock(), y = randomClock(), z = randomClock()
        #expect(x.merged(with: y) == y.merged(with: x), "commutative, seed \(seed)")
        #expect(x.merged(with: y).merged(with: z) == x.merged(with: y.merged(with: z)), "associative, seed \(seed)")
        #expect(x.merged(with: x) == x, "idempotent, seed \(seed)")
        #expect(x.isCovered(by: x.merged(with: y)), "merge covers its inputs, seed \(seed)")
    }

    @Test func happenedBeforeAndConcurrency() {
        let base = VectorClock([a: 1])
        let later = VectorClock([a: 2, b: 1])
        let other = VectorClock([b: 3])
        #expect(base.compare(later) == .before)
        #expect(later.compare(base) == .after)
        #expect(base.happenedBefore(later))
        #expect(later.isConcurrent(with: other))
        #expect(base.compare(base) == .equal)
        #expect(VectorClock([a: 0]) == VectorClock(), "zero entries are absent")
    }

    @Test func opsAboveAClock() {
        let mine = VectorClock([a: 2, b: 5])
        let theirs = VectorClock([a: 4, b: 5, c: 1])
        let missing = mine.missing(from: theirs)
        #expect(missing.map(\.replica) == [a, c])
        #expect(missing.map(\.counters) == [2 ..< 4, 0 ..< 1])
        #expect(mine.contains(OpID(replica: b, counter: 4)))
        #expect(!mine.contains(OpID(replica: b, counter: 5)))
    }
}
