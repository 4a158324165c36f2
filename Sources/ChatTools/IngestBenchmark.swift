import ChatCore
import ChatCrypto
import ChatNode
import ChatStore
import ChatSync
import ChatWire
import Foundation

/// What `streamingchat bench ingest` measures and prints. Field names are a contract.
public struct IngestBenchmarkReport: Sendable, Codable, Equatable {
    public var batches: Int
    public var opsPerBatch: Int
    public var ops: Int
    public var authors: Int
    /// Operations applied per second through the whole path: decode, verify, persist durably,
    /// apply. The run fails unless every generated operation was applied.
    public var opsPerSecond: Double
    public var batchesPerSecond: Double
    public var signaturesVerified: Int
    /// Per-batch latency, median over batches, in milliseconds: a batch is durable and applied when
    /// its commit group is, so its latency is its group's time from the start of authentication to
    /// the commit.
    public var msPerBatchP50: Double
    /// The same latency's 99th percentile.
    public var msPerBatchP99: Double = 0
    /// Median wall time of one commit group (decode to durable and applied), in milliseconds.
    public var msPerGroupP50: Double
    public var batchesPerTransaction: Int
    /// Size of the LMDB data file after ingest.
    public var storeBytes: Int
    public var elapsedMs: Double
    public var operationsApplied: Int
    public var rejected: Int
    public var cores: Int
}

/// Generates signed batches from several authors with fixed seeds, then measures ingesting them
/// into a fresh store.
public enum IngestBenchmark {
    /// What to generate and how to ingest it.
    public struct Configuration: Sendable {
        public var opsPerBatch: Int
        public var authors: Int
        public var totalOps: Int
        /// Batches per LMDB transaction (at most; fewer when ops per batch are many).
        public var batchesPerTransaction: Int
        /// Ops per LMDB transaction (at most).
        public var opsPerTransaction: Int

        public init(opsPerBatch: Int = 10, authors: Int = 4, totalOps: Int = 400_000,
                    batchesPerTransaction: Int = 1024, opsPerTransaction: Int = 65_536) {
            self.opsPerBatch = max(1, opsPerBatch)
            self.authors = max(1, authors)
            self.totalOps = max(self.opsPerBatch, totalOps)
            self.batchesPerTransaction = max(1, batchesPerTransaction)
            self.opsPerTransaction = max(1, opsPerTransaction)
        }
    }

    /// A generated conversation: its id and every batch in a causal order.
    public struct Workload: Sendable {
        public var conversation: ConversationID
        public var batches: [[UInt8]]
        public var operationCount: Int
        /// Each batch's author and first counter.
        public var positions: [(author: ReplicaID, firstCounter: UInt32)]
    }

    /// Deterministic: author `i` signs with seed `i + 1` repeated; everything else follows from the
    /// configuration. Authors take turns; each batch names the one before it, which names every author's latest batch. Each
    /// author posts a message and then types into it one character per operation, with an
    /// occasional backspace and a new message now and then, as people chat.
    public static func generate(_ configuration: Configuration) -> Workload {
        let keys = (0 ..< configuration.authors).map { index in
            guard let key = try? SigningKey(seed: Array(repeating: UInt8(truncatingIfNeeded: index + 1), count: 32)) else {
                preconditionFailure("a 32-byte seed always makes a key") // SAFETY: constant input, not peer data
            }
            return key
        }
        let authors = keys.map(\.publicKey.replicaID)
        var next = Array(repeating: UInt32(0), count: authors.count)
        var previous = Array(repeating: [UInt8](repeating: 0, count: 32), count: authors.count)
        /// The latest batch, which names every other: the only head.
        var head: BatchDependency?
        var timestamp: UInt64 = 1_750_000_000_000
        var random = SeededGenerator(seed: 42)
        var batches: [[UInt8]] = []
        var positions: [(author: ReplicaID, firstCounter: UInt32)] = []

        func seal(_ author: Int, _ ops: [ConversationOp], conversation: ConversationID?) -> [UInt8] {
            let content = BatchContent(conversation: conversation, author: authors[author], firstCounter: next[author],
                                       timestamp: timestamp, previousHash: previous[author],
                                       dependencies: head.map { $0.replica == authors[author] ? [] : [$0] } ?? [], operations: ops)
            let batch = SignedBatch(content: content) { keys[author].sign($0).bytes }
            positions.append((authors[author], next[author]))
            next[author] += UInt32(content.idCount)
            previous[author] = Hashing.blake2b(batch.bytes)
            head = BatchDependency(replica: authors[author], count: next[author], hash: previous[author])
            timestamp += 25
            return batch.bytes
        }

        let genesis = seal(0, [.genesis(Genesis(title: "ingest benchmark", nonce: Array(repeating: 7, count: 16)))], conversation: nil)
        // SAFETY: a BLAKE2b-256 digest is 32 bytes.
        let conversation = ConversationID(bytes: previous[0])!
        batches.append(genesis)
        // The creator lets the others write and lifts the message rate for this bulk workload.
        let setup: [ConversationOp] = [.setSettings(ConversationSettings(messagesPerMinute: 1_000_000, maxMessageBytes: 16 * 1024, isPublic: false))]
            + authors.dropFirst().map { .setPermission(member: $0, permission: .comment) }
        batches.append(seal(0, setup, conversation: conversation))
        var operations = 1 + setup.count
        // Per author: the message being typed and the ids of its characters, in order.
        var typing: [(message: OpID, characters: [OpID])?] = Array(repeating: nil, count: authors.count)
        let letters = Array("etaoin shrdlu".unicodeScalars)
        var lastMessage: OpID?
        var turn = 0
        while operations < configuration.totalOps {
            let author = turn % authors.count
            turn += 1
            var ops: [ConversationOp] = []
            var counter = next[author]
            if counter == 0 {
                ops.append(.setProfile(Profile(displayName: "author \(author)")))
                counter += 1
            }
            while ops.count < configuration.opsPerBatch {
                let id = OpID(replica: authors[author], counter: counter)
                if var state = typing[author], state.characters.count < 200, Int.random(in: 0 ..< 40, using: &random) != 0 {
                    if let last = state.characters.last, state.characters.count > 2, Int.random(in: 0 ..< 10, using: &random) == 0 {
                        ops.append(.deleteText(DeleteText(message: state.message, target: last, count: 1)))
                        state.characters.removeLast()
                    } else {
                        let letter = letters[Int.random(in: 0 ..< letters.count, using: &random)]
                        ops.append(.insertText(InsertText(message: state.message, originLeft: state.characters.last,
                                                          originRight: nil, text: [letter])))
                        state.characters.append(id)
                    }
                    typing[author] = state
                    counter += 1
                } else {
                    // New messages go at the end of the list as the author sees it.
                    ops.append(.postMessage(PostMessage(originLeft: lastMessage, originRight: nil, body: Array("hi".unicodeScalars))))
                    lastMessage = id
                    typing[author] = (id, [OpID(replica: authors[author], counter: counter + 1),
                                           OpID(replica: authors[author], counter: counter + 2)])
                    counter += 3
                }
            }
            operations += ops.count
            batches.append(seal(author, ops, conversation: conversation))
        }
        return Workload(conversation: conversation, batches: batches, operationCount: operations, positions: positions)
    }

    /// Ingests a generated workload into a fresh store at `directory` and measures it.
    public static func run(_ configuration: Configuration, directory: String) async throws(NodeError) -> IngestBenchmarkReport {
        let workload = generate(configuration)
        let (store, replica) = try open(workload, at: directory, snapshotInterval: Int.max)
        let groups = group(workload.batches, configuration)
        let clock = ContinuousClock()
        var report = IngestReport()
        var perBatch: [Double] = []
        var perGroup: [Double] = []
        let start = clock.now
        try await pipeline(groups, into: replica) { group, groupReport, elapsed in
            report.merge(groupReport)
            perGroup.append(elapsed)
            perBatch += repeatElement(elapsed, count: group.count)
        }
        let total = milliseconds(clock.now - start)
        let seconds = max(total / 1000, 1e-9)
        guard report.operationsApplied == workload.operationCount, report.accepted == workload.batches.count,
              report.rejectedCount == 0 else {
            throw .inconsistentStore("""
                applied \(report.operationsApplied) of \(workload.operationCount) operations and \(report.accepted) of \
                \(workload.batches.count) batches (\(report.rejected) rejected)
                """)
        }
        return IngestBenchmarkReport(
            batches: workload.batches.count, opsPerBatch: configuration.opsPerBatch, ops: workload.operationCount,
            authors: configuration.authors, opsPerSecond: (Double(report.operationsApplied) / seconds).rounded(),
            batchesPerSecond: (Double(report.accepted) / seconds).rounded(),
            signaturesVerified: report.signaturesVerified, msPerBatchP50: median(perBatch),
            msPerBatchP99: percentile(perBatch, 0.99), msPerGroupP50: median(perGroup),
            batchesPerTransaction: groups.map(\.count).max() ?? 0, storeBytes: store.directorySizeBytes,
            elapsedMs: (total * 1000).rounded() / 1000, operationsApplied: report.operationsApplied,
            rejected: report.rejectedCount, cores: authenticationWorkers)
    }

    /// The store at `directory` and the workload's conversation in it, as a node that only
    /// receives (its local replica writes nothing).
    static func open(_ workload: Workload, at directory: String,
                     snapshotInterval: Int) throws(NodeError) -> (ChatStore, ConversationReplica) {
        let store: ChatStore
        do {
            store = try ChatStore(directory: directory)
        } catch {
            throw .store(error)
        }
        let replica = try ConversationReplica(store: store, conversation: workload.conversation,
                                              localReplica: ReplicaID(testValue: 0), snapshotInterval: snapshotInterval)
        return (store, replica)
    }

    /// Splits batches into commit groups of at most `batchesPerTransaction` batches and
    /// `opsPerTransaction` operations.
    public static func group(_ batches: [[UInt8]], _ configuration: Configuration) -> [[[UInt8]]] {
        var groups: [[[UInt8]]] = []
        var current: [[UInt8]] = []
        var currentOps = 0
        for batch in batches {
            current.append(batch)
            currentOps += configuration.opsPerBatch
            if current.count >= configuration.batchesPerTransaction || currentOps >= configuration.opsPerTransaction {
                groups.append(current)
                current = []
                currentOps = 0
            }
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }

    /// Ingests groups through a two-stage pipeline, as a node receiving a stream runs it: the next
    /// group's signatures are checked on all cores while the current group commits on the
    /// replica's actor. `onCommit` runs after each group is durable, with its wall time in ms
    /// (from the start of its authentication to its commit).
    public static func pipeline(
        _ groups: [[[UInt8]]], into replica: ConversationReplica, limits: WireLimits = .default,
        onCommit: ([[UInt8]], IngestReport, Double) throws(NodeError) -> Void
    ) async throws(NodeError) {
        guard let first = groups.first else { return }
        let clock = ContinuousClock()
        var groupStart = clock.now
        var authenticated = await ConversationReplica.authenticate(first, limits: limits)
        for index in groups.indices {
            let nextStart = clock.now
            async let next = index + 1 < groups.count
                ? ConversationReplica.authenticate(groups[index + 1], limits: limits) : []
            let report = try await replica.commit(authenticated)
            try onCommit(groups[index], report, milliseconds(clock.now - groupStart))
            authenticated = await next
            groupStart = nextStart
        }
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    /// The `fraction` quantile (nearest rank), rounded to 0.1 µs.
    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let rank = min(sorted.count - 1, max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1))
        return (sorted[rank] * 10_000).rounded() / 10_000
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let value = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        return (value * 10_000).rounded() / 10_000
    }
}

extension IngestBenchmark {
    /// Ingests the generated workload into the store at `directory`, new or not (batches already
    /// there are duplicates), reporting after each durable commit how many batches the store
    /// holds. The crash-safety test kills this at random points and checks that every batch it
    /// reported is still there.
    public static func resume(_ configuration: Configuration, directory: String,
                              onDurable: (Int) -> Void) async throws(NodeError) {
        let workload = generate(configuration)
        let (store, replica) = try open(workload, at: directory, snapshotInterval: 20_000)
        // Like a peer answering "what do you lack?", send only what the store does not hold.
        let have = await replica.clock
        let missing = zip(workload.batches, workload.positions)
            .filter { $0.1.firstCounter >= have[$0.1.author] }.map(\.0)
        try await pipeline(group(missing, configuration), into: replica) { _, _, _ throws(NodeError) in
            let stored: Int
            do {
                stored = try store.batchCount(workload.conversation)
            } catch let error as StoreError {
                throw .store(error)
            } catch {
                throw .inconsistentStore("\(error)")
            }
            onDurable(stored)
        }
    }
}
