import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM as a stream: each signal yields once to ``stream``. While it lives the
/// signals no longer stop the process; ``cancel()`` stops listening.
struct ShutdownSignals {
    let stream: AsyncStream<Void>
    private let sources: [any DispatchSourceSignal]

    init(label: String) {
        let (stream, sink) = AsyncStream<Void>.makeStream()
        self.stream = stream
        let queue = DispatchQueue(label: label)
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { sink.yield() }
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
