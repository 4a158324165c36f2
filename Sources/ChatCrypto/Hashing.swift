import ChatCore
private import CSodium

/// Cryptographic hashes over libsodium.
public enum Hashing {
    /// SHA-256 of `bytes` (32 bytes).
    ///
    /// - Complexity: O(n) in the length of `bytes`.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        requireSodium()
        let size = Int(crypto_hash_sha256_bytes())
        var digest = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeBytes { input in
            digest.withUnsafeMutableBufferPointer { output in
                guard let out = output.baseAddress, output.count == size else { return }
                withNonNullBytes(input) { base, count in
                    _ = crypto_hash_sha256(out, base, UInt64(count))
                }
            }
        }
        return digest
    }

    /// BLAKE2b of `bytes` with an output of `length` bytes (16 ... 64, default 32; other lengths are
    /// clamped into that range).
    ///
    /// - Complexity: O(n) in the length of `bytes`.
    public static func blake2b(_ bytes: [UInt8], length: Int = 32) -> [UInt8] {
        requireSodium()
        let length = min(max(length, Int(crypto_generichash_bytes_min())), Int(crypto_generichash_bytes_max()))
        var digest = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeBytes { input in
            digest.withUnsafeMutableBufferPointer { output in
                guard let out = output.baseAddress, output.count == length else { return }
                withNonNullBytes(input) { base, count in
                    _ = crypto_generichash(out, output.count, base, UInt64(count), nil, 0)
                }
            }
        }
        return digest
    }

    /// Lower-case hex.
    ///
    /// - Complexity: O(n) in the length of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
}
