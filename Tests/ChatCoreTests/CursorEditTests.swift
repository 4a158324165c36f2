import ChatCore
import Testing

/// Editing the way people type: a cursor that types on, deletes backwards, steps a few places
/// and sometimes jumps. These are the edits the span tree's caches serve (the leaf and span last
/// found, and count changes held back for the leaf being edited), checked against a plain array
/// after every few edits, and, with a second replica editing concurrently, by convergence with a
/// replica that only applies their operations.
@Suite struct CursorEditTests {
    /// One person's cursor over a document of `length` elements.
    struct Cursor {
        var position = 0

        enum Edit { case type(Unicode.Scalar), backspace, move }

        /// The next edit, moving the cursor as it goes.
        mutating func next(length: Int, using random: inout SeededGenerator) -> Edit {
            position = min(position, length)
            let roll = random.next() % 100
            if roll < 55 {
                return .type(Unicode.Scalar(UInt8(97 + random.next() % 26)))
            }
            if roll < 80, position > 0 { return .backspace }
            if roll < 95 {
                let step = Int(random.next() % 41) - 20
                position = max(0, min(length, position + step))
            } else {
                position = Int(random.next() % UInt64(length + 1))
            }
            return .move
        }
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func typingAroundACursorMatchesAPlainArray(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        var document = SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 1))
        var model: [Unicode.Scalar] = []
        var cursor = Cursor()
        for step in 0 ..< 6_000 {
            switch cursor.next(length: model.count, using: &random) {
            case .type(let scalar):
                try document.insertLocally(contentsOf: CollectionOfOne(scalar), at: cursor.position)
                model.insert(scalar, at: cursor.position)
                cursor.position += 1
            case .backspace:
                _ = try document.removeLocally(at: cursor.position - 1)
                model.remove(at: cursor.position - 1)
                cursor.position -= 1
            case .move:
                break
            }
            if step % 10 == 0 {
                let elements = document.elements
                #expect(elements == model, "seed \(seed), step \(step)")
                if elements != model { return }
            }
        }
        #expect(document.elements == model, "seed \(seed)")
        let reloaded = try SequenceCRDT<Unicode.Scalar>(decoding: document.encodedState())
        #expect(reloaded.elements == model, "seed \(seed)")
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func twoCursorsEditingConcurrentlyConverge(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        var replicas = [SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 1)),
                        SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 2))]
        var cursors = [Cursor(), Cursor()]
        var unsent: [[SequenceOp<Unicode.Scalar>]] = [[], []]
        var observer = SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 3))
        for step in 0 ..< 4_000 {
            let who = Int(random.next() % 2)
            switch cursors[who].next(length: replicas[who].count, using: &random) {
            case .type(let scalar):
                unsent[who].append(try replicas[who].insert(scalar, at: cursors[who].position))
                cursors[who].position += 1
            case .backspace:
                unsent[who] += try replicas[who].remove(at: cursors[who].position - 1)
                cursors[who].position -= 1
            case .move:
                break
            }
            // Every so often, each replica receives the other's edits (the observer, everyone's).
            if step % 25 == 24 {
                for (to, from) in [(0, 1), (1, 0)] { try replicas[to].apply(contentsOf: unsent[from]) }
                try observer.apply(contentsOf: unsent[0] + unsent[1])
                unsent = [[], []]
                #expect(replicas[0].elements == replicas[1].elements, "seed \(seed), step \(step)")
            }
        }
        for (to, from) in [(0, 1), (1, 0)] { try replicas[to].apply(contentsOf: unsent[from]) }
        try observer.apply(contentsOf: unsent[0] + unsent[1])
        #expect(replicas[0].elements == replicas[1].elements, "seed \(seed)")
        #expect(observer.elements == replicas[0].elements, "seed \(seed)")
    }
}
