import ChatCore
import ChatCrypto
import ChatWire

/// A deterministic simulation of one conversation with honest and Byzantine replicas, through
/// the real verification path (decode, signature, chain, causal past, storage rule, rules).
///
/// Honest replicas post, edit and delete messages, set profiles, and the creator (an admin)
/// demotes and restores the Byzantine members now and then. Byzantine replicas are members
/// whose nodes sign whatever they like: every ``Attack``. Delivery drops, duplicates and
/// reorders batches, and honest replicas restart from a snapshot (losing what waited). At the
/// end the honest replicas exchange their logs until nothing changes (anti-entropy), and every
/// honest replica must show the same visible state with no honest operation excluded (honest
/// members' permissions never change, so no exclusion of theirs is legitimate).
///
/// Equivocation is among the attacks: an author that signs two batches for the same counters
/// is frozen at the fork point on every replica that learns both (anti-entropy here also
/// exchanges the evidence, as nodes relay it).
public struct ByzantineSimulation: Sendable {
    public struct Configuration: Sendable {
        public var honest: Int
        public var byzantine: Int
        /// Operations generated in total (honest and Byzantine turns).
        public var operations: Int
        public var seed: UInt64
        public var dropProbability: Double
        public var duplicateProbability: Double
        public var restartProbability: Double
        /// The attacks the Byzantine replicas choose from (all by default).
        public var attacks: [Attack]

        public init(honest: Int = 6, byzantine: Int = 2, operations: Int = 3000, seed: UInt64,
                    dropProbability: Double = 0.1, duplicateProbability: Double = 0.1, restartProbability: Double = 0.005,
                    attacks: [Attack] = Attack.allCases) {
            self.attacks = attacks.isEmpty ? Attack.allCases : attacks
            self.honest = max(2, honest)
            self.byzantine = max(0, byzantine)
            self.operations = max(1, operations)
            self.seed = seed
            self.dropProbability = dropProbability
            self.duplicateProbability = duplicateProbability
            self.restartProbability = restartProbability
        }
    }

    /// What a Byzantine replica does on its turn.
    public enum Attack: String, CaseIterable, Sendable {
        /// A valid message, to have something to attack around.
        case honestLooking = "honest_looking"
        /// A post whose origins are its own future message ids in reverse order.
        case wedge
        /// Edits of a message that is not in the batch's declared past.
        case unknownTarget = "unknown_target"
        /// Admin acts (removing an honest member, promoting itself) by a non-admin.
        case adminOverreach = "admin_overreach"
        /// A post naming the heads seen before its latest demotion.
        case hiddenDemotion = "hidden_demotion"
        /// Dependencies that lie: an honest member's future operations under a made-up hash, or a
        /// real batch's hash under a count it does not end at (the name is kept from when
        /// batches carried clocks).
        case fakeClock = "fake_clock"
        /// Dependencies older than those of its previous batch (the heads right after setup).
        case shrinkingClock = "shrinking_clock"
        /// A message over the conversation's size limit, validly signed.
        case oversizedMessage = "oversized_message"
        /// A valid batch with one signature byte changed.
        case forgedSignature = "forged_signature"
        /// A batch naming an honest member as author, signed with its own key.
        case impersonation
        /// A batch sent again.
        case replay
        /// A valid batch cut short.
        case truncated
        /// More bytes than any batch may have.
        case oversizedBatch = "oversized_batch"
        /// Validly signed bytes whose text is not UTF-8.
        case invalidUTF8 = "invalid_utf8"
        /// Ten fresh keys, none a member, each posting.
        case authorFlood = "author_flood"
        /// A fresh key asking for access.
        case strangerRequest = "stranger_request"
        /// Six fresh keys joining the public conversation on this member's admissions (over its
        /// hourly limit, backdated, or with none).
        case joinFlood = "join_flood"
        /// Two different batches for the same counters, each sent to half of the replicas.
        case equivocation
    }

    public struct Report: Sendable {
        /// Every honest replica shows the same visible state.
        public var converged: Bool
        public var honestOpsTotal: Int
        /// Honest operations applied on honest replica 0.
        public var honestOpsApplied: Int
        /// Honest operations excluded on any honest replica (must be 0).
        public var honestOpsWronglyExcluded: Int
        /// Operations of Byzantine replicas stored and excluded by the rules (on replica 0).
        public var byzantineOpsExcluded: Int
        /// Batches of Byzantine replicas stored on replica 0.
        public var byzantineBatchesStored: Int
        /// Attacks made, by kind.
        public var attacks: [String: Int]
        /// Batches refused before storage on honest replicas, by reason code.
        public var rejectedBatches: [String: Int]
        public var equivocationsDetected: Int
        /// The most bytes waiting in any honest replica's verifier at once.
        public var maxPendingBytes: Int
        public var restarts: Int
        /// Rebuilds of the visible state on all honest replicas (removals, demotions and forks
        /// that reach back).
        public var rebuilds: Int
        /// Honest replicas whose snapshot did not reload (must be 0).
        public var snapshotFailures: Int
        /// Fresh keys that became members on a Byzantine member's admission (on replica 0).
        public var strangerJoinsAccepted: Int
        /// The most that may: each Byzantine member vouches for at most
        /// ``SharingLimits/publicAdmissionsPerHour`` a rolling hour of its signed clock, over the
        /// hours the run spans (plus one: a window straddles two).
        public var strangerJoinBound: Int
        /// Canonical visible state of honest replica 0.
        public var state: [UInt8]
        /// When not converged: the first honest replica that differs from replica 0.
        public var firstDifference: Int?
    }

    public static func run(_ configuration: Configuration) -> Report {
        var run = Run(configuration)
        return run.execute()
    }
}

extension ByzantineSimulation {
    /// An honest replica: the verifier, the conversation and the log it stored.
    struct HonestReplica {
        let key: SigningKey
        var verifier: BatchVerifier
        var conversation: Conversation
        var log: [AuthenticatedBatch] = []
        var stored: Set<[UInt8]> = []
        /// Validly signed batches that conflict with an author's stored chain.
        var evidence: [AuthenticatedBatch] = []
        /// Times the visible state was rebuilt from the log.
        var rebuilds = 0
        var inbox: [Parcel] = []

        var id: ReplicaID { key.publicKey.replicaID }

        init(key: SigningKey, conversation id: ConversationID) {
            self.key = key
            verifier = BatchVerifier(conversation: id)
            conversation = Conversation(id: id, localReplica: key.publicKey.replicaID, verifyInvite: ConversationInputs.verifyInvite,
                                        verifyAdmission: ConversationInputs.verifyAdmission)
        }

        /// Ingests untrusted bytes as a node does; returns the batches newly stored.
        mutating func ingest(_ authenticated: Result<AuthenticatedBatch, BatchRejection>, counts: inout [String: Int],
                             forks: inout Int) -> [AuthenticatedBatch] {
            let batch: AuthenticatedBatch
            switch authenticated {
            case .failure(let rejection):
                counts[rejection.code, default: 0] += 1
                return []
            case .success(let authenticated):
                batch = authenticated
            }
            var needsRebuild = false
            var stored: [AuthenticatedBatch] = []
            var conflicting: [AuthenticatedBatch] = []
            func admit(_ candidate: AuthenticatedBatch) -> BatchRejection? {
                let operations = candidate.operationBatch
                if let refusal = conversation.storageRefusal(of: operations) { return .notAMember(refusal) }
                needsRebuild = conversation.receive(operations).needsRebuild || needsRebuild
                return nil
            }
            var verdicts = verifier.submit(batch, admit: admit)
            while !verdicts.isEmpty {
                for verdict in verdicts {
                    switch verdict {
                    case .accepted(let accepted):
                        stored.append(accepted)
                        self.stored.insert(accepted.hash)
                    case .rejected(let rejected, let reason):
                        if reason.isForkEvidence { conflicting.append(rejected) } else { counts[reason.code, default: 0] += 1 }
                    case .alreadyCovered(let covered):
                        if !self.stored.contains(covered.hash) { conflicting.append(covered) }
                    case .held:
                        break
                    }
                }
                verdicts = []
                for batch in conflicting {
                    if !evidence.contains(where: { $0.hash == batch.hash }) {
                        evidence.append(batch)
                        forks += 1
                        if let point = forkPoint(of: batch, among: log + stored) {
                            needsRebuild = conversation.noteEquivocation(by: batch.author, from: point) || needsRebuild
                            verdicts += verifier.noteEquivocation(by: batch.author, from: point, admit: admit)
                        }
                    }
                    // Kept in the history too (again after a restart), so that batches built on
                    // that branch get their past.
                    verdicts += verifier.noteSide(batch, admit: admit)
                }
                conflicting = []
            }
            log += stored
            if needsRebuild {
                conversation.rebuild(from: log.map { stored in
                    var batch = stored
                    batch.past = verifier.past(of: stored.hash)
                    return batch.operationBatch
                })
                rebuilds += 1
            }
            return stored
        }

        /// The stored or evidence batch with `hash`, to answer a peer that wants it.
        func batch(withHash hash: [UInt8]) -> AuthenticatedBatch? {
            log.first { $0.hash == hash } ?? evidence.first { $0.hash == hash }
        }

        /// The fork point `batch` reveals: the smallest first counter of two different batches
        /// of its author whose counters overlap, among everything known; nil when it overlaps none.
        func forkPoint(of batch: AuthenticatedBatch, among log: [AuthenticatedBatch]) -> UInt32? {
            let author = batch.author
            var point: UInt32?
            for other in log + evidence where other.author == author {
                guard let candidate = BatchVerifier.forkPoint(batch.counters, hash: batch.hash,
                                                              other.counters, otherHash: other.hash) else { continue }
                point = min(point ?? candidate, candidate)
            }
            return point
        }

        /// Signs `ops` as this replica's next batch and ingests it; nil when its own replica
        /// would not store it (as a node refuses to write where it is not a member).
        mutating func write(_ ops: [ConversationOp], at time: UInt64) -> [UInt8]? {
            let head = verifier.heads[id] ?? .empty
            let content = BatchContent(conversation: verifier.conversation, author: id, firstCounter: head.nextCounter,
                                       timestamp: time, previousHash: head.hash,
                                       dependencies: verifier.dependencies(for: id), operations: ops)
            let batch = SignedBatch(content: content) { key.sign($0).bytes }
            var counts: [String: Int] = [:]
            var forks = 0
            // Its own batch: no signature to check (as a node's local writes).
            let own = AuthenticatedBatch(storedBatch: batch, hash: Hashing.blake2b(batch.bytes))
            return ingest(.success(own), counts: &counts, forks: &forks).contains { $0.hash == own.hash } ? batch.bytes : nil
        }

        /// Restarts from a snapshot of the conversation and the stored chain heads: what waited
        /// in the verifier is lost. False when the snapshot did not reload.
        mutating func restart() -> Bool {
            guard let reloaded = try? Conversation(snapshot: conversation.encodedSnapshot(), id: verifier.conversation,
                                                   localReplica: id, verifyInvite: ConversationInputs.verifyInvite,
                                                   verifyAdmission: ConversationInputs.verifyAdmission) else { return false }
            conversation = reloaded
            // The history is rebuilt from the stored log at a node's start; the sim keeps it.
            verifier = BatchVerifier(conversation: verifier.conversation, heads: verifier.heads, history: verifier.history)
            for (author, point) in reloaded.equivocators { _ = verifier.noteEquivocation(by: author, from: point) }
            return true
        }
    }

    /// A Byzantine member's own chain, which it extends as it likes.
    struct ByzantineReplica {
        let key: SigningKey
        var head = BatchVerifier.Head.empty
        /// Heads seen before its latest demotion (for hidden demotions).
        var staleDependencies: [BatchDependency] = []

        var id: ReplicaID { key.publicKey.replicaID }

        /// Signs the next batch of its chain with the dependencies it chooses.
        mutating func chain(_ ops: [ConversationOp], dependencies: [BatchDependency], conversation: ConversationID,
                            at time: UInt64) -> SignedBatch {
            let batch = sign(ops, dependencies: dependencies, conversation: conversation, at: time)
            adopt(batch)
            return batch
        }

        /// Continues its chain after `batch` (signed at its next counter).
        mutating func adopt(_ batch: SignedBatch) {
            head = BatchVerifier.Head(nextCounter: head.nextCounter + UInt32(truncatingIfNeeded: batch.idCount),
                                      hash: Hashing.blake2b(batch.bytes))
        }

        /// Signs a batch at its next counter without extending its chain.
        func sign(_ ops: [ConversationOp], dependencies: [BatchDependency], conversation: ConversationID,
                  at time: UInt64) -> SignedBatch {
            let content = BatchContent(conversation: conversation, author: id, firstCounter: head.nextCounter, timestamp: time,
                                       previousHash: head.hash, dependencies: dependencies.filter { $0.replica != id },
                                       operations: ops)
            return SignedBatch(content: content) { key.sign($0).bytes }
        }
    }
}

extension ByzantineSimulation {
    /// Bytes on the simulated network, with their digest computed once when sent: each copy
    /// delivered (to every replica, duplicates included) is looked up by it instead of hashing
    /// the bytes again (an oversized batch is a megabyte).
    struct Parcel {
        let bytes: [UInt8]
        let digest: BatchVerifier.BatchHash

        init(_ bytes: [UInt8]) {
            self.init(bytes, digest: Hashing.blake2b(bytes))
        }

        /// Bytes whose BLAKE2b digest is already known (a stored batch's hash).
        init(_ bytes: [UInt8], digest: [UInt8]) {
            self.bytes = bytes
            self.digest = BatchVerifier.BatchHash(bytes: digest)
        }
    }

    /// Decoding and signature checks by batch digest, shared by the simulated replicas: the
    /// answer is a pure function of the bytes, so each replica still judges every batch it
    /// receives, and the run spends its time on the rules rather than on Ed25519 again and
    /// again for the same bytes.
    struct AuthenticationCache {
        private var results: [BatchVerifier.BatchHash: Result<AuthenticatedBatch, BatchRejection>] = [:]

        mutating func authenticate(_ parcel: Parcel) -> Result<AuthenticatedBatch, BatchRejection> {
            if let known = results[parcel.digest] { return known }
            let result = BatchAuthenticator.authenticate(parcel.bytes)
            results[parcel.digest] = result
            return result
        }
    }
}

extension SignedBatch {
    /// The batch as the conversation rules see it, with the causal past its dependencies derive
    /// (``CausalHistory``).
    public func operationBatch(past: VectorClock) -> OperationBatch {
        OperationBatch(author: content.author, firstCounter: content.firstCounter, clock: past,
                       timestamp: content.timestamp, operations: content.operations)
    }
}

extension AuthenticatedBatch {
    /// The batch as the conversation rules see it, once the verifier derived its past (before
    /// that, the counts it names: a lower bound).
    public var operationBatch: OperationBatch { batch.operationBatch(past: past ?? batch.content.namedCounts) }
}
