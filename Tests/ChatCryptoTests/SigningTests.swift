import ChatCore
import Testing

@testable import ChatCrypto

@Suite("Ed25519 signing keys and signatures")
struct SigningTests {
    /// RFC 8032 §7.1, TEST 1.
    static let rfcSeed = bytes(hex: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    static let rfcPublic = bytes(hex: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    static let rfcEmptySignature = bytes(hex:
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")

    @Test("RFC 8032 test vector 1: public key and signature of the empty message")
    func rfc8032Vector1() throws {
        let key = try SigningKey(seed: Self.rfcSeed)
        #expect(key.publicKey.bytes == Self.rfcPublic)
        let signature = key.sign([])
        #expect(signature.bytes == Self.rfcEmptySignature)
        #expect(key.publicKey.isValidSignature(signature, for: []))
        #expect(key.seedBytes() == Self.rfcSeed)
    }

    @Test("the seed 00…1f always gives the same key and signatures (pinned, cross-checked with OpenSSL)")
    func fixedSeedDeterminism() throws {
        // Expected values computed independently with Python `cryptography` (OpenSSL's Ed25519).
        let key = try SigningKey(seed: sequentialSeed)
        #expect(Hashing.hex(key.publicKey.bytes) == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
        #expect(Hashing.hex(key.sign([]).bytes) == "9ca53579530654d5c3df77089ef45eda613e2fedf670e96bedac4639504e5845ef4b95d5793077233dd16817b2532e9c5525872a73a4ad74b759369a9e05c102")
        #expect(Hashing.hex(key.sign(Array("abc".utf8)).bytes) == "cc46d62d3754f41754b27b6ea2cb2c272bafa7a5a1f6062bd060f414e50caaeac2da66ad39cef4424a90236ea907b7d8057e3443dc5abfc9986967ee7213a407")
        let again = try SigningKey(seed: sequentialSeed)
        #expect(again.publicKey == key.publicKey)
        #expect(again.sign([1, 2, 3]) == key.sign([1, 2, 3]))
        #expect(key.seedBytes() == sequentialSeed)
    }

    @Test("sign then verify, for empty, short and large messages")
    func roundTrip() {
        let key = SigningKey.generate()
        for message in [[], [0x42], Array("hello, world".utf8), [UInt8](repeating: 7, count: 100_000)] {
            let signature = key.sign(message)
            #expect(signature.bytes.count == Signature.byteCount)
            #expect(key.publicKey.isValidSignature(signature, for: message))
        }
    }

    @Test("slice and raw-buffer overloads sign and verify the same bytes as arrays, without copying")
    func overloadsAgree() {
        let key = SigningKey.generate()
        let frame = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let body = frame[16..<(frame.count - 16)]
        let expected = key.sign(Array(body))
        #expect(key.sign(body) == expected)
        #expect(body.withUnsafeBytes { key.sign($0) } == expected)
        #expect(key.publicKey.isValidSignature(expected, for: body))
        #expect(body.withUnsafeBytes { key.publicKey.isValidSignature(expected, for: $0) })
        #expect(!key.publicKey.isValidSignature(expected, for: frame[15..<(frame.count - 16)]))
        // Empty slices and buffers have no base address.
        let empty = frame[0..<0]
        #expect(key.publicKey.isValidSignature(key.sign(empty), for: []))
        #expect(key.publicKey.isValidSignature(key.sign([]), for: UnsafeRawBufferPointer(start: nil, count: 0)))
    }

    @Test("every flipped bit in the message, the signature or the key makes verification fail")
    func flippedBitsFail() throws {
        let key = try SigningKey(seed: sequentialSeed)
        let message = Array("the quick brown fox".utf8)
        let signature = key.sign(message)
        #expect(key.publicKey.isValidSignature(signature, for: message))

        for bit in 0..<(message.count * 8) {
            var altered = message
            altered[bit / 8] ^= 1 << UInt8(bit % 8)
            #expect(!key.publicKey.isValidSignature(signature, for: altered), "message bit \(bit)")
        }
        for bit in 0..<(Signature.byteCount * 8) {
            var altered = signature.bytes
            altered[bit / 8] ^= 1 << UInt8(bit % 8)
            let forged = try #require(Signature(bytes: altered))
            #expect(!key.publicKey.isValidSignature(forged, for: message), "signature bit \(bit)")
        }
        for bit in 0..<(PublicKey.byteCount * 8) {
            var altered = key.publicKey.bytes
            altered[bit / 8] ^= 1 << UInt8(bit % 8)
            let other = try #require(PublicKey(bytes: altered))
            #expect(!other.isValidSignature(signature, for: message), "key bit \(bit)")
        }
    }

    @Test("a signature by another key, or over another message, does not verify")
    func wrongKeyOrMessage() {
        let alice = SigningKey.generate()
        let bob = SigningKey.generate()
        #expect(alice.publicKey != bob.publicKey)
        let signature = alice.sign([1, 2, 3])
        #expect(!bob.publicKey.isValidSignature(signature, for: [1, 2, 3]))
        #expect(!alice.publicKey.isValidSignature(signature, for: [1, 2, 3, 4]))
        #expect(!alice.publicKey.isValidSignature(signature, for: []))
    }

    @Test("degenerate keys and signatures verify nothing and never trap")
    func degenerateInputs() throws {
        let zeroKey = try #require(PublicKey(bytes: [UInt8](repeating: 0, count: 32)))
        let zeroSignature = try #require(Signature(bytes: [UInt8](repeating: 0, count: 64)))
        #expect(!zeroKey.isValidSignature(zeroSignature, for: []))
        let ffKey = try #require(PublicKey(bytes: [UInt8](repeating: 0xFF, count: 32)))
        #expect(!ffKey.isValidSignature(zeroSignature, for: [1]))
        let key = SigningKey.generate()
        #expect(!key.publicKey.isValidSignature(zeroSignature, for: []))
    }

    @Test("wrong lengths are refused without trapping", arguments: [0, 1, 31, 33, 63, 64, 65])
    func wrongLengths(count: Int) {
        let input = [UInt8](repeating: 1, count: count)
        #expect((PublicKey(bytes: input) != nil) == (count == 32))
        #expect((Signature(bytes: input) != nil) == (count == 64))
        if count == 32 {
            #expect(throws: Never.self) { try SigningKey(seed: input) }
        } else {
            #expect(throws: CryptoError.invalidSeedLength(count)) { try SigningKey(seed: input) }
        }
    }

    @Test("PublicKey and ReplicaID convert without loss and order alike")
    func replicaIDConversion() throws {
        let keys = try (0..<16).map { index in
            try SigningKey(seed: [UInt8](repeating: UInt8(index), count: 32)).publicKey
        }
        for key in keys {
            #expect(PublicKey(key.replicaID) == key)
            #expect(key.replicaID.bytes == key.bytes)
            #expect(ReplicaID(bytes: key.bytes) == key.replicaID)
        }
        let sortedKeys = keys.sorted().map(\.bytes)
        let sortedBytes = keys.map(\.bytes).sorted { $0.lexicographicallyPrecedes($1) }
        #expect(sortedKeys == sortedBytes)
        #expect(Set(keys).count == keys.count)
    }

    @Test("generated keys differ, and their seeds recreate them")
    func generatedKeys() throws {
        let first = SigningKey.generate()
        let second = SigningKey.generate()
        #expect(first.publicKey != second.publicKey)
        var seed = first.seedBytes()
        let restored = try SigningKey(seed: seed)
        #expect(restored.publicKey == first.publicKey)
        #expect(restored.sign([9]) == first.sign([9]))
        wipe(&seed)
        #expect(seed == [UInt8](repeating: 0, count: 32))
    }

    @Test("one key signs from many tasks at once")
    func concurrentSigning() async throws {
        let key = try SigningKey(seed: sequentialSeed)
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let message = [UInt8](repeating: UInt8(index), count: index)
                    return key.publicKey.isValidSignature(key.sign(message), for: message)
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 64)
        #expect(results.allSatisfy { $0 })
    }

    @Test("descriptions never show secret bytes")
    func descriptions() throws {
        let key = try SigningKey(seed: sequentialSeed)
        #expect(String(describing: key) == "SigningKey(\(key.publicKey.text))")
        #expect(!String(describing: key).contains(Hashing.hex(sequentialSeed)))
    }
}

@Suite("Hashing")
struct HashingTests {
    @Test("SHA-256 and BLAKE2b match published vectors, including empty input")
    func vectors() {
        #expect(Hashing.hex(Hashing.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Hashing.hex(Hashing.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hashing.hex(Hashing.blake2b([])) == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
        // RFC 7693 Appendix A.
        #expect(Hashing.hex(Hashing.blake2b(Array("abc".utf8), length: 64)) == "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
    }
}
