/// A deterministic simulation of several replicas editing one text concurrently over an
/// unreliable network: messages are delayed, reordered and duplicated, never lost. At the end
/// every message is delivered and every replica must hold the same text.
///
/// Used by the convergence tests (many seeds) and by the demo (one seed).
public struct SequenceSimulation: Sendable {
    /// What to simulate.
    public struct Configuration: Sendable {
        public var replicas: Int
        public var steps: Int
        public var seed: UInt64
        /// Chance that a sent message is delivered twice.
        public var duplicateProbability: Double
        /// Chance that a step delivers a message rather than making an edit.
        public var deliveryProbability: Double

        public init(replicas: Int = 3, steps: Int = 400, seed: UInt64,
                    duplicateProbability: Double = 0.1, deliveryProbability: Double = 0.5) {
            self.replicas = replicas
            self.steps = steps
            self.seed = seed
            self.duplicateProbability = duplicateProbability
            self.deliveryProbability = deliveryProbability
        }
    }

    /// What happened.
    public struct Outcome: Sendable {
        /// Each replica's final text.
        public var texts: [String]
        /// Each replica's final state encoding (tombstones and all).
        public var states: [[UInt8]]
        /// True when every replica holds the same text.
        public var converged: Bool { Set(texts).count == 1 }
        public var operationsMade: Int
        public var messagesDelivered: Int
        public var duplicatesDelivered: Int
        /// The most operations ever waiting in one replica's pending buffer.
        public var pendingPeak: Int
    }

    private struct Message: Sendable {
        var op: SequenceOp<Unicode.Scalar>
        var isDuplicate: Bool
    }

    /// Runs the simulation.
    /// - Throws: ``SequenceError`` if a replica refuses an operation (a bug).
    public static func run(_ configuration: Configuration) throws(SequenceError) -> Outcome {
        var random = SeededGenerator(seed: configuration.seed)
        let count = max(1, configuration.replicas)
        var replicas = (0 ..< count).map { SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: UInt64($0) + 1)) }
        var inboxes = Array(repeating: [Message](), count: count)
        var made = 0, delivered = 0, duplicates = 0, pendingPeak = 0
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz ").map { $0.unicodeScalars.first ?? " " }

        func deliver(to replica: Int, random: inout SeededGenerator) throws(SequenceError) {
            let index = Int.random(in: 0 ..< inboxes[replica].count, using: &random)
            let message = inboxes[replica].remove(at: index)
            try replicas[replica].apply(message.op)
            delivered += 1
            if message.isDuplicate { duplicates += 1 }
            pendingPeak = max(pendingPeak, replicas[replica].pendingCount)
        }

        for _ in 0 ..< configuration.steps {
            let replica = Int.random(in: 0 ..< count, using: &random)
            if !inboxes[replica].isEmpty, Double.random(in: 0 ..< 1, using: &random) < configuration.deliveryProbability {
                try deliver(to: replica, random: &random)
                continue
            }
            var ops: [SequenceOp<Unicode.Scalar>] = []
            let length = replicas[replica].count
            if length > 0, Int.random(in: 0 ..< 3, using: &random) == 0 {
                let start = Int.random(in: 0 ..< length, using: &random)
                let span = Int.random(in: 1 ... min(3, length - start), using: &random)
                ops = try replicas[replica].remove(at: start, count: span)
            } else {
                let position = Int.random(in: 0 ... length, using: &random)
                let word = (0 ..< Int.random(in: 1 ... 4, using: &random)).map { _ in
                    alphabet[Int.random(in: 0 ..< alphabet.count, using: &random)]
                }
                ops = [try replicas[replica].insert(contentsOf: word, at: position)]
            }
            made += ops.reduce(0) { $0 + $1.count }
            for op in ops {
                for other in 0 ..< count where other != replica {
                    inboxes[other].append(Message(op: op, isDuplicate: false))
                    if Double.random(in: 0 ..< 1, using: &random) < configuration.duplicateProbability {
                        inboxes[other].append(Message(op: op, isDuplicate: true))
                    }
                }
            }
        }
        // Heal: deliver everything left, in random order.
        for replica in 0 ..< count {
            while !inboxes[replica].isEmpty { try deliver(to: replica, random: &random) }
        }
        return Outcome(
            texts: replicas.map(\.text), states: replicas.map { $0.encodedState() },
            operationsMade: made, messagesDelivered: delivered, duplicatesDelivered: duplicates,
            pendingPeak: pendingPeak)
    }
}
