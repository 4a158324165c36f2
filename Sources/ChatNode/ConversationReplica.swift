import ChatCore
import ChatCrypto
import ChatStore
import ChatSync
import ChatWire
import Foundation

/// Threads that check signatures during ingest: one per core.
public let authenticationWorkers = max(1, ProcessInfo.processInfo.activeProcessorCount)

/// One conversation on this node: its durable signed log (in ``ChatStore``), the verifier that
/// orders and checks incoming batches, and the materialized document.
///
/// Ingest runs the whole path: decode and check signatures (in parallel), check chains, counters
/// and causal dependencies, persist the group in one LMDB transaction, then apply. A batch is
/// durable when ``ingest(_:)`` returns. The actor owns all mutable state; LMDB work runs on it,
/// never on a network event loop.
public actor ConversationReplica {
    /// Commits block on fsync: they run on a queue of their own, off the cooperative pool.
    private let executor = StorageExecutor(label: "streamingchat.replica")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    public let conversationID: ConversationID
    public let localReplica: ReplicaID
    let store: ChatStore
    let limits: WireLimits
    private var verifier: BatchVerifier
    /// The conversation's rules applied to its log: the visible state.
    public private(set) var conversation: Conversation
    /// Operations applied since the last snapshot.
    private var operationsSinceSnapshot = 0
    /// A snapshot is saved (in the same transaction as the batches) after this many operations.
    public let snapshotInterval: Int
    /// Times the visible state was rebuilt from the log (after revocations that reach back).
    public private(set) var rebuildCount = 0

    /// The visible state.
    public var document: ConversationDocument { conversation.document }

    /// Opens a conversation: loads its latest snapshot and replays the batches stored after it.
    /// - Complexity: O(snapshot + batches after it).
    public init(store: ChatStore, conversation conversationID: ConversationID, localReplica: ReplicaID,
                limits: WireLimits = .default, snapshotInterval: Int = 100_000) throws(NodeError) {
        self.store = store
        self.conversationID = conversationID
        self.localReplica = localReplica
        self.limits = limits
        self.snapshotInterval = snapshotInterval
        (verifier, conversation) = try Self.load(store, conversationID, localReplica: localReplica, limits: limits)
    }

    /// The state the store holds: its latest snapshot plus the batches stored after it, and a
    /// verifier positioned at the stored chain heads.
    static func load(_ store: ChatStore, _ conversationID: ConversationID, localReplica: ReplicaID,
                     limits: WireLimits) throws(NodeError) -> (BatchVerifier, Conversation) {
        do {
            var conversation = Conversation(id: conversationID, localReplica: localReplica,
                                            verifyInvite: ConversationInputs.verifyInvite,
                                            verifyAdmission: ConversationInputs.verifyAdmission)
            if let snapshot = try store.snapshot(of: conversationID) {
                do {
                    conversation = try Conversation(snapshot: snapshot.bytes, id: conversationID, localReplica: localReplica,
                                                    verifyInvite: ConversationInputs.verifyInvite,
                                                    verifyAdmission: ConversationInputs.verifyAdmission)
                } catch {
                    throw NodeError.snapshot(error)
                }
            }
            // Every stored batch, in causal order, goes into the history (their pasts); those the
            // snapshot does not cover are applied.
            let heads = try store.heads(of: conversationID)
            var verifier = BatchVerifier(
                conversation: conversationID,
                heads: heads.mapValues { BatchVerifier.Head(nextCounter: $0.nextCounter, hash: $0.hash) },
                history: try Self.history(store, conversationID, limits: limits))
            var needsRebuild = false
            for batch in try catchUp(store, conversationID, above: conversation.clock, limit: .max, limits: limits, strict: true) {
                let past = verifier.past(of: batch.hash) ?? VectorClock()
                needsRebuild = conversation.receive(batch.batch.operationBatch(past: past)).needsRebuild || needsRebuild
            }
            if needsRebuild { conversation.rebuild(from: try Self.loggedOperations(store, conversationID, &verifier, limits: limits)) }
            // Authors the stored evidence shows forked (a snapshot may predate the evidence).
            var forked = false
            for record in try store.forks(of: conversationID) {
                guard let signed = try? SignedBatch(decoding: record.bytes, limits: limits) else { continue }
                let batch = AuthenticatedBatch(storedBatch: signed, hash: record.hash)
                if let point = forkPoint(of: batch, evidence: [], store: store, conversation: conversationID, limits: limits).0 {
                    forked = conversation.noteEquivocation(by: batch.author, from: point) || forked
                }
            }
            for (author, point) in conversation.equivocators { _ = verifier.noteEquivocation(by: author, from: point) }
            if forked { conversation.rebuild(from: try Self.loggedOperations(store, conversationID, &verifier, limits: limits)) }
            return (verifier, conversation)
        } catch let error as NodeError {
            throw error
        } catch let error as StoreError {
            throw .store(error)
        } catch {
            throw .inconsistentStore("\(error)")
        }
    }

    /// Every stored batch, in causal order. Stored batches were verified on the way in, so
    /// signatures are not checked again; the verifier only orders them.
    static func storedBatches(_ store: ChatStore, _ conversation: ConversationID, limits: WireLimits) throws -> [AuthenticatedBatch] {
        try catchUp(store, conversation, above: VectorClock(), limit: .max, limits: limits, strict: true)
    }

    /// The causal history of every stored batch (accepted ones as main, fork evidence as side),
    /// from their headers alone, each added once what it names is: a record waits under the
    /// first hash it lacks and is retried when that one is added. Evidence whose references
    /// never arrived is left out (a batch that names it asks for it again).
    /// - Complexity: O(stored batches × their references), plus the pasts' merges.
    static func history(_ store: ChatStore, _ conversation: ConversationID, limits: WireLimits) throws -> CausalHistory {
        struct Entry {
            let header: BatchHeader
            let hash: [UInt8]
            let end: UInt32
            let main: Bool
        }
        var history = CausalHistory()
        var waiting: [[UInt8]: [Entry]] = [:]
        func place(_ first: Entry) {
            var ready = [first]
            while let entry = ready.popLast() {
                if let missing = entry.header.references.first(where: { !history.contains($0.hash) }) {
                    waiting[missing.hash, default: []].append(entry)
                    continue
                }
                history.restore(entry.header, hash: entry.hash, end: entry.end, main: entry.main)
                ready += waiting.removeValue(forKey: entry.hash) ?? []
            }
        }
        func entry(_ record: BatchRecord, main: Bool) -> Entry? {
            guard let header = try? BatchHeader(decoding: record.bytes, limits: limits) else { return nil }
            return Entry(header: header, hash: record.hash, end: record.firstCounter &+ record.opCount, main: main)
        }
        var undecodable = 0
        try store.forEachBatch(conversation) { record throws(StoreError) in
            guard let entry = entry(record, main: true) else {
                undecodable += 1
                return
            }
            place(entry)
        }
        guard undecodable == 0 else { throw NodeError.inconsistentStore("\(undecodable) stored batches do not decode") }
        // Evidence that does not decode was never valid evidence: it is left out.
        for record in try store.forks(of: conversation) {
            if let entry = entry(record, main: false) { place(entry) }
        }
        return history
    }

    /// Every stored batch in causal order as the conversation rules see it, each with its past.
    static func loggedOperations(_ store: ChatStore, _ conversation: ConversationID, _ verifier: inout BatchVerifier,
                                 limits: WireLimits) throws -> [OperationBatch] {
        try storedBatches(store, conversation, limits: limits).map { batch in
            batch.batch.operationBatch(past: verifier.past(of: batch.hash) ?? VectorClock())
        }
    }

    /// Every stored batch of the conversation in causal order (for the audit trail).
    /// - Complexity: O(log size).
    public func loggedBatches() throws(NodeError) -> [SignedBatch] {
        do {
            return try Self.storedBatches(store, conversationID, limits: limits).map(\.batch)
        } catch let error as NodeError {
            throw error
        } catch let error as StoreError {
            throw .store(error)
        } catch {
            throw .inconsistentStore("\(error)")
        }
    }

    /// The stored batches (accepted or kept as evidence) that `wanted` names by hash, for a peer
    /// that holds a batch built on them; unknown ones are skipped.
    /// - Complexity: O(log n) store reads per wanted batch, plus the evidence list once.
    public func batches(wanted: [BatchDependency]) -> [[UInt8]] {
        var found: [[UInt8]] = []
        var evidence: [BatchRecord]?
        for dependency in wanted where dependency.count > 0 {
            if let stored = try? store.batch(conversationID, author: dependency.replica, containing: dependency.count - 1),
               stored.hash == dependency.hash {
                found.append(stored.bytes)
                continue
            }
            if evidence == nil { evidence = (try? store.forks(of: conversationID)) ?? [] }
            if let record = evidence?.first(where: { $0.hash == dependency.hash }) { found.append(record.bytes) }
        }
        return found
    }

    /// Where sessions look up who may connect; updated after every commit.
    private var directory: MembershipDirectory?

    /// Where the user-facing events of each commit go.
    private var eventSink: NodeEventSink?

    /// Sends the events of every later commit (messages, edits, members) to `sink`.
    public func setEventSink(_ sink: NodeEventSink?) {
        eventSink = sink
    }

    /// Publishes this conversation's members to `directory` now and after every commit.
    public func publishMembership(to directory: MembershipDirectory) {
        self.directory = directory
        publishMembership()
    }

    private func publishMembership() {
        guard let directory else { return }
        let permissions = conversation.document.permissions
        let revoked = Set(conversation.governance.removals.keys).subtracting(permissions.keys)
        var sharing = MembershipDirectory.SharingAdmission(isPublic: conversation.document.settings.isPublic)
        for op in conversation.governance.acceptedInOrder {
            if case .join(.token(let grant, _)) = op.kind { sharing.uses[grant.tokenID, default: 0] += 1 }
        }
        // Oldest first: should two links claim one code lookup (only an admin could copy one),
        // the older keeps it, alike on every node.
        let links = conversation.links.sorted { lhs, rhs in
            lhs.value.createdAt != rhs.value.createdAt ? lhs.value.createdAt < rhs.value.createdAt
                : lhs.key.lexicographicallyPrecedes(rhs.key)
        }
        for (tokenID, link) in links {
            sharing.recorded.insert(tokenID)
            if let invitee = link.record.invitee { sharing.invitees[tokenID] = invitee }
            if let expiresAt = link.record.expiresAt { sharing.expiries[tokenID] = expiresAt }
            if link.revoked {
                sharing.closedTokens[tokenID] = .inviteRevoked
            } else if link.declined {
                sharing.closedTokens[tokenID] = .inviteDeclined
            } else if link.record.useLimit.map({ link.uses >= Int($0) }) == true {
                sharing.closedTokens[tokenID] = .inviteUsedUp
            }
            // A closed link's code resolves no more (unknown codes and closed ones look alike).
            if let code = link.record.code, sharing.closedTokens[tokenID] == nil {
                sharing.codes[code.lookup] = sharing.codes[code.lookup] ?? code.sealedToken
            }
        }
        directory.publish(conversationID, permissions: permissions, revoked: revoked, sharing: sharing,
                          title: conversation.document.title)
    }

    /// This node's own writing, when it writes in this conversation.
    var localAuthor: LocalAuthor?

    /// Lets this node write here, signing with `key`, batching by `policy`.
    public func attachAuthor(_ key: SigningKey, policy: OperationBatcher.Policy = .default) {
        localAuthor = LocalAuthor(key: key, policy: policy)
    }

    /// An author's chain head: the next counter and the hash of its latest batch.
    public func head(of author: ReplicaID) -> BatchVerifier.Head { verifier.heads[author] ?? .empty }

    /// The vector clock of everything stored and applied.
    public var clock: VectorClock { verifier.clock }

    /// What a new batch by `author` names besides its previous batch: the heads of the history.
    public func dependencies(for author: ReplicaID) -> [BatchDependency] { verifier.dependencies(for: author) }

    /// Batches waiting for predecessors or dependencies.
    public var pendingCount: Int { verifier.pendingCount }

    /// Rejections so far, by reason code.
    public var rejections: RejectionCounters { verifier.rejections }

    /// Ingests untrusted batches (as received). Returns when the accepted ones are durable.
    /// - Complexity: O(total size) plus one signature verification per batch, spread over cores.
    public func ingest(_ batches: [[UInt8]]) async throws(NodeError) -> IngestReport {
        try commit(await Self.authenticate(batches, limits: limits))
    }

    /// Ingests untrusted batches from a peer and says which were authentic (the peer holds them)
    /// and which were newly stored and applied (to relay to other peers), in causal order.
    public func receive(_ batches: [[UInt8]]) async throws(NodeError) -> IngestOutcome {
        try await receive(batches, prepared: nil)
    }

    /// As ``receive(_:)``; `prepared` holds the same batches' signature checks, started when
    /// their frame was read.
    func receive(_ batches: [[UInt8]], prepared: PreparedBatches?) async throws(NodeError) -> IngestOutcome {
        let (unknown, known) = separateStoredCopies(batches)
        guard !unknown.isEmpty else {
            var report = IngestReport()
            report.duplicates = known.count
            return IngestOutcome(report: report, authentic: known, accepted: [], clockAfter: verifier.clock,
                                 wanted: verifier.takeWanted())
        }
        let authenticated: [Result<AuthenticatedBatch, BatchRejection>]
        if let prepared, prepared.batches.count == batches.count {
            // Checked already (off the actor, while the frame before this one committed); the
            // stored copies among them are left out, as they would not have been checked.
            let storedCopies = Set(known.map(\.hash))
            authenticated = await prepared.results.value.filter { result in
                guard case .success(let batch) = result else { return true }
                return !storedCopies.contains(batch.hash)
            }
        } else {
            authenticated = await Self.authenticate(unknown, limits: limits)
        }
        var outcome = try commitOutcome(authenticated)
        outcome.report.duplicates += known.count
        outcome.authentic += known
        return outcome
    }

    /// Splits off exact copies of batches already stored (same author, first counter and hash):
    /// in a mesh most arrivals are such copies, and they need no signature check and no write.
    /// Only the header is read to tell; a new batch (the usual case in a catch-up) is decoded
    /// once, by authentication.
    /// - Complexity: O(header) per batch, plus a hash and one LMDB read per batch that starts
    ///   below what this replica holds of its author.
    private func separateStoredCopies(_ batches: [[UInt8]]) -> (unknown: [[UInt8]], known: [AuthenticatedBatch]) {
        var unknown: [[UInt8]] = []
        var known: [AuthenticatedBatch] = []
        for bytes in batches {
            guard let header = try? BatchHeader(decoding: bytes, limits: limits),
                  header.firstCounter < verifier.heads[header.author]?.nextCounter ?? 0,
                  let stored = try? store.batch(conversationID, author: header.author, containing: header.firstCounter),
                  stored.firstCounter == header.firstCounter, stored.hash == Hashing.blake2b(bytes),
                  let batch = try? SignedBatch(decoding: bytes, limits: limits) else {
                unknown.append(bytes)
                continue
            }
            known.append(AuthenticatedBatch(storedBatch: batch, hash: stored.hash))
        }
        return (unknown, known)
    }

    /// The second half of ingest, on the actor: chain, counter and dependency checks, one LMDB
    /// transaction, then apply. Callers that receive a stream of batches authenticate the next
    /// group (``authenticate(_:limits:)``, off the actor) while this one commits.
    public func commit(_ authenticated: [Result<AuthenticatedBatch, BatchRejection>]) throws(NodeError) -> IngestReport {
        try commitOutcome(authenticated).report
    }

    func commitOutcome(_ authenticated: [Result<AuthenticatedBatch, BatchRejection>]) throws(NodeError) -> IngestOutcome {
        var group = CommitGroup()
        group.report.signaturesVerified = authenticated.count { if case .success(let batch) = $0 { batch.signatureChecked } else { false } }
        for result in authenticated {
            switch result {
            case .failure(let rejection):
                verifier.count(rejection)
                group.report.rejected[rejection.code, default: 0] += 1
            case .success(let batch):
                // Each batch is judged for storage against the state its past produced, and
                // applied at once, so the next one (a joiner's message after its join) sees it.
                handle(verifier.submit(batch, admit: { admitAndApply($0, into: &group.tally) }), in: &group)
            }
        }
        try settleForks(in: &group)
        var report = group.report
        let (records, toApply, evidence, tally) = (group.records, group.toApply, group.evidence, group.tally)
        let (applied, excluded, needsRebuild) = (tally.applied, tally.excluded, tally.needsRebuild)
        operationsSinceSnapshot += applied
        var snapshot: Snapshot?
        if operationsSinceSnapshot >= snapshotInterval, !needsRebuild {
            snapshot = Snapshot(conversation: conversationID, clock: conversation.clock, bytes: conversation.encodedSnapshot())
        }
        do {
            let result: AppendResult
            do {
                let started = ContinuousClock.now
                result = try store.append(records, evidence: evidence, snapshot: snapshot)
                NodeMetrics.commitDuration.record(duration: ContinuousClock.now - started)
            } catch {
                // Nothing of this group was written: go back to exactly what the store holds,
                // so the batches can be offered again.
                (verifier, conversation) = try Self.load(store, conversationID, localReplica: localReplica, limits: limits)
                throw error
            }
            for (index, outcome) in result.outcomes.enumerated() {
                switch outcome {
                case .stored: report.accepted += 1
                case .duplicate: report.duplicates += 1
                case .fork: report.forks += 1
                case .gap, .invalid:
                    throw NodeError.inconsistentStore("batch \(records[index].firstCounter) of \(records[index].author): \(outcome)")
                }
            }
        } catch let error as NodeError {
            throw error
        } catch let error as StoreError {
            throw .store(error)
        } catch {
            throw .inconsistentStore("\(error)")
        }
        if snapshot != nil { operationsSinceSnapshot = 0 }
        if needsRebuild {
            // A revocation reached back: rebuild the visible state from the (now durable) log.
            do {
                conversation.rebuild(from: try Self.loggedOperations(store, conversationID, &verifier, limits: limits))
            } catch let error as NodeError {
                throw error
            } catch let error as StoreError {
                throw .store(error)
            } catch {
                throw .inconsistentStore("\(error)")
            }
            rebuildCount += 1
        }
        report.operationsApplied = applied
        report.operationsExcluded = excluded
        report.pendingBytes = verifier.pendingBytes
        record(report)
        // Admission only changes with governance operations: messages and edits skip this.
        if needsRebuild || toApply.contains(where: \.changesGovernance) { publishMembership() }
        if let eventSink {
            for event in conversation.document.events(of: toApply, in: conversationID) { eventSink.yield(event) }
        }
        let authentic = authenticated.compactMap { try? $0.get() }
        return IngestOutcome(report: report, authentic: authentic, accepted: toApply, clockAfter: verifier.clock,
                             evidence: group.relayedEvidence, wanted: verifier.takeWanted())
    }

    /// Counts a commit in the node's metrics.
    private func record(_ report: IngestReport) {
        NodeMetrics.batchesIngested.increment(by: Int64(report.accepted))
        NodeMetrics.operationsApplied.increment(by: Int64(report.operationsApplied))
        NodeMetrics.operationsExcluded.increment(by: Int64(report.operationsExcluded))
        for (code, count) in report.rejected { NodeMetrics.batchesRejected(code).increment(by: Int64(count)) }
        NodeMetrics.pendingBytes(conversationID.hex).record(report.pendingBytes)
    }

    /// What one commit collects from the verifier's verdicts before it writes.
    struct CommitGroup {
        var report = IngestReport()
        var records: [BatchRecord] = []
        var toApply: [AuthenticatedBatch] = []
        /// Conflicting batches to keep as fork evidence.
        var evidence: [BatchRecord] = []
        /// Conflicting batches whose fork point is not settled yet.
        var conflicting: [AuthenticatedBatch] = []
        /// Batches that reveal a fork, for every peer (conflicting ones and the stored ones they
        /// conflict with): a clock cannot tell two branches apart.
        var relayedEvidence: [AuthenticatedBatch] = []
        var tally = ApplyTally()
    }

    /// Sorts verdicts into the group: accepted batches to store, duplicates, and conflicting
    /// batches (a second version of stored counters, or a chain that does not continue).
    private func handle(_ verdicts: [BatchVerifier.Verdict], in group: inout CommitGroup) {
        for verdict in verdicts {
            switch verdict {
            case .accepted(let accepted):
                group.records.append(record(for: accepted))
                group.toApply.append(accepted)
            case .alreadyCovered(let covered):
                if isKnown(covered, in: group) {
                    group.report.duplicates += 1
                } else {
                    group.conflicting.append(covered)
                }
            case .held:
                group.report.held += 1
            case .rejected(let rejected, let reason):
                if reason.isForkEvidence {
                    if !isKnown(rejected, in: group) { group.conflicting.append(rejected) }
                } else {
                    group.report.rejected[reason.code, default: 0] += 1
                }
            }
        }
    }

    /// True when `batch` is stored, kept as evidence, or already in this group.
    private func isKnown(_ batch: AuthenticatedBatch, in group: CommitGroup) -> Bool {
        if group.records.contains(where: { $0.hash == batch.hash }) || group.evidence.contains(where: { $0.hash == batch.hash }) {
            return true
        }
        if let stored = try? store.batch(conversationID, author: batch.author, containing: batch.firstCounter),
           stored.hash == batch.hash { return true }
        return (try? store.forks(of: conversationID))?.contains { $0.hash == batch.hash } ?? false
    }

    /// Keeps each conflicting batch as evidence and freezes its author at the fork point it
    /// reveals (``Conversation/noteEquivocation(by:from:)``); what waited on the frozen
    /// author's operations is released into the group.
    /// - Complexity: O(log n) store reads per conflicting batch's overlap, plus the evidence kept.
    private func settleForks(in group: inout CommitGroup) throws(NodeError) {
        while let batch = group.conflicting.popLast() {
            guard !group.evidence.contains(where: { $0.hash == batch.hash }) else { continue }
            group.evidence.append(record(for: batch))
            group.report.forks += 1
            let (point, counterparts) = forkPoint(of: batch, group: group)
            group.relayedEvidence += [batch] + counterparts
            if let point {
                if conversation.noteEquivocation(by: batch.author, from: point) { group.tally.needsRebuild = true }
                handle(verifier.noteEquivocation(by: batch.author, from: point, admit: { admitAndApply($0, into: &group.tally) }),
                       in: &group)
            }
            // In the history as a side batch, so that batches built on its branch get their past.
            handle(verifier.noteSide(batch, admit: { admitAndApply($0, into: &group.tally) }), in: &group)
        }
    }

    /// The fork point `batch` reveals against the stored log, the stored evidence and the
    /// group's evidence (the smallest first counter of two different overlapping batches of its
    /// author), and the batches it conflicts with. For a chain that does not continue ours,
    /// the counterpart is our batch it should have followed.
    private func forkPoint(of batch: AuthenticatedBatch, group: CommitGroup) -> (UInt32?, [AuthenticatedBatch]) {
        Self.forkPoint(of: batch, evidence: group.evidence, store: store, conversation: conversationID, limits: limits)
    }

    static func forkPoint(of batch: AuthenticatedBatch, evidence: [BatchRecord], store: ChatStore,
                          conversation conversationID: ConversationID, limits: WireLimits) -> (UInt32?, [AuthenticatedBatch]) {
        var point: UInt32?
        var counterparts: [AuthenticatedBatch] = []
        func consider(_ other: BatchRecord) {
            let counters = other.firstCounter ..< max(other.firstCounter, other.firstCounter &+ other.opCount)
            guard let candidate = BatchVerifier.forkPoint(batch.counters, hash: batch.hash, counters, otherHash: other.hash)
            else { return }
            point = min(point ?? candidate, candidate)
            if let signed = try? SignedBatch(decoding: other.bytes, limits: limits) {
                counterparts.append(AuthenticatedBatch(storedBatch: signed, hash: other.hash))
            }
        }
        var counter = batch.firstCounter
        while counter < batch.endCounter,
              let stored = try? store.batch(conversationID, author: batch.author, containing: counter) {
            consider(stored)
            counter = stored.firstCounter &+ stored.opCount
        }
        for other in ((try? store.forks(of: conversationID)) ?? []) + evidence where other.author == batch.author {
            consider(other)
        }
        if counterparts.isEmpty, batch.firstCounter > 0,
           let previous = try? store.batch(conversationID, author: batch.author, containing: batch.firstCounter - 1),
           let signed = try? SignedBatch(decoding: previous.bytes, limits: limits) {
            counterparts.append(AuthenticatedBatch(storedBatch: signed, hash: previous.hash))
        }
        return (point, counterparts)
    }

    /// What applying a group of batches did.
    struct ApplyTally {
        var applied = 0
        var excluded = 0
        var needsRebuild = false
    }

    /// Refuses a batch the conversation would not store (see
    /// ``Conversation/storageRefusal(of:)``); applies any other at once.
    private func admitAndApply(_ batch: AuthenticatedBatch, into tally: inout ApplyTally) -> BatchRejection? {
        let operations = batch.operationBatch
        if let refusal = conversation.storageRefusal(of: operations) { return .notAMember(refusal) }
        let result = conversation.receive(operations)
        tally.applied += result.applied
        tally.excluded += result.excluded
        tally.needsRebuild = tally.needsRebuild || result.needsRebuild
        return nil
    }

    /// Saves a snapshot of the document now.
    public func saveSnapshot() throws(NodeError) {
        do {
            try store.saveSnapshot(Snapshot(conversation: conversationID, clock: conversation.clock,
                                            bytes: conversation.encodedSnapshot()))
            operationsSinceSnapshot = 0
        } catch {
            throw .store(error)
        }
    }

    private func record(for batch: AuthenticatedBatch) -> BatchRecord {
        BatchRecord(conversation: conversationID, author: batch.author, firstCounter: batch.firstCounter,
                    opCount: UInt32(truncatingIfNeeded: batch.batch.idCount), hash: batch.hash, bytes: batch.batch.bytes)
    }

    /// The first half of ingest: decodes and verifies signatures, on all cores, off the actor.
    /// The batches are cut into a few chunks per core, so that a core also busy committing the
    /// group before takes fewer of them.
    /// - Complexity: one Ed25519 verification per batch (about 55 µs), spread over the cores.
    public static func authenticate(_ batches: [[UInt8]], limits: WireLimits) async -> [Result<AuthenticatedBatch, BatchRejection>] {
        let chunks = min(max(1, batches.count / 16), authenticationWorkers * 4)
        guard chunks > 1, authenticationWorkers > 1 else { return batches.map { BatchAuthenticator.authenticate($0, limits: limits) } }
        let chunk = (batches.count + chunks - 1) / chunks
        return await withTaskGroup(of: (Int, [Result<AuthenticatedBatch, BatchRejection>]).self) { group in
            for start in stride(from: 0, to: batches.count, by: chunk) {
                let slice = Array(batches[start ..< min(batches.count, start + chunk)])
                group.addTask { (start, slice.map { BatchAuthenticator.authenticate($0, limits: limits) }) }
            }
            var parts: [(Int, [Result<AuthenticatedBatch, BatchRejection>])] = []
            for await part in group { parts.append(part) }
            return parts.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }
}

extension AuthenticatedBatch {
    /// True when the batch holds an operation that may change who may do what.
    var changesGovernance: Bool { batch.content.operations.contains(where: \.isGovernance) }
}
