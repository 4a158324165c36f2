import ArgumentParser
import ChatTraces
import Foundation

extension StreamingChat.Bench {
    /// `streamingchat bench trace <file> [--json]`: replay a real editing trace and measure it.
    struct Trace: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay an editing trace (.json or .json.gz) and measure replay, load, size and memory.")

        @Argument(help: "The trace file (josephg/editing-traces format, plain or gzipped).")
        var file: String

        @Option(help: "Timed runs; medians are reported.")
        var runs: Int = 5

        @OptionGroup var output: ReportOptions

        func validate() throws {
            guard runs >= 1, runs <= 1000 else { throw ValidationError("--runs must be between 1 and 1000") }
        }

        func run() throws {
            let report: TraceBenchmarkReport
            do {
                report = try TraceBenchmark.run(path: file, runs: runs)
            } catch {
                throw CommandFailure("\(error)", exitCode: 2)
            }
            try output.print(report) { report in
                [
                    ("trace", report.trace), ("kind", report.kind), ("patches", "\(report.patches)"),
                    ("ops", "\(report.ops)"), ("replicas", "\(report.replicas)"),
                    ("replay (median)", "\(report.replayMs) ms"),
                    ("load, text first (median)", "\(report.loadMs) ms"),
                    ("load, checked whole (median)", "\(report.completeLoadMs) ms"),
                    ("merge into empty (median)", "\(report.mergeMs) ms"),
                    ("encoded state", "\(report.encodedBytes) bytes"), ("spans", "\(report.spans)"),
                    ("peak RSS", "\(report.peakRSSBytes / 1024) KiB"), ("final length", "\(report.finalLength)"),
                    ("sha256", report.sha256), ("matches endContent", report.matchesEndContent ? "yes" : "NO"),
                ]
            }
            if !report.matchesEndContent {
                throw CommandFailure("the replayed text differs from the trace's endContent")
            }
        }
    }
}

/// One-line JSON with sorted keys.
func jsonLine(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// Two aligned columns.
func table(_ rows: [(String, String)]) -> String {
    let width = rows.map(\.0.count).max() ?? 0
    return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }
        .joined(separator: "\n")
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
