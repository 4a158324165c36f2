/// Why a control command did not answer what it should: the node refused it (with its stable
/// code), it could not be reached, or its answer is not the command's result type.
public struct ControlCallError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The node's error code (see ``ControlErrorBody/Code``), or the socket's (``ControlSocketError/code``),
    /// or `malformed_result`.
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

extension ControlClient {
    /// Sends `command` and returns the node's result (`null` for a command with none).
    /// - Throws: the node's refusal, or why it could not be reached, as a ``ControlCallError``.
    public static func call(_ command: ControlCommand, socketPath: String,
                            timeout: Duration = .seconds(30)) async throws(ControlCallError) -> JSONValue {
        let response: ControlResponse
        do {
            response = try await send(command.request, socketPath: socketPath, timeout: timeout)
        } catch {
            throw ControlCallError(code: error.code, message: error.description)
        }
        guard response.ok else {
            throw ControlCallError(code: response.error?.code ?? "failed",
                                   message: response.error?.message ?? "the node refused the command")
        }
        return response.result ?? .null
    }

    /// Sends `command` and returns its result as `Result`, the command's result type (see
    /// ControlResults.swift).
    /// - Throws: as ``call(_:socketPath:timeout:)``, and `malformed_result` when the answer is not a
    ///   `Result`.
    public static func call<Result: Decodable>(_ command: ControlCommand, as type: Result.Type, socketPath: String,
                                               timeout: Duration = .seconds(30)) async throws(ControlCallError) -> Result {
        let value = try await call(command, socketPath: socketPath, timeout: timeout)
        do {
            return try value.decoded(as: Result.self)
        } catch {
            throw ControlCallError(code: "malformed_result", message: "the node's answer is not a valid \(Result.self)")
        }
    }
}
