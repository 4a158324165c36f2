#if canImport(Glibc)
private import Glibc
#elseif canImport(Darwin)
private import Darwin
#endif

/// Everything that can go wrong in ChatCrypto: bad key material, bad key text, and identity-file problems.
///
/// Each case has a stable ``code`` for logs, metrics and tests; ``description`` is one sentence for people.
public enum CryptoError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A signing-key seed was not exactly 32 bytes; carries the length given.
    case invalidSeedLength(Int)
    /// A public key's text form was rejected; carries the reason (wrong prefix, length, character,
    /// mixed case, or a checksum that does not match — usually a typo).
    case invalidPublicKeyText(String)
    /// No identity file exists at the path.
    case identityFileMissing(_ path: String)
    /// The identity file can be read or written by users other than its owner (`st_mode & 0o077 != 0`);
    /// carries the permission bits found.
    case identityFileTooOpen(path: String, mode: UInt32)
    /// The identity file's contents are not a valid version-1 identity; carries the path and the reason.
    case identityFileMalformed(_ path: String, _ reason: String)
    /// `IdentityFile.create` found a file (or link) already at the path and left it untouched.
    case identityFileExists(_ path: String)
    /// A system call on the identity file failed; carries the path, the call and its `errno`.
    case identityFileIO(path: String, operation: String, errno: Int32)

    /// A stable, machine-readable name for the case; never changes between releases.
    public var code: String {
        switch self {
        case .invalidSeedLength: "crypto.invalid-seed-length"
        case .invalidPublicKeyText: "crypto.invalid-public-key-text"
        case .identityFileMissing: "crypto.identity-file-missing"
        case .identityFileTooOpen: "crypto.identity-file-too-open"
        case .identityFileMalformed: "crypto.identity-file-malformed"
        case .identityFileExists: "crypto.identity-file-exists"
        case .identityFileIO: "crypto.identity-file-io"
        }
    }

    /// One sentence saying what went wrong.
    public var description: String {
        switch self {
        case .invalidSeedLength(let count):
            "A signing-key seed must be 32 bytes, but \(count) were given."
        case .invalidPublicKeyText(let reason):
            "The public key text is not valid (\(reason)); check it for typos."
        case .identityFileMissing(let path):
            "There is no identity file at \(path)."
        case .identityFileTooOpen(let path, let mode):
            "The identity file \(path) has mode \(Self.octal(mode)), which lets other users access it; "
                + "run `chmod 600 \(path)`."
        case .identityFileMalformed(let path, let reason):
            "The identity file \(path) is malformed: \(reason)."
        case .identityFileExists(let path):
            "An identity file already exists at \(path), and it was not overwritten."
        case .identityFileIO(let path, let operation, let code):
            "The system call \(operation) on the identity file \(path) failed: \(Self.systemMessage(code))."
        }
    }

    /// `mode` as four octal digits, like `0644`.
    private static func octal(_ mode: UInt32) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The C library's message for `errno` `code`.
    private static func systemMessage(_ code: Int32) -> String {
        guard let message = strerror(code) else { return "errno \(code)" }
        return String(cString: message) + " (errno \(code))"
    }
}
