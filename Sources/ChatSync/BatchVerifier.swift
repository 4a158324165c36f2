import ChatCore
import ChatWire

/// The stateful stage of verification for one conversation: per-author hash chains and dense
/// counters, causal dependencies by hash, and a bounded buffer for batches that arrive early.
///
/// Feed it authenticated batches in any order; it returns them in an order that respects every
/// author's chain and every batch's causal past, ready to persist and apply, each accepted batch
/// with the past its hash dependencies derive (``AuthenticatedBatch/past``, from the
/// ``CausalHistory``). A batch waits first for the counts it names (so a clock-based sync fetches
/// them), then for the exact batches it names by hash: one that names a branch this replica
/// does not hold (its author forked) waits for that batch, which ``takeWanted()`` lists for the
/// caller to ask peers for. Without a history (``ordering(conversation:heads:)``) it only orders
/// batches by counts, for reading back a store that verified them. Pure and deterministic: no
/// I/O, no clock.
public struct BatchVerifier: Sendable {
    /// An author's chain head: the next counter expected and the hash of the latest batch.
    public struct Head: Sendable, Hashable {
        public var nextCounter: UInt32
        public var hash: [UInt8]

        public init(nextCounter: UInt32, hash: [UInt8]) {
            self.nextCounter = nextCounter
            self.hash = hash
        }

        /// The head of an author with no batches: counter 0, previous hash all zeros.
        public static let empty = Head(nextCounter: 0, hash: Array(repeating: 0, count: WireFormat.hashBytes))
    }

    /// What became of a batch.
    public enum Verdict: Sendable, Hashable {
        /// In order: persist and apply it (verdicts come in a valid order).
        case accepted(AuthenticatedBatch)
        /// Its counters are below the author's head: a duplicate, or a fork if the stored batch
        /// at those counters differs (the caller checks against the store).
        case alreadyCovered(AuthenticatedBatch)
        /// Waiting for a predecessor or a causal dependency.
        case held(AuthenticatedBatch)
        /// Refused; fork evidence (see ``BatchRejection/isForkEvidence``) should be stored.
        case rejected(AuthenticatedBatch, BatchRejection)
    }

    public let conversation: ConversationID
    public private(set) var heads: [ReplicaID: Head]
    public let pendingLimit: Int
    /// The most bytes of batches held at once.
    public let pendingByteLimit: Int
    /// Waiting bytes per author, and each author's waiting batches in the order they came: when
    /// the buffer is full, the author holding the most gives way (its newest batch first), so a
    /// flooding author evicts its own batches and never an honest one's.
    private var pendingBytesByAuthor: [ReplicaID: Int] = [:]
    private var pendingOrder: [ReplicaID: [BatchHash]] = [:]
    /// Waiting batches by hash.
    private var pending: [BatchHash: AuthenticatedBatch] = [:]
    /// The waiting batches by the replica each waits for first, sorted by the count of that
    /// replica's operations it needs: when a head moves, only the batches it now satisfies are
    /// judged again.
    private var waiting: [ReplicaID: [(needed: UInt32, hash: BatchHash)]] = [:]
    /// Waiting batches whose counts are all held but which name a batch by a hash the history
    /// lacks, by that hash.
    private var waitingForHash: [BatchHash: [BatchHash]] = [:]
    /// Batches of another branch (fork evidence) whose own references are not all in the
    /// history yet, by the missing hash; added as side records once they are.
    private var parkedSide: [BatchHash: [AuthenticatedBatch]] = [:]
    /// Parked side batches, oldest first (the first to give way when full).
    private var parkedOrder: [(missing: BatchHash, batch: BatchHash)] = []
    /// The most side batches parked at once.
    static let parkedSideLimit = 1024
    /// The causal history (nil when only ordering stored batches).
    public private(set) var history: CausalHistory?
    /// Batches to ask peers for by hash (see ``takeWanted()``).
    private var wanted: Set<BatchDependency> = []
    /// The most wanted batches remembered at once.
    static let wantedLimit = 1024

    /// A batch hash as a dictionary key: hashed by its first 8 bytes (a BLAKE2b digest is
    /// uniform), compared whole.
    struct BatchHash: Hashable, Sendable {
        let bytes: [UInt8]

        func hash(into hasher: inout Hasher) {
            var prefix: UInt64 = 0
            for byte in bytes.prefix(8) { prefix = prefix << 8 | UInt64(byte) }
            hasher.combine(prefix)
        }
    }
    public private(set) var rejections = RejectionCounters()

    /// - Parameters:
    ///   - heads: the chain heads already stored (empty for a new conversation).
    ///   - history: every stored batch with its past (empty for a new conversation; it must
    ///     hold every batch the heads reach).
    ///   - pendingLimit: the most batches held at once.
    ///   - pendingByteLimit: the most bytes held at once (64 MiB by default).
    public init(conversation: ConversationID, heads: [ReplicaID: Head] = [:], history: CausalHistory? = CausalHistory(),
                pendingLimit: Int = 4096, pendingByteLimit: Int = 64 << 20) {
        self.conversation = conversation
        self.heads = heads
        self.history = history
        var clock = VectorClock()
        for (replica, head) in heads where head.nextCounter > 0 { clock[replica] = head.nextCounter }
        self.clock = clock
        self.pendingLimit = max(1, pendingLimit)
        self.pendingByteLimit = max(1, pendingByteLimit)
    }

    /// A verifier that only orders batches by the counts they name, from `heads` on: for
    /// reading back batches a store verified (no hashes checked, no pasts derived).
    public static func ordering(conversation: ConversationID, heads: [ReplicaID: Head]) -> BatchVerifier {
        BatchVerifier(conversation: conversation, heads: heads, history: nil, pendingLimit: Int.max)
    }

    /// Batches waiting for predecessors or dependencies.
    public var pendingCount: Int { pending.count }

    /// The batches to ask peers for by hash since the last call: dependencies whose counts this
    /// replica holds on another branch, and the references of side batches.
    public mutating func takeWanted() -> [BatchDependency] {
        defer { wanted = [] }
        return wanted.sorted()
    }

    /// The causal past of a batch in the history (nil when it is not there, or without one).
    public mutating func past(of hash: [UInt8]) -> VectorClock? { history?.past(of: hash) }

    /// The dependencies a new batch by `author` names: the heads of the history.
    public func dependencies(for author: ReplicaID) -> [BatchDependency] { history?.dependencies(for: author) ?? [] }


    /// The bytes of the batches waiting.
    public private(set) var pendingBytes = 0

    /// The vector clock of everything accepted (kept with the heads: O(1) to read).
    public private(set) var clock: VectorClock

    /// Authors that forked their history, with the fork point (see
    /// ``ChatCore/Conversation/noteEquivocation(by:from:)``): nothing of theirs from there on
    /// counts, so a batch never waits for it, whichever branch it was built on.
    public private(set) var equivocators: [ReplicaID: UInt32] = [:]

    /// The fork point two batches of one author reveal: the smaller first counter when they are
    /// different batches (by hash) whose counters overlap, else nil. The fork point of an author
    /// is the smallest over every pair known, so replicas that know the same batches agree.
    public static func forkPoint(_ counters: Range<UInt32>, hash: [UInt8],
                                 _ otherCounters: Range<UInt32>, otherHash: [UInt8]) -> UInt32? {
        guard hash != otherHash, counters.overlaps(otherCounters) else { return nil }
        return min(counters.lowerBound, otherCounters.lowerBound)
    }

    /// Stops waiting for `author`'s operations from `counter` on, and re-judges what waits.
    public mutating func noteEquivocation(by author: ReplicaID, from counter: UInt32,
                                          admit: (AuthenticatedBatch) -> BatchRejection? = { _ in nil }) -> [Verdict] {
        if let known = equivocators[author], known <= counter { return [] }
        equivocators[author] = counter
        var verdicts: [Verdict] = []
        drainPending(after: author, into: &verdicts, admit: admit)
        // Its waiting batches from the fork point on may be of the other branch: side batches.
        for key in pendingOrder[author] ?? [] {
            if let batch = pending[key], batch.firstCounter >= counter { verdicts += noteSide(batch, admit: admit) }
        }
        return verdicts
    }

    /// Counts a rejection decided outside (for example by the authenticator).
    public mutating func count(_ rejection: BatchRejection) { rejections.count(rejection) }

    /// Submits one authenticated batch.
    ///
    /// `admit` is asked about each batch at the moment it would be accepted (its chain and
    /// causal past are complete), in acceptance order, so the caller can judge it against the
    /// state that its past produced and apply it right there; a refusal rejects the batch
    /// without moving the author's head.
    /// - Complexity: O(clock entries) per batch, plus, after an acceptance, O(clock entries)
    ///   for each waiting batch that waited for the replicas whose heads moved.
    public mutating func submit(_ batch: AuthenticatedBatch,
                                admit: (AuthenticatedBatch) -> BatchRejection? = { _ in nil }) -> [Verdict] {
        let verdict = judge(batch, admit: admit)
        switch verdict {
        case .held:
            // A copy of a batch already waiting waits once.
            if pending[BatchHash(bytes: batch.hash)] == nil {
                guard makeRoom(for: batch) else {
                    rejections.count(.pendingFull)
                    return [.rejected(batch, .pendingFull)]
                }
                hold(batch)
                remember(batch)
            }
            // A frozen author's batch from its fork point on may be of the branch this replica
            // did not accept: keep it in the history as a side batch, so that what was built on
            // that branch gets its past, rather than waiting for a chain that will not grow.
            if let point = equivocators[batch.author], batch.firstCounter >= point {
                return [verdict] + noteSide(batch, admit: admit)
            }
            return [verdict]
        case .accepted:
            var verdicts = [verdict]
            released(hash: batch.hash, into: &verdicts, admit: admit)
            drainPending(after: batch.author, into: &verdicts, admit: admit)
            return verdicts
        case .rejected(_, let reason):
            rejections.count(reason)
            return [verdict]
        case .alreadyCovered:
            return [verdict]
        }
    }

    /// Makes room for `batch` in the buffer by evicting the newest waiting batches of the author
    /// that holds the most bytes; false when that author is `batch`'s own (it is refused).
    /// - Complexity: O(authors waiting) per eviction.
    private mutating func makeRoom(for batch: AuthenticatedBatch) -> Bool {
        let size = batch.batch.bytes.count
        while pending.count >= pendingLimit || pendingBytes + size > pendingByteLimit {
            guard let heaviest = pendingBytesByAuthor.max(by: { ($0.value, $0.key) < ($1.value, $1.key) })?.key,
                  heaviest != batch.author, let victim = pendingOrder[heaviest]?.last,
                  let evicted = pending.removeValue(forKey: victim) else { return false }
            pendingBytes -= evicted.batch.bytes.count
            untally(evicted)
            rejections.count(.pendingEvicted)
        }
        return true
    }

    /// Tallies a batch that starts waiting.
    private mutating func remember(_ batch: AuthenticatedBatch) {
        pendingBytesByAuthor[batch.author, default: 0] += batch.batch.bytes.count
        pendingOrder[batch.author, default: []].append(BatchHash(bytes: batch.hash))
    }

    /// Untallies a batch that stopped waiting.
    /// - Complexity: O(batches its author has waiting).
    private mutating func untally(_ batch: AuthenticatedBatch) {
        let left = (pendingBytesByAuthor[batch.author] ?? 0) - batch.batch.bytes.count
        pendingBytesByAuthor[batch.author] = left > 0 ? left : nil
        let key = BatchHash(bytes: batch.hash)
        // Taken out and put back, so the removal does not copy the list.
        guard var order = pendingOrder.removeValue(forKey: batch.author) else { return }
        if let index = order.lastIndex(of: key) { order.remove(at: index) }
        if !order.isEmpty { pendingOrder[batch.author] = order }
    }

    /// Keeps `batch` waiting, filed under the replica and count it waits for, or when it has
    /// every count it names, under the first hash the history lacks.
    private mutating func hold(_ batch: AuthenticatedBatch) {
        let key = BatchHash(bytes: batch.hash)
        pending[key] = batch
        pendingBytes += batch.batch.bytes.count
        let (replica, needed) = blocker(of: batch)
        if replica == batch.author, needed == batch.firstCounter, needed <= (heads[replica] ?? .empty).nextCounter,
           let missing = history?.missingReferences(of: batch.batch.content).first {
            want(missing)
            waitingForHash[BatchHash(bytes: missing.hash), default: []].append(key)
            return
        }
        // Taken out and put back, so the insertion does not copy the queue.
        var queue = waiting.removeValue(forKey: replica) ?? []
        var low = 0, high = queue.count
        while low < high {
            let middle = (low + high) / 2
            if queue[middle].needed <= needed { low = middle + 1 } else { high = middle }
        }
        queue.insert((needed, key), at: low)
        waiting[replica] = queue
    }

    /// What `batch` waits for: its author's head reaching its first counter, else the first
    /// dependency not held (a replica and how many of its operations).
    private func blocker(of batch: AuthenticatedBatch) -> (ReplicaID, UInt32) {
        let content = batch.batch.content
        if content.firstCounter > (heads[content.author] ?? .empty).nextCounter { return (content.author, content.firstCounter) }
        var blocking = (content.author, content.firstCounter)
        for dependency in content.dependencies where !holds(dependency.replica, dependency.count) {
            blocking = (dependency.replica, needed(dependency.replica, dependency.count))
            break
        }
        return blocking
    }

    /// How many operations of `replica` a batch that counts `count` of them waits for: all of
    /// them, or none from the fork point on when the replica forked.
    private func needed(_ replica: ReplicaID, _ count: UInt32) -> UInt32 {
        equivocators.isEmpty ? count : min(count, equivocators[replica] ?? count)
    }

    /// True when the operations of `replica` that `count` asks for are held.
    private func holds(_ replica: ReplicaID, _ count: UInt32) -> Bool {
        (heads[replica]?.nextCounter ?? 0) >= needed(replica, count)
    }

    /// Decides one batch against the current heads; advances the head when accepted.
    private mutating func judge(_ batch: AuthenticatedBatch, admit: (AuthenticatedBatch) -> BatchRejection?) -> Verdict {
        let content = batch.batch.content
        if case .genesis = content.operations.first {
            guard batch.hash == conversation.bytes else { return .rejected(batch, .wrongConversation) }
        } else if content.conversation != conversation {
            return .rejected(batch, .wrongConversation)
        }
        guard UInt64(content.firstCounter) + batch.batch.idCount <= UInt64(UInt32.max) else {
            return .rejected(batch, .counterOverflow)
        }
        let head = heads[content.author] ?? .empty
        if content.firstCounter < head.nextCounter { return .alreadyCovered(batch) }
        if content.firstCounter > head.nextCounter { return .held(batch) }
        guard content.previousHash == head.hash else { return .rejected(batch, .chainMismatch) }
        let dependenciesHeld = content.dependencies.allSatisfy { holds($0.replica, $0.count) }
        guard dependenciesHeld else { return .held(batch) }
        guard var history else {
            heads[content.author] = Head(nextCounter: batch.endCounter, hash: batch.hash)
            clock[content.author] = batch.endCounter
            return .accepted(batch)
        }
        for dependency in content.dependencies {
            switch history.matches(dependency) {
            case nil: return .held(batch)
            case false?: return .rejected(batch, .badDependency)
            case true?: break
            }
        }
        var accepted = batch
        accepted.past = history.derivePast(of: content)
        if let refusal = admit(accepted) {
            self.history = history
            return .rejected(batch, refusal)
        }
        self.history = nil
        history.add(accepted, past: accepted.past ?? VectorClock(), main: true)
        self.history = history
        heads[content.author] = Head(nextCounter: batch.endCounter, hash: batch.hash)
        clock[content.author] = batch.endCounter
        return .accepted(accepted)
    }

    /// Remembers a batch to ask peers for (bounded: the rest is asked for again later).
    private mutating func want(_ dependency: BatchDependency) {
        if wanted.count < Self.wantedLimit { wanted.insert(dependency) }
    }

    /// Keeps a batch of another branch of its author (fork evidence) in the history as a side
    /// batch once its own references are there, so that honest batches built on that branch get
    /// their exact past; until then it is parked and its references are wanted.
    /// - Complexity: O(references) plus ``CausalHistory/add(_:past:main:)``.
    public mutating func noteSide(_ batch: AuthenticatedBatch,
                                  admit: (AuthenticatedBatch) -> BatchRejection? = { _ in nil }) -> [Verdict] {
        guard var history, !history.contains(batch.hash) else { return [] }
        let content = batch.batch.content
        if let missing = history.missingReferences(of: content).first {
            let key = BatchHash(bytes: missing.hash)
            guard parkedSide[key]?.contains(where: { $0.hash == batch.hash }) != true else { return [] }
            if parkedOrder.count >= Self.parkedSideLimit { unparkOldest() }
            want(missing)
            parkedSide[key, default: []].append(batch)
            parkedOrder.append((key, BatchHash(bytes: batch.hash)))
            return []
        }
        let consistent = (content.previousBatch.map { history.matches($0) == true } ?? true)
            && content.dependencies.allSatisfy { history.matches($0) == true }
        guard consistent else { return [] }
        self.history = nil
        history.add(batch, past: history.derivePast(of: content), main: false)
        self.history = history
        var verdicts: [Verdict] = []
        released(hash: batch.hash, into: &verdicts, admit: admit)
        return verdicts
    }

    /// Re-judges the batches that waited for `replica`, and in turn those that waited for the
    /// authors of the batches this accepts, until nothing moves.
    private mutating func drainPending(after replica: ReplicaID, into verdicts: inout [Verdict],
                                       admit: (AuthenticatedBatch) -> BatchRejection?) {
        var moved = [replica]
        while let next = moved.popLast() {
            guard var queue = waiting.removeValue(forKey: next) else { continue }
            // Everything waits for at least its needed count; a fork point may lower it.
            let head = equivocators[next].map { _ in UInt32.max } ?? (heads[next]?.nextCounter ?? 0)
            let readyCount = queue.firstIndex { $0.needed > head } ?? queue.count
            let ready = Array(queue[..<readyCount])
            queue.removeFirst(readyCount)
            waiting[next] = queue.isEmpty ? nil : queue
            for (_, hash) in ready {
                guard let batch = pending.removeValue(forKey: hash) else { continue }
                pendingBytes -= batch.batch.bytes.count
                let judgement = judge(batch, admit: admit)
                if case .held = judgement {
                    hold(batch)
                    continue
                }
                untally(batch)
                switch judgement {
                case .held:
                    break
                case .accepted(let accepted):
                    verdicts.append(.accepted(accepted))
                    moved.append(accepted.author)
                    released(hash: accepted.hash, into: &verdicts, admit: admit)
                case .rejected(let rejected, let reason):
                    rejections.count(reason)
                    verdicts.append(.rejected(rejected, reason))
                case .alreadyCovered(let covered):
                    verdicts.append(.alreadyCovered(covered))
                }
            }
        }
    }

    /// Re-judges what waited for the batch with `hash` now in the history: pending batches that
    /// named it, and parked side batches that referenced it.
    private mutating func released(hash: [UInt8], into verdicts: inout [Verdict],
                                   admit: (AuthenticatedBatch) -> BatchRejection?) {
        let key = BatchHash(bytes: hash)
        wanted = wanted.filter { $0.hash != hash }
        if let sides = parkedSide.removeValue(forKey: key) {
            parkedOrder.removeAll { $0.missing == key }
            for side in sides { verdicts += noteSide(side, admit: admit) }
        }
        guard let keys = waitingForHash.removeValue(forKey: key) else { return }
        for waiter in keys {
            guard let batch = pending.removeValue(forKey: waiter) else { continue }
            pendingBytes -= batch.batch.bytes.count
            let judgement = judge(batch, admit: admit)
            if case .held = judgement {
                hold(batch)
                continue
            }
            untally(batch)
            switch judgement {
            case .held:
                break
            case .accepted(let accepted):
                verdicts.append(.accepted(accepted))
                released(hash: accepted.hash, into: &verdicts, admit: admit)
                drainPending(after: accepted.author, into: &verdicts, admit: admit)
            case .rejected(let rejected, let reason):
                rejections.count(reason)
                verdicts.append(.rejected(rejected, reason))
            case .alreadyCovered(let covered):
                verdicts.append(.alreadyCovered(covered))
            }
        }
    }

    /// Drops the oldest parked side batch (a flood of side batches evicts its own oldest); if a
    /// waiting batch names it, it is wanted again, so an honest batch never waits forever.
    /// - Complexity: O(parked).
    private mutating func unparkOldest() {
        let (missing, hash) = parkedOrder.removeFirst()
        guard var sides = parkedSide[missing], let index = sides.firstIndex(where: { BatchHash(bytes: $0.hash) == hash }) else { return }
        let dropped = sides.remove(at: index)
        parkedSide[missing] = sides.isEmpty ? nil : sides
        if waitingForHash[hash] != nil {
            want(BatchDependency(replica: dropped.author, count: dropped.endCounter, hash: dropped.hash))
        }
    }
}
