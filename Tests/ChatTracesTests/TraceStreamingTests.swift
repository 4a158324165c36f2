import ChatTraces
import Testing

// MARK: - Helpers

/// CRC-32 (IEEE, as gzip uses it), table driven.
private let crcTable: [UInt32] = (0..<256).map { (index: Int) -> UInt32 in
    var crc = UInt32(index)
    for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    return crc
}

private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    return ~crc
}

/// A gzip member holding `bytes` in stored (uncompressed) deflate blocks: real gzip data of any
/// size without a compressor in the test target.
private func storedGzip(_ bytes: [UInt8]) -> [UInt8] {
    var member: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF]
    var start = 0
    repeat {
        let count = min(65_535, bytes.count - start)
        member.append(start + count == bytes.count ? 1 : 0)  // BFINAL, BTYPE 00 (stored)
        member += [UInt8(count & 0xFF), UInt8(count >> 8), UInt8(~count & 0xFF), UInt8((~count >> 8) & 0xFF)]
        member += bytes[start..<start + count]
        start += count
    } while start < bytes.count
    for value in [crc32(bytes), UInt32(truncatingIfNeeded: bytes.count)] {
        member += [UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF), UInt8((value >> 16) & 0xFF), UInt8(value >> 24)]
    }
    return member
}

/// One transaction exercising every kind of token: keys, escapes, surrogate pairs, multi-byte
/// UTF-8, literals and numbers that are skipped.
private let unit = #"{"time":"t\u00e9","patches":[[0,0,"é😀\ud83d\ude00\n"]],"x":[true,false,null,-1.5e3]}"#

/// A sequential trace of `count` copies of `unit`, after `padding` spaces.
private func document(padding: Int, count: Int, tail: String = #"],"endContent":""}"#) -> [UInt8] {
    Array((String(repeating: " ", count: padding) + #"{"txns":["#).utf8)
        + Array(Array(repeating: unit, count: count).joined(separator: ",\n").utf8) + Array(tail.utf8)
}

private func parseFailure(_ bytes: [UInt8]) -> TraceError? {
    do {
        _ = try EditingTrace.parse(bytes: bytes, name: "t")
        return nil
    } catch {
        return error
    }
}

/// Enough copies of `unit` that the JSON runs past the decompressor's first 64 KiB chunk.
private let copiesPastOneChunk = 65_536 / unit.utf8.count + 40

// MARK: - Tests

@Suite("Streaming gzip traces")
struct TraceStreamingTests {
    @Test("Gzip traces parse exactly like plain JSON wherever a chunk boundary falls")
    func chunkBoundaries() throws {
        // Shifting the document by every offset within one unit puts the chunk boundary at every
        // byte of a transaction: inside keys, escapes, surrogate pairs, UTF-8 sequences, literals.
        for padding in 0..<unit.utf8.count {
            let json = document(padding: padding, count: copiesPastOneChunk)
            let plain = try EditingTrace.parse(bytes: json, name: "t")
            let streamed = try EditingTrace.parse(bytes: storedGzip(json), name: "t")
            #expect(streamed.transactions == plain.transactions, "padding \(padding)")
            #expect(streamed.patches == plain.patches, "padding \(padding)")
            #expect(streamed.insertedScalars == plain.insertedScalars, "padding \(padding)")
            #expect(streamed.parentStorage == plain.parentStorage, "padding \(padding)")
            #expect(plain.patchCount == copiesPastOneChunk)
            #expect(plain.insertedScalars.count == 4 * copiesPastOneChunk)  // é, 😀 twice, newline
        }
    }

    @Test("Error offsets past the first chunk count from the start of the JSON")
    func errorOffsetsAcrossChunks() {
        for tail in [#"],"endContent":"","x":tru}"#, #"],"endContent":"\ud800"}"#, #"],"endContent":""} x"#] {
            let json = document(padding: 3, count: copiesPastOneChunk, tail: tail)
            let plain = parseFailure(json)
            guard case .malformedJSON(let offset, _)? = plain else {
                Issue.record("expected malformedJSON, got \(String(describing: plain))")
                continue
            }
            #expect(offset > 65_536)
            #expect(parseFailure(storedGzip(json)) == plain)
        }
    }

    @Test("Truncated or corrupt multi-chunk gzip is corruptGzip, never a JSON error or a trace")
    func corruptMultiChunkGzip() throws {
        let json = document(padding: 0, count: copiesPastOneChunk)
        let member = storedGzip(json)
        #expect(parseFailure(member) == nil)
        for length in [66_500, member.count - 9, member.count - 8, member.count - 1] {
            let error = parseFailure(Array(member.prefix(length)))
            #expect(error?.code == "trace.corruptGzip", "prefix of \(length) bytes: \(String(describing: error))")
        }
        // Past the first chunk, a changed byte the JSON still accepts (a digit) and one that breaks
        // it (a bracket): the CRC catches both.
        let digit = try #require(json[66_000...].firstIndex(of: UInt8(ascii: "0")))
        let bracket = try #require(json[66_000...].firstIndex(of: UInt8(ascii: "[")))
        for (index, replacement) in [(digit, UInt8(ascii: "1")), (bracket, UInt8(ascii: "}"))] {
            var bytes = member
            bytes[index + 20] = replacement  // the 10-byte header and two 5-byte block headers precede it
            let error = parseFailure(bytes)
            #expect(error?.code == "trace.corruptGzip", "byte \(index): \(String(describing: error))")
        }
        var plainCopy = json
        plainCopy[bracket] = UInt8(ascii: "}")
        #expect(parseFailure(plainCopy)?.code == "trace.malformedJSON")  // so the bracket does break the JSON
    }

    @Test(
        "Values that do not fit the 32-bit storage are invalid traces",
        arguments: [
            (#"{"endContent":"","txns":[{"patches":[[2147483648,0,""]]}]}"#, "position 2147483648, too large"),
            (#"{"endContent":"","txns":[{"patches":[[0,2147483648,""]]}]}"#, "deleteCount 2147483648, too large"),
            (#"{"kind":"concurrent","endContent":"","txns":[{"agent":2147483648,"parents":[]}]}"#, "32-bit"),
        ])
    func thirtyTwoBitLimits(json: String, reasonFragment: String) {
        let error = parseFailure(Array(json.utf8))
        guard case .invalidTrace(let reason)? = error else {
            Issue.record("expected invalidTrace, got \(String(describing: error))")
            return
        }
        #expect(reason.contains(reasonFragment), "\(reason)")
    }

    @Test("The largest 32-bit values are kept exactly")
    func thirtyTwoBitMaximum() throws {
        let trace = try EditingTrace.parse(
            bytes: Array(#"{"endContent":"","txns":[{"patches":[[2147483647,2147483647,"a"]]}]}"#.utf8), name: "t")
        #expect(trace.patches == [TracePatch(position: 2_147_483_647, deleteCount: 2_147_483_647, insertRange: 0..<1)])
    }

    @Test("Patches and transactions are stored compactly")
    func compactLayout() {
        #expect(MemoryLayout<TracePatch>.stride == 16)
        #expect(MemoryLayout<TraceTransaction>.stride == 20)
    }
}
