/// A deterministic, in-process simulation of one conversation with several replicas: random
/// messages, edits (own and others'), deletes, profile changes, grants and revocations —
/// including revocations concurrent with the revoked member's edits — each replica receiving
/// every batch in its own random causal order, with duplicates. At the end every batch reaches
/// every replica, and all of them must show byte-identical visible states.
public struct ConversationSimulation: Sendable {
    public struct Configuration: Sendable {
        public var replicas: Int
        /// Operations to generate in total.
        public var operations: Int
        public var seed: UInt64
        public var duplicateProbability: Double

        public init(replicas: Int = 5, operations: Int = 1000, seed: UInt64, duplicateProbability: Double = 0.1) {
            self.replicas = max(2, replicas)
            self.operations = max(1, operations)
            self.seed = seed
            self.duplicateProbability = duplicateProbability
        }
    }

    public struct Outcome: Sendable {
        /// Each replica's canonical visible state.
        public var states: [[UInt8]]
        public var converged: Bool { Set(states).count == 1 && excludedAgree }
        /// True when every replica excluded the same operations for the same reasons.
        public var excludedAgree: Bool
        /// Visible messages (on replica 0).
        public var messages: Int
        /// Excluded operations (on replica 0).
        public var excludedOps: Int
        /// Exclusions by reason (on replica 0).
        public var excludedByReason: [String: Int]
        /// Accepted removals.
        public var revocations: Int
        public var batches: Int
        public var rebuilds: Int
        /// When not converged: which replica first differs from replica 0, and the first byte offset.
        public var firstDifference: (replica: Int, offset: Int)?
    }

    /// A replica: its view, what it has received (in order), and what waits.
    private struct Node {
        var conversation: Conversation
        var received: [OperationBatch] = []
        var inbox: [OperationBatch] = []
        var nextCounter: UInt32 = 0
    }

    public static let conversationID = ConversationID(bytes: Array(repeating: 0x5C, count: 32))! // SAFETY: 32 bytes

    public static func run(_ configuration: Configuration) -> Outcome {
        var random = SeededGenerator(seed: configuration.seed)
        let count = configuration.replicas
        let ids = (0 ..< count).map { ReplicaID(testValue: 1000 + UInt64($0)) }
        let noInvites: InviteVerifier = { _ in nil }
        var nodes = ids.map { Node(conversation: Conversation(id: conversationID, localReplica: $0, verifyInvite: noInvites)) }
        var now: UInt64 = 1_750_000_000_000
        var batchCount = 0
        var rebuilds = 0

        func deliver(_ batch: OperationBatch, to index: Int) {
            let result = nodes[index].conversation.receive(batch)
            if !result.duplicate { nodes[index].received.append(batch) }
            if result.needsRebuild {
                nodes[index].conversation.rebuild(from: nodes[index].received)
                rebuilds += 1
            }
        }

        /// Seals `ops` as the next batch of `index`, applies it locally and sends it to the others.
        func publish(_ index: Int, _ ops: [ConversationOp], random: inout SeededGenerator) {
            guard !ops.isEmpty else { return }
            var clock = nodes[index].conversation.clock
            clock[ids[index]] = nodes[index].nextCounter
            now += UInt64.random(in: 1 ... 4000, using: &random)
            let batch = OperationBatch(author: ids[index], firstCounter: nodes[index].nextCounter, clock: clock,
                                       timestamp: now, operations: ops)
            nodes[index].nextCounter += ops.reduce(0) { $0 + $1.idCount }
            batchCount += 1
            deliver(batch, to: index)
            for other in nodes.indices where other != index {
                nodes[other].inbox.append(batch)
                if Double.random(in: 0 ..< 1, using: &random) < configuration.duplicateProbability {
                    nodes[other].inbox.append(batch)
                }
            }
        }

        /// Delivers one random batch whose causal past the replica already has.
        func deliverOne(to index: Int, random: inout SeededGenerator) -> Bool {
            let clock = nodes[index].conversation.clock
            let ready = nodes[index].inbox.indices.filter { i in
                let batch = nodes[index].inbox[i]
                return batch.clock.entries.allSatisfy { $0.replica == batch.author || clock[$0.replica] >= $0.count }
                    && batch.firstCounter <= clock[batch.author]
            }
            guard let pick = ready.randomElement(using: &random) else { return false }
            let batch = nodes[index].inbox.remove(at: pick)
            deliver(batch, to: index)
            return true
        }

        // Genesis and the first grants, by replica 0.
        publish(0, [.genesis(Genesis(title: "simulated", nonce: [1, 2, 3]))], random: &random)
        let levels: [Permission] = [.admin, .edit, .comment, .comment, .view, .edit]
        publish(0, (1 ..< count).map { .setPermission(member: ids[$0], permission: levels[($0 - 1) % levels.count]) }, random: &random)

        var made = 0
        while made < configuration.operations {
            let index = Int.random(in: 0 ..< count, using: &random)
            if !nodes[index].inbox.isEmpty, Int.random(in: 0 ..< 3, using: &random) != 0 {
                for _ in 0 ..< Int.random(in: 1 ... 4, using: &random) { _ = deliverOne(to: index, random: &random) }
                continue
            }
            let ops = randomOps(for: index, ids: ids, node: nodes[index], random: &random)
            made += ops.count
            publish(index, ops, random: &random)
        }
        // Heal: everything reaches everyone.
        var progress = true
        while progress {
            progress = false
            for index in nodes.indices {
                while deliverOne(to: index, random: &random) { progress = true }
            }
        }
        let states = nodes.map { $0.conversation.document.canonicalVisibleState() }
        let exclusions = nodes.map { $0.conversation.excluded }
        var difference: (Int, Int)?
        if let mismatch = states.indices.first(where: { states[$0] != states[0] }) {
            let offset = zip(states[0], states[mismatch]).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(states[0].count, states[mismatch].count)
            difference = (mismatch, offset)
        }
        let first = nodes[0].conversation
        var byReason: [String: Int] = [:]
        for reason in first.excluded.values { byReason[reason.rawValue, default: 0] += 1 }
        return Outcome(
            states: states, excludedAgree: exclusions.allSatisfy { $0 == exclusions[0] },
            messages: first.document.orderedMessages.count, excludedOps: first.excluded.count,
            excludedByReason: byReason, revocations: first.revocationCount, batches: batchCount, rebuilds: rebuilds,
            firstDifference: difference)
    }

    /// One to three operations a member might make, from what it sees (it may lack the right to
    /// some of them: those are excluded, the point of the exercise).
    private static func randomOps(for index: Int, ids: [ReplicaID], node: Node, random: inout SeededGenerator) -> [ConversationOp] {
        let document = node.conversation.document
        let me = ids[index]
        let visible = document.orderedMessages
        var ops: [ConversationOp] = []
        var counter = node.nextCounter
        func text(_ length: Int) -> [Unicode.Scalar] {
            let pool = Array("abcdefghij klmnop é✓".unicodeScalars)
            return (0 ..< length).map { _ in pool[Int.random(in: 0 ..< pool.count, using: &random)] }
        }
        for _ in 0 ..< Int.random(in: 1 ... 3, using: &random) {
            let op: ConversationOp
            switch Int.random(in: 0 ..< 100, using: &random) {
            case 0 ..< 30:
                op = document.newMessage(text(Int.random(in: 1 ... 12, using: &random)))
            case 30 ..< 55 where !visible.isEmpty:
                let message = visible[Int.random(in: 0 ..< visible.count, using: &random)]
                let at = Int.random(in: 0 ... message.body.count, using: &random)
                guard let edit = document.insertText(text(Int.random(in: 1 ... 4, using: &random)), into: message.id, at: at)
                else { continue }
                op = edit
            case 55 ..< 68 where !visible.isEmpty:
                let message = visible[Int.random(in: 0 ..< visible.count, using: &random)]
                guard message.body.count > 0,
                      let target = try? message.body.sequence.visibleID(at: Int.random(in: 0 ..< message.body.count, using: &random))
                else { continue }
                op = .deleteText(DeleteText(message: message.id, target: target, count: 1))
            case 68 ..< 74 where !visible.isEmpty:
                op = .deleteMessage(message: visible[Int.random(in: 0 ..< visible.count, using: &random)].id)
            case 74 ..< 82:
                let names = ["Ana", "Ben", "Chloé", "", "Dmitri \u{7}", String(repeating: "x", count: 70), "Eve 🌷"]
                op = .setProfile(Profile(displayName: names[Int.random(in: 0 ..< names.count, using: &random)],
                                         status: Bool.random(using: &random) ? "busy" : nil))
            case 82 ..< 88:
                let member = ids[Int.random(in: 0 ..< ids.count, using: &random)]
                op = .setPermission(member: member, permission: Permission.allCases[Int.random(in: 0 ..< 4, using: &random)])
            case 88 ..< 91:
                let member = ids[Int.random(in: 0 ..< ids.count, using: &random)]
                guard member != me || Int.random(in: 0 ..< 4, using: &random) == 0 else { continue }
                op = .removeMember(member: member)
            case 91 ..< 93:
                op = .setSettings(ConversationSettings(messagesPerMinute: UInt32.random(in: 3 ... 30, using: &random),
                                                       maxMessageBytes: 16 * 1024, isPublic: false))
            default:
                op = document.newMessage(text(Int.random(in: 1 ... 12, using: &random)))
            }
            ops.append(op)
            counter += op.idCount
        }
        _ = counter
        return ops
    }
}
