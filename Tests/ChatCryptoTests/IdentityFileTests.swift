import Foundation
import Testing

@testable import ChatCrypto

@Suite("Identity key file")
struct IdentityFileTests {
    /// The exact file for the seed 00…1f.
    static let sequentialFile = """
        streamingchat-identity-v1
        000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
        sc1aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4gz6kk3y

        """

    @Test("create then load gives the same key; the file is 0600")
    func createThenLoad() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/identity"
            let created = try IdentityFile.create(at: path)
            #expect(permissions(of: path) == 0o600)
            let loaded = try IdentityFile.load(from: path)
            #expect(loaded.publicKey == created.publicKey)
            #expect(loaded.seedBytes() == created.seedBytes())
            #expect(loaded.sign([1, 2, 3]) == created.sign([1, 2, 3]))
            let lines = String(decoding: try readFile(path), as: UTF8.self).split(separator: "\n")
            #expect(lines.count == 3)
            #expect(lines.first == "streamingchat-identity-v1")
            #expect(lines.last.map(String.init) == created.publicKey.text)
        }
    }

    @Test("a key from a fixed seed is written byte for byte in the version-1 format")
    func exactFormat() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/identity"
            try IdentityFile.write(try SigningKey(seed: sequentialSeed), to: path)
            #expect(String(decoding: try readFile(path), as: UTF8.self) == Self.sequentialFile)
            #expect(try IdentityFile.load(from: path).seedBytes() == sequentialSeed)
        }
    }

    @Test("accepted variants: no final newline, upper-case hex and key text, owner-only modes",
          arguments: [0o600, 0o400, 0o700] as [mode_t])
    func acceptedVariants(mode: mode_t) throws {
        try withTemporaryDirectory { directory in
            let expected = try SigningKey(seed: sequentialSeed).publicKey
            let plain = directory + "/plain"
            try writeFile(plain, Array(Self.sequentialFile.utf8), mode: mode)
            #expect(try IdentityFile.load(from: plain).publicKey == expected)
            let trimmed = directory + "/trimmed"
            try writeFile(trimmed, Array(Self.sequentialFile.dropLast().utf8), mode: mode)
            #expect(try IdentityFile.load(from: trimmed).publicKey == expected)
            let upper = directory + "/upper"
            let lines = Self.sequentialFile.split(separator: "\n").map(String.init)
            let upperText = [lines[0], lines[1].uppercased(), lines[2].uppercased()].joined(separator: "\n")
            try writeFile(upper, Array(upperText.utf8), mode: mode)
            #expect(try IdentityFile.load(from: upper).publicKey == expected)
        }
    }

    @Test("a file others can access is refused", arguments: [0o644, 0o640, 0o604, 0o660, 0o606, 0o610, 0o601, 0o777] as [mode_t])
    func tooOpen(mode: mode_t) throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/identity"
            _ = try IdentityFile.create(at: path)
            #expect(chmod(path, mode) == 0)
            #expect(throws: CryptoError.identityFileTooOpen(path: path, mode: UInt32(mode))) {
                try IdentityFile.load(from: path)
            }
            // loadOrCreate reports it too, and leaves the file alone.
            let before = try readFile(path)
            #expect(throws: CryptoError.identityFileTooOpen(path: path, mode: UInt32(mode))) {
                try IdentityFile.loadOrCreate(at: path)
            }
            #expect(try readFile(path) == before)
        }
    }

    @Test("a missing file is reported as missing")
    func missing() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/nothing-here"
            #expect(throws: CryptoError.identityFileMissing(path)) { try IdentityFile.load(from: path) }
        }
    }

    /// Malformed contents and the reason each must give.
    static let malformed: [(name: String, contents: String, reason: String)] = {
        let lines = sequentialFile.split(separator: "\n").map(String.init)
        let header = lines[0], seed = lines[1], text = lines[2]
        let otherText = "sc125njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenjcx3o2y"
        return [
            ("empty file", "", "the first line is not \"streamingchat-identity-v1\""),
            ("bad header", "streamingchat-identity-v2\n\(seed)\n\(text)\n",
             "the first line is not \"streamingchat-identity-v1\""),
            ("header with trailing space", "\(header) \n\(seed)\n\(text)\n",
             "the first line is not \"streamingchat-identity-v1\""),
            ("bad hex", "\(header)\n\(seed.prefix(10))g\(seed.dropFirst(11))\n\(text)\n",
             "the seed line has a non-hex character at column 11"),
            ("short seed", "\(header)\n\(seed.dropLast(2))\n\(text)\n",
             "the seed line has 62 characters instead of 64 hex digits"),
            ("long seed", "\(header)\n\(seed)00\n\(text)\n",
             "the seed line has 66 characters instead of 64 hex digits"),
            ("mismatched public line", "\(header)\n\(seed)\n\(otherText)\n",
             "the public key line does not match the seed"),
            ("public line with a typo", "\(header)\n\(seed)\n\(text.dropLast())a\n",
             "the public key line is invalid (checksum mismatch)"),
            ("missing public line", "\(header)\n\(seed)\n", "it has 2 lines instead of 3"),
            ("extra line", "\(header)\n\(seed)\n\(text)\nmore\n", "it has 4 lines instead of 3"),
            ("blank line", "\(header)\n\n\(seed)\n\(text)\n", "it has 4 lines instead of 3"),
            ("CRLF line ends", "\(header)\r\n\(seed)\r\n\(text)\r\n",
             "the first line is not \"streamingchat-identity-v1\""),
            ("too large", sequentialFile + String(repeating: "x", count: 5000), "it is larger than 4096 bytes"),
        ]
    }()

    @Test("malformed contents are refused with a reason", arguments: malformed.indices)
    func malformedContents(index: Int) throws {
        let (name, contents, reason) = Self.malformed[index]
        try withTemporaryDirectory { directory in
            let path = directory + "/identity"
            try writeFile(path, Array(contents.utf8))
            #expect(throws: CryptoError.identityFileMalformed(path, reason), "\(name)") {
                try IdentityFile.load(from: path)
            }
            // loadOrCreate never replaces a malformed identity.
            #expect(throws: CryptoError.identityFileMalformed(path, reason), "\(name)") {
                try IdentityFile.loadOrCreate(at: path)
            }
            #expect(try readFile(path) == Array(contents.utf8))
        }
    }

    @Test("a directory or a FIFO at the path is not an identity file (and a FIFO does not hang load)")
    func notARegularFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/identity"
            #expect(mkdir(path, 0o700) == 0)
            #expect(throws: CryptoError.identityFileMalformed(path, "it is not a regular file")) {
                try IdentityFile.load(from: path)
            }
            let fifo = directory + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            #expect(throws: CryptoError.identityFileMalformed(fifo, "it is not a regular file")) {
                try IdentityFile.load(from: fifo)
            }
        }
    }

    @Test("create refuses to overwrite an identity, a file or a dangling link")
    func createRefusesToOverwrite() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/identity"
            let first = try IdentityFile.create(at: path)
            let contents = try readFile(path)
            #expect(throws: CryptoError.identityFileExists(path)) { try IdentityFile.create(at: path) }
            #expect(try readFile(path) == contents)
            #expect(try IdentityFile.load(from: path).publicKey == first.publicKey)

            let other = directory + "/other"
            try writeFile(other, Array("not an identity".utf8), mode: 0o644)
            #expect(throws: CryptoError.identityFileExists(other)) { try IdentityFile.create(at: other) }
            #expect(try readFile(other) == Array("not an identity".utf8))

            let link = directory + "/link"
            #expect(symlink(directory + "/target-that-does-not-exist", link) == 0)
            #expect(throws: CryptoError.identityFileExists(link)) { try IdentityFile.create(at: link) }
            #expect(access(directory + "/target-that-does-not-exist", F_OK) != 0)
        }
    }

    @Test("create in a directory that does not exist fails with the system error and leaves nothing")
    func createWithoutDirectory() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/missing/identity"
            #expect(throws: CryptoError.identityFileIO(path: path, operation: "open", errno: ENOENT)) {
                try IdentityFile.create(at: path)
            }
            #expect(access(path, F_OK) != 0)
        }
    }

    @Test("loadOrCreate creates once, then loads the same key")
    func loadOrCreate() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/identity"
            let first = try IdentityFile.loadOrCreate(at: path)
            #expect(permissions(of: path) == 0o600)
            let second = try IdentityFile.loadOrCreate(at: path)
            #expect(first.publicKey == second.publicKey)
        }
    }
}

@Suite("CryptoError")
struct CryptoErrorTests {
    static let all: [CryptoError] = [
        .invalidSeedLength(31),
        .invalidPublicKeyText("checksum mismatch"),
        .identityFileMissing("/tmp/id"),
        .identityFileTooOpen(path: "/tmp/id", mode: 0o644),
        .identityFileMalformed("/tmp/id", "the first line is not \"streamingchat-identity-v1\""),
        .identityFileExists("/tmp/id"),
        .identityFileIO(path: "/tmp/id", operation: "open", errno: ENOENT),
    ]

    @Test("every case has its own stable code and a one-sentence description")
    func codesAndDescriptions() {
        #expect(Set(Self.all.map(\.code)).count == Self.all.count)
        for error in Self.all {
            #expect(error.code.hasPrefix("crypto."))
            #expect(error.description.hasSuffix("."), "\(error.description)")
            #expect(error.description.first?.isUppercase == true)
        }
        #expect(CryptoError.identityFileTooOpen(path: "/tmp/id", mode: 0o644).description.contains("0644"))
        #expect(CryptoError.identityFileIO(path: "/p", operation: "open", errno: ENOENT).description
            .contains("No such file or directory"))
    }
}
