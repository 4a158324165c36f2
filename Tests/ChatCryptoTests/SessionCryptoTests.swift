import ChatCore
import ChatCrypto
import Testing

/// A client/server pair of session keys from fixed seeds.
private func sessionPair(clientSeed: UInt8 = 1, serverSeed: UInt8 = 2) throws -> (client: SessionKeys, server: SessionKeys) {
    let client = try SessionKeyPair(seed: Array(repeating: clientSeed, count: 32))
    let server = try SessionKeyPair(seed: Array(repeating: serverSeed, count: 32))
    return (try SessionKeys(role: .client, own: client, peerPublicKey: server.publicKey),
            try SessionKeys(role: .server, own: server, peerPublicKey: client.publicKey))
}

@Suite struct SessionCryptoTests {
    @Test func seededKeyPairsAreDeterministic() throws {
        let first = try SessionKeyPair(seed: Array(repeating: 7, count: 32))
        let second = try SessionKeyPair(seed: Array(repeating: 7, count: 32))
        #expect(first.publicKey == second.publicKey)
        #expect(first.publicKey.count == 32)
        var generatorA = SeededGenerator(seed: 42)
        var generatorB = SeededGenerator(seed: 42)
        #expect(SessionKeyPair(using: &generatorA).publicKey == SessionKeyPair(using: &generatorB).publicKey)
        #expect(SessionKeyPair.generate().publicKey != SessionKeyPair.generate().publicKey)
    }

    @Test func badLengthsAreTypedErrors() throws {
        #expect(throws: SessionCryptoError.invalidLength(field: "key-exchange seed", length: 31)) {
            try SessionKeyPair(seed: Array(repeating: 1, count: 31))
        }
        let own = try SessionKeyPair(seed: Array(repeating: 1, count: 32))
        #expect(throws: SessionCryptoError.invalidLength(field: "peer ephemeral key", length: 0)) {
            try SessionKeys(role: .client, own: own, peerPublicKey: [])
        }
        let (client, _) = try sessionPair()
        #expect(throws: SessionCryptoError.invalidLength(field: "stream header", length: 23)) {
            try client.makeOpener(header: Array(repeating: 0, count: 23))
        }
    }

    @Test func bothDirectionsRoundTrip() throws {
        let (client, server) = try sessionPair()
        let toServer = client.makeSealer()
        let atServer = try server.makeOpener(header: toServer.header)
        let toClient = server.makeSealer()
        let atClient = try client.makeOpener(header: toClient.header)
        for index in 0 ..< 5 {
            let message: [UInt8] = Array(repeating: UInt8(index), count: index * 10)
            let sealed = try toServer.seal(message)
            #expect(sealed.count == message.count + FrameSealer.overhead)
            #expect(try atServer.open(sealed).plaintext == message)
            #expect(try atClient.open(try toClient.seal(message)).plaintext == message)
        }
    }

    @Test func directionsUseDifferentKeys() throws {
        let (client, server) = try sessionPair()
        let sealer = client.makeSealer()
        // The client's own receive key is the server's transmit key, not the client's transmit key.
        let wrongOpener = try client.makeOpener(header: sealer.header)
        #expect(throws: SessionCryptoError.authenticationFailed) { try wrongOpener.open(try sealer.seal([1, 2, 3])) }
        let (_, otherServer) = try sessionPair(clientSeed: 1, serverSeed: 3)
        let strangerOpener = try otherServer.makeOpener(header: sealer.header)
        #expect(throws: SessionCryptoError.authenticationFailed) { try strangerOpener.open(try sealer.seal([4])) }
        _ = server
    }

    @Test(arguments: [0, 5, 16, 20, 24])
    func tamperedFrameFails(flip index: Int) throws {
        let (client, server) = try sessionPair()
        let sealer = client.makeSealer()
        let opener = try server.makeOpener(header: sealer.header)
        var sealed = try sealer.seal(Array(repeating: 0x41, count: 8))
        sealed[index % sealed.count] ^= 0x01
        #expect(throws: SessionCryptoError.authenticationFailed) { try opener.open(sealed) }
        // A broken stream stays broken.
        #expect(throws: SessionCryptoError.streamClosed) { try opener.open(try sealer.seal([1])) }
        #expect(opener.isClosed)
    }

    @Test func reorderedReplayedAndTruncatedFramesFail() throws {
        let (client, server) = try sessionPair()
        let sealer = client.makeSealer()
        let first = try sealer.seal([1])
        let second = try sealer.seal([2])

        let reordered = try server.makeOpener(header: sealer.header)
        #expect(throws: SessionCryptoError.authenticationFailed) { try reordered.open(second) }

        let replayed = try server.makeOpener(header: sealer.header)
        #expect(try replayed.open(first).plaintext == [1])
        #expect(throws: SessionCryptoError.authenticationFailed) { try replayed.open(first) }

        let truncated = try server.makeOpener(header: sealer.header)
        #expect(throws: SessionCryptoError.authenticationFailed) { try truncated.open(Array(first.dropLast())) }
        let tooShort = try server.makeOpener(header: sealer.header)
        #expect(throws: SessionCryptoError.authenticationFailed) { try tooShort.open([]) }
    }

    @Test func finalFrameEndsTheStream() throws {
        let (client, server) = try sessionPair()
        let sealer = client.makeSealer()
        let opener = try server.makeOpener(header: sealer.header)
        let last = try sealer.seal([9], final: true)
        #expect(throws: SessionCryptoError.streamClosed) { try sealer.seal([10]) }
        let opened = try opener.open(last)
        #expect(opened.plaintext == [9] && opened.isFinal)
        #expect(opener.isClosed)
    }
}
