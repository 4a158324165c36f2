private import CSodium

/// libsodium, initialised once per process (thread-safe: a global `let` is initialised lazily
/// and exactly once).
let sodiumReady: Bool = sodium_init() >= 0

/// Traps unless libsodium initialised. A failure here is a broken process environment (no entropy
/// source), never bad input, so it is not a thrown error.
@inline(__always)
func requireSodium() {
    precondition(sodiumReady, "libsodium failed to initialise")
}

/// The Ed25519 and BLAKE2b sizes as libsodium reports them, read once.
///
/// Every unsafe call checks its buffers against these, so a mismatch between the constants this module
/// publishes and the linked library is caught before any C code reads or writes out of bounds.
enum SodiumSize {
    /// `crypto_sign_PUBLICKEYBYTES` (32).
    static let publicKey = Int(crypto_sign_publickeybytes())
    /// `crypto_sign_SECRETKEYBYTES` (64: seed ‖ public key).
    static let secretKey = Int(crypto_sign_secretkeybytes())
    /// `crypto_sign_SEEDBYTES` (32).
    static let seed = Int(crypto_sign_seedbytes())
    /// `crypto_sign_BYTES` (64).
    static let signature = Int(crypto_sign_bytes())
}

/// Calls `body` with a pointer to `bytes` that is never nil, and their count.
///
/// libsodium declares most pointers non-null even when the length is zero, and an empty buffer's
/// `baseAddress` is nil; a one-byte stand-in is passed then (libsodium reads nothing at length 0).
@inline(__always)
func withNonNullBytes<R>(
    _ bytes: UnsafeRawBufferPointer, _ body: (UnsafePointer<UInt8>, Int) throws -> R
) rethrows -> R {
    if bytes.count > 0, bytes.baseAddress != nil {
        return try bytes.withMemoryRebound(to: UInt8.self) { typed in
            // Non-nil: checked just above, rebinding keeps the address.
            guard let base = typed.baseAddress else { preconditionFailure("rebound buffer lost its address") }
            return try body(base, typed.count)
        }
    }
    let standIn: UInt8 = 0
    return try withUnsafePointer(to: standIn) { try body($0, 0) }
}

/// Overwrites `bytes` with zeros in a way the compiler cannot elide (`sodium_memzero`).
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        guard let base = raw.baseAddress, raw.count > 0 else { return }
        sodium_memzero(base, raw.count)
    }
}

/// Overwrites the memory at `raw` with zeros in a way the compiler cannot elide (`sodium_memzero`).
func wipe(_ raw: UnsafeMutableRawBufferPointer) {
    guard let base = raw.baseAddress, raw.count > 0 else { return }
    sodium_memzero(base, raw.count)
}

/// A fixed-size buffer for secret bytes in `sodium_malloc` memory (guard pages, locked when the system
/// allows), wiped and freed by `sodium_free` when it goes out of scope. Used for transient copies of
/// secrets, such as the identity file's contents, that must not linger in the Swift heap.
struct SecretBytes: ~Copyable {
    /// The number of bytes.
    let count: Int
    /// The `sodium_malloc` allocation of `count` bytes.
    private let base: UnsafeMutableRawPointer

    /// Allocates `count` zeroed bytes (`count` > 0).
    init(count: Int) {
        requireSodium()
        precondition(count > 0, "SecretBytes needs at least one byte")
        // Out of memory for a small allocation is not recoverable, as for any allocation.
        guard let base = sodium_malloc(count) else { preconditionFailure("sodium_malloc failed") }
        sodium_memzero(base, count)
        self.base = base
        self.count = count
    }

    deinit {
        // sodium_free zeroes the memory before releasing it.
        sodium_free(base)
    }

    /// Calls `body` with the bytes, writable.
    func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }
}
