private import CSodium

// SAFETY: @unchecked Sendable because the class is immutable after init: `secretKey` points to memory
// written once in init, made read-only with sodium_mprotect_readonly, only read afterwards (libsodium's
// signing functions are thread-safe), and released with sodium_free — which wipes it — in deinit, when
// no other reference can exist.
/// An Ed25519 signing key (the secret half of a replica's identity) and its public key.
///
/// The 64-byte secret key lives in `sodium_malloc` memory: guard pages on both sides, locked out of
/// swap where the system allows it, read-only after creation, and wiped by `sodium_free` when the key
/// is released. Copy secret bytes out (``seedBytes()``) only to write the identity file.
public final class SigningKey: @unchecked Sendable {
    /// The number of bytes in a seed (`crypto_sign_SEEDBYTES`).
    public static let seedByteCount = 32

    /// The public key, shared with everyone.
    public let publicKey: PublicKey

    /// `crypto_sign_SECRETKEYBYTES` (64) bytes of `sodium_malloc` memory: seed ‖ public key.
    private let secretKey: UnsafeMutableRawPointer

    /// Allocates secret memory, lets `fill` write the key pair into it, and seals it read-only.
    ///
    /// `fill` receives a public-key buffer of `crypto_sign_PUBLICKEYBYTES` and a secret-key buffer of
    /// `crypto_sign_SECRETKEYBYTES` and returns libsodium's status (0 for success).
    private init(fill: (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt8>) -> Int32) {
        requireSodium()
        precondition(SodiumSize.publicKey == PublicKey.byteCount && SodiumSize.seed == Self.seedByteCount
            && SodiumSize.secretKey == Self.seedByteCount + PublicKey.byteCount,
            "linked libsodium has unexpected Ed25519 sizes")
        // Out of memory for a 64-byte allocation is not a recoverable condition (as for any allocation).
        guard let secret = sodium_malloc(SodiumSize.secretKey) else {
            preconditionFailure("sodium_malloc failed to allocate a secret key")
        }
        var publicBytes = [UInt8](repeating: 0, count: SodiumSize.publicKey)
        let status = publicBytes.withUnsafeMutableBufferPointer { publicBuffer -> Int32 in
            guard let publicBase = publicBuffer.baseAddress, publicBuffer.count == SodiumSize.publicKey else {
                return -1
            }
            let secretBase = secret.bindMemory(to: UInt8.self, capacity: SodiumSize.secretKey)
            return fill(publicBase, secretBase)
        }
        // crypto_sign_keypair / crypto_sign_seed_keypair cannot fail for well-sized buffers.
        precondition(status == 0, "Ed25519 key generation failed")
        _ = sodium_mprotect_readonly(secret)
        guard let key = PublicKey(bytes: publicBytes) else {
            preconditionFailure("libsodium returned a public key of the wrong size")
        }
        self.secretKey = secret
        self.publicKey = key
    }

    deinit {
        // sodium_free makes the pages writable again, zeroes them, and unmaps them.
        sodium_free(secretKey)
    }

    /// A new key from the operating system's random source (`crypto_sign_keypair`).
    public static func generate() -> SigningKey {
        SigningKey { publicKey, secretKey in crypto_sign_keypair(publicKey, secretKey) }
    }

    /// The key derived deterministically from a 32-byte seed (`crypto_sign_seed_keypair`).
    ///
    /// The same seed gives the same key on every run and machine: tests and fixtures use fixed seeds,
    /// the identity file stores the seed. The caller still owns `seed` and should wipe it.
    ///
    /// - Throws: `CryptoError.invalidSeedLength` unless `seed` has exactly 32 bytes.
    public convenience init(seed: [UInt8]) throws(CryptoError) {
        guard seed.count == Self.seedByteCount, seed.count == SodiumSize.seed else {
            throw .invalidSeedLength(seed.count)
        }
        self.init { publicKey, secretKey in
            seed.withUnsafeBytes { raw in
                withNonNullBytes(raw) { seedBase, _ in crypto_sign_seed_keypair(publicKey, secretKey, seedBase) }
            }
        }
    }

    /// The key derived from the 32 bytes at `seedBuffer`, without copying them into Swift-managed memory.
    ///
    /// - Throws: `CryptoError.invalidSeedLength` unless `seedBuffer` has exactly 32 bytes.
    convenience init(seedBuffer: UnsafeRawBufferPointer) throws(CryptoError) {
        guard seedBuffer.count == Self.seedByteCount, seedBuffer.count == SodiumSize.seed else {
            throw .invalidSeedLength(seedBuffer.count)
        }
        self.init { publicKey, secretKey in
            withNonNullBytes(seedBuffer) { seedBase, _ in crypto_sign_seed_keypair(publicKey, secretKey, seedBase) }
        }
    }

    /// Signs `message` (`crypto_sign_detached`, deterministic: the same key and message always give the
    /// same signature).
    ///
    /// - Complexity: O(n) in the length of `message`, plus one signature.
    public func sign(_ message: [UInt8]) -> Signature {
        message.withUnsafeBytes { sign($0) }
    }

    /// Signs `message`, a slice of a larger buffer (not copied).
    ///
    /// - Complexity: O(n) in the length of `message`, plus one signature.
    public func sign(_ message: ArraySlice<UInt8>) -> Signature {
        message.withUnsafeBytes { sign($0) }
    }

    /// Signs the bytes in `message` (not copied).
    ///
    /// - Complexity: O(n) in the length of `message`, plus one signature.
    public func sign(_ message: UnsafeRawBufferPointer) -> Signature {
        var signature = [UInt8](repeating: 0, count: SodiumSize.signature)
        let status = signature.withUnsafeMutableBufferPointer { output -> Int32 in
            guard let out = output.baseAddress, output.count == SodiumSize.signature else { return -1 }
            let secretBase = UnsafePointer(secretKey.assumingMemoryBound(to: UInt8.self))
            return withNonNullBytes(message) { messageBase, count in
                crypto_sign_detached(out, nil, messageBase, UInt64(count), secretBase)
            }
        }
        precondition(status == 0, "Ed25519 signing failed")
        guard let result = Signature(bytes: signature) else {
            preconditionFailure("libsodium returned a signature of the wrong size")
        }
        return result
    }

    /// A copy of the 32-byte seed (`crypto_sign_ed25519_sk_to_seed`), only for writing the identity file.
    ///
    /// The caller owns the copy and should overwrite it as soon as it is written out.
    public func seedBytes() -> [UInt8] {
        var seed = [UInt8](repeating: 0, count: SodiumSize.seed)
        seed.withUnsafeMutableBytes { withSeed($0) }
        return seed
    }

    /// Writes the seed into `output`, which must have room for exactly 32 bytes.
    func withSeed(_ output: UnsafeMutableRawBufferPointer) {
        precondition(output.count == SodiumSize.seed, "seed buffer must hold crypto_sign_SEEDBYTES")
        guard let out = output.baseAddress else { return }
        let status = crypto_sign_ed25519_sk_to_seed(
            out.assumingMemoryBound(to: UInt8.self),
            UnsafePointer(secretKey.assumingMemoryBound(to: UInt8.self)))
        precondition(status == 0, "crypto_sign_ed25519_sk_to_seed failed")
    }
}

extension SigningKey: CustomStringConvertible {
    /// Names the public key only; the secret never appears in logs.
    public var description: String { "SigningKey(\(publicKey.text))" }
}
