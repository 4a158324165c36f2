import ArgumentParser
import ChatCore
import ChatCrypto
import ChatSync
import Foundation

extension StreamingChat {
    /// `streamingchat sim …`: deterministic in-process simulations.
    struct Sim: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run deterministic in-process simulations.",
            subcommands: [ConversationCommand.self, ByzantineCommand.self])
    }
}

/// The JSON `sim conversation` prints. Field names are a contract.
struct ConversationSimulationReport: Codable {
    var converged: Bool
    var stateHash: String
    var messages: Int
    var excludedOps: Int
    var revocations: Int
    var replicas: Int
    var ops: Int
    var seed: UInt64
    var batches: Int
    var rebuilds: Int
    var excludedByReason: [String: Int]
    var firstDifference: String?
}

extension StreamingChat.Sim {
    /// `streamingchat sim conversation --replicas N --ops M --seed S [--json]`.
    struct ConversationCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "conversation",
            abstract: "Random messages, edits, deletes, profiles, grants and revocations on N replicas, delivered in different orders with duplicates; check they converge.")

        @Option(help: "Replicas (2 … 200).")
        var replicas = 5

        @Option(help: "Operations to generate.")
        var ops = 1000

        @Option(help: "Seed of every random choice.")
        var seed: UInt64 = 1

        @OptionGroup var output: ReportOptions

        func validate() throws {
            guard (2 ... 200).contains(replicas) else { throw ValidationError("--replicas must be 2 … 200") }
            guard (1 ... 10_000_000).contains(ops) else { throw ValidationError("--ops must be 1 … 10000000") }
        }

        func run() throws {
            let outcome = ConversationSimulation.run(.init(replicas: replicas, operations: ops, seed: seed))
            let difference = outcome.firstDifference.map {
                "replica \($0.replica) differs from replica 0 at byte \($0.offset) of the visible state (seed \(seed))"
            } ?? (outcome.excludedAgree ? nil : "replicas excluded different operations (seed \(seed))")
            let report = ConversationSimulationReport(
                converged: outcome.converged, stateHash: Hashing.hex(Hashing.sha256(outcome.states[0])),
                messages: outcome.messages, excludedOps: outcome.excludedOps, revocations: outcome.revocations,
                replicas: replicas, ops: ops, seed: seed, batches: outcome.batches, rebuilds: outcome.rebuilds,
                excludedByReason: outcome.excludedByReason, firstDifference: difference)
            try output.print(report) { report in
                [
                    ("converged", report.converged ? "yes" : "NO"), ("state hash", report.stateHash),
                    ("messages", "\(report.messages)"), ("excluded ops", "\(report.excludedOps)"),
                    ("revocations", "\(report.revocations)"), ("batches", "\(report.batches)"),
                    ("rebuilds", "\(report.rebuilds)"), ("seed", "\(seed)"),
                ] + (difference.map { [("first difference", $0)] } ?? [])
            }
            if !outcome.converged { throw ExitCode(1) }
        }
    }
}

/// The JSON `sim byzantine` prints (one object per seed). Field names are a contract.
struct ByzantineSimulationReport: Codable {
    var converged: Bool
    var honestOpsTotal: Int
    var honestOpsApplied: Int
    var honestOpsWronglyExcluded: Int
    var byzantineOpsExcluded: Int
    var attacks: [String: Int]
    var equivocationsDetected: Int
    var maxPendingBytes: Int
    var seed: UInt64
    var replicas: Int
    var byzantine: Int
    var ops: Int
    var rejectedBatches: [String: Int]
    var restarts: Int
    var rebuilds: Int
    var snapshotFailures: Int
    var byzantineBatchesStored: Int
    /// Fresh keys that became members on a Byzantine member's admissions, and the most that may.
    var strangerJoinsAccepted: Int
    var strangerJoinBound: Int
    var stateHash: String
    var elapsedMs: Double
    var firstDifference: String?
}

extension StreamingChat.Sim {
    /// `streamingchat sim byzantine [--replicas N] [--byzantine K] [--ops M] [--seed S] [--seeds C] [--json]`.
    struct ByzantineCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "byzantine",
            abstract: "Honest and Byzantine replicas of one conversation through the real verification path, with drops, duplicates, reorders and restarts; check the honest ones converge and lose nothing.")

        @Option(help: "Honest replicas (2 … 50).")
        var replicas = 6

        @Option(help: "Byzantine replicas (0 … 50).")
        var byzantine = 2

        @Option(help: "Turns (operations or attacks) to generate.")
        var ops = 3000

        @Option(help: "Seed of every random choice.")
        var seed: UInt64 = 1

        @Option(help: "Run this many seeds, from --seed on (one JSON object per seed).")
        var seeds = 1

        @Option(help: "Only these attacks, comma-separated (default: all of \(ByzantineSimulation.Attack.allCases.map(\.rawValue).joined(separator: ", "))).")
        var attacks: String?

        var chosenAttacks: [ByzantineSimulation.Attack] {
            (attacks ?? "").split(separator: ",").compactMap { ByzantineSimulation.Attack(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
        }

        @Flag(help: "Print one JSON object per seed.")
        var json = false

        func validate() throws {
            guard (2 ... 50).contains(replicas) else { throw ValidationError("--replicas must be 2 … 50") }
            guard (0 ... 50).contains(byzantine) else { throw ValidationError("--byzantine must be 0 … 50") }
            guard (1 ... 1_000_000).contains(ops) else { throw ValidationError("--ops must be 1 … 1000000") }
            guard (1 ... 1_000_000).contains(seeds) else { throw ValidationError("--seeds must be 1 … 1000000") }
            if let attacks {
                let unknown = attacks.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { ByzantineSimulation.Attack(rawValue: $0) == nil }
                guard unknown.isEmpty else { throw ValidationError("unknown attack: \(unknown.joined(separator: ", "))") }
            }
        }

        func run() throws {
            var failures: [UInt64] = []
            var slowest = 0.0
            for seed in self.seed ..< self.seed + UInt64(seeds) {
                let start = ContinuousClock.now
                let outcome = ByzantineSimulation.run(.init(honest: replicas, byzantine: byzantine, operations: ops, seed: seed,
                                                                        attacks: chosenAttacks))
                let elapsed = (ContinuousClock.now - start) / .milliseconds(1)
                slowest = max(slowest, elapsed)
                let report = ByzantineSimulationReport(
                    converged: outcome.converged, honestOpsTotal: outcome.honestOpsTotal, honestOpsApplied: outcome.honestOpsApplied,
                    honestOpsWronglyExcluded: outcome.honestOpsWronglyExcluded, byzantineOpsExcluded: outcome.byzantineOpsExcluded,
                    attacks: outcome.attacks, equivocationsDetected: outcome.equivocationsDetected,
                    maxPendingBytes: outcome.maxPendingBytes, seed: seed, replicas: replicas, byzantine: byzantine, ops: ops,
                    rejectedBatches: outcome.rejectedBatches, restarts: outcome.restarts, rebuilds: outcome.rebuilds,
                    snapshotFailures: outcome.snapshotFailures, byzantineBatchesStored: outcome.byzantineBatchesStored,
                    strangerJoinsAccepted: outcome.strangerJoinsAccepted, strangerJoinBound: outcome.strangerJoinBound,
                    stateHash: Hashing.hex(Hashing.sha256(outcome.state)), elapsedMs: (elapsed * 10).rounded() / 10,
                    firstDifference: outcome.firstDifference.map { "honest replica \($0) differs from replica 0 (seed \(seed))" })
                let passed = report.converged && report.honestOpsWronglyExcluded == 0 && report.snapshotFailures == 0
                    && report.strangerJoinsAccepted <= report.strangerJoinBound
                if !passed { failures.append(seed) }
                if json {
                    print(try jsonLine(report))
                } else if seeds == 1 || !passed {
                    print(table([
                        ("converged", report.converged ? "yes" : "NO"), ("seed", "\(seed)"),
                        ("honest ops", "\(report.honestOpsTotal) (\(report.honestOpsApplied) applied, \(report.honestOpsWronglyExcluded) wrongly excluded)"),
                        ("byzantine ops excluded", "\(report.byzantineOpsExcluded)"),
                        ("batches refused", report.rejectedBatches.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")),
                        ("attacks", report.attacks.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")),
                        ("equivocators detected", "\(report.equivocationsDetected)"),
                        ("max pending bytes", "\(report.maxPendingBytes)"), ("restarts", "\(report.restarts)"),
                        ("rebuilds", "\(report.rebuilds)"),
                        ("stranger joins", "\(report.strangerJoinsAccepted) accepted (at most \(report.strangerJoinBound))"),
                        ("state hash", report.stateHash), ("elapsed", "\(report.elapsedMs) ms"),
                    ] + (report.firstDifference.map { [("first difference", $0)] } ?? [])))
                }
            }
            if seeds > 1, !json {
                print("\(seeds - failures.count) of \(seeds) seeds passed; slowest \(Int(slowest)) ms"
                      + (failures.isEmpty ? "" : "; failing seeds: \(failures.prefix(20).map(String.init).joined(separator: " "))"))
            }
            if !failures.isEmpty { throw ExitCode(1) }
        }
    }
}
