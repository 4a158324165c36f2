import ChatControl
import ChatNode
import Foundation

/// The progress lines `join` prints on a terminal while it waits: the node's join stage
/// (``NodeStatus/Conversation/joinStage``) each time it changes, and the batches stored while
/// catching up. Read from `status` every 200 ms; printed to standard error, so standard output
/// keeps only the result.
enum JoinProgress {
    /// The line for `stage`, `batches` stored so far.
    static func line(stage: String, batches: Int) -> String {
        switch stage {
        case "dialling": "join: dialling a member's node"
        case "authenticated": "join: a member's node proved its key and took the token"
        case "admitted": "join: admitted (the member signed this node's admission)"
        case "catching_up": "join: catching up, \(batches) batch\(batches == 1 ? "" : "es") stored"
        case "recorded": "join: recorded (signed and stored here)"
        default: "join: \(stage)"
        }
    }

    /// Whether progress should be shown: standard error is a terminal and the output is not JSON.
    static func wanted(json: Bool) -> Bool { !json && isatty(STDERR_FILENO) == 1 }

    /// Prints the stages of the join of `conversation` (hex; nil: whichever join is running)
    /// until cancelled.
    static func follow(_ conversation: String?, data: DataOptions) async {
        var shown: String?
        while !Task.isCancelled {
            if let line = await currentLine(conversation, data: data), line != shown {
                printError(line)
                shown = line
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    private static func currentLine(_ conversation: String?, data: DataOptions) async -> String? {
        guard let response = try? await ControlClient.send(ControlRequest(command: "status", arguments: [:]),
                                                           socketPath: data.directory.controlSocketPath, timeout: .seconds(2)),
              response.ok, let status = try? response.result?.decoded(as: NodeStatus.self) else { return nil }
        let joining = status.conversations.first { entry in
            entry.joinStage != nil && (conversation.map { entry.id == $0 } ?? true)
        }
        guard let joining, let stage = joining.joinStage else { return nil }
        return line(stage: stage, batches: joining.batches)
    }
}
