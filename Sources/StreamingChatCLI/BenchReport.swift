import ArgumentParser
import Foundation

/// The `--json` flag every benchmark and simulation takes.
struct ReportOptions: ParsableArguments {
    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    /// Prints `report` as one JSON line (sorted keys) or, for people, as the table `rows` makes.
    func print<Report: Encodable>(_ report: Report, rows: (Report) -> [(String, String)]) throws {
        Swift.print(json ? try jsonLine(report) : table(rows(report)))
    }
}

/// Runs a benchmark in a fresh directory under the system's temporary one (`streamingchat-NAME-…`,
/// removed afterwards, whatever happens); a benchmark that cannot run is a ``CommandFailure``
/// with exit code 2.
func inTemporaryDirectory<Report>(_ name: String, _ body: (String) async throws -> Report) async throws -> Report {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("streamingchat-\(name)-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    do {
        return try await body(directory)
    } catch {
        throw CommandFailure("\(error)", exitCode: 2)
    }
}
