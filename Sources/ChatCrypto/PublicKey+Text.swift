/// The human-readable text form of a public key, for invites, the command line and logs.
///
/// `sc1` followed by the lower-case RFC 4648 base32 (no padding) of the 32 key bytes and a 4-byte
/// checksum, the first 4 bytes of BLAKE2b-256("streamingchat-key-v1" ‖ key): 61 characters, e.g.
/// `sc1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4gz6kk3y`.
///
/// Parsing is strict, so a mistyped key is refused rather than silently naming someone else:
/// - a missing, extra, changed or transposed character changes the length, the base32 bits or the
///   checksum. A change in the checksum characters is always caught; a change in the key characters is
///   caught unless the altered key's checksum happens to match (probability 2⁻³²);
/// - the last character carries 3 data bits and 2 zero bits; non-zero padding bits are refused, so each
///   key has exactly one spelling per case;
/// - all-upper-case text (`SC1…`) is accepted, but mixed case is refused, as in Bech32.
extension PublicKey {
    /// The prefix of every key text: "StreamingChat", format 1.
    public static let textPrefix = "sc1"

    /// The number of characters in a key text: the prefix plus 58 base32 characters.
    public static let textLength = 61

    /// Domain separation for the checksum hash.
    static let checksumDomain = Array("streamingchat-key-v1".utf8)

    /// The number of checksum bytes appended to the key before encoding.
    static let checksumByteCount = 4

    /// The key as `sc1` + base32(key ‖ checksum), lower case.
    ///
    /// - Complexity: O(1) (one BLAKE2b of 52 bytes).
    public var text: String {
        let key = bytes
        let payload = key + Self.checksum(of: key)
        return Self.textPrefix + Base32.encode(payload)
    }

    /// Parses a key from its text form, upper or lower case (not mixed).
    ///
    /// - Throws: `CryptoError.invalidPublicKeyText` with the reason: wrong prefix or length, a character
    ///   outside the base32 alphabet, mixed case, non-zero padding bits or a checksum mismatch.
    /// - Complexity: O(n) in the length of `text`.
    public init(text: String) throws(CryptoError) {
        var characters = Array(text.utf8)
        if let index = characters.firstIndex(where: { $0 >= 0x80 }) {
            throw .invalidPublicKeyText("non-ASCII character at byte \(index)")
        }
        let hasLower = characters.contains { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
        let hasUpper = characters.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
        if hasLower && hasUpper {
            throw .invalidPublicKeyText("mixes upper- and lower-case letters")
        }
        if hasUpper {
            characters = characters.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 }
        }
        let prefix = Array(Self.textPrefix.utf8)
        guard characters.starts(with: prefix) else {
            throw .invalidPublicKeyText("does not start with \"\(Self.textPrefix)\"")
        }
        guard characters.count == Self.textLength else {
            throw .invalidPublicKeyText("has \(characters.count) characters instead of \(Self.textLength)")
        }
        let payload: [UInt8]
        switch Base32.decode(characters[prefix.count...], byteCount: Self.byteCount + Self.checksumByteCount) {
        case .success(let bytes):
            payload = bytes
        case .failure(.invalidCharacter(let offset)):
            throw .invalidPublicKeyText("invalid character at position \(prefix.count + offset)")
        case .failure(.nonZeroPadding):
            throw .invalidPublicKeyText("the last character is not canonical")
        case .failure(.wrongLength):
            throw .invalidPublicKeyText("has \(characters.count) characters instead of \(Self.textLength)")
        }
        let key = Array(payload[..<Self.byteCount])
        guard Array(payload[Self.byteCount...]) == Self.checksum(of: key) else {
            throw .invalidPublicKeyText("checksum mismatch")
        }
        guard let parsed = PublicKey(bytes: key) else {
            throw .invalidPublicKeyText("wrong key length")
        }
        self = parsed
    }

    /// The first 4 bytes of BLAKE2b-256("streamingchat-key-v1" ‖ key).
    static func checksum(of key: [UInt8]) -> [UInt8] {
        Array(Hashing.blake2b(checksumDomain + key, length: 32).prefix(checksumByteCount))
    }
}

/// RFC 4648 base32, lower case, without padding.
enum Base32 {
    /// The RFC 4648 alphabet in lower case.
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    /// Why a base32 string did not decode.
    enum DecodingError: Error {
        /// The character at this offset is not in the (lower-case) alphabet.
        case invalidCharacter(offset: Int)
        /// The string's length does not encode the expected number of bytes.
        case wrongLength
        /// The unused low bits of the last character are not zero.
        case nonZeroPadding
    }

    /// The number of characters that encode `byteCount` bytes: ⌈8·n / 5⌉.
    static func encodedLength(of byteCount: Int) -> Int {
        (byteCount * 8 + 4) / 5
    }

    /// Lower-case base32 of `bytes`, unpadded.
    ///
    /// - Complexity: O(n).
    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(encodedLength(of: bytes.count))
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 0x1F)])
            }
            buffer &= (1 << UInt32(bits)) - 1
        }
        if bits > 0 {
            out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes lower-case, unpadded base32 that must encode exactly `byteCount` bytes.
    ///
    /// - Complexity: O(n).
    static func decode(_ characters: ArraySlice<UInt8>, byteCount: Int) -> Result<[UInt8], DecodingError> {
        guard characters.count == encodedLength(of: byteCount) else { return .failure(.wrongLength) }
        var out: [UInt8] = []
        out.reserveCapacity(byteCount)
        var buffer: UInt32 = 0
        var bits = 0
        for (offset, character) in characters.enumerated() {
            guard let value = Self.value(of: character) else { return .failure(.invalidCharacter(offset: offset)) }
            buffer = (buffer << 5) | UInt32(value)
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
                buffer &= (1 << UInt32(bits)) - 1
            }
        }
        // Fewer than 5 bits remain: padding, which a canonical encoding leaves at zero.
        guard buffer == 0, out.count == byteCount else { return .failure(.nonZeroPadding) }
        return .success(out)
    }

    /// The 5-bit value of a lower-case alphabet character, or nil.
    private static func value(of character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a")
        case UInt8(ascii: "2")...UInt8(ascii: "7"): character - UInt8(ascii: "2") + 26
        default: nil
        }
    }
}
