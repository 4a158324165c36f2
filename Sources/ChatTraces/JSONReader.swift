/// Supplies the input of a ``JSONReader`` piece by piece.
protocol JSONChunkSource: AnyObject {
    /// Appends the next bytes of the input (at least one) to `bytes`; false when the input has
    /// ended (or failed, which the source reports its own way).
    func readChunk(appendingTo bytes: inout [UInt8]) -> Bool
}

/// Why a ``JSONReader`` stopped: the byte offset of the problem and what was wrong there.
struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong.
    enum Reason: Sendable, Equatable, CustomStringConvertible {
        case unexpectedEnd
        case unexpectedByte(UInt8, expected: String)
        case invalidEscape(UInt8)
        case invalidUnicodeEscape
        case unpairedSurrogate(UInt32)
        case invalidUTF8
        case controlCharacterInString(UInt8)
        case invalidNumber
        case notAnInteger
        case integerOverflow
        case tooDeep(limit: Int)
        case trailingData

        var description: String {
            switch self {
            case .unexpectedEnd:
                return "the input ends in the middle of a value"
            case .unexpectedByte(let byte, let expected):
                return "found \(JSONError.show(byte)) where \(expected) was expected"
            case .invalidEscape(let byte):
                return "\(JSONError.show(byte)) is not a valid escape character after a backslash"
            case .invalidUnicodeEscape:
                return "a \\u escape must be followed by four hexadecimal digits"
            case .unpairedSurrogate(let unit):
                let hex = String(unit, radix: 16, uppercase: true)
                return "the \\u escape U+\(hex) is a surrogate without its partner"
            case .invalidUTF8:
                return "the string is not valid UTF-8"
            case .controlCharacterInString(let byte):
                return "the string contains the unescaped control character \(JSONError.show(byte))"
            case .invalidNumber:
                return "the number is not valid JSON"
            case .notAnInteger:
                return "the number has a fraction or exponent where an integer was expected"
            case .integerOverflow:
                return "the integer does not fit in a 64-bit signed integer"
            case .tooDeep(let limit):
                return "objects and arrays are nested more than \(limit) levels deep"
            case .trailingData:
                return "there is more data after the end of the top-level value"
            }
        }
    }

    /// Byte offset into the input at which the problem was found.
    var offset: Int
    /// What was wrong there.
    var reason: Reason

    var description: String { "byte \(offset): \(reason)" }

    fileprivate static func show(_ byte: UInt8) -> String {
        let hex = "0x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16, uppercase: true)
        if byte >= 0x20 && byte < 0x7F {
            return "'\(Character(Unicode.Scalar(byte)))' (\(hex))"
        }
        return "byte \(hex)"
    }
}

/// A small, strict JSON pull reader over UTF-8 bytes (RFC 8259).
///
/// The caller walks the document: ``peekKind()`` says what comes next, ``beginObject()`` /
/// ``nextKey(in:)`` and ``beginArray()`` / ``nextElement(in:)`` step through containers, and
/// ``readString()``, ``readScalars(appendingTo:)``, ``readInt()`` and ``skipValue()`` consume values.
/// No tree is built. The reader never traps on any input: every problem is a ``JSONError`` carrying
/// the byte offset; nesting is bounded by `maxDepth`, integers that overflow `Int` are rejected, and
/// strings are checked for valid UTF-8 and escapes (surrogate pairs are combined, unpaired ones
/// rejected).
///
/// The input is either held whole or pulled from a ``JSONChunkSource`` as it is consumed, so a
/// large document need never be in memory at once; error offsets always count from the start of
/// the input.
///
/// - Complexity: Every operation is O(n) in the bytes it consumes.
struct JSONReader {
    /// The kind of the next value, from its first byte.
    enum ValueKind: Sendable, Equatable, CustomStringConvertible {
        case object, array, string, number, bool, null

        var description: String {
            switch self {
            case .object: return "an object"
            case .array: return "an array"
            case .string: return "a string"
            case .number: return "a number"
            case .bool: return "a boolean"
            case .null: return "null"
            }
        }
    }

    /// Iteration state of one object or array being read.
    struct Container {
        fileprivate var isFirst = true
    }

    /// Default limit on nesting of objects and arrays.
    static let defaultMaxDepth = 64

    /// The input bytes read and not yet discarded: input offsets `base ..< base + window.count`.
    /// Without a source this is the whole input; with one, a chunk at a time.
    private var window: [UInt8]
    /// Input offset of `window[0]`.
    private var base = 0
    /// Index in `window` of the next unread byte.
    private var position = 0
    /// Where the input continues once `window` is used up; nil when `window` holds all of it.
    private var source: (any JSONChunkSource)?
    /// Number of currently open objects and arrays.
    private(set) var depth: Int = 0
    /// Limit on ``depth``.
    let maxDepth: Int

    /// A reader over the whole input, held in memory.
    init(bytes: [UInt8], maxDepth: Int = JSONReader.defaultMaxDepth) {
        window = bytes
        self.maxDepth = maxDepth
    }

    /// A reader that pulls its input from `source` chunk by chunk, keeping only the unread part
    /// of the latest chunk (plus the few bytes of a token that straddles two chunks).
    init(source: any JSONChunkSource, chunkCapacity: Int, maxDepth: Int = JSONReader.defaultMaxDepth) {
        window = []
        window.reserveCapacity(chunkCapacity + 64)
        self.source = source
        self.maxDepth = maxDepth
    }

    /// Offset of the next unread byte from the start of the input.
    var offset: Int { base + position }

    // MARK: - Structure

    /// Skips whitespace and reports the kind of the next value without consuming it.
    mutating func peekKind() throws(JSONError) -> ValueKind {
        skipWhitespace()
        guard hasByte() else { throw error(.unexpectedEnd) }
        switch window[position] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case let byte: throw error(.unexpectedByte(byte, expected: "a value"))
        }
    }

    /// Consumes `{` and opens an object.
    mutating func beginObject() throws(JSONError) -> Container {
        try expect(UInt8(ascii: "{"), "'{'")
        try enterContainer()
        return Container()
    }

    /// Moves to the next member of the object and returns its key (the reader is then at the value),
    /// or consumes `}` and returns nil when the object ends.
    mutating func nextKey(in container: inout Container) throws(JSONError) -> String? {
        guard try advanceToMember(in: &container) else { return nil }
        let key = try readString()
        try expect(UInt8(ascii: ":"), "':' after an object key")
        return key
    }

    /// Consumes `[` and opens an array.
    mutating func beginArray() throws(JSONError) -> Container {
        try expect(UInt8(ascii: "["), "'['")
        try enterContainer()
        return Container()
    }

    /// Moves to the next element of the array and returns true (the reader is then at the element),
    /// or consumes `]` and returns false when the array ends.
    mutating func nextElement(in container: inout Container) throws(JSONError) -> Bool {
        skipWhitespace()
        guard hasByte() else { throw error(.unexpectedEnd) }
        let byte = window[position]
        if byte == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return false
        }
        if container.isFirst {
            container.isFirst = false
            return true
        }
        guard byte == UInt8(ascii: ",") else {
            throw error(.unexpectedByte(byte, expected: "',' or ']'"))
        }
        position += 1
        // A value must follow the comma; `[1,]` fails when the caller reads the value.
        skipWhitespace()
        if hasByte(), window[position] == UInt8(ascii: "]") {
            throw error(.unexpectedByte(UInt8(ascii: "]"), expected: "a value after ','"))
        }
        return true
    }

    /// Checks that only whitespace follows the top-level value.
    mutating func finish() throws(JSONError) {
        skipWhitespace()
        guard !hasByte() else { throw error(.trailingData) }
    }

    // MARK: - Values

    /// Reads a string value and returns it.
    mutating func readString() throws(JSONError) -> String {
        try expect(UInt8(ascii: "\""), "a string")
        // Fast path: printable ASCII without escapes (most keys).
        // Only within the window: a key that straddles two chunks takes the general path.
        let start = position
        var index = position
        while index < window.count {
            let byte = window[index]
            if byte == UInt8(ascii: "\"") {
                position = index + 1
                return String(decoding: window[start..<index], as: UTF8.self)
            }
            if byte < 0x20 || byte >= 0x80 || byte == UInt8(ascii: "\\") { break }
            index += 1
        }
        var scalars: [Unicode.Scalar] = []
        try scanStringBody(into: &scalars, store: true)
        var text = String.UnicodeScalarView()
        text.append(contentsOf: scalars)
        return String(text)
    }

    /// Reads a string value and appends its Unicode scalars to `scalars`.
    mutating func readScalars(appendingTo scalars: inout [Unicode.Scalar]) throws(JSONError) {
        try expect(UInt8(ascii: "\""), "a string")
        try scanStringBody(into: &scalars, store: true)
    }

    /// Reads a number that must be an integer (no fraction or exponent) fitting in `Int`.
    mutating func readInt() throws(JSONError) -> Int {
        skipWhitespace()
        let start = offset
        guard hasByte() else { throw error(.unexpectedEnd) }
        var negative = false
        if window[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        guard hasByte() else { throw error(.unexpectedEnd) }
        guard isDigit(window[position]) else {
            throw error(.unexpectedByte(window[position], expected: "an integer"))
        }
        var value = 0
        if window[position] == UInt8(ascii: "0") {
            position += 1
            if hasByte(), isDigit(window[position]) { throw JSONError(offset: start, reason: .invalidNumber) }
        } else {
            while hasByte(), isDigit(window[position]) {
                let digit = Int(window[position] &- UInt8(ascii: "0"))
                let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
                let (next, overflowB) =
                    negative
                    ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
                if overflowA || overflowB { throw JSONError(offset: start, reason: .integerOverflow) }
                value = next
                position += 1
            }
        }
        if hasByte() {
            let byte = window[position]
            if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                throw JSONError(offset: start, reason: .notAnInteger)
            }
        }
        return value
    }

    /// Skips one value of any kind, checking its syntax.
    mutating func skipValue() throws(JSONError) {
        switch try peekKind() {
        case .object:
            var container = try beginObject()
            while try advanceToMember(in: &container) {
                try skipStringValue()
                try expect(UInt8(ascii: ":"), "':' after an object key")
                try skipValue()
            }
        case .array:
            var container = try beginArray()
            while try nextElement(in: &container) {
                try skipValue()
            }
        case .string:
            try skipStringValue()
        case .number:
            try skipNumber()
        case .bool:
            if window[position] == UInt8(ascii: "t") {
                try expectLiteral("true")
            } else {
                try expectLiteral("false")
            }
        case .null:
            try expectLiteral("null")
        }
    }

    // MARK: - Internals

    private func error(_ reason: JSONError.Reason) -> JSONError {
        JSONError(offset: offset, reason: reason)
    }

    /// True when a byte is available at `position`, refilling the window if needed.
    @inline(__always)
    private mutating func hasByte() -> Bool {
        position < window.count || refill()
    }

    /// True when `count` bytes are available from `position`, refilling the window if needed.
    private mutating func ensureAvailable(_ count: Int) -> Bool {
        while window.count - position < count {
            guard refill() else { return false }
        }
        return true
    }

    /// Drops the bytes before `position` and appends the next chunk from the source; false at the
    /// end of the input. Indices into `window` other than `position` are invalid afterwards.
    @inline(never)
    private mutating func refill() -> Bool {
        guard let source else { return false }
        if position > 0 {
            window.removeSubrange(0..<position)
            base += position
            position = 0
        }
        return source.readChunk(appendingTo: &window)
    }

    @inline(__always)
    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func skipWhitespace() {
        while hasByte() {
            switch window[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                position += 1
            default:
                return
            }
        }
    }

    private mutating func expect(_ byte: UInt8, _ expected: String) throws(JSONError) {
        skipWhitespace()
        guard hasByte() else { throw error(.unexpectedEnd) }
        guard window[position] == byte else { throw error(.unexpectedByte(window[position], expected: expected)) }
        position += 1
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        for index in 0..<literal.utf8CodeUnitCount {
            guard hasByte() else { throw error(.unexpectedEnd) }
            let wanted = literal.utf8Start[index]
            guard window[position] == wanted else {
                throw error(.unexpectedByte(window[position], expected: "the literal \(literal)"))
            }
            position += 1
        }
    }

    private mutating func enterContainer() throws(JSONError) {
        guard depth < maxDepth else {
            position -= 1  // point at the bracket that opened one level too many
            throw error(.tooDeep(limit: maxDepth))
        }
        depth += 1
    }

    /// Handles the `,` / `}` between members; true when positioned at the next member's key.
    private mutating func advanceToMember(in container: inout Container) throws(JSONError) -> Bool {
        skipWhitespace()
        guard hasByte() else { throw error(.unexpectedEnd) }
        let byte = window[position]
        if byte == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            return false
        }
        if container.isFirst {
            container.isFirst = false
        } else {
            guard byte == UInt8(ascii: ",") else {
                throw error(.unexpectedByte(byte, expected: "',' or '}'"))
            }
            position += 1
            skipWhitespace()
        }
        guard hasByte() else { throw error(.unexpectedEnd) }
        guard window[position] == UInt8(ascii: "\"") else {
            throw error(.unexpectedByte(window[position], expected: "a string key"))
        }
        return true
    }

    private mutating func skipStringValue() throws(JSONError) {
        try expect(UInt8(ascii: "\""), "a string")
        var unused: [Unicode.Scalar] = []
        try scanStringBody(into: &unused, store: false)
    }

    /// Validates a number of any JSON form: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func skipNumber() throws(JSONError) {
        let start = offset
        if hasByte(), window[position] == UInt8(ascii: "-") { position += 1 }
        guard hasByte() else { throw error(.unexpectedEnd) }
        if window[position] == UInt8(ascii: "0") {
            position += 1
            if hasByte(), isDigit(window[position]) { throw JSONError(offset: start, reason: .invalidNumber) }
        } else {
            guard isDigit(window[position]) else { throw JSONError(offset: start, reason: .invalidNumber) }
            while hasByte(), isDigit(window[position]) { position += 1 }
        }
        if hasByte(), window[position] == UInt8(ascii: ".") {
            position += 1
            try skipDigits(start: start)
        }
        if hasByte(), window[position] == UInt8(ascii: "e") || window[position] == UInt8(ascii: "E") {
            position += 1
            if hasByte(), window[position] == UInt8(ascii: "+") || window[position] == UInt8(ascii: "-") {
                position += 1
            }
            try skipDigits(start: start)
        }
    }

    private mutating func skipDigits(start: Int) throws(JSONError) {
        guard hasByte() else { throw error(.unexpectedEnd) }
        guard isDigit(window[position]) else { throw JSONError(offset: start, reason: .invalidNumber) }
        while hasByte(), isDigit(window[position]) { position += 1 }
    }

    /// Scans a string body after its opening quote up to and including the closing quote, decoding
    /// UTF-8 and escapes; appends the scalars when `store` is true.
    private mutating func scanStringBody(into scalars: inout [Unicode.Scalar], store: Bool) throws(JSONError) {
        while hasByte() {
            let byte = window[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return
            }
            if byte == UInt8(ascii: "\\") {
                let scalar = try readEscape()
                if store { scalars.append(scalar) }
                continue
            }
            if byte < 0x20 { throw error(.controlCharacterInString(byte)) }
            if byte < 0x80 {
                if store { scalars.append(Unicode.Scalar(byte)) }
                position += 1
                continue
            }
            let scalar = try readUTF8Sequence()
            if store { scalars.append(scalar) }
        }
        throw error(.unexpectedEnd)
    }

    /// Decodes one multi-byte UTF-8 sequence starting at `offset`, rejecting overlong forms,
    /// encoded surrogates and values beyond U+10FFFF.
    private mutating func readUTF8Sequence() throws(JSONError) -> Unicode.Scalar {
        let lead = window[position]
        let length: Int
        var value: UInt32
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF:
            length = 2
            value = UInt32(lead & 0x1F)
        case 0xE0...0xEF:
            length = 3
            value = UInt32(lead & 0x0F)
            if lead == 0xE0 { low = 0xA0 }
            if lead == 0xED { high = 0x9F }
        case 0xF0...0xF4:
            length = 4
            value = UInt32(lead & 0x07)
            if lead == 0xF0 { low = 0x90 }
            if lead == 0xF4 { high = 0x8F }
        default:
            throw error(.invalidUTF8)
        }
        guard ensureAvailable(length) else { throw error(.invalidUTF8) }
        for index in 1..<length {
            let continuation = window[position + index]
            let lowerBound: UInt8 = index == 1 ? low : 0x80
            let upperBound: UInt8 = index == 1 ? high : 0xBF
            guard continuation >= lowerBound && continuation <= upperBound else { throw error(.invalidUTF8) }
            value = (value << 6) | UInt32(continuation & 0x3F)
        }
        guard let scalar = Unicode.Scalar(value) else { throw error(.invalidUTF8) }
        position += length
        return scalar
    }

    /// Decodes one escape sequence starting at the backslash at `offset`.
    private mutating func readEscape() throws(JSONError) -> Unicode.Scalar {
        let escapeStart = offset
        position += 1
        guard hasByte() else { throw error(.unexpectedEnd) }
        let byte = window[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"): break
        default:
            position -= 1
            throw error(.invalidEscape(byte))
        }
        let unit = try readHex4()
        switch unit {
        case 0xD800...0xDBFF:
            // A high surrogate must be followed immediately by an escaped low surrogate.
            guard ensureAvailable(2),
                window[position] == UInt8(ascii: "\\"), window[position + 1] == UInt8(ascii: "u")
            else { throw JSONError(offset: escapeStart, reason: .unpairedSurrogate(unit)) }
            position += 2
            let lowUnit = try readHex4()
            guard (0xDC00...0xDFFF).contains(lowUnit) else {
                throw JSONError(offset: escapeStart, reason: .unpairedSurrogate(unit))
            }
            let value = 0x10000 + ((unit - 0xD800) << 10) + (lowUnit - 0xDC00)
            guard let scalar = Unicode.Scalar(value) else {
                throw JSONError(offset: escapeStart, reason: .unpairedSurrogate(unit))
            }
            return scalar
        case 0xDC00...0xDFFF:
            throw JSONError(offset: escapeStart, reason: .unpairedSurrogate(unit))
        default:
            guard let scalar = Unicode.Scalar(unit) else {
                throw JSONError(offset: escapeStart, reason: .invalidUnicodeEscape)
            }
            return scalar
        }
    }

    private mutating func readHex4() throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard hasByte() else { throw error(.unexpectedEnd) }
            let byte = window[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte &- UInt8(ascii: "A") &+ 10
            default: throw error(.invalidUnicodeEscape)
            }
            value = (value << 4) | UInt32(digit)
            position += 1
        }
        return value
    }
}
