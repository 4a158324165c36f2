import CompressNIO
import NIOCore

/// Detection and checks of single-member gzip data (RFC 1952).
enum Gzip {
    /// The first two bytes of every gzip member.
    static let magic: [UInt8] = [0x1F, 0x8B]

    /// Largest decompressed size accepted.
    static let maxDecompressedSize = 1 << 30

    /// Deflate cannot expand data by more than about 1032:1; a trailer claiming more is corrupt.
    private static let maxExpansion = 1032

    /// Smallest valid gzip member: 10-byte header, 2-byte empty deflate block, 8-byte trailer.
    private static let minimumSize = 20

    /// True when `bytes` start with the gzip magic number 0x1f 0x8b.
    static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: magic)
    }

    /// The decompressed size recorded in the member's trailer (ISIZE, the size modulo 2³²), after
    /// checking it against `maxSize` and against what the member's bytes can possibly expand to.
    static func recordedSize(ofMember member: ByteBuffer, maxSize: Int) throws(TraceError) -> Int {
        let count = member.readableBytes
        guard count >= minimumSize,
            let size = member.getInteger(at: member.readerIndex + count - 4, endianness: .little, as: UInt32.self)
        else {
            throw .corruptGzip("\(count) bytes is too short for gzip data")
        }
        let recordedSize = Int(size)
        guard recordedSize <= maxSize else {
            throw .corruptGzip("the trailer records \(recordedSize) decompressed bytes, more than the limit of \(maxSize)")
        }
        let (plausible, overflow) = count.multipliedReportingOverflow(by: maxExpansion)
        guard overflow || recordedSize <= plausible else {
            throw .corruptGzip("the trailer records \(recordedSize) decompressed bytes, impossible for \(count) compressed bytes")
        }
        return recordedSize
    }
}

/// Decompresses one gzip member chunk by chunk, so the whole output is never in memory at once.
///
/// zlib checks the CRC-32 when it reaches the trailer, but silently stops on truncated input; so
/// the output size is also checked against the trailer's ISIZE field when the stream ends. A failed
/// check ends the stream early and is kept in ``failure``: a consumer that meets an early end of
/// input should call ``finish()`` and prefer its error to its own.
final class GzipStream: JSONChunkSource {
    /// Decompressed bytes produced per zlib call.
    static let chunkSize = 1 << 16

    /// The decompressed size the trailer records (already checked for plausibility).
    let recordedSize: Int
    /// Most bytes one ``readChunk(appendingTo:)`` appends: ``chunkSize``, or less for a small member.
    let chunkCapacity: Int
    /// Why the stream ended early, if it did.
    private(set) var failure: TraceError?

    private var input: ByteBuffer
    private var chunk: ByteBuffer
    private let decompressor: ZlibDecompressor
    private var producedCount = 0
    private var isFinished = false

    /// Checks the member's size fields and prepares to decompress it.
    init(member: consuming ByteBuffer, maxSize: Int = Gzip.maxDecompressedSize) throws(TraceError) {
        recordedSize = try Gzip.recordedSize(ofMember: member, maxSize: maxSize)
        do {
            decompressor = try ZlibDecompressor(algorithm: .gzip)
        } catch {
            throw .corruptGzip("zlib could not start: \(error)")
        }
        input = member
        // A small member needs no more than its own size (plus slack to notice excess output).
        chunkCapacity = min(Self.chunkSize, recordedSize + 64)
        chunk = ByteBufferAllocator().buffer(capacity: chunkCapacity)
    }

    /// Appends the next decompressed bytes (at least one) to `bytes`; false at the end of the
    /// member or when it turned out corrupt (see ``failure``).
    ///
    /// - Complexity: O(k) in the bytes appended, at most ``chunkSize``.
    func readChunk(appendingTo bytes: inout [UInt8]) -> Bool {
        while !isFinished {
            chunk.clear()
            var reachedEnd = false
            do {
                // Returns at the end of the member, or with all input used up (truncated data).
                try decompressor.inflate(from: &input, to: &chunk)
                reachedEnd = true
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // The chunk is full; there may be more.
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                reachedEnd = true  // all input used up before the end of the member
            } catch {
                return fail(.corruptGzip("zlib reports \(error)"))
            }
            producedCount += chunk.readableBytes
            guard producedCount <= recordedSize else {
                return fail(.corruptGzip("the data decompresses to more than the \(recordedSize) bytes its trailer records"))
            }
            if reachedEnd {
                isFinished = true
                guard producedCount == recordedSize else {
                    return fail(
                        .corruptGzip(
                            "the data is truncated or corrupt: it decompresses to \(producedCount) bytes but its trailer records \(recordedSize)"
                        ))
                }
            }
            if chunk.readableBytes > 0 {
                chunk.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
                return true
            }
        }
        return false
    }

    /// Decompresses (and discards) whatever is left, which checks the CRC-32 and the size, and
    /// returns why the member is corrupt, or nil when it is intact.
    ///
    /// - Complexity: O(n) in the decompressed bytes not read yet.
    func finish() -> TraceError? {
        var scratch: [UInt8] = []
        while readChunk(appendingTo: &scratch) {
            scratch.removeAll(keepingCapacity: true)
        }
        return failure
    }

    private func fail(_ error: TraceError) -> Bool {
        isFinished = true
        failure = error
        return false
    }
}
