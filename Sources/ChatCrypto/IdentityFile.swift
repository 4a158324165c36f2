import ChatCore
#if canImport(Glibc)
private import Glibc
#elseif canImport(Darwin)
private import Darwin
#endif

/// The file that holds a node's identity (its Ed25519 signing key), readable by its owner only.
///
/// Version 1 is three lines of ASCII, each ending in a line feed:
/// ```
/// streamingchat-identity-v1
/// <the 32-byte seed as 64 lower-case hex digits>
/// <the public key's text form, sc1…>
/// ```
/// The public key line lets a person see whose identity a file holds without tools; on load it must
/// match the key derived from the seed. The file is created with mode 0600 in one `open` call
/// (`O_CREAT | O_EXCL`), so it is never readable by others, not even briefly, and an existing identity
/// is never overwritten. Loading refuses a file that group or others can access.
public enum IdentityFile {
    /// The first line of a version-1 identity file.
    public static let header = "streamingchat-identity-v1"

    /// The largest identity file `load` reads; a version-1 file is 153 bytes.
    public static let maximumSize = 4096

    /// Generates a new signing key and writes it to a new file at `path` (mode 0600).
    ///
    /// The parent directory must exist. The file and its directory entry are flushed to disk before
    /// this returns.
    ///
    /// - Throws: `CryptoError.identityFileExists` if anything (a file, a link) is already at `path`;
    ///   `CryptoError.identityFileIO` if a system call fails (nothing is left behind then).
    public static func create(at path: String) throws(CryptoError) -> SigningKey {
        let key = SigningKey.generate()
        try write(key, to: path)
        return key
    }

    /// Writes `key` to a new file at `path` (mode 0600), for instance a key made from a fixed seed.
    ///
    /// - Throws: `CryptoError.identityFileExists` if anything is already at `path`;
    ///   `CryptoError.identityFileIO` if a system call fails (nothing is left behind then).
    public static func write(_ key: SigningKey, to path: String) throws(CryptoError) {
        let contents = render(key)
        let descriptor = path.withCString { open($0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600) }
        guard descriptor >= 0 else {
            let code = errno
            if code == EEXIST { throw .identityFileExists(path) }
            throw .identityFileIO(path: path, operation: "open", errno: code)
        }
        var failure: CryptoError?
        do throws(CryptoError) {
            // The umask can only have removed bits; set exactly 0600 so the owner can read it back.
            guard fchmod(descriptor, 0o600) == 0 else {
                throw .identityFileIO(path: path, operation: "fchmod", errno: errno)
            }
            try contents.withUnsafeMutableBytes { (bytes) throws(CryptoError) in
                try writeAll(descriptor, UnsafeRawBufferPointer(bytes), path: path)
            }
            guard fsync(descriptor) == 0 else {
                throw .identityFileIO(path: path, operation: "fsync", errno: errno)
            }
        } catch {
            failure = error
        }
        if close(descriptor) != 0, failure == nil {
            failure = .identityFileIO(path: path, operation: "close", errno: errno)
        }
        if let failure {
            // We created the file (O_EXCL), so removing the partial file removes nothing of anyone else's.
            _ = unlink(path)
            throw failure
        }
        syncParentDirectory(of: path)
    }

    /// Reads the signing key from the identity file at `path`.
    ///
    /// - Throws: `CryptoError.identityFileMissing` if there is no file;
    ///   `CryptoError.identityFileTooOpen` if group or others have any permission on it;
    ///   `CryptoError.identityFileMalformed` if it is not a version-1 identity (bad header, bad or short
    ///   seed, a public key line that is invalid or does not match the seed, extra lines, too large);
    ///   `CryptoError.identityFileIO` if a system call fails.
    public static func load(from path: String) throws(CryptoError) -> SigningKey {
        let descriptor = path.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK) }
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { throw .identityFileMissing(path) }
            throw .identityFileIO(path: path, operation: "open", errno: code)
        }
        // O_NONBLOCK: a FIFO at the path must not hang the node; it is refused as not a regular file below.
        defer { _ = close(descriptor) }

        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw .identityFileIO(path: path, operation: "fstat", errno: errno)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .identityFileMalformed(path, "it is not a regular file")
        }
        let mode = UInt32(info.st_mode & 0o7777)
        guard mode & 0o077 == 0 else {
            throw .identityFileTooOpen(path: path, mode: mode)
        }

        let buffer = SecretBytes(count: maximumSize + 1)
        return try buffer.withUnsafeMutableBytes { (bytes) throws(CryptoError) -> SigningKey in
            let length = try readAll(descriptor, into: bytes, path: path)
            guard length <= maximumSize else {
                throw .identityFileMalformed(path, "it is larger than \(maximumSize) bytes")
            }
            return try parse(UnsafeRawBufferPointer(rebasing: bytes[..<length]), path: path)
        }
    }

    /// Loads the identity at `path`, or creates one there if there is no file.
    ///
    /// A file that exists but is malformed or too open is reported, never replaced.
    ///
    /// - Throws: the errors of ``load(from:)`` (except `identityFileMissing`) and ``create(at:)``.
    public static func loadOrCreate(at path: String) throws(CryptoError) -> SigningKey {
        do throws(CryptoError) {
            return try load(from: path)
        } catch .identityFileMissing {
            do throws(CryptoError) {
                return try create(at: path)
            } catch .identityFileExists {
                // Another process created it between our load and create: use theirs.
                return try load(from: path)
            } catch {
                throw error
            }
        } catch {
            throw error
        }
    }

    // MARK: - Format

    /// The file's bytes for `key`, in secret memory.
    static func render(_ key: SigningKey) -> SecretBytes {
        let header = Array(Self.header.utf8)
        let publicLine = Array(key.publicKey.text.utf8)
        let seedLength = SigningKey.seedByteCount
        let total = header.count + 1 + 2 * seedLength + 1 + publicLine.count + 1
        let contents = SecretBytes(count: total)
        let seed = SecretBytes(count: seedLength)
        seed.withUnsafeMutableBytes { seedBytes in
            key.withSeed(seedBytes)
            contents.withUnsafeMutableBytes { out in
                var index = 0
                func put(_ byte: UInt8) {
                    out[index] = byte
                    index += 1
                }
                header.forEach(put)
                put(UInt8(ascii: "\n"))
                for byte in seedBytes {
                    put(Hex.digit(byte >> 4))
                    put(Hex.digit(byte))
                }
                put(UInt8(ascii: "\n"))
                publicLine.forEach(put)
                put(UInt8(ascii: "\n"))
                precondition(index == total, "identity file length miscounted")
            }
        }
        return contents
    }

    /// Parses the contents of a version-1 identity file into its signing key.
    static func parse(_ contents: UnsafeRawBufferPointer, path: String) throws(CryptoError) -> SigningKey {
        // Lines end in "\n"; the final line feed is optional.
        var lines: [Range<Int>] = []
        var start = 0
        for index in 0..<contents.count where contents[index] == UInt8(ascii: "\n") {
            lines.append(start..<index)
            start = index + 1
        }
        if start < contents.count { lines.append(start..<contents.count) }

        let header = Array(Self.header.utf8)
        guard let first = lines.first, contents[first].elementsEqual(header) else {
            throw .identityFileMalformed(path, "the first line is not \"\(Self.header)\"")
        }
        guard lines.count == 3 else {
            throw .identityFileMalformed(path, "it has \(lines.count) lines instead of 3")
        }

        let seedLine = lines[1]
        let seedLength = SigningKey.seedByteCount
        guard seedLine.count == 2 * seedLength else {
            throw .identityFileMalformed(
                path, "the seed line has \(seedLine.count) characters instead of \(2 * seedLength) hex digits")
        }
        let seed = SecretBytes(count: seedLength)
        let key = try seed.withUnsafeMutableBytes { (seedBytes) throws(CryptoError) -> SigningKey in
            for offset in 0..<seedLength {
                let position = seedLine.lowerBound + 2 * offset
                guard let high = Hex.value(of: contents[position]) else {
                    throw .identityFileMalformed(path, "the seed line has a non-hex character at column \(2 * offset + 1)")
                }
                guard let low = Hex.value(of: contents[position + 1]) else {
                    throw .identityFileMalformed(path, "the seed line has a non-hex character at column \(2 * offset + 2)")
                }
                seedBytes[offset] = high << 4 | low
            }
            return try SigningKey(seedBuffer: UnsafeRawBufferPointer(seedBytes))
        }

        let publicText = String(decoding: contents[lines[2]], as: UTF8.self)
        let stated: PublicKey
        do throws(CryptoError) {
            stated = try PublicKey(text: publicText)
        } catch {
            if case .invalidPublicKeyText(let reason) = error {
                throw .identityFileMalformed(path, "the public key line is invalid (\(reason))")
            }
            throw error
        }
        guard stated == key.publicKey else {
            throw .identityFileMalformed(path, "the public key line does not match the seed")
        }
        return key
    }

    // MARK: - System calls

    /// Writes all of `bytes`, retrying short writes and interruptions.
    private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(CryptoError) {
        guard let base = bytes.baseAddress else { return }
        var written = 0
        while written < bytes.count {
            #if canImport(Glibc)
            let result = Glibc.write(descriptor, base + written, bytes.count - written)
            #else
            let result = Darwin.write(descriptor, base + written, bytes.count - written)
            #endif
            if result < 0 {
                if errno == EINTR { continue }
                throw .identityFileIO(path: path, operation: "write", errno: errno)
            }
            written += result
        }
    }

    /// Reads until end of file or until `buffer` is full; returns the number of bytes read.
    private static func readAll(
        _ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String
    ) throws(CryptoError) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var total = 0
        while total < buffer.count {
            let result = read(descriptor, base + total, buffer.count - total)
            if result < 0 {
                if errno == EINTR { continue }
                throw .identityFileIO(path: path, operation: "read", errno: errno)
            }
            if result == 0 { break }
            total += result
        }
        return total
    }

    /// Flushes the directory entry of a newly created file, so the file survives a crash. Best effort:
    /// some file systems refuse `fsync` on a directory, and the file itself is already on disk.
    private static func syncParentDirectory(of path: String) {
        let directory: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        let descriptor = directory.withCString { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        _ = close(descriptor)
    }
}
