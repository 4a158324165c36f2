import ChatCore

/// Runs fuzz input as an edit script on two replicas of a text, each with a cursor, and checks
/// what must hold whatever the edits: every edit changes the count by what it inserts or deletes,
/// the replicas converge once each has the other's operations, an observer given all of them in
/// another order converges too, and a state reloads to the same text.
///
/// Each step is three bytes, `command, a, b` (at most ``maxSteps`` are read). Bit 3 of the
/// command picks the replica; its low three bits:
/// - 0–2: type `1 + b % 4` letters at the cursor, after moving it by `a` (signed);
/// - 3–4: delete `1 + b % 3` elements before the cursor (backspace);
/// - 5: delete `1 + b % 3` elements after the cursor;
/// - 6: move the cursor to `(a << 8 | b)` modulo the length plus one;
/// - 7: deliver the replica's unsent operations to the other.
///
/// The cursor moves and the letters typed make the edits local, as people's are: this is the
/// path the span tree's caches serve (the leaf and span last found, count changes held back for
/// the leaf being edited, ids not yet written to the id index).
enum SequenceEditScript {
    static let replicaIDs = [ReplicaID(testValue: 0xA1), ReplicaID(testValue: 0xB2)]
    /// Steps read from one input: enough for texts over several leaves (a cursor that jumps cuts
    /// spans), while an input stays fast in the sanitized debug build, whose invariant checks
    /// are O(n) per edit.
    static let maxSteps = 300

    /// Runs `script`; traps (a find) when a property fails.
    static func run(_ script: [UInt8]) {
        var replicas = replicaIDs.map { SequenceCRDT<Unicode.Scalar>(replica: $0) }
        var cursors = [0, 0]
        var unsent: [[SequenceOp<Unicode.Scalar>]] = [[], []]
        var delivered: [SequenceOp<Unicode.Scalar>] = []
        var step = 0
        while step + 3 <= min(script.count, 3 * maxSteps) {
            let (command, a, b) = (script[step], script[step + 1], script[step + 2])
            step += 3
            let who = Int(command >> 3) & 1
            let length = replicas[who].count
            var cursor = min(cursors[who], length)
            do {
                switch command & 7 {
                case 0, 1, 2:
                    cursor = max(0, min(length, cursor + Int(Int8(bitPattern: a))))
                    let letters = (0 ... Int(b % 4)).map { Unicode.Scalar(97 + (b &+ UInt8($0)) % 26) }
                    unsent[who].append(try replicas[who].insert(contentsOf: letters, at: cursor))
                    cursor += letters.count
                    precondition(replicas[who].count == length + letters.count, "an insert changed the count wrongly")
                case 3, 4:
                    let count = min(cursor, 1 + Int(b % 3))
                    guard count > 0 else { break }
                    unsent[who] += try replicas[who].remove(at: cursor - count, count: count)
                    cursor -= count
                    precondition(replicas[who].count == length - count, "a delete changed the count wrongly")
                case 5:
                    let count = min(length - cursor, 1 + Int(b % 3))
                    guard count > 0 else { break }
                    unsent[who] += try replicas[who].remove(at: cursor, count: count)
                    precondition(replicas[who].count == length - count, "a delete changed the count wrongly")
                case 6:
                    cursor = (Int(a) << 8 | Int(b)) % (length + 1)
                default:
                    try replicas[1 - who].apply(contentsOf: unsent[who])
                    delivered += unsent[who]
                    unsent[who] = []
                }
            } catch {
                preconditionFailure("an edit within the text was refused: \(error)")
            }
            cursors[who] = cursor
        }
        do {
            for who in 0 ..< 2 {
                try replicas[1 - who].apply(contentsOf: unsent[who])
                delivered += unsent[who]
            }
            precondition(replicas[0].elements == replicas[1].elements, "the replicas did not converge")
            // Another order: each pair of operations swapped (the second may wait for the first).
            var observer = SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 0xC3))
            for first in stride(from: 0, to: delivered.count, by: 2) {
                if first + 1 < delivered.count { try observer.apply(delivered[first + 1]) }
                try observer.apply(delivered[first])
            }
            precondition(observer.pendingCount == 0, "an operation still waits")
            precondition(observer.elements == replicas[0].elements, "an observer did not converge")
            let state = replicas[1].encodedState()
            let reloaded = try SequenceCRDT<Unicode.Scalar>(decoding: state)
            precondition(reloaded.elements == replicas[1].elements, "a state reloaded to another text")
            // Loaded text first, then edited (which completes the load): the same edit as on
            // the full load gives the same state.
            var textFirst = try SequenceCRDT<Unicode.Scalar>(decodingTextFirst: state)
            var full = reloaded
            precondition(textFirst.elements == full.elements, "the text loaded first differs")
            let at = full.count / 2
            let edits = (try textFirst.insert("\u{2022}", at: at), try full.insert("\u{2022}", at: at))
            precondition(edits.0 == edits.1, "edits after loads differ")
            precondition(textFirst.encodedState() == full.encodedState(), "a text-first load edited to another state")
        } catch {
            preconditionFailure("delivering operations failed: \(error)")
        }
    }
}
