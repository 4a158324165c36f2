@testable import ChatControl
import NIOCore
import Testing

/// The sans-I/O line framer under the control socket: lines across reads, limits, overflow.
@Suite struct ControlLineFramerTests {
    /// Feeds `chunks` one after another into one buffer, collecting everything the framer yields.
    static func frame(_ chunks: [[UInt8]], maximumLineBytes: Int) -> [ControlLine] {
        var framer = ControlLineFramer(maximumLineBytes: maximumLineBytes)
        var buffer = ByteBuffer()
        var lines: [ControlLine] = []
        for chunk in chunks {
            buffer.writeBytes(chunk)
            while let line = framer.next(from: &buffer) { lines.append(line) }
        }
        return lines
    }

    @Test func linesSplitAcrossReadsOneByteAtATime() {
        let bytes = Array("a\r\n\nbc\n\r\nd".utf8)
        let lines = Self.frame(bytes.map { [$0] }, maximumLineBytes: 8)
        #expect(lines == [.line(Array("a".utf8)), .line(Array("bc".utf8))])
    }

    @Test(arguments: [4, 5])
    func lineAtTheLimitPassesOneOverIsTooLong(length: Int) {
        let line = Array(repeating: UInt8(ascii: "x"), count: length)
        let lines = Self.frame([line + [UInt8(ascii: "\n")], Array("ok\n".utf8)], maximumLineBytes: 4)
        #expect(lines == (length <= 4 ? [.line(line), .line(Array("ok".utf8))] : [.tooLong]))
    }

    @Test func endlessLineOverflowsOnceAndEverythingAfterIsDropped() {
        let chunk = Array(repeating: UInt8(ascii: "x"), count: 3)
        let lines = Self.frame([chunk, chunk, chunk, Array("\nnext\n".utf8)], maximumLineBytes: 5)
        #expect(lines == [.tooLong])
    }
}
