import ChatCore
private import CSodium

/// The cryptography of short invite codes (see ``InviteCode``): a code carries a 10-byte secret;
/// the conversation's log keeps only the secret's lookup hash and the link's token sealed under a
/// key derived from the secret, so members can hand the sealed token to whoever asks with the
/// lookup, and only the holder of the code can open it.
public enum InviteCodeCrypto {
    /// The secret's length in bytes (80 bits: 16 base32 characters).
    public static let secretBytes = 10
    /// The lookup hash's length.
    public static let lookupBytes = 32
    /// What sealing adds to the token: a 24-byte nonce and a 16-byte tag.
    public static var sealOverhead: Int { Int(crypto_secretbox_noncebytes()) + Int(crypto_secretbox_macbytes()) }

    /// A fresh secret from the system's generator.
    public static func newSecret() -> [UInt8] {
        requireSodium()
        var secret = [UInt8](repeating: 0, count: secretBytes)
        secret.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) } // 10 bytes: never empty
        return secret
    }

    /// The secret as it appears in a code: 16 lower-case base32 characters (no padding, no
    /// characters a shell, a wrapped line or a chat app would change).
    public static func text(of secret: [UInt8]) -> String { Base32.encode(secret) }

    /// The secret a code's text names (either case), or nil.
    public static func secret(fromText text: some StringProtocol) -> [UInt8]? {
        guard case .success(let secret) = Base32.decode(Array(text.lowercased().utf8)[...], byteCount: secretBytes) else { return nil }
        return secret
    }

    /// The hash a node looks a code up by (recorded in the link's record).
    public static func lookup(of secret: [UInt8]) -> [UInt8] {
        Hashing.blake2b(Array("streamingchat invite code lookup".utf8) + secret)
    }

    /// The key the token is sealed under.
    private static func key(of secret: [UInt8]) -> [UInt8] {
        Hashing.blake2b(Array("streamingchat invite code key".utf8) + secret)
    }

    /// Seals `token` under the secret's key: nonce ‖ XSalsa20-Poly1305 box.
    /// - Complexity: O(token).
    public static func seal(_ token: [UInt8], secret: [UInt8]) -> [UInt8] {
        requireSodium()
        let nonceBytes = Int(crypto_secretbox_noncebytes())
        var nonce = [UInt8](repeating: 0, count: nonceBytes)
        nonce.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) } // 24 bytes: never empty
        let key = key(of: secret)
        var box = [UInt8](repeating: 0, count: token.count + Int(crypto_secretbox_macbytes()))
        token.withUnsafeBytes { message in
            withNonNullBytes(message) { base, count in
                _ = crypto_secretbox_easy(&box, base, UInt64(count), nonce, key)
            }
        }
        return nonce + box
    }

    /// Opens a sealed token with the code's secret; nil when it was not sealed under it (or was
    /// changed).
    public static func open(_ sealed: [UInt8], secret: [UInt8]) -> [UInt8]? {
        requireSodium()
        let nonceBytes = Int(crypto_secretbox_noncebytes())
        let tag = Int(crypto_secretbox_macbytes())
        guard sealed.count > nonceBytes + tag else { return nil }
        let nonce = Array(sealed.prefix(nonceBytes))
        let box = Array(sealed.dropFirst(nonceBytes))
        var token = [UInt8](repeating: 0, count: box.count - tag)
        let key = key(of: secret)
        let status = token.withUnsafeMutableBytes { output in
            // Not empty: the guard above leaves at least one byte of token.
            crypto_secretbox_open_easy(output.baseAddress!.assumingMemoryBound(to: UInt8.self), box, UInt64(box.count), nonce, key)
        }
        return status == 0 ? token : nil
    }
}
