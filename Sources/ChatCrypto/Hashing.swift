private import CSodium

/// libsodium, initialised once per process (thread-safe: a global `let` is initialised lazily
/// and exactly once).
let sodiumReady: Bool = sodium_init() >= 0

/// Cryptographic hashes over libsodium.
public enum Hashing {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        precondition(sodiumReady, "libsodium failed to initialise") // SAFETY: process-level setup, not input
        var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_bytes()))
        bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                // An empty input's baseAddress may be nil; libsodium reads nothing when length is 0.
                let empty: UInt8 = 0
                guard let out = output.baseAddress else { return }
                withUnsafePointer(to: empty) { fallback in
                    _ = crypto_hash_sha256(out, input.baseAddress ?? fallback, UInt64(input.count))
                }
            }
        }
        return digest
    }

    /// BLAKE2b of `bytes` with an output of `length` bytes (16 ... 64, default 32).
    public static func blake2b(_ bytes: [UInt8], length: Int = 32) -> [UInt8] {
        precondition(sodiumReady, "libsodium failed to initialise") // SAFETY: process-level setup, not input
        let length = min(max(length, Int(crypto_generichash_bytes_min())), Int(crypto_generichash_bytes_max()))
        var digest = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                let empty: UInt8 = 0
                guard let out = output.baseAddress else { return }
                withUnsafePointer(to: empty) { fallback in
                    _ = crypto_generichash(out, output.count, input.baseAddress ?? fallback,
                                           UInt64(input.count), nil, 0)
                }
            }
        }
        return digest
    }

    /// Lower-case hex.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
