import ChatCore
import ChatCrypto
import ChatSync
import ChatWire
import Testing

/// A deterministic, seeded network of nodes replicating one conversation with
/// ``ReplicationStateMachine`` (the session layer is skipped: data frames travel as their encoded
/// bytes). Links drop, duplicate, delay and reorder frames; partitions come and heal; nodes crash
/// and restart with their stored batches. At the end every node must hold every batch.
final class NetworkSimulator {
    struct Parameters: Sendable, CustomStringConvertible {
        var seed: UInt64
        var nodes: Int
        /// Extra random links per node on top of a ring.
        var extraLinks = 2
        /// Simulated time with creation, faults and partitions.
        var chaosMs: Int64 = 20_000
        /// After healing: time allowed to converge.
        var settleMs: Int64 = 30_000
        var tickMs: Int64 = 50
        /// Per tick and up node: the chance of writing a batch.
        var writeChance = 0.02
        var dropChance = 0.10
        var duplicateChance = 0.05
        var maxDelayMs: Int64 = 60
        /// Per tick: the chance a partition starts (when none) or heals (when one is in place).
        var partitionChance = 0.01
        var healChance = 0.01
        /// Per tick and node: the chance an up node crashes; per tick and down node, restarts.
        var crashChance = 0.001
        var restartChance = 0.02
        var configuration = ReplicationConfiguration(antiEntropyInterval: .seconds(1), jitterFraction: 0.3,
                                                     chunkBatches: 16, maxPushBatches: 16,
                                                     minClockReplyInterval: .milliseconds(200))

        var description: String {
            "seed \(seed), \(nodes) nodes, drop \(dropChance), dup \(duplicateChance), crash \(crashChance)"
        }
    }

    struct Session {
        var id: Int
        var machine: ReplicationStateMachine
    }

    struct Node {
        let key: SigningKey
        let replica: ReplicaID
        /// Durable: survives crashes. In causal (acceptance) order.
        var stored: [AuthenticatedBatch] = []
        var storedHashes: Set<[UInt8]> = []
        var verifier: BatchVerifier
        var conversation: Conversation
        var isUp = true
        var sessions: [Int: Session] = [:]
        var lastMessage: OpID?
    }

    enum Event {
        /// A frame from `from` (session `fromSession`) to `to` (session `toSession`).
        case deliver(from: Int, to: Int, toSession: Int, bytes: [UInt8])
        case timer(node: Int, peer: Int, session: Int)
    }

    let parameters: Parameters
    var random: SeededGenerator
    var nodes: [Node] = []
    var neighbours: [Set<Int>] = []
    let conversationID: ConversationID
    var nowMs: Int64 = 0
    var queue = EventQueue()
    var nextSessionID = 1
    /// The partition side of each node, when a partition is in place.
    var side: [Int]?
    /// Every batch any node ever stored, by hash.
    var everStored: Set<[UInt8]> = []
    var counters = (framesSent: 0, framesDropped: 0, framesDuplicated: 0, crashes: 0, restarts: 0, partitions: 0,
                    batchesWritten: 0, verifications: 0)
    var failures: [String] = []

    var now: Duration { .milliseconds(nowMs) }

    init(_ parameters: Parameters) {
        self.parameters = parameters
        random = SeededGenerator(seed: parameters.seed)
        let keys = (0 ..< parameters.nodes).map { index in
            // SAFETY (test): a 32-byte seed always makes a key.
            try! SigningKey(seed: (0 ..< 32).map { UInt8(truncatingIfNeeded: index &* 31 &+ $0 &+ Int(parameters.seed % 251)) })
        }
        let replicas = keys.map(\.publicKey.replicaID)

        // Node 0 creates the conversation and lets everyone write; every node starts with both.
        let genesisContent = BatchContent(conversation: nil, author: replicas[0], firstCounter: 0, timestamp: 1_750_000_000_000,
                                          previousHash: BatchVerifier.Head.empty.hash, dependencies: [],
                                          operations: [.genesis(Genesis(title: "sim", nonce: Array(repeating: 9, count: 16)))])
        let genesis = SignedBatch(content: genesisContent) { keys[0].sign($0).bytes }
        let genesisHash = Hashing.blake2b(genesis.bytes)
        // SAFETY (test): a BLAKE2b-256 digest is 32 bytes.
        conversationID = ConversationID(bytes: genesisHash)!
        var clock = VectorClock()
        clock[replicas[0]] = UInt32(genesisContent.idCount)
        let setupOps: [ConversationOp] = [.setSettings(ConversationSettings(messagesPerMinute: 1_000_000, maxMessageBytes: 16 * 1024, isPublic: false))]
            + replicas.dropFirst().map { .setPermission(member: $0, permission: .comment) }
        let setupContent = BatchContent(conversation: conversationID, author: replicas[0], firstCounter: clock[replicas[0]],
                                        timestamp: 1_750_000_000_001, previousHash: genesisHash, dependencies: [], operations: setupOps)
        let setup = SignedBatch(content: setupContent) { keys[0].sign($0).bytes }
        let initial = [AuthenticatedBatch(storedBatch: genesis, hash: genesisHash),
                       AuthenticatedBatch(storedBatch: setup, hash: Hashing.blake2b(setup.bytes))]

        for index in 0 ..< parameters.nodes {
            var node = Node(key: keys[index], replica: replicas[index],
                            verifier: BatchVerifier(conversation: conversationID, pendingLimit: 256),
                            conversation: Conversation(id: conversationID, localReplica: replicas[index], verifyInvite: { _ in nil }))
            for batch in initial { Self.storeAndApply(batch, in: &node, verify: true) }
            nodes.append(node)
            everStored.formUnion(node.storedHashes)
        }

        // A ring plus random extra links: connected, with several paths.
        neighbours = Array(repeating: [], count: parameters.nodes)
        for index in 0 ..< parameters.nodes where parameters.nodes > 1 {
            link(index, (index + 1) % parameters.nodes)
            for _ in 0 ..< parameters.extraLinks {
                let other = Int.random(in: 0 ..< parameters.nodes, using: &random)
                if other != index { link(index, other) }
            }
        }
    }

    private func link(_ a: Int, _ b: Int) {
        neighbours[a].insert(b)
        neighbours[b].insert(a)
    }

    /// Submits to the verifier; stores and applies what it accepts. Returns the accepted batches.
    @discardableResult
    static func storeAndApply(_ batch: AuthenticatedBatch, in node: inout Node, verify: Bool) -> [AuthenticatedBatch] {
        var accepted: [AuthenticatedBatch] = []
        for verdict in node.verifier.submit(batch) {
            if case .accepted(let batch) = verdict {
                node.stored.append(batch)
                node.storedHashes.insert(batch.hash)
                let result = node.conversation.receive(batch.operationBatch)
                if result.needsRebuild { node.conversation.rebuild(from: node.stored.map(\.operationBatch)) }
                accepted.append(batch)
            }
        }
        return accepted
    }

    // MARK: Running

    func run() {
        // Everyone connects to its neighbours.
        for a in 0 ..< nodes.count { for b in neighbours[a].sorted() where a < b { connect(a, b) } }
        let chaosEnd = parameters.chaosMs
        let end = chaosEnd + parameters.settleMs
        var healed = false
        while nowMs < end {
            let tickEnd = nowMs + parameters.tickMs
            while let due = queue.peekTime, due <= tickEnd {
                let (time, event) = queue.pop()
                nowMs = time
                handle(event)
            }
            nowMs = tickEnd
            if nowMs < chaosEnd {
                chaos()
            } else if !healed {
                healed = true
                side = nil
                for index in nodes.indices where !nodes[index].isUp { restart(index) }
            } else if nowMs % 1000 == 0, isConverged() {
                break
            }
        }
        checkConvergence()
    }

    private func chance(_ p: Double) -> Bool { Double.random(in: 0 ..< 1, using: &random) < p }

    private func chaos() {
        for index in nodes.indices {
            if nodes[index].isUp {
                if chance(parameters.writeChance) { write(index) }
                if chance(parameters.crashChance) { crash(index) }
            } else if chance(parameters.restartChance) {
                restart(index)
            }
        }
        if side == nil {
            if chance(parameters.partitionChance) {
                side = nodes.indices.map { _ in Int.random(in: 0 ..< 2, using: &random) }
                counters.partitions += 1
            }
        } else if chance(parameters.healChance) {
            side = nil
        }
    }

    private func partitioned(_ a: Int, _ b: Int) -> Bool {
        guard let side else { return false }
        return side[a] != side[b]
    }

    // MARK: Node events

    private func write(_ index: Int) {
        let node = nodes[index]
        let head = node.verifier.heads[node.replica] ?? .empty
        let count = Int.random(in: 1 ... 3, using: &random)
        var ops: [ConversationOp] = []
        var left = node.lastMessage ?? node.conversation.document.orderedMessages.last?.id
        for offset in 0 ..< count {
            let body = Array("n\(index) t\(nowMs) #\(offset)".unicodeScalars)
            ops.append(.postMessage(PostMessage(originLeft: left, originRight: nil, body: body)))
            left = OpID(replica: node.replica, counter: head.nextCounter + UInt32(offset))
        }
        let content = BatchContent(conversation: conversationID, author: node.replica, firstCounter: head.nextCounter,
                                   timestamp: 1_750_000_000_000 + UInt64(nowMs) + 10, previousHash: head.hash,
                                   dependencies: node.verifier.dependencies(for: node.replica), operations: ops)
        let signed = SignedBatch(content: content) { node.key.sign($0).bytes }
        let batch = AuthenticatedBatch(storedBatch: signed, hash: Hashing.blake2b(signed.bytes))
        let accepted = Self.storeAndApply(batch, in: &nodes[index], verify: false)
        guard accepted.count == 1 else {
            failures.append("seed \(parameters.seed): node \(index) could not accept its own batch")
            return
        }
        nodes[index].lastMessage = left
        everStored.insert(batch.hash)
        counters.batchesWritten += 1
        pushToAll(index, accepted)
    }

    private func pushToAll(_ index: Int, _ accepted: [AuthenticatedBatch]) {
        let clock = nodes[index].verifier.clock
        for peer in nodes[index].sessions.keys.sorted() {
            guard var session = nodes[index].sessions[peer] else { continue }
            let actions = session.machine.pushNew(batches: accepted, clockAfter: clock, now: now)
            nodes[index].sessions[peer] = session
            perform(actions, node: index, peer: peer)
        }
    }

    private func crash(_ index: Int) {
        counters.crashes += 1
        nodes[index].isUp = false
        for peer in nodes[index].sessions.keys { nodes[peer].sessions[index] = nil }
        nodes[index].sessions = [:]
        // In-flight state is lost: held batches and the materialized state (rebuilt on restart).
        nodes[index].verifier = BatchVerifier(conversation: conversationID, pendingLimit: 256)
    }

    private func restart(_ index: Int) {
        counters.restarts += 1
        var node = nodes[index]
        node.isUp = true
        node.verifier = BatchVerifier(conversation: conversationID, pendingLimit: 256)
        node.conversation = Conversation(id: conversationID, localReplica: node.replica, verifyInvite: { _ in nil })
        let stored = node.stored
        node.stored = []
        node.storedHashes = []
        for batch in stored { Self.storeAndApply(batch, in: &node, verify: false) }
        if node.stored.count != stored.count {
            failures.append("seed \(parameters.seed): node \(index) lost stored batches on restart")
        }
        nodes[index] = node
        for peer in neighbours[index].sorted() where nodes[peer].isUp { connect(index, peer) }
    }

    private func connect(_ a: Int, _ b: Int) {
        for (node, peer) in [(a, b), (b, a)] {
            let id = nextSessionID
            nextSessionID += 1
            let seed = parameters.seed &* 0x9E37_79B9 &+ UInt64(id)
            nodes[node].sessions[peer] = Session(
                id: id, machine: ReplicationStateMachine(conversation: conversationID, configuration: parameters.configuration, seed: seed))
        }
        for (node, peer) in [(a, b), (b, a)] {
            guard var session = nodes[node].sessions[peer] else { continue }
            let actions = session.machine.start(localClock: nodes[node].verifier.clock, now: now)
            nodes[node].sessions[peer] = session
            perform(actions, node: node, peer: peer)
        }
    }

    private func handle(_ event: Event) {
        switch event {
        case .timer(let node, let peer, let sessionID):
            guard var session = nodes[node].sessions[peer], session.id == sessionID else { return }
            let actions = session.machine.timerFired(now: now)
            nodes[node].sessions[peer] = session
            perform(actions, node: node, peer: peer)
        case .deliver(let from, let to, let toSession, let bytes):
            guard var session = nodes[to].sessions[from], session.id == toSession, !partitioned(from, to) else {
                counters.framesDropped += 1
                return
            }
            let frame: DataFrame
            do {
                let header = try FrameHeader(decoding: bytes.prefix(FrameHeader.byteCount))
                frame = try DataFrame(type: header.type, body: Array(bytes.dropFirst(FrameHeader.byteCount)))
            } catch {
                failures.append("seed \(parameters.seed): frame did not decode: \(error)")
                return
            }
            let actions: [ReplicationAction]
            do {
                actions = try session.machine.receive(frame, now: now)
            } catch {
                failures.append("seed \(parameters.seed): node \(to) refused a frame from \(from): \(error)")
                return
            }
            nodes[to].sessions[from] = session
            perform(actions, node: to, peer: from)
        }
    }

    private func perform(_ actions: [ReplicationAction], node index: Int, peer: Int) {
        for action in actions {
            switch action {
            case .send(let frame):
                send(frame, from: index, to: peer)
            case .scheduleTimer(let after):
                guard let session = nodes[index].sessions[peer] else { continue }
                queue.push(at: nowMs + Self.milliseconds(after), .timer(node: index, peer: peer, session: session.id))
            case .loadStoredBatches(let above, let limit):
                let chunk = Array(nodes[index].stored.lazy.filter { $0.endCounter > above[$0.author] }.prefix(limit))
                guard var session = nodes[index].sessions[peer] else { continue }
                let next = session.machine.storedBatchesLoaded(chunk, now: now)
                nodes[index].sessions[peer] = session
                perform(next, node: index, peer: peer)
            case .ingest(let bytes):
                ingest(bytes, node: index, from: peer)
            case .sendWanted(let wanted):
                let hashes = Set(wanted.map(\.hash))
                let found = nodes[index].stored.filter { hashes.contains($0.hash) }.map(\.batch.bytes)
                if !found.isEmpty { send(.batches(conversation: conversationID, batches: found), from: index, to: peer) }
            }
        }
    }

    private func ingest(_ bytes: [[UInt8]], node index: Int, from peer: Int) {
        var authenticated: [AuthenticatedBatch] = []
        var accepted: [AuthenticatedBatch] = []
        for batchBytes in bytes {
            counters.verifications += 1
            switch BatchAuthenticator.authenticate(batchBytes) {
            case .success(let batch):
                authenticated.append(batch)
                accepted += Self.storeAndApply(batch, in: &nodes[index], verify: true)
            case .failure(let rejection):
                failures.append("seed \(parameters.seed): node \(index) rejected a batch from \(peer): \(rejection)")
            }
        }
        everStored.formUnion(accepted.map(\.hash))
        if var session = nodes[index].sessions[peer] {
            session.machine.peerHolds(authenticated)
            nodes[index].sessions[peer] = session
        }
        if !accepted.isEmpty { pushToAll(index, accepted) }
    }

    private func send(_ frame: DataFrame, from: Int, to: Int) {
        counters.framesSent += 1
        guard let target = nodes[to].sessions[from], !partitioned(from, to), !chance(parameters.dropChance) else {
            counters.framesDropped += 1
            return
        }
        let bytes = frame.encoded()
        let copies = chance(parameters.duplicateChance) ? 2 : 1
        if copies == 2 { counters.framesDuplicated += 1 }
        for _ in 0 ..< copies {
            let delay = Int64.random(in: 1 ... parameters.maxDelayMs, using: &random)
            queue.push(at: nowMs + delay, .deliver(from: from, to: to, toSession: target.id, bytes: bytes))
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    // MARK: Checks

    func isConverged() -> Bool {
        let reference = nodes[0].storedHashes
        return reference == everStored && nodes.allSatisfy { $0.isUp && $0.storedHashes == reference && $0.verifier.pendingCount == 0 }
    }

    private func checkConvergence() {
        let prefix = "seed \(parameters.seed) (\(parameters)):"
        for (index, node) in nodes.enumerated() {
            let missing = everStored.subtracting(node.storedHashes)
            if !missing.isEmpty {
                failures.append("\(prefix) node \(index) lacks \(missing.count) of \(everStored.count) batches; clock \(node.verifier.clock)")
            }
            if node.verifier.clock != nodes[0].verifier.clock {
                failures.append("\(prefix) node \(index) clock \(node.verifier.clock) ≠ node 0 \(nodes[0].verifier.clock)")
            }
            if node.conversation.document.canonicalVisibleState() != nodes[0].conversation.document.canonicalVisibleState() {
                failures.append("\(prefix) node \(index) visible state differs from node 0")
            }
            if node.conversation.document.orderedMessages.count != nodes[0].conversation.document.orderedMessages.count {
                failures.append("\(prefix) node \(index) shows \(node.conversation.document.orderedMessages.count) messages, node 0 \(nodes[0].conversation.document.orderedMessages.count)")
            }
        }
    }
}

/// A binary min-heap of events by (time, insertion order): deterministic ties.
struct EventQueue {
    private var heap: [(time: Int64, sequence: Int, event: NetworkSimulator.Event)] = []
    private var sequence = 0

    var peekTime: Int64? { heap.first?.time }
    var count: Int { heap.count }

    private func less(_ a: Int, _ b: Int) -> Bool {
        (heap[a].time, heap[a].sequence) < (heap[b].time, heap[b].sequence)
    }

    mutating func push(at time: Int64, _ event: NetworkSimulator.Event) {
        heap.append((time, sequence, event))
        sequence += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (Int64, NetworkSimulator.Event) {
        let top = heap[0]
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, less(left, smallest) { smallest = left }
            if right < heap.count, less(right, smallest) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.time, top.event)
    }
}

@Suite struct NetworkSimulationTests {
    static func run(_ parameters: NetworkSimulator.Parameters) -> NetworkSimulator {
        let simulator = NetworkSimulator(parameters)
        simulator.run()
        print("sim \(parameters): \(simulator.counters.batchesWritten) written, \(simulator.everStored.count) batches, "
            + "\(simulator.counters.framesSent) frames sent (\(simulator.counters.framesDropped) dropped, "
            + "\(simulator.counters.framesDuplicated) duplicated), \(simulator.counters.verifications) verifications, "
            + "\(simulator.counters.crashes) crashes, \(simulator.counters.partitions) partitions, stopped at \(simulator.nowMs) ms simulated")
        return simulator
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func convergesUnderFaults(seed: UInt64) {
        let simulator = Self.run(.init(seed: seed, nodes: 3 + Int(seed * 4 % 18)))
        #expect(simulator.failures.isEmpty, "seed \(seed): \(simulator.failures.prefix(5))")
        #expect(simulator.counters.batchesWritten > 0, "seed \(seed): nothing written")
    }

    @Test func threeNodesHeavyLoss() {
        let seed: UInt64 = 11
        var parameters = NetworkSimulator.Parameters(seed: seed, nodes: 3)
        parameters.dropChance = 0.4
        parameters.duplicateChance = 0.2
        parameters.writeChance = 0.05
        let simulator = Self.run(parameters)
        #expect(simulator.failures.isEmpty, "seed \(seed): \(simulator.failures.prefix(5))")
    }

    @Test func twentyNodesChurn() {
        let seed: UInt64 = 20
        var parameters = NetworkSimulator.Parameters(seed: seed, nodes: 20)
        parameters.crashChance = 0.004
        parameters.partitionChance = 0.03
        let simulator = Self.run(parameters)
        #expect(simulator.failures.isEmpty, "seed \(seed): \(simulator.failures.prefix(5))")
        #expect(simulator.counters.crashes > 0, "seed \(seed): no crash happened")
        #expect(simulator.counters.partitions > 0, "seed \(seed): no partition happened")
    }

    /// The checker is not vacuous: with anti-entropy practically off (no clock after start) and
    /// half the frames dropped, nodes do not converge and every failure names the seed.
    @Test func withoutAntiEntropyLossIsDetected() {
        let seed: UInt64 = 99
        var parameters = NetworkSimulator.Parameters(seed: seed, nodes: 6)
        parameters.dropChance = 0.5
        parameters.crashChance = 0
        parameters.settleMs = 2_000
        parameters.configuration = ReplicationConfiguration(antiEntropyInterval: .seconds(3600), minClockReplyInterval: .seconds(3600))
        let simulator = Self.run(parameters)
        #expect(!simulator.failures.isEmpty, "seed \(seed): converged even without anti-entropy")
        #expect(simulator.failures.allSatisfy { $0.contains("seed \(seed)") })
    }

    @Test func fiftyNodes() {
        let seed: UInt64 = 50
        var parameters = NetworkSimulator.Parameters(seed: seed, nodes: 50)
        parameters.writeChance = 0.005
        parameters.chaosMs = 10_000
        let simulator = Self.run(parameters)
        #expect(simulator.failures.isEmpty, "seed \(seed): \(simulator.failures.prefix(5))")
    }
}
