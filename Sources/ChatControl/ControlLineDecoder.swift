import NIOCore

/// One unit of a JSON-lines stream, as cut by ``ControlLineFramer``.
enum ControlLine: Sendable, Hashable {
    /// One line's bytes, without its `\n` (or `\r\n`). Never empty: blank lines are skipped.
    case line([UInt8])
    /// A line ran past the limit. Nothing more is produced for this stream.
    case tooLong
}

/// Cuts a byte stream into lines of at most `maximumLineBytes` bytes. Sans-I/O: it only reads
/// from the buffer it is given.
///
/// After a line overflows it yields ``ControlLine/tooLong`` once and from then on discards every byte,
/// so a peer that never sends a newline costs at most `maximumLineBytes` plus one read of memory.
struct ControlLineFramer: Sendable {
    /// The longest line accepted, not counting its newline.
    let maximumLineBytes: Int
    /// Bytes at the front of the readable region already searched for a newline without success,
    /// so a line arriving in many reads is scanned once, not once per read.
    private var scannedBytes = 0
    private var overflowed = false

    /// A framer accepting lines of up to `maximumLineBytes` bytes.
    init(maximumLineBytes: Int) {
        self.maximumLineBytes = maximumLineBytes
    }

    /// The next complete line in `buffer` (consuming it), ``ControlLine/tooLong`` once, or `nil` when
    /// more bytes are needed.
    /// - Complexity: O(*n*) in the bytes newly readable since the previous call.
    mutating func next(from buffer: inout ByteBuffer) -> ControlLine? {
        while true {
            if overflowed {
                buffer.moveReaderIndex(to: buffer.writerIndex)
                return nil
            }
            let view = buffer.readableBytesView
            let searchStart = view.index(view.startIndex, offsetBy: min(scannedBytes, view.count))
            guard let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
                scannedBytes = view.count
                if view.count > maximumLineBytes {
                    overflowed = true
                    buffer.moveReaderIndex(to: buffer.writerIndex)
                    return .tooLong
                }
                return nil
            }
            scannedBytes = 0
            let length = view.distance(from: view.startIndex, to: newline)
            guard length <= maximumLineBytes else {
                overflowed = true
                buffer.moveReaderIndex(to: buffer.writerIndex)
                return .tooLong
            }
            var bytes = buffer.readBytes(length: length) ?? []
            buffer.moveReaderIndex(forwardBy: 1)
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            if !bytes.isEmpty { return .line(bytes) }
        }
    }
}

/// The NIO shell around ``ControlLineFramer``: forwards each ``ControlLine`` down the pipeline.
struct ControlLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ControlLine

    private var framer: ControlLineFramer

    /// A decoder accepting lines of up to `maximumLineBytes` bytes.
    init(maximumLineBytes: Int) {
        framer = ControlLineFramer(maximumLineBytes: maximumLineBytes)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let line = framer.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }

    /// At end of input, hands on the complete lines left; an unterminated last line is dropped.
    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
