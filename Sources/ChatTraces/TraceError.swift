/// Why an editing trace could not be loaded or parsed.
public enum TraceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No file exists at the given path.
    case fileNotFound(String)
    /// The file exists but could not be read (path, underlying reason).
    case unreadable(String, String)
    /// The bytes start like gzip but do not decompress cleanly (reason).
    case corruptGzip(String)
    /// The bytes are not valid JSON; `offset` is the byte offset in the (decompressed) JSON text.
    case malformedJSON(offset: Int, reason: String)
    /// The JSON is valid but does not describe a valid editing trace (reason).
    case invalidTrace(String)

    /// A stable, machine-readable code for this kind of error.
    public var code: String {
        switch self {
        case .fileNotFound: return "trace.fileNotFound"
        case .unreadable: return "trace.unreadable"
        case .corruptGzip: return "trace.corruptGzip"
        case .malformedJSON: return "trace.malformedJSON"
        case .invalidTrace: return "trace.invalidTrace"
        }
    }

    /// One human sentence explaining the error.
    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "No trace file exists at \(path)."
        case .unreadable(let path, let reason):
            return "The trace file at \(path) could not be read: \(reason)."
        case .corruptGzip(let reason):
            return "The trace is gzip-compressed but corrupt: \(reason)."
        case .malformedJSON(let offset, let reason):
            return "The trace is not valid JSON at byte \(offset): \(reason)."
        case .invalidTrace(let reason):
            return "The trace is valid JSON but not a valid editing trace: \(reason)."
        }
    }

    init(_ error: JSONError) {
        self = .malformedJSON(offset: error.offset, reason: error.reason.description)
    }
}
