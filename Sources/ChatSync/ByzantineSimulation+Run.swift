import ChatCore
import ChatCrypto
import ChatWire

extension ByzantineSimulation {
    /// One run: the replicas, the network between them and the tallies.
    struct Run {
        let configuration: Configuration
        var random: SeededGenerator
        var honest: [HonestReplica] = []
        var byzantine: [ByzantineReplica] = []
        var conversation: ConversationID
        var now: UInt64 = 1_750_000_000_000
        /// Every valid batch sent so far (for replays).
        var sent: [[UInt8]] = []
        var honestOps: [OpID] = []
        var attacks: [String: Int] = [:]
        var rejected: [String: Int] = [:]
        var forks = 0
        var maxPendingBytes = 0
        var restarts = 0
        var snapshotFailures = 0
        var freshKeys: UInt64 = 0
        /// The fresh keys a Byzantine member vouched for (or tried to join without).
        var strangerJoins: Set<ReplicaID> = []
        let start: UInt64 = 1_750_000_000_000
        var authentication = AuthenticationCache()
        /// The heads right after the creator's setup: the smallest past in which the Byzantine
        /// replicas are members (a lie any smaller would only get their batches refused).
        var setupDependencies: [BatchDependency] = []

        init(_ configuration: Configuration) {
            self.configuration = configuration
            random = SeededGenerator(seed: configuration.seed)
            func key(_ index: UInt64) -> SigningKey {
                var seed = [UInt8](repeating: 0, count: 32)
                for byte in 0 ..< 8 { seed[byte] = UInt8(truncatingIfNeeded: (configuration.seed &+ index) >> (8 * UInt64(byte))) }
                seed[31] = UInt8(truncatingIfNeeded: index)
                // SAFETY: a 32-byte seed always makes a key.
                return (try? SigningKey(seed: seed))!
            }
            let creator = key(0)
            let genesis = SignedBatch(content: BatchContent(
                conversation: nil, author: creator.publicKey.replicaID, firstCounter: 0, timestamp: now,
                previousHash: BatchVerifier.Head.empty.hash, dependencies: [],
                operations: [.genesis(Genesis(title: "byzantine", nonce: [UInt8](repeating: 7, count: 16)))])) { creator.sign($0).bytes }
            // SAFETY: a BLAKE2b-256 digest is 32 bytes.
            conversation = ConversationID(bytes: Hashing.blake2b(genesis.bytes))!
            honest = (0 ..< UInt64(configuration.honest)).map { HonestReplica(key: $0 == 0 ? creator : key($0), conversation: conversation) }
            byzantine = (0 ..< UInt64(configuration.byzantine)).map { ByzantineReplica(key: key(1000 + $0)) }
            broadcast(genesis.bytes, from: nil)
            honest[0].inbox.removeAll()
            _ = honest[0].ingest(authentication.authenticate(Parcel(genesis.bytes)), counts: &rejected, forks: &forks)
            // Honest members may edit; Byzantine members comment; no rate limit in the way.
            // Public, so that strangers may join when a member vouches for them (join floods).
            let setup: [ConversationOp] = [.setSettings(ConversationSettings(messagesPerMinute: 100_000, maxMessageBytes: 2048, isPublic: true))]
                + honest.dropFirst().map { .setPermission(member: $0.id, permission: .edit) }
                + byzantine.map { .setPermission(member: $0.id, permission: .comment) }
            writeHonest(0, setup)
            setupDependencies = honest[0].verifier.dependencies(for: honest[1].id)
        }

        mutating func execute() -> Report {
            for _ in 0 ..< configuration.operations {
                let turn = Int.random(in: 0 ..< configuration.honest + configuration.byzantine, using: &random)
                if turn < configuration.honest {
                    honestTurn(turn)
                } else {
                    byzantineTurn(turn - configuration.honest)
                }
                deliver(count: Int.random(in: 1 ... 2 * configuration.honest, using: &random))
                if Double.random(in: 0 ..< 1, using: &random) < configuration.restartProbability {
                    let index = Int.random(in: 0 ..< configuration.honest, using: &random)
                    restarts += 1
                    if !honest[index].restart() { snapshotFailures += 1 }
                }
            }
            while honest.contains(where: { !$0.inbox.isEmpty }) { deliver(count: 64) }
            antiEntropy()
            return report()
        }

        // MARK: Network

        /// Sends `bytes` to every honest replica but `sender`, with drops and duplicates.
        mutating func broadcast(_ bytes: [UInt8], from sender: Int?) {
            let parcel = Parcel(bytes)
            for index in honest.indices where index != sender {
                if Double.random(in: 0 ..< 1, using: &random) < configuration.dropProbability { continue }
                honest[index].inbox.append(parcel)
                if Double.random(in: 0 ..< 1, using: &random) < configuration.duplicateProbability { honest[index].inbox.append(parcel) }
            }
        }

        /// Delivers up to `count` waiting batches, each from a random replica's inbox at a random place.
        mutating func deliver(count: Int) {
            for _ in 0 ..< count {
                let index = Int.random(in: 0 ..< honest.count, using: &random)
                guard !honest[index].inbox.isEmpty else { continue }
                let parcel = honest[index].inbox.remove(at: Int.random(in: 0 ..< honest[index].inbox.count, using: &random))
                _ = honest[index].ingest(authentication.authenticate(parcel), counts: &rejected, forks: &forks)
                maxPendingBytes = max(maxPendingBytes, honest[index].verifier.pendingBytes)
                answerWants(of: index)
            }
        }

        /// What a `want` frame does: batches replica `index` asks for by hash come from the
        /// first other honest replica that holds them (into its inbox, like any delivery).
        mutating func answerWants(of index: Int) {
            for wanted in honest[index].verifier.takeWanted() {
                for other in honest.indices where other != index {
                    if let batch = honest[other].batch(withHash: wanted.hash) {
                        honest[index].inbox.append(Parcel(batch.batch.bytes, digest: batch.hash))
                        break
                    }
                }
            }
        }

        /// Honest replicas exchange every stored batch the other lacks until nothing changes.
        mutating func antiEntropy() {
            var progress = true
            while progress {
                progress = false
                while honest.contains(where: { !$0.inbox.isEmpty }) {
                    deliver(count: 64)
                    progress = true
                }
                for source in honest.indices {
                    for target in honest.indices where target != source {
                        let known = honest[target].stored.union(honest[target].evidence.map(\.hash))
                        let missing = (honest[source].log + honest[source].evidence).filter { !known.contains($0.hash) }
                        for batch in missing {
                            let before = honest[target].evidence.count
                            let stored = honest[target].ingest(authentication.authenticate(Parcel(batch.batch.bytes, digest: batch.hash)),
                                                               counts: &rejected, forks: &forks)
                            answerWants(of: target)
                            if !stored.isEmpty || honest[target].evidence.count > before { progress = true }
                        }
                    }
                }
            }
        }

        // MARK: Honest replicas

        mutating func writeHonest(_ index: Int, _ ops: [ConversationOp]) {
            guard !ops.isEmpty else { return }
            now += UInt64.random(in: 1 ... 2000, using: &random)
            guard let bytes = honest[index].write(ops, at: now) else { return }
            if let batch = try? SignedBatch(decoding: bytes) { honestOps += batch.content.operationIDs }
            sent.append(bytes)
            broadcast(bytes, from: index)
        }

        mutating func honestTurn(_ index: Int) {
            let document = honest[index].conversation.document
            // A member's node writes only once it knows it is one.
            guard document.permissions[honest[index].id] != nil else { return }
            // Message ids in order: the records are read only for the one picked.
            let visible = document.messageList.elements
            let own = visible.filter { $0.replica == honest[index].id }
            let honestIDs = Set(honest.map(\.id))
            let roll = Int.random(in: 0 ..< 100, using: &random)
            var ops: [ConversationOp] = []
            switch roll {
            case 0 ..< 45:
                ops = [document.newMessage(text())]
            case 45 ..< 65:
                if let message = own.randomElement(using: &random), let length = document.messages[message]?.body.count {
                    ops = document.insertText(text(), into: message, at: Int.random(in: 0 ... length, using: &random)).map { [$0] } ?? []
                }
            case 65 ..< 80:
                if let message = visible.filter({ honestIDs.contains($0.replica) }).randomElement(using: &random),
                   let body = document.messages[message]?.body {
                    ops = document.replaceText(of: message, with: text() + Array(body.text.unicodeScalars.prefix(4))) ?? []
                }
            case 80 ..< 88:
                if let message = own.randomElement(using: &random) { ops = [.deleteMessage(message: message)] }
            case 88 ..< 95:
                ops = [.setProfile(Profile(displayName: "member \(index) \(roll)"))]
            default:
                // The creator demotes or restores a Byzantine member: a real permission change.
                if index == 0, let target = byzantine.indices.randomElement(using: &random) {
                    let current = document.permissions[byzantine[target].id]
                    if current == .comment {
                        byzantine[target].staleDependencies = honest[0].verifier.dependencies(for: byzantine[target].id)
                    }
                    ops = [.setPermission(member: byzantine[target].id, permission: current == .comment ? .view : .comment)]
                } else {
                    ops = [document.newMessage(text())]
                }
            }
            writeHonest(index, ops)
        }

        mutating func text() -> [Unicode.Scalar] {
            let letters = Array("abcdeé日🎉 ".unicodeScalars)
            return (0 ..< Int.random(in: 1 ... 6, using: &random)).map { _ in letters[Int.random(in: 0 ..< letters.count, using: &random)] }
        }

        // MARK: Byzantine replicas

        mutating func byzantineTurn(_ index: Int) {
            guard let attack = configuration.attacks.randomElement(using: &random) else { return }
            attacks[attack.rawValue, default: 0] += 1
            now += UInt64.random(in: 1 ... 2000, using: &random)
            let observed = honest[Int.random(in: 0 ..< honest.count, using: &random)]
            let seen = observed.verifier.dependencies(for: byzantine[index].id)
            let document = observed.conversation.document
            var me = byzantine[index]
            let next = me.head.nextCounter
            let body = Array("x".unicodeScalars)
            var out: [[UInt8]] = []
            switch attack {
            case .honestLooking:
                out = [me.chain([document.newMessage(body)], dependencies: seen, conversation: conversation, at: now).bytes]
            case .wedge:
                let poison = PostMessage(originLeft: OpID(replica: me.id, counter: next + 4), originRight: OpID(replica: me.id, counter: next + 2),
                                         body: body)
                out = [me.chain([.postMessage(poison)], dependencies: seen, conversation: conversation, at: now).bytes,
                       me.chain([document.newMessage(body)], dependencies: seen, conversation: conversation, at: now).bytes,
                       me.chain([document.newMessage(body)], dependencies: seen, conversation: conversation, at: now).bytes]
            case .unknownTarget:
                let target = document.orderedMessages.last?.id ?? OpID(replica: honest[0].id, counter: 9999)
                out = [me.chain([.insertText(InsertText(message: target, originLeft: nil, originRight: nil, text: body)),
                                 .deleteMessage(message: target)], dependencies: setupDependencies, conversation: conversation,
                                at: now).bytes]
            case .adminOverreach:
                out = [me.chain([.removeMember(member: honest[1].id), .setPermission(member: me.id, permission: .admin),
                                 .setSettings(ConversationSettings(messagesPerMinute: 1, maxMessageBytes: 1, isPublic: true))],
                                dependencies: seen, conversation: conversation, at: now).bytes]
            case .hiddenDemotion:
                let stale = me.staleDependencies.isEmpty ? setupDependencies : me.staleDependencies
                out = [me.chain([.postMessage(PostMessage(originLeft: nil, originRight: nil, body: body))], dependencies: stale,
                                conversation: conversation, at: now).bytes]
            case .fakeClock:
                // A dependency that does not exist (a count beyond the author's, a made-up hash) or
                // a real batch under a count it does not end at (refused as bad_dependency). Not
                // adopted: the liar keeps its chain going for its next attack.
                var dependencies = seen.filter { $0.replica != honest[1].id }
                let real = seen.filter { $0.count > 1 }.randomElement(using: &random)
                if let real, Bool.random(using: &random) {
                    dependencies = seen.filter { $0.replica != real.replica }
                    dependencies.append(BatchDependency(replica: real.replica, count: 1, hash: real.hash))
                } else {
                    let hash = (0 ..< 32).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
                    dependencies.append(BatchDependency(replica: honest[1].id, count: (real?.count ?? 0) + UInt32.random(in: 1 ... 50, using: &random),
                                                        hash: hash))
                }
                out = [me.sign([.postMessage(PostMessage(originLeft: nil, originRight: nil, body: body))],
                               dependencies: dependencies.sorted(), conversation: conversation, at: now).bytes]
            case .shrinkingClock:
                out = [me.chain([document.newMessage(body)], dependencies: setupDependencies, conversation: conversation,
                                at: now).bytes]
            case .oversizedMessage:
                out = [me.chain([.postMessage(PostMessage(originLeft: nil, originRight: nil,
                                                          body: Array(repeating: "y", count: 4096)))],
                                dependencies: seen, conversation: conversation, at: now).bytes]
            case .forgedSignature:
                var bytes = me.sign([document.newMessage(body)], dependencies: seen, conversation: conversation, at: now).bytes
                bytes[bytes.count - 1] ^= 0x01
                out = [bytes]
            case .impersonation:
                let content = BatchContent(conversation: conversation, author: honest[1].id, firstCounter: 0, timestamp: now,
                                           previousHash: BatchVerifier.Head.empty.hash,
                                           dependencies: seen.filter { $0.replica != honest[1].id }, operations: [document.newMessage(body)])
                out = [SignedBatch(content: content) { me.key.sign($0).bytes }.bytes]
            case .replay:
                if let old = sent.randomElement(using: &random) { out = [old] }
            case .truncated:
                let bytes = me.sign([document.newMessage(body)], dependencies: seen, conversation: conversation, at: now).bytes
                out = [Array(bytes.prefix(Int.random(in: 0 ..< bytes.count, using: &random)))]
            case .oversizedBatch:
                out = [[UInt8](repeating: 0x53, count: WireLimits.default.maxBatchBytes + 1)]
            case .invalidUTF8:
                let marker = Array("MARKER".unicodeScalars)
                let batch = me.sign([.postMessage(PostMessage(originLeft: nil, originRight: nil, body: marker))], dependencies: seen,
                                    conversation: conversation, at: now)
                var signed = Array(batch.signedBytes)
                if let start = signed.firstRange(of: Array("MARKER".utf8))?.lowerBound { signed[start] = 0xFF }
                out = [signed + me.key.sign(signed).bytes]
            case .equivocation:
                let first = me.sign([document.newMessage(body)], dependencies: seen, conversation: conversation, at: now)
                let second = me.sign([document.newMessage(Array("other".unicodeScalars))], dependencies: seen, conversation: conversation, at: now)
                me.adopt(first)
                let half = honest.indices.shuffled(using: &random).prefix(honest.count / 2)
                let parcels = (Parcel(first.bytes), Parcel(second.bytes))
                for index in honest.indices { honest[index].inbox.append(half.contains(index) ? parcels.0 : parcels.1) }
                sent += [first.bytes, second.bytes]
            case .authorFlood, .strangerRequest:
                for _ in 0 ..< (attack == .authorFlood ? 10 : 1) {
                    guard let stranger = freshKey() else { continue }
                    let op: ConversationOp = attack == .authorFlood ? document.newMessage(body)
                        : .requestAccess(permission: .admin, note: "let me in")
                    out.append(ByzantineReplica(key: stranger).sign([op], dependencies: seen, conversation: conversation, at: now).bytes)
                }
            case .joinFlood:
                // Six fresh keys join the public conversation: four vouched for by this member
                // now, one vouched for two hours back, one with no admission at all.
                for index in 0 ..< 6 {
                    guard let stranger = freshKey() else { continue }
                    var admission: [UInt8] = []
                    if index < 5 {
                        let admittedAt = index == 4 ? now - 2 * SharingLimits.hour : now
                        let content = JoinAdmission(conversation: conversation, joiner: stranger.publicKey.replicaID,
                                                    tokenID: JoinAdmission.publicTokenID, admitter: me.id,
                                                    admittedAt: admittedAt, usesSeen: 0)
                        admission = SignedAdmission(content: content) { me.key.sign($0).bytes }.bytes
                    }
                    strangerJoins.insert(stranger.publicKey.replicaID)
                    out.append(ByzantineReplica(key: stranger).sign([.join(inviteToken: [], admission: admission)], dependencies: seen,
                                                                    conversation: conversation, at: now).bytes)
                }
            }
            byzantine[index] = me
            for bytes in out {
                broadcast(bytes, from: nil)
                if attack == .honestLooking || attack == .wedge { sent.append(bytes) }
            }
        }

        /// A key no one has seen, derived from the seed and a running count.
        mutating func freshKey() -> SigningKey? {
            freshKeys += 1
            var seed = [UInt8](repeating: 0xF1, count: 32)
            for byte in 0 ..< 8 { seed[byte] = UInt8(truncatingIfNeeded: (configuration.seed ^ freshKeys) >> (8 * UInt64(byte))) }
            seed[8] = UInt8(truncatingIfNeeded: freshKeys >> 8)
            return try? SigningKey(seed: seed)
        }

        // MARK: Report

        func report() -> Report {
            let states = honest.map { $0.conversation.document.canonicalVisibleState() }
            let firstDifference = states.indices.first { states[$0] != states[0] }
            let honestIDs = Set(honestOps)
            let wronglyExcluded = Set(honest.flatMap { replica in replica.conversation.excluded.keys.filter { honestIDs.contains($0) } })
            let zero = honest[0].conversation
            let storedHonest = honestOps.count { op in zero.clock[op.replica] > op.counter }
            let byzantineIDs = Set(byzantine.map(\.id))
            return Report(
                converged: firstDifference == nil, honestOpsTotal: honestOps.count,
                honestOpsApplied: storedHonest - zero.excluded.keys.count { honestIDs.contains($0) },
                honestOpsWronglyExcluded: wronglyExcluded.count,
                byzantineOpsExcluded: zero.excluded.keys.count { byzantineIDs.contains($0.replica) },
                byzantineBatchesStored: honest[0].log.count { byzantineIDs.contains($0.author) },
                attacks: attacks, rejectedBatches: rejected, equivocationsDetected: zero.equivocators.count,
                maxPendingBytes: maxPendingBytes,
                restarts: restarts, rebuilds: honest.reduce(0) { $0 + $1.rebuilds }, snapshotFailures: snapshotFailures,
                strangerJoinsAccepted: strangerJoins.count { zero.document.permissions[$0] != nil },
                strangerJoinBound: SharingLimits.publicAdmissionsPerHour * byzantine.count * Int(2 + (now - start) / SharingLimits.hour),
                state: states[0], firstDifference: firstDifference)
        }
    }
}
