@testable import ChatCore
import Testing

/// ``SequenceStateChecker`` accepts exactly the states the decoder accepts: valid message
/// bodies, and every corruption of them the decoder refuses (the fuzzer checks the same on
/// arbitrary input).
@Suite struct SequenceStateCheckerTests {
    /// A message body by two authors with inserts, deletes and explicit origins, encoded.
    static func editedBody(seed: UInt64) throws -> [UInt8] {
        var random = SeededGenerator(seed: seed)
        let authors = [ReplicaID(testValue: 1), ReplicaID(testValue: 2)]
        var body = SequenceCRDT<Unicode.Scalar>(replica: authors[0], keepsHistory: false)
        var counters: [UInt32] = [1, 1]
        for step in 0 ..< 12 {
            let who = Int.random(in: 0 ... 1, using: &random)
            if step > 2, body.count > 0, Bool.random(using: &random) {
                let target = try body.visibleID(at: Int.random(in: 0 ..< body.count, using: &random))
                _ = try body.apply(.delete(SequenceDelete(id: OpID(replica: authors[who], counter: counters[who]),
                                                           target: target, count: 1)), waits: false)
                counters[who] += 1
            } else {
                let text = Array((step % 3 == 0 ? "é✓x" : "ab").unicodeScalars)
                let origins = try body.insertionOrigins(at: Int.random(in: 0 ... body.count, using: &random))
                _ = try body.apply(.insert(SequenceInsert(id: OpID(replica: authors[who], counter: counters[who]),
                                                          originLeft: origins.originLeft, originRight: origins.originRight,
                                                          content: text)), waits: false)
                counters[who] += UInt32(text.count)
            }
        }
        return body.encodedState()
    }

    static func verdicts(_ bytes: [UInt8]) -> (checked: Bool, decoded: Bool) {
        var reader = ByteReader(bytes)
        var checker = SequenceStateChecker()
        let checked = (try? checker.check(&reader)) != nil && reader.isAtEnd
        return (checked, (try? SequenceCRDT<Unicode.Scalar>(decoding: bytes)) != nil)
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func theCheckerAgreesWithTheDecoderOnCorruptedBodies(seed: UInt64) throws {
        let valid = try Self.editedBody(seed: seed)
        #expect(Self.verdicts(valid) == (true, true), "seed \(seed)")
        var random = SeededGenerator(seed: seed &* 7919)
        var refused = 0
        for trial in 0 ..< 2_000 {
            var bytes = valid
            switch trial % 4 {
            case 0: bytes[Int.random(in: 4 ..< bytes.count, using: &random)] = UInt8.random(in: 0 ... 255, using: &random)
            case 1: bytes[Int.random(in: 4 ..< bytes.count, using: &random)] ^= 1 << UInt8.random(in: 0 ... 7, using: &random)
            case 2: bytes.removeLast(Int.random(in: 1 ..< bytes.count - 4, using: &random))
            default: bytes.insert(UInt8.random(in: 0 ... 255, using: &random), at: Int.random(in: 4 ... bytes.count, using: &random))
            }
            let (checked, decoded) = Self.verdicts(bytes)
            #expect(checked == decoded, "seed \(seed), trial \(trial): checker \(checked), decoder \(decoded), bytes \(bytes)")
            refused += decoded ? 0 : 1
        }
        #expect(refused > 500, "the corruptions exercise refusals (seed \(seed))")
    }

    /// States the checker does not walk (with history, other versions) are decoded in full.
    @Test func otherStatesAreDecodedInFull() throws {
        var text = SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 3))
        _ = try text.insert(contentsOf: Array("history".unicodeScalars), at: 0)
        #expect(Self.verdicts(text.encodedState()) == (true, true))
        #expect(Self.verdicts(Array(text.encodedState().dropLast())) == (false, false))
    }
}
