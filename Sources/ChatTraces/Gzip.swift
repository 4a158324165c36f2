import CompressNIO
import NIOCore

/// Detection and decompression of single-member gzip data (RFC 1952).
enum Gzip {
    /// Largest decompressed size accepted.
    static let maxDecompressedSize = 1 << 30

    /// Deflate cannot expand data by more than about 1032:1; a trailer claiming more is corrupt.
    private static let maxExpansion = 1032

    /// Smallest valid gzip member: 10-byte header, 2-byte empty deflate block, 8-byte trailer.
    private static let minimumSize = 20

    /// True when `bytes` start with the gzip magic number 0x1f 0x8b.
    static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// Decompresses one gzip member.
    ///
    /// zlib checks the CRC-32 when it reaches the trailer, but silently stops on truncated input;
    /// so the output size is also checked against the trailer's ISIZE field (size modulo 2³²),
    /// which also sizes the output buffer in one allocation.
    ///
    /// - Complexity: O(n) in the decompressed size.
    static func decompress(_ bytes: [UInt8], maxSize: Int = maxDecompressedSize) throws(TraceError) -> [UInt8] {
        guard bytes.count >= minimumSize else {
            throw .corruptGzip("\(bytes.count) bytes is too short for gzip data")
        }
        let trailer = bytes.count - 4
        let recordedSize =
            Int(bytes[trailer]) | Int(bytes[trailer + 1]) << 8 | Int(bytes[trailer + 2]) << 16
            | Int(bytes[trailer + 3]) << 24
        guard recordedSize <= maxSize else {
            throw .corruptGzip("the trailer records \(recordedSize) decompressed bytes, more than the limit of \(maxSize)")
        }
        let (plausible, overflow) = bytes.count.multipliedReportingOverflow(by: maxExpansion)
        guard overflow || recordedSize <= plausible else {
            throw .corruptGzip("the trailer records \(recordedSize) decompressed bytes, impossible for \(bytes.count) compressed bytes")
        }

        var output: ByteBuffer
        do {
            var input = ByteBuffer(bytes: bytes)
            // Spare room: valid data never fills the buffer, so "buffer full" means corrupt.
            output = ByteBufferAllocator().buffer(capacity: recordedSize + 64)
            try input.decompress(to: &output, with: .gzip())
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw .corruptGzip("the data decompresses to more than the \(recordedSize) bytes its trailer records")
        } catch {
            throw .corruptGzip("zlib reports \(error)")
        }
        guard output.readableBytes == recordedSize else {
            let problem = output.readableBytes < recordedSize ? "truncated or corrupt" : "corrupt"
            throw .corruptGzip(
                "the data is \(problem): it decompresses to \(output.readableBytes) bytes but its trailer records \(recordedSize)"
            )
        }
        return output.readBytes(length: output.readableBytes) ?? []
    }
}
