import ChatCore
import ChatSync
import Testing

/// `sim byzantine` on a few seeds: honest replicas converge and no honest operation is
/// excluded, whatever the Byzantine members sign (issue 14). The command runs other seeds.
@Suite struct ByzantineSimulationTests {
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func honestReplicasConvergeWhateverTheByzantineOnesSign(seed: UInt64) {
        let report = ByzantineSimulation.run(.init(honest: 4, byzantine: 2, operations: 400, seed: seed))
        let converged = report.converged
        #expect(converged, "seed \(seed): honest replica \(report.firstDifference ?? -1) differs")
        #expect(report.honestOpsWronglyExcluded == 0, "seed \(seed)")
        #expect(report.snapshotFailures == 0, "seed \(seed)")
        #expect(report.honestOpsApplied == report.honestOpsTotal, "seed \(seed): every honest op reached replica 0")
        #expect(report.byzantineOpsExcluded > 0, "seed \(seed): the attacks were judged, not ignored")
        #expect(report.rejectedBatches["not_a_member", default: 0] > 0 || report.attacks["author_flood"] == nil, "seed \(seed)")
        #expect(report.rejectedBatches["bad_signature", default: 0] > 0 || report.attacks["forged_signature"] == nil, "seed \(seed)")
        #expect(report.strangerJoinsAccepted <= report.strangerJoinBound, "seed \(seed)")
    }

    /// One Byzantine member vouching for four fresh keys on every turn (and a fifth backdated,
    /// a sixth without admission): the replicas let in at most sixty an hour of its signed clock.
    @Test func aMemberVouchingForAFloodOfStrangersLetsInSixtyAnHour() {
        let seed: UInt64 = 14
        let report = ByzantineSimulation.run(.init(honest: 3, byzantine: 1, operations: 240, seed: seed,
                                                   attacks: [.joinFlood]))
        let floods = report.attacks["join_flood", default: 0]
        #expect(floods * 4 > SharingLimits.publicAdmissionsPerHour * 2, "seed \(seed): more vouched for than may join")
        #expect(report.converged && report.honestOpsWronglyExcluded == 0, "seed \(seed)")
        #expect(report.strangerJoinsAccepted >= SharingLimits.publicAdmissionsPerHour, "seed \(seed): the hour's quota was used")
        #expect(report.strangerJoinsAccepted <= report.strangerJoinBound, "seed \(seed): \(report.strangerJoinsAccepted) joined")
    }

    @Test func theSameSeedGivesTheSameRun() {
        let first = ByzantineSimulation.run(.init(honest: 3, byzantine: 1, operations: 150, seed: 77))
        let second = ByzantineSimulation.run(.init(honest: 3, byzantine: 1, operations: 150, seed: 77))
        #expect(first.state == second.state)
        #expect(first.attacks == second.attacks)
        #expect(first.rejectedBatches == second.rejectedBatches)
    }
}
