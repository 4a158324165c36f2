import Testing

@testable import ChatCrypto

@Suite("Public key text form (sc1 + base32 + checksum)")
struct PublicKeyTextTests {
    /// Keys whose texts are probed exhaustively: the two pinned seeds plus a few more fixed ones.
    static let keys: [PublicKey] = {
        var seeds = [sequentialSeed, SigningTests.rfcSeed]
        seeds += (1...4).map { [UInt8](repeating: UInt8($0 * 37), count: 32) }
        return seeds.compactMap { try? SigningKey(seed: $0).publicKey }
    }()

    /// Characters tried as substitutes: all printable ASCII, a tab, and a non-ASCII letter.
    static let substitutes: [Character] = (0x20...0x7E).map { Character(UnicodeScalar(UInt8($0))) } + ["\t", "é"]

    @Test("known keys have pinned texts (checked with Python's base64 and hashlib)")
    func pinnedTexts() throws {
        let sequential = try SigningKey(seed: sequentialSeed).publicKey
        #expect(sequential.text == "sc1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4gz6kk3y")
        let rfc = try #require(PublicKey(bytes: SigningTests.rfcPublic))
        #expect(rfc.text == "sc125njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenjcx3o2y")
        #expect(String(describing: rfc) == rfc.text)
    }

    @Test("text round trips, in lower and upper case", arguments: keys)
    func roundTrip(key: PublicKey) throws {
        let text = key.text
        #expect(text.count == PublicKey.textLength)
        #expect(text.hasPrefix(PublicKey.textPrefix))
        #expect(text == text.lowercased())
        #expect(try PublicKey(text: text) == key)
        #expect(try PublicKey(text: text.uppercased()) == key)
    }

    @Test("random keys round trip")
    func randomRoundTrip() throws {
        for _ in 0..<200 {
            let key = try #require(PublicKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) }))
            #expect(try PublicKey(text: key.text) == key)
        }
    }

    @Test("every single-character substitution is rejected", arguments: keys)
    func substitutions(key: PublicKey) {
        let original = Array(key.text)
        for position in original.indices {
            for substitute in Self.substitutes where substitute != original[position] {
                var altered = original
                altered[position] = substitute
                let text = String(altered)
                #expect(throws: CryptoError.self, "\(text)") { try PublicKey(text: text) }
            }
        }
    }

    @Test("every single-character substitution of the upper-case text is rejected too")
    func upperCaseSubstitutions() throws {
        let original = Array(try #require(Self.keys.first).text.uppercased())
        for position in original.indices {
            for substitute in Self.substitutes where substitute != original[position] {
                var altered = original
                altered[position] = substitute
                let text = String(altered)
                #expect(throws: CryptoError.self, "\(text)") { try PublicKey(text: text) }
            }
        }
    }

    @Test("every adjacent transposition is rejected", arguments: keys)
    func transpositions(key: PublicKey) {
        let original = Array(key.text)
        for position in 0..<(original.count - 1) where original[position] != original[position + 1] {
            var altered = original
            altered.swapAt(position, position + 1)
            let text = String(altered)
            #expect(throws: CryptoError.self, "\(text)") { try PublicKey(text: text) }
        }
    }

    @Test("every missing character and every inserted character is rejected", arguments: keys)
    func deletionsAndInsertions(key: PublicKey) {
        let original = Array(key.text)
        for position in original.indices {
            var shorter = original
            shorter.remove(at: position)
            let text = String(shorter)
            #expect(throws: CryptoError.self, "\(text)") { try PublicKey(text: text) }
        }
        for position in 0...original.count {
            for inserted in Base32.alphabet.map({ Character(UnicodeScalar($0)) }) {
                var longer = original
                longer.insert(inserted, at: position)
                let text = String(longer)
                #expect(throws: CryptoError.self, "\(text)") { try PublicKey(text: text) }
            }
        }
    }

    @Test("specific malformed texts give specific reasons")
    func reasons() throws {
        let text = try SigningKey(seed: sequentialSeed).publicKey.text
        func reason(_ input: String) -> String? {
            do {
                _ = try PublicKey(text: input)
                return nil
            } catch {
                guard case .invalidPublicKeyText(let reason) = error else { return "wrong case: \(error)" }
                return reason
            }
        }
        #expect(reason("") == "does not start with \"sc1\"")
        #expect(reason("sc2" + text.dropFirst(3)) == "does not start with \"sc1\"")
        #expect(reason(String(text.dropLast())) == "has 60 characters instead of 61")
        #expect(reason(text + " ") == "has 62 characters instead of 61")
        #expect(reason("Sc1" + text.dropFirst(3)) == "mixes upper- and lower-case letters")
        #expect(reason(String(text.dropLast()) + "é") == "non-ASCII character at byte 60")
        #expect(reason(String(text.dropLast()) + "1") == "invalid character at position 60")
        // The last character holds 3 data bits and 2 zero bits: "y" is 24 = 0b11000; "z" sets a padding bit.
        #expect(text.hasSuffix("y"))
        #expect(reason(String(text.dropLast()) + "z") == "the last character is not canonical")
        // A change in the key characters: the checksum no longer matches.
        let changed = Array(text)
        var altered = changed
        altered[10] = changed[10] == "a" ? "b" : "a"
        #expect(reason(String(altered)) == "checksum mismatch")
    }

    @Test("base32 matches RFC 4648 §10 (lower case, unpadded)")
    func base32Vectors() throws {
        let vectors = ["": "", "f": "my", "fo": "mzxq", "foo": "mzxw6", "foob": "mzxw6yq", "fooba": "mzxw6ytb",
                       "foobar": "mzxw6ytboi"]
        for (plain, encoded) in vectors {
            #expect(Base32.encode(Array(plain.utf8)) == encoded)
            let decoded = Base32.decode(ArraySlice(encoded.utf8), byteCount: plain.utf8.count)
            #expect((try? decoded.get()) == Array(plain.utf8))
        }
        let allBytes = (0...255).map { UInt8($0) }
        let encoded = Base32.encode(allBytes)
        #expect((try? Base32.decode(ArraySlice(encoded.utf8), byteCount: 256).get()) == allBytes)
    }
}
