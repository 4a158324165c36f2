import ArgumentParser
import ChatCore
import ChatCrypto

extension StreamingChat {
    /// `streamingchat sim …`: deterministic in-process simulations.
    struct Sim: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run deterministic in-process simulations.", subcommands: [ConversationCommand.self])
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

        @Flag(help: "Print one JSON object.")
        var json = false

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
            if json {
                print(try jsonLine(report))
            } else {
                print(table([
                    ("converged", report.converged ? "yes" : "NO"), ("state hash", report.stateHash),
                    ("messages", "\(report.messages)"), ("excluded ops", "\(report.excludedOps)"),
                    ("revocations", "\(report.revocations)"), ("batches", "\(report.batches)"),
                    ("rebuilds", "\(report.rebuilds)"), ("seed", "\(seed)"),
                ] + (difference.map { [("first difference", $0)] } ?? [])))
            }
            if !outcome.converged { throw ExitCode(1) }
        }
    }
}
