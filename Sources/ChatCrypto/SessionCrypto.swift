private import CSodium
import Synchronization

/// Why a session key exchange or an encrypted frame was refused. Stable ``code``s for counters and logs.
///
/// Kept apart from ``CryptoError`` (key material and identity files) because every case here is caused
/// by bytes from a peer and ends the session, never the process.
public enum SessionCryptoError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A key-exchange seed, public key or stream header had the wrong length; carries the field and length.
    case invalidLength(field: String, length: Int)
    /// The peer's ephemeral public key is not usable for X25519 (e.g. a small-order point).
    case invalidPeerKey
    /// A sealed frame failed authentication: tampered, reordered, replayed, truncated or under another key.
    case authenticationFailed
    /// The stream was finished (a final frame was sealed or opened) or broken by an earlier failure.
    case streamClosed

    /// A stable, machine-readable name for the case; never changes between releases.
    public var code: String {
        switch self {
        case .invalidLength: "session-crypto.invalid-length"
        case .invalidPeerKey: "session-crypto.invalid-peer-key"
        case .authenticationFailed: "session-crypto.authentication-failed"
        case .streamClosed: "session-crypto.stream-closed"
        }
    }

    /// One sentence saying what went wrong.
    public var description: String {
        switch self {
        case .invalidLength(let field, let length): "The \(field) has \(length) bytes, which is not its fixed size."
        case .invalidPeerKey: "The peer's ephemeral key cannot be used for a key exchange."
        case .authenticationFailed: "A sealed frame failed authentication (tampered, reordered, replayed or truncated)."
        case .streamClosed: "The encrypted stream is finished or broken; no further frames are accepted."
        }
    }
}

/// The sizes of `crypto_kx_*` and `crypto_secretstream_xchacha20poly1305_*`, read from the linked library.
enum SessionSize {
    /// `crypto_kx_PUBLICKEYBYTES` (32).
    static let kxPublicKey = Int(crypto_kx_publickeybytes())
    /// `crypto_kx_SECRETKEYBYTES` (32).
    static let kxSecretKey = Int(crypto_kx_secretkeybytes())
    /// `crypto_kx_SEEDBYTES` (32).
    static let kxSeed = Int(crypto_kx_seedbytes())
    /// `crypto_kx_SESSIONKEYBYTES` (32).
    static let kxSessionKey = Int(crypto_kx_sessionkeybytes())
    /// `crypto_secretstream_xchacha20poly1305_KEYBYTES` (32).
    static let streamKey = Int(crypto_secretstream_xchacha20poly1305_keybytes())
    /// `crypto_secretstream_xchacha20poly1305_HEADERBYTES` (24).
    static let streamHeader = Int(crypto_secretstream_xchacha20poly1305_headerbytes())
    /// `crypto_secretstream_xchacha20poly1305_ABYTES` (17).
    static let streamOverhead = Int(crypto_secretstream_xchacha20poly1305_abytes())
    /// `crypto_secretstream_xchacha20poly1305_statebytes()`.
    static let streamState = Int(crypto_secretstream_xchacha20poly1305_statebytes())
}

/// Allocates `count` bytes of `sodium_malloc` memory, zeroed. Out of memory for a small allocation is
/// not recoverable, as for any allocation.
private func secretAllocation(_ count: Int) -> UnsafeMutableRawPointer {
    requireSodium()
    guard let base = sodium_malloc(count) else { preconditionFailure("sodium_malloc failed") }
    sodium_memzero(base, count)
    return base
}

// SAFETY: @unchecked Sendable because the class is immutable after init: `secretKey` points to
// `sodium_malloc` memory written once in init, made read-only, only read afterwards, and released with
// `sodium_free` (which wipes it) in deinit, when no other reference can exist.
/// An ephemeral X25519 key pair for one session's key exchange (`crypto_kx_*`).
///
/// Made fresh for every connection and dropped once the session keys are derived, so a later theft of
/// the long-term Ed25519 identity does not reveal recorded sessions (forward secrecy).
public final class SessionKeyPair: @unchecked Sendable {
    /// The number of bytes in a seed and in a public key (32).
    public static let byteCount = 32

    /// The public half, sent in the hello.
    public let publicKey: [UInt8]
    /// `crypto_kx_SECRETKEYBYTES` of `sodium_malloc` memory.
    private let secretKey: UnsafeMutableRawPointer

    private init(fill: (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt8>) -> Int32) {
        precondition(SessionSize.kxPublicKey == Self.byteCount && SessionSize.kxSeed == Self.byteCount
            && SessionSize.kxSecretKey == Self.byteCount, "linked libsodium has unexpected crypto_kx sizes")
        let secret = secretAllocation(SessionSize.kxSecretKey)
        var publicBytes = [UInt8](repeating: 0, count: SessionSize.kxPublicKey)
        let status = publicBytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress, buffer.count == SessionSize.kxPublicKey else { return -1 }
            return fill(base, secret.bindMemory(to: UInt8.self, capacity: SessionSize.kxSecretKey))
        }
        precondition(status == 0, "X25519 key generation failed")
        _ = sodium_mprotect_readonly(secret)
        self.secretKey = secret
        self.publicKey = publicBytes
    }

    deinit {
        sodium_free(secretKey)
    }

    /// A key pair from the operating system's random source (`crypto_kx_keypair`).
    public static func generate() -> SessionKeyPair {
        SessionKeyPair { publicKey, secretKey in crypto_kx_keypair(publicKey, secretKey) }
    }

    /// The key pair derived from 32 seed bytes (`crypto_kx_seed_keypair`): tests and simulations draw the
    /// seed from a seeded generator so that runs repeat exactly.
    ///
    /// - Throws: `SessionCryptoError.invalidLength` unless `seed` has exactly 32 bytes.
    public convenience init(seed: [UInt8]) throws(SessionCryptoError) {
        guard seed.count == Self.byteCount else { throw .invalidLength(field: "key-exchange seed", length: seed.count) }
        self.init { publicKey, secretKey in
            seed.withUnsafeBytes { raw in
                withNonNullBytes(raw) { seedBase, _ in crypto_kx_seed_keypair(publicKey, secretKey, seedBase) }
            }
        }
    }

    /// A key pair whose seed is 32 bytes drawn from `generator`.
    public convenience init(using generator: inout some RandomNumberGenerator) {
        var seed = (0 ..< 4).flatMap { _ in withUnsafeBytes(of: generator.next().littleEndian) { Array($0) } }
        defer { wipe(&seed) }
        precondition(seed.count == Self.byteCount, "four 64-bit words make a 32-byte seed")
        self.init { publicKey, secretKey in
            seed.withUnsafeBytes { raw in
                withNonNullBytes(raw) { seedBase, _ in crypto_kx_seed_keypair(publicKey, secretKey, seedBase) }
            }
        }
    }

    /// Reads the secret key inside `body`.
    fileprivate func withSecretKey<R>(_ body: (UnsafePointer<UInt8>) -> R) -> R {
        body(UnsafePointer(secretKey.assumingMemoryBound(to: UInt8.self)))
    }
}

/// Which end of the key exchange a side plays: the dialer is the client, the listener the server.
public enum KeyExchangeRole: Sendable, Hashable {
    /// The side that opened the connection (`crypto_kx_client_session_keys`).
    case client
    /// The side that accepted it (`crypto_kx_server_session_keys`).
    case server
}

// SAFETY: @unchecked Sendable because the class is immutable after init: `keys` points to `sodium_malloc`
// memory (receive key ‖ transmit key) written once in init, made read-only, only read afterwards, and
// released with `sodium_free` (which wipes it) in deinit.
/// The two symmetric keys of a session, one per direction, from an X25519 exchange (`crypto_kx_*`).
///
/// The client's transmit key is the server's receive key and vice versa.
public final class SessionKeys: @unchecked Sendable {
    /// receive key (32) ‖ transmit key (32), in `sodium_malloc` memory.
    private let keys: UnsafeMutableRawPointer

    /// Derives the session keys from our ephemeral pair and the peer's ephemeral public key.
    ///
    /// - Throws: `SessionCryptoError.invalidLength` for a peer key that is not 32 bytes,
    ///   `.invalidPeerKey` for one libsodium refuses.
    public init(role: KeyExchangeRole, own: SessionKeyPair, peerPublicKey: [UInt8]) throws(SessionCryptoError) {
        guard peerPublicKey.count == SessionSize.kxPublicKey else {
            throw .invalidLength(field: "peer ephemeral key", length: peerPublicKey.count)
        }
        precondition(SessionSize.kxSessionKey == SessionSize.streamKey, "crypto_kx keys do not fit secretstream")
        let size = SessionSize.kxSessionKey
        let keys = secretAllocation(2 * size)
        let receive = keys.bindMemory(to: UInt8.self, capacity: 2 * size)
        let transmit = receive + size
        let status = own.withSecretKey { secret in
            own.publicKey.withUnsafeBufferPointer { ownPublic in
                peerPublicKey.withUnsafeBufferPointer { peerPublic -> Int32 in
                    guard let ownBase = ownPublic.baseAddress, let peerBase = peerPublic.baseAddress else { return -1 }
                    switch role {
                    case .client: return crypto_kx_client_session_keys(receive, transmit, ownBase, secret, peerBase)
                    case .server: return crypto_kx_server_session_keys(receive, transmit, ownBase, secret, peerBase)
                    }
                }
            }
        }
        guard status == 0 else {
            sodium_free(keys)
            throw .invalidPeerKey
        }
        _ = sodium_mprotect_readonly(keys)
        self.keys = keys
    }

    deinit {
        sodium_free(keys)
    }

    /// A sealer for frames we send, under the transmit key, with a fresh random stream header.
    public func makeSealer() -> FrameSealer {
        FrameSealer(key: UnsafePointer(keys.assumingMemoryBound(to: UInt8.self) + SessionSize.kxSessionKey))
    }

    /// An opener for frames the peer sends, under the receive key, from the peer's stream header.
    ///
    /// - Throws: `SessionCryptoError.invalidLength` unless `header` has ``FrameSealer/headerByteCount`` bytes.
    public func makeOpener(header: [UInt8]) throws(SessionCryptoError) -> FrameOpener {
        guard header.count == FrameSealer.headerByteCount, header.count == SessionSize.streamHeader else {
            throw .invalidLength(field: "stream header", length: header.count)
        }
        return try FrameOpener(key: UnsafePointer(keys.assumingMemoryBound(to: UInt8.self)), header: header)
    }
}

// SAFETY: @unchecked Sendable because the mutable stream state (`state`, `sodium_malloc` memory holding
// the current key and nonce) is read and written only inside `lock.withLock`, and released with
// `sodium_free` (which wipes it) in deinit, when no other reference can exist.
/// Encrypts and authenticates the frames of one direction of a session
/// (`crypto_secretstream_xchacha20poly1305_push`).
///
/// Each sealed frame advances the stream's nonce, so the peer's ``FrameOpener`` accepts frames only once
/// and only in order. The ``header`` is sent to the peer once, before the first sealed frame.
public final class FrameSealer: @unchecked Sendable {
    /// The number of bytes in a stream header (24).
    public static let headerByteCount = 24
    /// The bytes a sealed frame adds to its plaintext (17).
    public static let overhead = 17

    /// The stream header the peer needs to open our frames.
    public let header: [UInt8]
    /// `crypto_secretstream_xchacha20poly1305_state` in `sodium_malloc` memory.
    private let state: UnsafeMutableRawPointer
    /// Serialises access to `state`; holds whether the stream is finished.
    private let lock = Mutex(false)

    fileprivate init(key: UnsafePointer<UInt8>) {
        precondition(SessionSize.streamHeader == Self.headerByteCount && SessionSize.streamOverhead == Self.overhead,
                     "linked libsodium has unexpected secretstream sizes")
        let state = secretAllocation(SessionSize.streamState)
        var header = [UInt8](repeating: 0, count: SessionSize.streamHeader)
        let status = header.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress, buffer.count == SessionSize.streamHeader else { return -1 }
            return crypto_secretstream_xchacha20poly1305_init_push(
                state.bindMemory(to: crypto_secretstream_xchacha20poly1305_state.self, capacity: 1), base, key)
        }
        precondition(status == 0, "crypto_secretstream init_push failed")
        self.state = state
        self.header = header
    }

    deinit {
        sodium_free(state)
    }

    /// Seals `plaintext`; `final` marks the last frame of the stream (the opener then refuses more).
    ///
    /// - Throws: `SessionCryptoError.streamClosed` after a final frame.
    /// - Complexity: O(n) in the length of `plaintext`.
    public func seal(_ plaintext: [UInt8], final: Bool = false) throws(SessionCryptoError) -> [UInt8] {
        let sealed: [UInt8]? = lock.withLock { finished in
            guard !finished else { return nil }
            var output = [UInt8](repeating: 0, count: plaintext.count + SessionSize.streamOverhead)
            let tag = final ? crypto_secretstream_xchacha20poly1305_tag_final()
                : crypto_secretstream_xchacha20poly1305_tag_message()
            let status = output.withUnsafeMutableBufferPointer { out -> Int32 in
                guard let outBase = out.baseAddress, out.count == plaintext.count + SessionSize.streamOverhead else {
                    return -1
                }
                return plaintext.withUnsafeBytes { raw in
                    withNonNullBytes(raw) { base, count in
                        crypto_secretstream_xchacha20poly1305_push(
                            state.assumingMemoryBound(to: crypto_secretstream_xchacha20poly1305_state.self),
                            outBase, nil, base, UInt64(count), nil, 0, tag)
                    }
                }
            }
            precondition(status == 0, "crypto_secretstream push failed")
            if final { finished = true }
            return output
        }
        guard let sealed else { throw .streamClosed }
        return sealed
    }
}

// SAFETY: @unchecked Sendable because the mutable stream state (`state`, `sodium_malloc` memory holding
// the current key and nonce) is read and written only inside `lock.withLock`, and released with
// `sodium_free` (which wipes it) in deinit, when no other reference can exist.
/// Checks and decrypts the frames of one direction of a session
/// (`crypto_secretstream_xchacha20poly1305_pull`).
///
/// A frame that was tampered with, reordered, replayed, cut short or sealed under another key fails with
/// `SessionCryptoError.authenticationFailed`; after any failure, or after the final frame, the opener
/// refuses everything (`.streamClosed`): a session with a bad frame is over.
public final class FrameOpener: @unchecked Sendable {
    /// `crypto_secretstream_xchacha20poly1305_state` in `sodium_malloc` memory.
    private let state: UnsafeMutableRawPointer
    /// Serialises access to `state`; holds whether the stream is finished or broken.
    private let lock = Mutex(false)

    fileprivate init(key: UnsafePointer<UInt8>, header: [UInt8]) throws(SessionCryptoError) {
        let state = secretAllocation(SessionSize.streamState)
        let status = header.withUnsafeBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress, buffer.count == SessionSize.streamHeader else { return -1 }
            return crypto_secretstream_xchacha20poly1305_init_pull(
                state.bindMemory(to: crypto_secretstream_xchacha20poly1305_state.self, capacity: 1), base, key)
        }
        guard status == 0 else {
            sodium_free(state)
            throw .invalidLength(field: "stream header", length: header.count)
        }
        self.state = state
    }

    deinit {
        sodium_free(state)
    }

    /// Whether the final frame has been opened or a frame failed (no further frame will open).
    public var isClosed: Bool { lock.withLock { $0 } }

    /// Checks and decrypts one sealed frame; returns the plaintext and whether it was the final frame.
    ///
    /// - Throws: `SessionCryptoError.authenticationFailed` for a bad frame, `.streamClosed` after the
    ///   final frame or an earlier failure.
    /// - Complexity: O(n) in the length of `sealed`.
    public func open(_ sealed: [UInt8]) throws(SessionCryptoError) -> (plaintext: [UInt8], isFinal: Bool) {
        let result: Result<([UInt8], Bool), SessionCryptoError> = lock.withLock { closed in
            guard !closed else { return .failure(.streamClosed) }
            guard sealed.count >= SessionSize.streamOverhead else {
                closed = true
                return .failure(.authenticationFailed)
            }
            var output = [UInt8](repeating: 0, count: sealed.count - SessionSize.streamOverhead)
            var tag: UInt8 = 0
            let status = output.withUnsafeMutableBytes { outRaw -> Int32 in
                // A one-byte stand-in when the plaintext is empty: libsodium writes nothing then.
                var standIn: UInt8 = 0
                let outBase = outRaw.baseAddress?.assumingMemoryBound(to: UInt8.self)
                return withUnsafeMutablePointer(to: &standIn) { standInPointer in
                    sealed.withUnsafeBytes { raw in
                        withNonNullBytes(raw) { base, count in
                            crypto_secretstream_xchacha20poly1305_pull(
                                state.assumingMemoryBound(to: crypto_secretstream_xchacha20poly1305_state.self),
                                outBase ?? standInPointer, nil, &tag, base, UInt64(count), nil, 0)
                        }
                    }
                }
            }
            guard status == 0 else {
                closed = true
                return .failure(.authenticationFailed)
            }
            let isFinal = tag == crypto_secretstream_xchacha20poly1305_tag_final()
            if isFinal { closed = true }
            return .success((output, isFinal))
        }
        switch result {
        case .success(let (plaintext, isFinal)): return (plaintext, isFinal)
        case .failure(let error): throw error
        }
    }
}
