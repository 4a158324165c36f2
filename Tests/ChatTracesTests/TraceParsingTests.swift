import ChatTraces
import Foundation
import Testing

// MARK: - Helpers

/// Parses JSON text and returns the error, or nil when it parses.
private func parseError(_ json: String) -> TraceError? {
    parseError(bytes: Array(json.utf8))
}

private func parseError(bytes: [UInt8]) -> TraceError? {
    do {
        _ = try EditingTrace.parse(bytes: bytes, name: "test")
        return nil
    } catch {
        return error
    }
}

private func parse(_ json: String) throws(TraceError) -> EditingTrace {
    try EditingTrace.parse(bytes: Array(json.utf8), name: "test")
}

private func scalars(_ text: String) -> [Unicode.Scalar] { Array(text.unicodeScalars) }

/// A fresh temporary directory, removed by the caller.
private func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("ChatTracesTests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// `{"endContent":"hi","txns":[{"patches":[[0,0,"hi"]]}]}` compressed by Python's
/// `gzip.compress(..., mtime=0)`.
private let gzippedHiTrace: [UInt8] = [
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0x4a, 0xcd, 0x4b, 0x71,
    0xce, 0xcf, 0x2b, 0x49, 0xcd, 0x2b, 0x51, 0xb2, 0x52, 0xca, 0xc8, 0x54, 0xd2, 0x51, 0x2a, 0xa9,
    0xc8, 0x2b, 0x56, 0xb2, 0x8a, 0xae, 0x56, 0x2a, 0x48, 0x2c, 0x49, 0xce, 0x48, 0x05, 0xb1, 0xa3,
    0x0d, 0x74, 0x0c, 0x74, 0x40, 0xb2, 0xb1, 0xb1, 0xb5, 0xb1, 0xb5, 0x00, 0x0e, 0x97, 0x0a, 0xe0,
    0x35, 0x00, 0x00, 0x00,
]
private let plainHiTrace = #"{"endContent":"hi","txns":[{"patches":[[0,0,"hi"]]}]}"#

private let sequentialSample = #"""
    {"startContent":"ab","endContent":"xa\u00e9\ud83d\ude00b",
     "txns":[{"time":"2021-04-19T06:06:58.219Z","patches":[[0,0,"x"]]},
             {"patches":[[2,0,"é"],[3,0,"\ud83d\ude00"]]},
             {"patches":[[0,0,"\"\\\/\b\f\n\r\t"],[0,8,""]]}],
     "extra":{"a":[1,-0.5,2.5e-3,1E+400,true,false,null,{"b":"c","d":[]}],"e":{}}}
    """#

private let concurrentSample = #"""
    {"endContent":"ab","txns":[
       {"agent":0,"parents":[],"numChildren":1,"time":"x","patches":[[0,0,"a"]]},
       {"patches":[[1,0,"b"]],"parents":[0],"agent":1},
       {"parents":[0,1],"agent":0,"patches":[]}
     ],"kind":"concurrent"}
    """#

// MARK: - Well-formed traces

@Suite("Editing trace parsing")
struct TraceParsingTests {
    @Test("A sequential trace: escapes, non-ASCII and surrogate pairs, linear parents, unknown keys skipped")
    func sequentialTrace() throws {
        let trace = try parse(sequentialSample)
        #expect(trace.name == "test")
        #expect(trace.kind == .sequential)
        #expect(trace.agentCount == 1)
        #expect(trace.startContent == scalars("ab"))
        #expect(trace.endContent == scalars("xaé😀b"))
        #expect(trace.transactions.count == 3)
        #expect(trace.patchCount == 5)

        let texts = trace.patches.map { String(String.UnicodeScalarView(trace.insertedText(of: $0))) }
        #expect(texts == ["x", "é", "😀", "\"\\/\u{08}\u{0C}\n\r\t", ""])
        #expect(trace.insertedText(of: trace.patches[2]).count == 1)  // one scalar from a surrogate pair
        #expect(trace.patches[4] == TracePatch(position: 0, deleteCount: 8, insertRange: 11..<11))

        #expect(trace.transactions.map(\.agent) == [0, 0, 0])
        #expect(trace.transactions.map { Array(trace.parents(of: $0)) } == [[], [0], [1]])
        #expect(trace.transactions.map { trace.patches(of: $0).count } == [1, 2, 2])
        #expect(trace.parentStorage == [0, 1])
    }

    @Test("A sequential trace with no startContent starts empty")
    func sequentialDefaults() throws {
        let trace = try parse(plainHiTrace)
        #expect(trace.kind == .sequential)
        #expect(trace.startContent.isEmpty)
        #expect(trace.endContent == scalars("hi"))
        #expect(trace.transactions == [TraceTransaction(agent: 0, parentRange: 0..<0, patchRange: 0..<1)])
    }

    @Test("A concurrent trace with keys in any order and numAgents inferred")
    func concurrentTrace() throws {
        let trace = try parse(concurrentSample)
        #expect(trace.kind == .concurrent)
        #expect(trace.agentCount == 2)
        #expect(trace.transactions.map(\.agent) == [0, 1, 0])
        #expect(trace.transactions.map { Array(trace.parents(of: $0)) } == [[], [0], [0, 1]])
        #expect(trace.transactions.map { trace.patches(of: $0).count } == [1, 1, 0])
        #expect(trace.insertedScalars == scalars("ab"))
        #expect(trace.endContent == scalars("ab"))
    }

    @Test("numAgents is used when present")
    func concurrentNumAgents() throws {
        let trace = try parse(
            #"{"kind":"concurrent","numAgents":5,"endContent":"","txns":[{"agent":3,"parents":[],"patches":[]}]}"#)
        #expect(trace.agentCount == 5)
    }

    @Test("\"kind\" other than \"concurrent\" means sequential")
    func otherKinds() throws {
        #expect(try parse(#"{"kind":"sequential","endContent":"","txns":[]}"#).kind == .sequential)
        #expect(try parse(#"{"kind":"unusual","endContent":"","txns":[]}"#).kind == .sequential)
    }

    @Test("Whitespace anywhere between tokens is accepted")
    func whitespace() throws {
        let trace = try parse(" \n\t{ \"endContent\" : \"hi\" ,\r\n \"txns\" : [ { \"patches\" : [ [ 0 , 0 , \"hi\" ] ] } ] } \n")
        #expect(trace.patchCount == 1)
    }

    // MARK: - Gzip

    @Test("Gzip is detected by its magic bytes and decompressed")
    func gzipBytes() throws {
        let trace = try EditingTrace.parse(bytes: gzippedHiTrace, name: "hi")
        #expect(trace.endContent == scalars("hi"))
        #expect(trace.patches == [TracePatch(position: 0, deleteCount: 0, insertRange: 0..<2)])
    }

    @Test("Files load by content, not by name; the name drops .json / .json.gz")
    func gzipDetectionIgnoresFileName() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gzipNamedPlain = directory.appendingPathComponent("plain-looking.json")
        let plainNamedGzip = directory.appendingPathComponent("gzip-looking.json.gz")
        try Data(gzippedHiTrace).write(to: gzipNamedPlain)
        try Data(plainHiTrace.utf8).write(to: plainNamedGzip)

        let first = try EditingTrace.load(path: gzipNamedPlain.path)
        let second = try EditingTrace.load(path: plainNamedGzip.path)
        #expect(first.name == "plain-looking")
        #expect(second.name == "gzip-looking")
        #expect(first.endContent == second.endContent)
        #expect(first.patches == second.patches)
    }

    @Test("Corrupt gzip data is reported as corruptGzip")
    func corruptGzip() {
        // Every truncation of the member fails, never silently yields a shorter document.
        for length in 2..<gzippedHiTrace.count {
            let error = parseError(bytes: Array(gzippedHiTrace.prefix(length)))
            #expect(error?.code == "trace.corruptGzip", "prefix of \(length) bytes: \(String(describing: error))")
        }
        // A flipped bit in the deflate body or the CRC.
        for index in [12, 30, 50, gzippedHiTrace.count - 6] {
            var bytes = gzippedHiTrace
            bytes[index] ^= 0x10
            let error = parseError(bytes: bytes)
            #expect(error?.code == "trace.corruptGzip", "flipped byte \(index): \(String(describing: error))")
        }
        // A trailer claiming a different size.
        var wrongSize = gzippedHiTrace
        wrongSize[wrongSize.count - 4] &+= 1
        #expect(parseError(bytes: wrongSize)?.code == "trace.corruptGzip")
        // Garbage after the magic bytes.
        #expect(parseError(bytes: [0x1f, 0x8b] + Array(repeating: 0xAA, count: 40))?.code == "trace.corruptGzip")
    }

    // MARK: - Malformed JSON

    @Test(
        "Malformed JSON is reported with the byte offset of the problem",
        arguments: [
            (#"{"endContent":"hi","txns":[{"patches":[[0,0,"h"#, 46, "ends"),
            (#"{"endContent":"a\qb","txns":[]}"#, 17, "escape"),
            (#"{"endContent":"\ud800","txns":[]}"#, 15, "surrogate"),
            (#"{"endContent":"\udc00","txns":[]}"#, 15, "surrogate"),
            (#"{"endContent":"\ud800\u0041","txns":[]}"#, 15, "surrogate"),
            (#"{"endContent":"\ud800x","txns":[]}"#, 15, "surrogate"),
            (#"{"endContent":"\u12G4","txns":[]}"#, 19, "hexadecimal"),
            ("{\"endContent\":\"a\u{01}\",\"txns\":[]}", 16, "control"),
            (#"{"endContent":"","txns":[],"x":[1,]}"#, 34, "value"),
            (#"{"endContent":"","txns":[],}"#, 27, "key"),
            (#"{"endContent":"" "txns":[]}"#, 17, "','"),
            (#"{"endContent":"","txns":[]} x"#, 28, "more data"),
            (#"{"endContent":"","txns":[],"x":01}"#, 31, "number"),
            (#"{"endContent":"","txns":[],"x":1.}"#, 31, "number"),
            (#"{"endContent":"","txns":[],"x":1.5e}"#, 31, "number"),
            (#"{"endContent":"","txns":[],"x":-}"#, 31, "number"),
            (#"{"endContent":"","txns":[],"x":tru}"#, 34, "literal"),
            (#"{"endContent":"","txns":[],"x":nul"#, 34, "ends"),
            (#"{"endContent":"","txns":[],"x":[}"#, 32, "value"),
            ("", 0, "ends"),
        ])
    func malformedJSON(json: String, offset: Int, reasonFragment: String) {
        let error = parseError(json)
        guard case .malformedJSON(let foundOffset, let reason)? = error else {
            Issue.record("expected malformedJSON, got \(String(describing: error))")
            return
        }
        #expect(foundOffset == offset, "\(reason)")
        #expect(reason.contains(reasonFragment), "\(reason)")
    }

    @Test("Invalid UTF-8 inside strings is malformed JSON")
    func invalidUTF8() {
        let prefix = Array(#"{"endContent":""#.utf8)
        let suffix = Array(#"","txns":[]}"#.utf8)
        let badSequences: [[UInt8]] = [
            [0xFF], [0x80], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF8, 0x88, 0x80, 0x80, 0x80], [0xE2, 0x82],
        ]
        for bad in badSequences {
            let error = parseError(bytes: prefix + bad + suffix)
            guard case .malformedJSON(let offset, let reason)? = error else {
                Issue.record("\(bad): expected malformedJSON, got \(String(describing: error))")
                continue
            }
            #expect(offset == prefix.count, "\(bad)")
            #expect(reason.contains("UTF-8"), "\(bad): \(reason)")
        }
        // Valid multi-byte sequences of every length decode to one scalar each.
        let good = prefix + [0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80] + suffix
        #expect((try? EditingTrace.parse(bytes: good, name: "t"))?.endContent == scalars("é€😀"))
    }

    @Test("Every proper prefix of a valid trace fails cleanly")
    func everyTruncation() {
        let bytes = Array(sequentialSample.utf8)
        for length in 0..<bytes.count {
            let error = parseError(bytes: Array(bytes.prefix(length)))
            #expect(error?.code == "trace.malformedJSON", "prefix \(length): \(String(describing: error))")
        }
    }

    @Test("Nesting is bounded: 64 levels are skipped, deeper input is rejected")
    func nestingDepth() {
        func document(depth: Int) -> String {
            // The top-level object is one level, so an unknown value may nest 63 more.
            #"{"endContent":"","txns":[],"x":"# + String(repeating: "[", count: depth)
                + String(repeating: "]", count: depth) + "}"
        }
        #expect(parseError(document(depth: 63)) == nil)
        let error = parseError(document(depth: 10_000))
        guard case .malformedJSON(let offset, let reason)? = error else {
            Issue.record("expected malformedJSON, got \(String(describing: error))")
            return
        }
        #expect(offset == 31 + 63)
        #expect(reason.contains("nested"))
    }

    // MARK: - Invalid traces

    @Test(
        "Valid JSON that is not a valid trace is reported as invalidTrace with a clear reason",
        arguments: [
            (#"[]"#, "top-level"),
            (#"{"endContent":""}"#, "txns"),
            (#"{"txns":[]}"#, "endContent"),
            (#"{"endContent":"","txns":{}}"#, "\"txns\" must be an array"),
            (#"{"endContent":5,"txns":[]}"#, "\"endContent\" must be a string"),
            (#"{"endContent":"","txns":[],"txns":[]}"#, "twice"),
            (#"{"endContent":"","txns":[[]]}"#, "txn 0 must be an object"),
            (#"{"endContent":"","txns":[{"patches":[[0,"1","a"]]}]}"#, "txn 0, patch 0: deleteCount must be a number"),
            (#"{"endContent":"","txns":[{"patches":[["0",1,"a"]]}]}"#, "txn 0, patch 0: position must be a number"),
            (#"{"endContent":"","txns":[{"patches":[[0,1,2]]}]}"#, "txn 0, patch 0: text must be a string"),
            (#"{"endContent":"","txns":[{},{"patches":[[0,1]]}]}"#, "txn 1, patch 0 has 2 elements"),
            (#"{"endContent":"","txns":[{"patches":[[0,1,"a",4]]}]}"#, "txn 0, patch 0 has more than 3"),
            (#"{"endContent":"","txns":[{"patches":[[]]}]}"#, "txn 0, patch 0 is empty"),
            (#"{"endContent":"","txns":[{"patches":["x"]}]}"#, "txn 0, patch 0 must be an array"),
            (#"{"endContent":"","txns":[{"patches":[[0,0,""],[1.5,0,"a"]]}]}"#, "txn 0, patch 1: position must be an integer"),
            (#"{"endContent":"","txns":[{"patches":[[-1,0,"a"]]}]}"#, "txn 0, patch 0 has negative position"),
            (#"{"endContent":"","txns":[{"patches":[[0,-2,""]]}]}"#, "txn 0, patch 0 has negative deleteCount"),
            (#"{"endContent":"","txns":[{"patches":[[9223372036854775808,0,""]]}]}"#, "too large"),
            (#"{"endContent":"","txns":[{"patches":[[0,-9223372036854775809,""]]}]}"#, "too large"),
            (#"{"kind":"concurrent","endContent":"","txns":[{"agent":"x","parents":[]}]}"#, "txn 0: \"agent\" must be a number"),
            (#"{"kind":"concurrent","endContent":"","txns":[{"agent":0,"parents":[1]}]}"#, "txn 0 has parent 1"),
            (#"{"kind":"concurrent","endContent":"","txns":[{"agent":0,"parents":[]},{"agent":0,"parents":[1]}]}"#, "txn 1 has parent 1"),
            (#"{"kind":"concurrent","endContent":"","txns":[{"agent":0,"parents":[]},{"agent":0,"parents":[-1]}]}"#, "txn 1 has parent -1"),
            (#"{"kind":"concurrent","endContent":"","txns":[{"agent":0,"parents":"0"}]}"#, "txn 0: \"parents\" must be an array"),
            (#"{"kind":"concurrent","numAgents":2,"endContent":"","txns":[{"agent":0,"parents":[]},{"agent":2,"parents":[0]}]}"#, "txn 1 has agent 2, but numAgents is 2"),
            (#"{"kind":"concurrent","endContent":"","txns":[{"agent":-1,"parents":[]}]}"#, "txn 0 has agent -1"),
            (#"{"kind":"concurrent","endContent":"","txns":[{"parents":[]}]}"#, "txn 0 of a concurrent trace has no \"agent\""),
            (#"{"kind":"concurrent","endContent":"","txns":[{"agent":0}]}"#, "txn 0 of a concurrent trace has no \"parents\""),
            (#"{"kind":"concurrent","numAgents":0,"endContent":"","txns":[]}"#, "numAgents"),
            (#"{"kind":3,"endContent":"","txns":[]}"#, "\"kind\" must be a string"),
            (#"{"endContent":"","txns":[{"agent":0,"agent":1}]}"#, "txn 0 has two \"agent\" keys"),
        ])
    func invalidTrace(json: String, reasonFragment: String) {
        let error = parseError(json)
        guard case .invalidTrace(let reason)? = error else {
            Issue.record("expected invalidTrace, got \(String(describing: error))")
            return
        }
        #expect(reason.contains(reasonFragment), "\(reason)")
    }

    // MARK: - Files

    @Test("A missing file is fileNotFound; a directory is unreadable")
    func missingFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("nope.json.gz").path
        #expect(throws: TraceError.fileNotFound(missing)) { try EditingTrace.load(path: missing) }
        #expect(parseErrorLoading(directory.path)?.code == "trace.unreadable")
    }

    @Test("Errors describe themselves in one sentence")
    func errorDescriptions() {
        let errors: [TraceError] = [
            .fileNotFound("/x"), .unreadable("/x", "denied"), .corruptGzip("bad CRC"),
            .malformedJSON(offset: 3, reason: "oops"), .invalidTrace("txn 1 has parent 5"),
        ]
        for error in errors {
            #expect(error.description.hasSuffix("."))
            #expect(!error.description.contains("\n"))
        }
        #expect(TraceError.malformedJSON(offset: 3, reason: "oops").description.contains("byte 3"))
        #expect(Set(errors.map(\.code)).count == errors.count)
    }

    // MARK: - Robustness

    @Test("Random mutations of valid traces never trap")
    func mutationsNeverTrap() {
        var generator = SplitMix64(seed: 0x5EED_CAFE)
        print("mutationsNeverTrap seed: 0x5EEDCAFE")
        let samples = [Array(sequentialSample.utf8), Array(concurrentSample.utf8), gzippedHiTrace]
        let interesting = Array(#"{}[]",:\u0123456789-+.eE"tfn "#.utf8) + [0x00, 0x80, 0xC3, 0xED, 0xF4, 0xFF, 0x1F, 0x8B]
        var parsed = 0
        for iteration in 0..<3_000 {
            var bytes = samples[iteration % samples.count]
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let index = Int(generator.next() % UInt64(bytes.count + 1))
                let byte = interesting[Int(generator.next() % UInt64(interesting.count))]
                switch generator.next() % 4 {
                case 0 where index < bytes.count: bytes[index] = byte
                case 1: bytes.insert(byte, at: index)
                case 2 where index < bytes.count: bytes.remove(at: index)
                default: bytes = Array(bytes.prefix(index))
                }
                if bytes.isEmpty { break }
            }
            if parseError(bytes: bytes) == nil { parsed += 1 }
        }
        #expect(parsed < 3_000)
    }
}

private func parseErrorLoading(_ path: String) -> TraceError? {
    do {
        _ = try EditingTrace.load(path: path)
        return nil
    } catch {
        return error
    }
}

/// A small seeded generator (SplitMix64) so failures reproduce.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Real traces

/// `../shared/traces` relative to the package root (found from this file's path).
private enum RealTraces {
    static let directory: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // ChatTracesTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
        .appendingPathComponent("../shared/traces")
        .standardizedFileURL.path

    /// Whether the folder exists; prints why the tests are skipped when it does not (evaluated once).
    static let available: Bool = {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue
        if !exists {
            print("Skipping the real-trace tests: the folder \(directory) does not exist.")
        }
        return exists
    }()
}

@Suite("Real editing traces", .enabled(if: RealTraces.available, "needs ../shared/traces"))
struct RealTraceTests {
    @Test("automerge-paper: 259,778 single-character patches, 104,852 final characters")
    func automergePaper() throws {
        let trace = try EditingTrace.load(path: RealTraces.directory + "/automerge-paper.json.gz")
        #expect(trace.name == "automerge-paper")
        #expect(trace.kind == .sequential)
        #expect(trace.agentCount == 1)
        #expect(trace.transactions.count == 259_778)
        #expect(trace.patchCount == 259_778)
        #expect(trace.endContent.count == 104_852)
        #expect(trace.startContent.isEmpty)
        #expect(trace.insertedScalars.count == 182_315)
        #expect(trace.patches.reduce(0) { $0 + $1.deleteCount } == 77_463)
        #expect(trace.patches.allSatisfy { $0.deleteCount + $0.insertCount == 1 })
        #expect(trace.parentStorage.count == 259_777)
        // Lengths add up: inserted minus deleted is the final length.
        #expect(trace.insertedScalars.count - 77_463 == trace.endContent.count)
    }

    @Test("friendsforever: 26,078 patches by 2 agents, 21,362 final characters, 2,258 merges")
    func friendsForever() throws {
        let trace = try EditingTrace.load(path: RealTraces.directory + "/friendsforever.json.gz")
        #expect(trace.name == "friendsforever")
        #expect(trace.kind == .concurrent)
        #expect(trace.agentCount == 2)
        #expect(trace.transactions.count == 26_078)
        #expect(trace.patchCount == 26_078)
        #expect(trace.endContent.count == 21_362)
        #expect(trace.insertedScalars.count == 23_720)
        #expect(trace.patches.reduce(0) { $0 + $1.deleteCount } == 2_358)
        #expect(trace.transactions.filter { trace.parents(of: $0).count > 1 }.count == 2_258)
        #expect(Set(trace.transactions.map(\.agent)) == [0, 1])
    }
}
