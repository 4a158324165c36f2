import ChatCrypto
import Foundation
import Glibc
import Synchronization
import Testing

/// Issue 15, item 3, with real daemons: Ben joins Ana's conversation through a TCP proxy that
/// records every byte both ways (as anyone on the path could). The capture holds a whole
/// handshake and the catch-up after it, yet no conversation id, no invite token and neither
/// node's long-term key appears in it: they all travel sealed.
@Suite(.serialized) struct HandshakeCaptureTests {

    @Test func aJoinThroughARecordingProxyShowsNoConversationTokenOrKey() throws {
        let root = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (ana, ben, conversation, url) = try DaemonTests.anaAndBen(in: root, conversation: "private team")
        defer { ana.kill(); ben.kill() }
        let dataA = ana.data, dataB = ben.data
        let proxy = try RecordingProxy(target: ana.address)
        defer { proxy.stop() }

        let joined = try DaemonTests.json(["join", "--data", dataB, "127.0.0.1:\(proxy.port)", url])
        #expect(joined["conversation"] as? String == conversation)
        try DaemonTests.cli(["send", "--data", dataA, conversation, "only members read this"])
        _ = try ReconnectionTests.waitForMessage("only members read this", on: dataB, in: conversation)
        proxy.stop()

        let capture = proxy.captured
        #expect(capture.count > 1_000, "the proxy carried the join: \(capture.count) bytes")
        let tokenHex = String(url.split(separator: "=").last ?? "")
        let secrets: [(String, [UInt8])] = [
            ("conversation id", try #require(bytes(hex: conversation))),
            ("invite token", try #require(bytes(hex: tokenHex))),
            ("ana's key", try PublicKey(text: ana.key).replicaID.bytes),
            ("ben's key", try PublicKey(text: ben.key).replicaID.bytes),
        ]
        for (name, secret) in secrets {
            #expect(secret.count >= 32, "\(name)")
            #expect(firstWindow(of: secret, width: 8, in: capture) == nil, "\(name) appears in the capture")
        }
        #expect(firstWindow(of: Array("only members read this".utf8), width: 8, in: capture) == nil)
    }

    private func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        return stride(from: 0, to: digits.count, by: 2).compactMap { index in
            UInt8(String(decoding: digits[index ..< index + 2], as: UTF8.self), radix: 16)
        }
    }

    /// The offset of the first `width`-byte run of `secret` found in `haystack`, or nil.
    private func firstWindow(of secret: [UInt8], width: Int, in haystack: [UInt8]) -> Int? {
        guard secret.count >= width, haystack.count >= width else { return nil }
        let windows = Set((0 ... secret.count - width).map { Array(secret[$0 ..< $0 + width]) })
        return (0 ... haystack.count - width).first { windows.contains(Array(haystack[$0 ..< $0 + width])) }
    }
}

/// A loopback TCP proxy that forwards every connection to `target` and records all bytes, both
/// directions, in arrival order. Blocking sockets on plain threads; `stop()` closes everything.
final class RecordingProxy: Sendable {
    let port: UInt16
    private let listener: Int32
    private let target: sockaddr_in
    private let state = Mutex<(bytes: [UInt8], sockets: [Int32], stopped: Bool)>(([], [], false))

    init(target address: String) throws {
        let parts = address.split(separator: ":")
        guard parts.count == 2, let targetPort = UInt16(parts[1]) else {
            throw DaemonTests.DaemonTestError("bad address \(address)")
        }
        target = Self.loopback(port: targetPort)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var any = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &any) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else {
            throw DaemonTests.DaemonTestError("proxy could not listen")
        }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: local.sin_port)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Everything forwarded so far, both directions.
    var captured: [UInt8] { state.withLock { $0.bytes } }

    /// Stops accepting and closes every forwarded connection.
    func stop() {
        let sockets = state.withLock { state -> [Int32] in
            guard !state.stopped else { return [] }
            state.stopped = true
            return state.sockets + [listener]
        }
        for socket in sockets {
            shutdown(socket, Int32(SHUT_RDWR))
            close(socket)
        }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = target
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            let accepted = state.withLock { state -> Bool in
                guard !state.stopped else { return false }
                state.sockets += [client, upstream]
                return true
            }
            guard connected == 0, accepted else {
                close(client)
                close(upstream)
                continue
            }
            Thread.detachNewThread { [self] in pump(from: client, to: upstream) }
            Thread.detachNewThread { [self] in pump(from: upstream, to: client) }
        }
    }

    private func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            state.withLock { $0.bytes += buffer[0 ..< count] }
            var sent = 0
            while sent < count {
                let written = buffer[sent ..< count].withUnsafeBytes { write(destination, $0.baseAddress, $0.count) }
                guard written > 0 else { return }
                sent += written
            }
        }
        shutdown(destination, Int32(SHUT_WR))
    }
}
