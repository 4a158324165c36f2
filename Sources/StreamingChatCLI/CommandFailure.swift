import ArgumentParser
import Foundation

/// A command that could not do what it was asked. ``StreamingChat/main()`` says it on standard
/// error as `streamingchat: <message>`, with the node's stable code in brackets when the node
/// gave one, and exits with ``exitCode``: 1 when the command failed, 2 when it could not run
/// here (bad setup, a store in the way, unreadable input).
struct CommandFailure: Error, CustomStringConvertible {
    var message: String
    /// The node's error code (``NodeCommandError/code``), when the failure is the node's answer.
    var code: String?
    var exitCode: Int32

    init(_ message: String, code: String? = nil, exitCode: Int32 = 1) {
        self.message = message
        self.code = code
        self.exitCode = exitCode
    }

    var description: String { code.map { "\(message) [\($0)]" } ?? message }
}

extension StreamingChat {
    /// Runs the command line; a ``CommandFailure`` is said as `streamingchat: …` with its exit
    /// code, anything else as argument-parser says it.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let failure as CommandFailure {
            printError("streamingchat: \(failure)")
            exit(withError: ExitCode(failure.exitCode))
        } catch {
            exit(withError: error)
        }
    }
}
