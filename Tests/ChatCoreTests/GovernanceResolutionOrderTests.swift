@testable import ChatCore
import Testing

/// Resolution continues from where it was (operations appended) or from a saved pass
/// (operations sorting earlier, ``GovernanceResolution/PassCheckpoints``) instead of starting
/// over. Whatever the arrival order and chunking, the result must equal resolving every
/// operation at once.
@Suite struct GovernanceResolutionOrderTests {
    let admin = ReplicaID(testValue: 1)
    let members = (2 ... 5).map { ReplicaID(testValue: UInt64($0)) }

    /// A random history of `count` operations: an admin grants, raises and lowers rights; members
    /// (admins or not) change rights, remove each other when `removals` is set, and request
    /// access. Each author sees what a random other author saw, now and then.
    func history(count: Int, removals: Bool, random: inout SeededGenerator) -> [GovernanceOp] {
        let authors = [admin] + members
        var seen = Dictionary(uniqueKeysWithValues: authors.map { ($0, VectorClock()) })
        var counters = Dictionary(uniqueKeysWithValues: authors.map { ($0, UInt32(0)) })
        var ops: [GovernanceOp] = []
        func make(_ author: ReplicaID, _ kind: GovernanceOp.Kind) {
            let id = OpID(replica: author, counter: counters[author]!)
            ops.append(GovernanceOp(id: id, kind: kind, cut: seen[author]!, timestamp: UInt64(ops.count) * 1_000))
            seen[author]!.advance(toCover: id)
            counters[author]! += 1
        }
        make(admin, .genesis(title: "room", isPublic: false))
        for member in members {
            make(admin, .setPermission(member: member, permission: .comment))
        }
        let levels: [Permission] = [.view, .comment, .edit, .admin]
        while ops.count < count {
            let author = authors.randomElement(using: &random)!
            if Int.random(in: 0 ..< 3, using: &random) == 0 {
                seen[author]!.merge(seen[authors.randomElement(using: &random)!]!)
            }
            let subject = members.randomElement(using: &random)!
            switch Int.random(in: 0 ..< 10, using: &random) {
            case 0 where removals: make(author, .removeMember(member: subject))
            case 0 ..< 5: make(author, .setPermission(member: subject, permission: levels.randomElement(using: &random)!))
            default: make(author, .requestAccess(permission: .edit, note: "please"))
            }
        }
        return ops
    }

    /// `ops` in a random order that keeps causality (an operation after everything in its
    /// past, as batches are applied), cut into chunks of one to four.
    func arrivals(of ops: [GovernanceOp], random: inout SeededGenerator) -> [[GovernanceOp]] {
        var delivered = VectorClock()
        var waiting = ops
        var chunks: [[GovernanceOp]] = []
        while !waiting.isEmpty {
            var chunk: [GovernanceOp] = []
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &random) {
                let ready = waiting.indices.filter { index in
                    waiting[index].cut.allEntries { replica, count in delivered[replica] >= count }
                        && delivered[waiting[index].id.replica] == waiting[index].id.counter
                }
                guard let pick = ready.randomElement(using: &random) else { break }
                let op = waiting.remove(at: pick)
                delivered.advance(toCover: op.id)
                chunk.append(op)
            }
            chunks.append(chunk)
        }
        return chunks
    }

    /// A public conversation flooded with joins: members vouch for fresh keys in bursts (one
    /// member past its hourly limit), some joiners then act (request access, vouch for others),
    /// and the admin changes members' rights now and then.
    func joinFlood(count: Int, random: inout SeededGenerator) -> [GovernanceOp] {
        let conversation = ConversationID(bytes: Array(repeating: 0xC0, count: 32))! // SAFETY: 32 bytes
        var authors = [admin] + members
        var seen = Dictionary(uniqueKeysWithValues: authors.map { ($0, VectorClock()) })
        var counters: [ReplicaID: UInt32] = [:]
        var ops: [GovernanceOp] = []
        var now: UInt64 = 10 * SharingLimits.hour
        func make(_ author: ReplicaID, _ kind: GovernanceOp.Kind) {
            let id = OpID(replica: author, counter: counters[author, default: 0])
            ops.append(GovernanceOp(id: id, kind: kind, cut: seen[author, default: VectorClock()], timestamp: now))
            seen[author, default: VectorClock()].advance(toCover: id)
            counters[author, default: 0] += 1
        }
        make(admin, .genesis(title: "open room", isPublic: true))
        for member in members { make(admin, .setPermission(member: member, permission: .comment)) }
        var strangers: UInt64 = 100
        while ops.count < count {
            now += UInt64.random(in: 1 ... 60_000, using: &random)
            let admitter = Bool.random(using: &random) ? members[0] : authors.randomElement(using: &random)!
            if Int.random(in: 0 ..< 3, using: &random) == 0 {
                seen[admitter, default: VectorClock()].merge(seen[authors.randomElement(using: &random)!, default: VectorClock()])
            }
            switch Int.random(in: 0 ..< 10, using: &random) {
            case 0:
                make(admin, .setPermission(member: members.randomElement(using: &random)!,
                                           permission: [.view, .comment].randomElement(using: &random)!))
            case 1 where authors.count > 5:
                make(authors.randomElement(using: &random)!, .requestAccess(permission: .edit, note: "more"))
            default:
                // A burst of joins vouched for by one author (members[0]'s bursts are larger,
                // so it reaches the hourly limit), each joiner having seen what its admitter saw.
                for _ in 0 ..< (admitter == members[0] ? 12 : Int.random(in: 1 ... 4, using: &random)) {
                    strangers += 1
                    let joiner = ReplicaID(testValue: strangers)
                    let admission = JoinAdmission(conversation: conversation, joiner: joiner, tokenID: JoinAdmission.publicTokenID,
                                                  admitter: admitter, admittedAt: now, usesSeen: 0)
                    seen[joiner] = seen[admitter]
                    make(joiner, .join(.publicJoin(admission: admission)))
                    authors.append(joiner)
                }
            }
        }
        return ops
    }

    /// Joins arriving in any causal order, many resolved without stepping the operations after
    /// them again, still give the whole resolution.
    @Test func aFloodOfPublicJoinsInAnyCausalOrderGivesTheWholeResolution() {
        for seed in UInt64(1) ... 30 {
            var random = SeededGenerator(seed: seed)
            let ops = joinFlood(count: 250, random: &random)
            var incremental = GovernanceResolution()
            for chunk in arrivals(of: ops, random: &random) { incremental.add(chunk) }
            let whole = GovernanceResolution(resolving: ops)
            expectSame(incremental, whole, seed: seed)
            #expect(whole.rejected.values.contains(.invalidInvite), "seed \(seed): some join over the hourly limit")
        }
    }

    /// Joins held back (their batches waited for dependencies) and added one at a time, after
    /// everything else: those no other operation saw.
    @Test func joinsAddedLateOneByOneGiveTheWholeResolution() {
        for seed in UInt64(1) ... 20 {
            var random = SeededGenerator(seed: seed)
            let ops = joinFlood(count: 250, random: &random)
            let unseen = ops.filter { op in op.kind.isJoin && !ops.contains { $0.cut.contains(op.id) } }
            let late = unseen.indices.filter { $0 % 2 == 0 }.map { unseen[$0] }
            let lateIDs = Set(late.map(\.id))
            var incremental = GovernanceResolution()
            incremental.add(ops.filter { !lateIDs.contains($0.id) })
            for op in late.shuffled(using: &random) { incremental.add([op]) }
            expectSame(incremental, GovernanceResolution(resolving: ops), seed: seed)
        }
    }

    func expectSame(_ incremental: GovernanceResolution, _ whole: GovernanceResolution, seed: UInt64) {
        #expect(incremental.ordered.map(\.id) == whole.ordered.map(\.id), "seed \(seed)")
        #expect(incremental.accepted == whole.accepted, "seed \(seed)")
        #expect(incremental.rejected == whole.rejected, "seed \(seed)")
        #expect(incremental.acceptedInOrder.map(\.id) == whole.acceptedInOrder.map(\.id), "seed \(seed)")
        #expect(incremental.final == whole.final, "seed \(seed)")
        #expect(incremental.removals == whole.removals, "seed \(seed)")
        #expect(incremental.permissionChanges == whole.permissionChanges, "seed \(seed)")
        #expect(incremental.sharing == whole.sharing, "seed \(seed)")
    }

    @Test(arguments: [false, true])
    func addingInAnyCausalOrderGivesTheWholeResolution(removals: Bool) {
        for seed in UInt64(1) ... 30 {
            var random = SeededGenerator(seed: seed)
            let ops = history(count: 150, removals: removals, random: &random)
            var incremental = GovernanceResolution()
            for chunk in arrivals(of: ops, random: &random) { incremental.add(chunk) }
            expectSame(incremental, GovernanceResolution(resolving: ops), seed: seed)
        }
    }

    /// Operations that sort early (an author offline for long) are added after many others, so
    /// resolution resumes from a checkpoint well before the end; the result is still the same.
    @Test func anOperationSortingFarBackResumesFromACheckpointAlike() {
        for seed in UInt64(1) ... 20 {
            var random = SeededGenerator(seed: seed)
            let ops = history(count: 200, removals: false, random: &random)
            let late = ops.indices.filter { $0 > 10 && $0 % 7 == 0 && ops[$0].kind.isRequest }.map { ops[$0] }
            let lateIDs = Set(late.map(\.id))
            var incremental = GovernanceResolution()
            incremental.add(ops.filter { !lateIDs.contains($0.id) })
            for op in late { incremental.add([op]) }
            expectSame(incremental, GovernanceResolution(resolving: ops), seed: seed)
        }
    }
}

private extension GovernanceOp.Kind {
    /// Access requests: nothing depends on them, so they may arrive late in a test.
    var isRequest: Bool {
        if case .requestAccess = self { true } else { false }
    }

    var isJoin: Bool {
        if case .join = self { true } else { false }
    }
}
