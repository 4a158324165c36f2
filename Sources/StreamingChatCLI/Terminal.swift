import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the terminal could not be set up.
struct TerminalError: Error, CustomStringConvertible {
    var description: String
}

/// A terminal in raw mode (no echo, no line editing, no signals from keys) on the alternate screen;
/// ``restore()`` (also run by `deinit`) puts back exactly the settings it found.
final class RawTerminal {
    private let input: Int32
    private let output: Int32
    private var original: termios
    private var restored = false

    /// Switches `input` to raw mode and `output` to the alternate screen.
    init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO) throws {
        guard isatty(input) == 1 else { throw TerminalError(description: "chat needs an interactive terminal on standard input") }
        var settings = termios()
        guard tcgetattr(input, &settings) == 0 else {
            throw TerminalError(description: "cannot read the terminal settings (errno \(errno))")
        }
        self.input = input
        self.output = output
        original = settings
        settings.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG | IEXTEN)
        settings.c_iflag &= ~tcflag_t(IXON | ICRNL | BRKINT | INPCK | ISTRIP)
        withUnsafeMutableBytes(of: &settings.c_cc) { bytes in
            bytes[Int(VMIN)] = 1
            bytes[Int(VTIME)] = 0
        }
        guard tcsetattr(input, TCSAFLUSH, &settings) == 0 else {
            throw TerminalError(description: "cannot switch the terminal to raw mode (errno \(errno))")
        }
        // The alternate screen, with alternate-scroll mode: the mouse wheel arrives as arrow
        // keys (the chat scrolls), and text can still be selected with the mouse.
        Self.write("\u{1B}[?1049h\u{1B}[?1007h\u{1B}[2J\u{1B}[H", to: output)
    }

    /// Leaves the alternate screen and restores the original settings; idempotent.
    func restore() {
        guard !restored else { return }
        restored = true
        Self.write("\u{1B}[0m\u{1B}[2J\u{1B}[H\u{1B}[?25h\u{1B}[?1007l\u{1B}[?1049l", to: output)
        _ = tcsetattr(input, TCSAFLUSH, &original)
    }

    deinit { restore() }

    /// The window's size in columns and rows: from the terminal, else `$COLUMNS`/`$LINES`, else 80 × 24.
    static func size(of fd: Int32 = STDOUT_FILENO) -> (width: Int, height: Int) {
        var size = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 {
            return (Int(size.ws_col), Int(size.ws_row))
        }
        let environment = ProcessInfo.processInfo.environment
        return (environment["COLUMNS"].flatMap(Int.init) ?? 80, environment["LINES"].flatMap(Int.init) ?? 24)
    }

    /// Writes all of `text` to `fd`, retrying partial writes and interruptions.
    static func write(_ text: String, to fd: Int32 = STDOUT_FILENO) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { buffer in
                buffer.baseAddress.map { Foundation.write(fd, $0, buffer.count) } ?? 0
            }
            if written < 0, errno == EINTR || errno == EAGAIN { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}

/// Terminal input, window resizes and termination signals as one stream, from dispatch sources
/// that are cancelled (and the signals' default handling restored) by ``stop()``.
final class TerminalEvents {
    /// Something the terminal reported.
    enum Event: Sendable {
        case input([UInt8])
        case endOfInput
        case resize
        case terminate
    }

    let stream: AsyncStream<Event>
    private let sources: [any DispatchSourceProtocol]
    private let signals: [Int32]

    /// Starts watching `fd` for input and, when `signals`, the process for SIGWINCH, SIGTERM,
    /// SIGHUP and SIGINT.
    init(input fd: Int32 = STDIN_FILENO, signals: Bool = true) {
        self.signals = signals ? [SIGWINCH, SIGTERM, SIGHUP, SIGINT] : []
        let (stream, continuation) = AsyncStream<Event>.makeStream()
        self.stream = stream
        let queue = DispatchQueue(label: "streamingchat.chat.terminal")
        let reader = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        reader.setEventHandler {
            var buffer = [UInt8](repeating: 0, count: 4_096)
            let count = buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress.map { read(fd, $0, raw.count) } ?? 0
            }
            if count > 0 {
                continuation.yield(.input(Array(buffer.prefix(count))))
            } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                // The loop ends on this; `stop()` cancels the source.
                continuation.yield(.endOfInput)
            }
        }
        var sources: [any DispatchSourceProtocol] = [reader]
        for number in self.signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { continuation.yield(number == SIGWINCH ? .resize : .terminate) }
            sources.append(source)
        }
        self.sources = sources
        for source in sources { source.resume() }
    }

    /// Stops every source and gives the signals back their default handling.
    func stop() {
        for source in sources { source.cancel() }
        for number in signals { signal(number, SIG_DFL) }
    }
}
