import NIOCore

extension EditingTrace {
    /// Parses plain JSON bytes; consumes them so they are released as soon as parsing ends.
    static func parseJSON(_ bytes: consuming [UInt8], name: String) throws(TraceError) -> EditingTrace {
        let size = bytes.count
        var parser = TraceParser(reader: JSONReader(bytes: bytes), gzip: nil, expectedSize: size)
        return try parser.parse(name: name)
    }

    /// Parses one gzip member, decompressing it chunk by chunk as the parser consumes it.
    static func parseGzip(_ member: consuming ByteBuffer, name: String) throws(TraceError) -> EditingTrace {
        let stream = try GzipStream(member: member)
        let reader = JSONReader(source: stream, chunkCapacity: stream.chunkCapacity)
        var parser = TraceParser(reader: reader, gzip: stream, expectedSize: stream.recordedSize)
        return try parser.parse(name: name)
    }
}

/// Streams one trace document out of a ``JSONReader`` into flat storage, validating as it goes.
private struct TraceParser {
    private var reader: JSONReader
    /// The decompressor feeding `reader`, if the input is gzip; its errors explain any parse error.
    private let gzip: GzipStream?

    private var kindName: String?
    private var startContent: [Unicode.Scalar] = []
    private var endContent: [Unicode.Scalar]?
    private var numAgents: Int?
    private var sawTransactions = false

    private var transactions: [TraceTransaction] = []
    private var patches: [TracePatch] = []
    private var insertedScalars: [Unicode.Scalar] = []
    private var parentStorage: [Int32] = []

    /// First transaction without an `agent` / `parents` key (an error only for concurrent traces).
    private var firstTransactionWithoutAgent: Int?
    private var firstTransactionWithoutParents: Int?

    /// A parser over `reader`, whose input is `expectedSize` bytes of JSON.
    init(reader: JSONReader, gzip: GzipStream?, expectedSize: Int) {
        self.reader = reader
        self.gzip = gzip
        // The traces use ~60–110 JSON bytes per patch; reserve for the dense end and let arrays grow past it.
        let estimate = min(expectedSize / 56, 1 << 24)
        transactions.reserveCapacity(estimate)
        patches.reserveCapacity(estimate)
    }

    mutating func parse(name: String) throws(TraceError) -> EditingTrace {
        do {
            try parseDocument()
        } catch {
            // Corrupt gzip data explains whatever the parser made of it: read it to the end to know.
            if let failure = gzip?.finish() { throw failure }
            switch error {
            case let error as JSONError: throw TraceError(error)
            case let error as TraceError: throw error
            default: throw .invalidTrace("unexpected error \(error)")
            }
        }
        // The JSON parsed, and reading it consumed the whole stream; the CRC and size checks ran at its end.
        if let failure = gzip?.finish() { throw failure }
        reader = JSONReader(bytes: [])  // drop the JSON bytes before building the result

        guard sawTransactions else { throw .invalidTrace("the trace has no \"txns\" array") }
        guard let endContent else { throw .invalidTrace("the trace has no \"endContent\" string") }

        let kind: EditingTrace.Kind = kindName == EditingTrace.Kind.concurrent.rawValue ? .concurrent : .sequential
        let agentCount: Int
        switch kind {
        case .sequential:
            agentCount = 1
            makeLinearHistory()
        case .concurrent:
            agentCount = try validateConcurrent()
        }
        return EditingTrace(
            name: name, kind: kind, startContent: startContent, endContent: endContent,
            agentCount: agentCount, transactions: transactions, patches: patches,
            insertedScalars: insertedScalars, parentStorage: parentStorage)
    }

    // MARK: Document

    private mutating func parseDocument() throws {
        let topLevel = try reader.peekKind()
        guard topLevel == .object else {
            throw TraceError.invalidTrace("the top-level JSON value must be an object, not \(topLevel)")
        }
        var seen: Set<String> = []
        var object = try reader.beginObject()
        while let key = try reader.nextKey(in: &object) {
            switch key {
            case "kind", "startContent", "endContent", "numAgents", "txns":
                guard seen.insert(key).inserted else {
                    throw TraceError.invalidTrace("the key \"\(key)\" appears twice at the top level")
                }
            default:
                break
            }
            switch key {
            case "kind":
                try expect(.string, "\"kind\"")
                kindName = try reader.readString()
            case "startContent":
                try expect(.string, "\"startContent\"")
                try reader.readScalars(appendingTo: &startContent)
            case "endContent":
                try expect(.string, "\"endContent\"")
                var scalars: [Unicode.Scalar] = []
                try reader.readScalars(appendingTo: &scalars)
                endContent = scalars
            case "numAgents":
                let count = try readInt("\"numAgents\"")
                guard count >= 1 else { throw TraceError.invalidTrace("\"numAgents\" is \(count) but must be at least 1") }
                numAgents = count
            case "txns":
                try parseTransactions()
            default:
                try reader.skipValue()
            }
        }
        try reader.finish()
    }

    private mutating func parseTransactions() throws {
        try expect(.array, "\"txns\"")
        sawTransactions = true
        var array = try reader.beginArray()
        while try reader.nextElement(in: &array) {
            try parseTransaction(index: transactions.count)
        }
    }

    // MARK: Transaction

    private mutating func parseTransaction(index: Int) throws {
        guard index < Int(Int32.max) else {
            throw TraceError.invalidTrace("the trace has more than \(Int32.max) transactions")
        }
        let found = try reader.peekKind()
        guard found == .object else { throw TraceError.invalidTrace("txn \(index) must be an object, not \(found)") }
        var agent: Int?
        var sawParents = false
        var sawPatches = false
        let parentStart = parentStorage.count
        let patchStart = patches.count
        var object = try reader.beginObject()
        while let key = try reader.nextKey(in: &object) {
            switch key {
            case "agent":
                guard agent == nil else { throw TraceError.invalidTrace("txn \(index) has two \"agent\" keys") }
                let value = try readInt("txn \(index): \"agent\"")
                guard Int32(exactly: value) != nil else {
                    throw TraceError.invalidTrace("txn \(index): \"agent\" \(value) is outside the 32-bit range")
                }
                agent = value
            case "parents":
                guard !sawParents else { throw TraceError.invalidTrace("txn \(index) has two \"parents\" keys") }
                sawParents = true
                try parseParents(of: index)
            case "patches":
                guard !sawPatches else { throw TraceError.invalidTrace("txn \(index) has two \"patches\" keys") }
                sawPatches = true
                try parsePatches(of: index)
            default:
                try reader.skipValue()
            }
        }
        if agent == nil, firstTransactionWithoutAgent == nil { firstTransactionWithoutAgent = index }
        if !sawParents, firstTransactionWithoutParents == nil { firstTransactionWithoutParents = index }
        guard parentStorage.count <= Int(Int32.max) else {
            throw TraceError.invalidTrace("the trace has more than \(Int32.max) parent references")
        }
        transactions.append(
            TraceTransaction(
                agent: agent ?? 0,
                parentRange: parentStart..<parentStorage.count,
                patchRange: patchStart..<patches.count))
    }

    private mutating func parseParents(of index: Int) throws {
        try expect(.array, "txn \(index): \"parents\"")
        var array = try reader.beginArray()
        while try reader.nextElement(in: &array) {
            let parent = try readInt("txn \(index): each parent")
            guard parent >= 0 && parent < index else {
                throw TraceError.invalidTrace(
                    "txn \(index) has parent \(parent), but parents must be earlier txns (0 to \(index - 1))")
            }
            parentStorage.append(Int32(truncatingIfNeeded: parent))  // parent < index < Int32.max
        }
    }

    private mutating func parsePatches(of index: Int) throws {
        try expect(.array, "txn \(index): \"patches\"")
        var array = try reader.beginArray()
        var patchNumber = 0
        // Built only for an error message: formatting it for every patch would dominate parsing.
        func context() -> String { "txn \(index), patch \(patchNumber)" }
        while try reader.nextElement(in: &array) {
            let found = try reader.peekKind()
            guard found == .array else {
                throw TraceError.invalidTrace("\(context()) must be an array [position, deleteCount, text], not \(found)")
            }
            var fields = try reader.beginArray()
            guard try reader.nextElement(in: &fields) else {
                throw TraceError.invalidTrace("\(context()) is empty; it must be [position, deleteCount, text]")
            }
            let position = try readInt("\(context()): position")
            guard try reader.nextElement(in: &fields) else {
                throw TraceError.invalidTrace("\(context()) has 1 element; it must be [position, deleteCount, text]")
            }
            let deleteCount = try readInt("\(context()): deleteCount")
            guard try reader.nextElement(in: &fields) else {
                throw TraceError.invalidTrace("\(context()) has 2 elements; it must be [position, deleteCount, text]")
            }
            try expect(.string, "\(context()): text")
            let insertStart = insertedScalars.count
            try reader.readScalars(appendingTo: &insertedScalars)
            guard try !reader.nextElement(in: &fields) else {
                throw TraceError.invalidTrace("\(context()) has more than 3 elements; it must be [position, deleteCount, text]")
            }
            guard position >= 0 else { throw TraceError.invalidTrace("\(context()) has negative position \(position)") }
            guard deleteCount >= 0 else {
                throw TraceError.invalidTrace("\(context()) has negative deleteCount \(deleteCount)")
            }
            // Patches store 32-bit fields.
            guard position <= Int(Int32.max) else {
                throw TraceError.invalidTrace("\(context()) has position \(position), too large (the limit is \(Int32.max))")
            }
            guard deleteCount <= Int(Int32.max) else {
                throw TraceError.invalidTrace(
                    "\(context()) has deleteCount \(deleteCount), too large (the limit is \(Int32.max))")
            }
            guard insertedScalars.count <= Int(Int32.max), patches.count < Int(Int32.max) else {
                throw TraceError.invalidTrace("the trace has more than \(Int32.max) patches or inserted characters")
            }
            patches.append(
                TracePatch(position: position, deleteCount: deleteCount, insertRange: insertStart..<insertedScalars.count))
            patchNumber += 1
        }
    }

    // MARK: Finishing

    /// Sequential traces: agent 0 everywhere, and txn `i` has the single parent `i - 1`.
    private mutating func makeLinearHistory() {
        parentStorage.removeAll(keepingCapacity: false)
        parentStorage.reserveCapacity(max(transactions.count - 1, 0))
        for index in transactions.indices {
            transactions[index].agent = 0
            if index == 0 {
                transactions[index].parentRange = 0..<0
            } else {
                let parentIndex = parentStorage.count
                parentStorage.append(Int32(truncatingIfNeeded: index - 1))  // index < Int32.max, checked while parsing
                transactions[index].parentRange = parentIndex..<parentIndex + 1
            }
        }
    }

    /// Concurrent traces: every txn names its agent and parents; agents lie in `0..<agentCount`.
    private func validateConcurrent() throws(TraceError) -> Int {
        if let index = firstTransactionWithoutAgent {
            throw .invalidTrace("txn \(index) of a concurrent trace has no \"agent\"")
        }
        if let index = firstTransactionWithoutParents {
            throw .invalidTrace("txn \(index) of a concurrent trace has no \"parents\"")
        }
        for (index, transaction) in transactions.enumerated() where transaction.agent < 0 {
            throw .invalidTrace("txn \(index) has agent \(transaction.agent), but agents must not be negative")
        }
        let agentCount: Int
        if let numAgents {
            agentCount = numAgents
        } else {
            let largest = transactions.lazy.map(\.agent).max() ?? 0
            guard largest < Int.max else { throw .invalidTrace("an agent number is too large") }
            agentCount = largest + 1
        }
        for (index, transaction) in transactions.enumerated() where transaction.agent >= agentCount {
            throw .invalidTrace(
                "txn \(index) has agent \(transaction.agent), but numAgents is \(agentCount) (agents are 0 to \(agentCount - 1))")
        }
        return agentCount
    }

    // MARK: Typed reads

    /// Checks the next value's kind, turning a mismatch into `.invalidTrace` naming the field.
    private mutating func expect(_ kind: JSONReader.ValueKind, _ field: @autoclosure () -> String) throws {
        let found = try reader.peekKind()
        guard found == kind else { throw TraceError.invalidTrace("\(field()) must be \(kind), not \(found)") }
    }

    /// Reads an integer field; non-integers and overflow become `.invalidTrace` naming the field.
    private mutating func readInt(_ field: @autoclosure () -> String) throws -> Int {
        try expect(.number, field())
        do throws(JSONError) {
            return try reader.readInt()
        } catch {
            switch error.reason {
            case .notAnInteger:
                throw TraceError.invalidTrace("\(field()) must be an integer, not a number with a fraction or exponent")
            case .integerOverflow:
                throw TraceError.invalidTrace("\(field()) is too large for a 64-bit integer")
            default:
                throw error
            }
        }
    }
}
