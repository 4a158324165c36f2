import ChatCore
import Foundation
import ChatCrypto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `streamingchat bench trace` measures and prints. Field names are a contract.
public struct TraceBenchmarkReport: Sendable, Codable, Equatable {
    /// Trace name (file name without extension).
    public var trace: String
    /// "sequential" or "concurrent".
    public var kind: String
    /// Patches in the trace.
    public var patches: Int
    /// Operation ids made (inserted plus deleted characters).
    public var ops: Int
    /// Replicas used in the replay.
    public var replicas: Int
    /// Median wall time of a whole replay, in milliseconds.
    public var replayMs: Double
    /// Median wall time to load a fresh replica from the final state's encoding, text first
    /// (``SequenceCRDT/init(decodingTextFirst:replica:)``: the visible text read and checked,
    /// the rest decoded on first need), in milliseconds.
    public var loadMs: Double
    /// Median wall time to load the final state's encoding and check it whole
    /// (``SequenceCRDT/init(decoding:replica:)``: the text-first load plus
    /// ``SequenceCRDT/completeLoad()``), in milliseconds.
    public var completeLoadMs: Double
    /// Size of the final state's encoding.
    public var encodedBytes: Int
    /// Peak resident set size of the whole process so far.
    public var peakRSSBytes: Int
    /// Final document length in Unicode scalars.
    public var finalLength: Int
    /// SHA-256 (hex) of the final text's UTF-8.
    public var sha256: String
    /// True when the final text equals the trace's `endContent`.
    public var matchesEndContent: Bool
    /// How many timed runs the medians are over.
    public var runs: Int
    /// Spans (runs) the final document is stored as.
    public var spans: Int
    /// Median wall time to apply every operation of the final state (its whole history, as
    /// ``SequenceCRDT/operations(since:)`` gives it) to an empty replica, in milliseconds.
    public var mergeMs: Double
}

/// Replays a trace several times and measures replay, load, size and memory.
public enum TraceBenchmark {
    /// Why a benchmark could not run.
    public enum Failure: Error, CustomStringConvertible {
        case trace(TraceError)
        case replay(TraceReplayError)
        case load(SequenceError)

        public var description: String {
            switch self {
            case .trace(let error): error.description
            case .replay(let error): "replay failed: \(error)"
            case .load(let error): "reloading the final state failed: \(error)"
            }
        }
    }

    /// Loads `path` and measures it over `runs` runs (at least 1).
    public static func run(path: String, runs: Int = 5) throws(Failure) -> TraceBenchmarkReport {
        let trace: EditingTrace
        do {
            trace = try EditingTrace.load(path: path)
        } catch {
            throw .trace(error)
        }
        return try run(trace, runs: runs)
    }

    /// Measures an already loaded trace.
    public static func run(_ trace: EditingTrace, runs: Int = 5) throws(Failure) -> TraceBenchmarkReport {
        let runs = max(1, runs)
        let clock = ContinuousClock()
        var replayTimes: [Duration] = []
        var result: TraceReplayResult?
        for _ in 0 ..< runs {
            result = nil // release the previous run's replicas before timing the next
            let start = clock.now
            do {
                result = try TraceReplayer.replay(trace)
            } catch {
                throw .replay(error)
            }
            replayTimes.append(clock.now - start)
        }
        guard let result else { throw .replay(.sequence(transaction: -1, .emptyOperation)) }
        let finalText = result.document.elements
        let encoded = result.document.encodedState()
        var loadTimes: [Duration] = []
        var completeLoadTimes: [Duration] = []
        for _ in 0 ..< runs {
            do throws(SequenceError) {
                let start = clock.now
                var loaded = try SequenceCRDT<Unicode.Scalar>(decodingTextFirst: encoded)
                loadTimes.append(clock.now - start)
                guard loaded.elements == finalText else { throw .malformedState("the text loaded first differs") }
                let completeStart = clock.now
                let complete = try SequenceCRDT<Unicode.Scalar>(decoding: encoded)
                completeLoadTimes.append(clock.now - completeStart)
                try loaded.completeLoad()
                guard complete.elements == finalText, loaded.spanCount == complete.spanCount,
                      loaded.clock == result.document.clock else { throw .malformedState("the reloaded state differs") }
            } catch {
                throw .load(error)
            }
        }
        let operations = result.document.operations()
        var mergeTimes: [Duration] = []
        for _ in 0 ..< runs {
            var empty = SequenceCRDT<Unicode.Scalar>(replica: ReplicaID(testValue: 999_999))
            let start = clock.now
            do {
                try empty.apply(contentsOf: operations)
            } catch {
                throw .load(error)
            }
            mergeTimes.append(clock.now - start)
            guard empty.elements == finalText else { throw .load(.malformedState("the merged replica differs")) }
        }
        var utf8: [UInt8] = []
        utf8.reserveCapacity(finalText.count)
        for scalar in finalText { utf8.append(contentsOf: UTF8.encode(scalar) ?? UTF8.EncodedScalar()) }
        return TraceBenchmarkReport(
            trace: trace.name, kind: trace.kind.rawValue, patches: trace.patchCount,
            ops: result.operationCount, replicas: result.replicaCount,
            replayMs: median(replayTimes), loadMs: median(loadTimes), completeLoadMs: median(completeLoadTimes),
            encodedBytes: encoded.count,
            peakRSSBytes: peakResidentSetBytes(), finalLength: finalText.count,
            sha256: Hashing.hex(Hashing.sha256(utf8)), matchesEndContent: finalText == trace.endContent,
            runs: runs, spans: result.document.spanCount, mergeMs: median(mergeTimes))
    }

    /// A duration in milliseconds, to the microsecond.
    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return (Double(seconds) * 1e3 + Double(attoseconds) / 1e15).rounded(toPlaces: 3)
    }

    /// Median in milliseconds.
    static func median(_ times: [Duration]) -> Double {
        let sorted = times.sorted()
        guard !sorted.isEmpty else { return 0 }
        let middle = sorted.count / 2
        let value = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        return milliseconds(value)
    }

    /// The process's resident set size now, in bytes (Linux: /proc/self/statm; 0 elsewhere).
    public static func currentResidentSetBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The process's peak resident set size in bytes (Linux reports kilobytes).
    public static func peakResidentSetBytes() -> Int {
        var usage = rusage()
        #if os(Linux)
        let who = __rusage_who_t(RUSAGE_SELF.rawValue)
        #else
        let who = RUSAGE_SELF
        #endif
        guard getrusage(who, &usage) == 0 else { return 0 }
        #if os(Linux)
        return Int(usage.ru_maxrss) * 1024
        #else
        return Int(usage.ru_maxrss)
        #endif
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        var scale = 1.0
        for _ in 0 ..< places { scale *= 10 }
        return (self * scale).rounded() / scale
    }
}
