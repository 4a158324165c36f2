private import CSodium

extension Hashing {
    /// The shortest key keyed BLAKE2b accepts (`crypto_generichash_KEYBYTES_MIN`, 16).
    public static var blake2bMinimumKeyLength: Int { Int(crypto_generichash_keybytes_min()) }
    /// The longest key keyed BLAKE2b accepts (`crypto_generichash_KEYBYTES_MAX`, 64).
    public static var blake2bMaximumKeyLength: Int { Int(crypto_generichash_keybytes_max()) }

    /// Keyed BLAKE2b (a MAC / PRF) of `bytes` under `key`, with an output of `length` bytes
    /// (16 ... 64, default 32; other lengths are clamped into that range).
    ///
    /// Returns nil when the key is shorter than ``blake2bMinimumKeyLength`` or longer than
    /// ``blake2bMaximumKeyLength``: a key of the wrong size is a caller's mistake this function
    /// refuses rather than pads or truncates.
    ///
    /// - Complexity: O(n) in the length of `bytes`.
    public static func blake2b(_ bytes: [UInt8], key: [UInt8], length: Int = 32) -> [UInt8]? {
        requireSodium()
        guard key.count >= blake2bMinimumKeyLength, key.count <= blake2bMaximumKeyLength else { return nil }
        let length = min(max(length, Int(crypto_generichash_bytes_min())), Int(crypto_generichash_bytes_max()))
        var digest = [UInt8](repeating: 0, count: length)
        var status: Int32 = -1
        bytes.withUnsafeBytes { input in
            key.withUnsafeBytes { keyBytes in
                digest.withUnsafeMutableBufferPointer { output in
                    guard let out = output.baseAddress, output.count == length else { return }
                    withNonNullBytes(input) { base, count in
                        withNonNullBytes(keyBytes) { keyBase, keyCount in
                            status = crypto_generichash(out, output.count, base, UInt64(count), keyBase, keyCount)
                        }
                    }
                }
            }
        }
        return status == 0 ? digest : nil
    }
}
