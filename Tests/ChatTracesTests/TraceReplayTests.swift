import ChatCore
import ChatTraces
import Foundation
import Testing

/// Replaying real traces is the correctness oracle: the final text must equal `endContent`.
@Suite struct TraceReplayTests {
    static let tracesFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/traces").path

    static var traceFiles: [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: tracesFolder) else {
            print("TraceReplayTests: \(tracesFolder) is absent; skipping the real-trace replays")
            return []
        }
        return names.filter { $0.hasSuffix(".json") || $0.hasSuffix(".json.gz") }.sorted()
    }

    /// Without `../shared/traces` the replays below would silently be zero tests.
    @Test func theRealTracesArePresent() {
        #expect(!Self.traceFiles.isEmpty, "no traces in \(Self.tracesFolder): the real-trace replays would run none")
    }

    @Test(arguments: traceFiles)
    func everyTraceReproducesItsEndContent(file: String) throws {
        let trace = try EditingTrace.load(path: Self.tracesFolder + "/" + file)
        let result = try TraceReplayer.replay(trace)
        #expect(result.document.elements == trace.endContent, "\(file): replay differs from endContent")
        #expect(result.replicaCount == (trace.kind == .sequential ? 1 : trace.agentCount))
        // The merged state survives a save and load.
        let reloaded = try SequenceCRDT<Unicode.Scalar>(decoding: result.document.encodedState())
        #expect(reloaded.elements == trace.endContent, "\(file): reloaded state differs")
    }

    /// A small concurrent trace with forks and merges, including a merge of three branches and
    /// concurrent deletes of the same text.
    @Test func concurrentTraceWithMerges() throws {
        let json = #"""
        {"kind":"concurrent","endContent":"Hi near world!","numAgents":3,"txns":[
          {"parents":[],"agent":0,"patches":[[0,0,"Hello world"]]},
          {"parents":[0],"agent":1,"patches":[[5,0," dear"]]},
          {"parents":[0],"agent":2,"patches":[[11,0,"!"]]},
          {"parents":[0],"agent":0,"patches":[[0,5,"Hi"]]},
          {"parents":[1,2,3],"agent":0,"patches":[]},
          {"parents":[1],"agent":1,"patches":[[6,4,"near"]]},
          {"parents":[4,5],"agent":2,"patches":[]}
        ]}
        """#
        let trace = try EditingTrace.parse(bytes: Array(json.utf8), name: "merges")
        let result = try TraceReplayer.replay(trace)
        #expect(String(String.UnicodeScalarView(result.document.elements)) == "Hi near world!")
        #expect(result.replicaCount == 3)
    }

    @Test func patchOutsideTheDocumentIsAnError() throws {
        let json = #"{"endContent":"","txns":[{"patches":[[3,0,"x"]]}]}"#
        let trace = try EditingTrace.parse(bytes: Array(json.utf8), name: "bad")
        #expect(throws: TraceReplayError.patchOutOfRange(transaction: 0, position: 3, deleteCount: 0, documentLength: 0)) {
            try TraceReplayer.replay(trace)
        }
    }

    /// A trace built by hand whose patch points past the trace's text is refused, not read out of
    /// bounds (the sequential replay reads the text through a buffer pointer).
    @Test func insertedTextOutsideTheTraceIsAnError() throws {
        let json = #"{"endContent":"ab","txns":[{"patches":[[0,0,"ab"]]}]}"#
        var trace = try EditingTrace.parse(bytes: Array(json.utf8), name: "hand-built")
        trace.patches[0].insertRange = 0 ..< 5
        #expect(throws: TraceReplayError.insertedTextOutOfRange(transaction: 0)) {
            try TraceReplayer.replay(trace)
        }
    }
}
