@testable import ChatCore
import Testing

/// The shortest edit script behind message edits: applying its changes gives the new text, it
/// is as short as a plain LCS table says, and far-apart texts fall back to one change. Two people
/// editing different words of one message keep both edits.
@Suite struct TextDiffTests {
    /// The old text with `changes` applied.
    func applying(_ changes: [TextDiff.Change], to old: [Character], from new: [Character]) -> [Character] {
        var result: [Character] = []
        var at = 0
        for change in changes {
            result += old[at ..< change.deleted.lowerBound]
            result += new[change.inserted]
            at = change.deleted.upperBound
        }
        return result + old[at...]
    }

    /// Insertions plus deletions of a shortest script, by the LCS table.
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0 ..< a.count {
            for j in 0 ..< b.count {
                table[i + 1][j + 1] = a[i] == b[j] ? table[i][j] + 1 : max(table[i][j + 1], table[i + 1][j])
            }
        }
        return a.count + b.count - 2 * table[a.count][b.count]
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func changesRebuildTheNewTextByAShortestScript(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        for round in 0 ..< 200 {
            let old = (0 ..< Int(random.next() % 40)).map { _ in Character(UnicodeScalar(97 + UInt8(random.next() % 4))) }
            var new = old
            for _ in 0 ..< Int(random.next() % 6) {
                if !new.isEmpty, random.next() % 2 == 0 {
                    new.remove(at: Int(random.next() % UInt64(new.count)))
                } else {
                    new.insert(Character(UnicodeScalar(97 + UInt8(random.next() % 4))), at: Int(random.next() % UInt64(new.count + 1)))
                }
            }
            let changes = TextDiff.changes(from: old, to: new)
            #expect(applying(changes, to: old, from: new) == new, "seed \(seed), round \(round)")
            let length = changes.reduce(0) { $0 + $1.deleted.count + $1.inserted.count }
            #expect(length == distance(old, new), "seed \(seed), round \(round)")
            #expect(zip(changes, changes.dropFirst()).allSatisfy { $0.deleted.upperBound < $1.deleted.lowerBound
                || $0.inserted.upperBound < $1.inserted.lowerBound }, "seed \(seed), round \(round): adjacent changes")
        }
    }

    @Test func textsFurtherApartThanTheBoundGetOneChange() {
        let old = Array(repeating: Character("a"), count: 1_500)
        let new = Array(repeating: Character("b"), count: 1_500)
        let changes = TextDiff.changes(from: Array("x" + String(old) + "y"), to: Array("x" + String(new) + "y"))
        #expect(changes == [TextDiff.Change(deleted: 1 ..< 1_501, inserted: 1 ..< 1_501)])
    }

    /// Two people change different words of one message from the same text: both changes land,
    /// and nothing is duplicated (a prefix-and-suffix diff replaced the whole middle each time).
    @Test func concurrentEditsOfDifferentWordsBothLand() throws {
        let ana = ReplicaID(testValue: 1), ben = ReplicaID(testValue: 2)
        var document = ConversationDocument(localReplica: ana)
        let message = OpID(replica: ana, counter: 1)
        try document.apply(document.newMessage(Array("the quick brown fox jumps over the lazy dog".unicodeScalars)),
                           id: message, timestamp: 1)
        let byAna = try #require(document.replaceText(of: message, with: Array("the QUICK brown fox jumps over the lazy dog!".unicodeScalars)))
        let byBen = try #require(document.replaceText(of: message, with: Array("the quick brown cat jumps over the lazy dog".unicodeScalars)))
        for (index, op) in byAna.enumerated() { try document.apply(op, id: OpID(replica: ana, counter: 1_000 * UInt32(index + 1)), timestamp: 2) }
        for (index, op) in byBen.enumerated() { try document.apply(op, id: OpID(replica: ben, counter: 1_000 * UInt32(index + 1)), timestamp: 2) }
        #expect(document.messages[message]?.body.text == "the QUICK brown cat jumps over the lazy dog!")
    }
}
