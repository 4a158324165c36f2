import Foundation

/// A JSON value of any shape, so control handlers can return arbitrary results that the CLI prints as-is.
///
/// Integers that fit in `Int` decode as ``int(_:)``; other numbers as ``number(_:)``. Objects are
/// dictionaries: print them through ``jsonString(pretty:)``, which sorts keys, so output is stable.
public enum JSONValue: Sendable, Hashable, Codable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number written without a fraction or exponent that fits in `Int`.
    case int(Int)
    /// Any other number.
    case number(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object; key order is not kept (printing sorts keys).
    case object([String: JSONValue])

    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Encodes the value as the JSON it stands for.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Converts any `Encodable` into the JSON value it encodes to (through `JSONEncoder`).
    ///
    /// Throws what `JSONEncoder` throws, e.g. for a non-finite `Double`.
    /// - Complexity: O(*n*) in the size of the encoded JSON.
    public init(encoding value: some Encodable) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// Decodes this value as a `T`, the inverse of ``init(encoding:)``.
    /// - Complexity: O(*n*) in the size of the encoded JSON.
    public func decoded<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: JSONEncoder().encode(self))
    }

    /// The value as JSON text with sorted object keys; `pretty` indents it over several lines.
    /// - Complexity: O(*n* log *n*) in the size of the value (keys are sorted).
    public func jsonString(pretty: Bool = true) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    /// `null`.
    public init(nilLiteral: ()) { self = .null }
    /// A boolean.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An integer.
    public init(integerLiteral value: Int) { self = .int(value) }
    /// A non-integer number.
    public init(floatLiteral value: Double) { self = .number(value) }
    /// A string.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An array.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// An object; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

/// One command sent to a running node over its control socket: one JSON object on one line.
///
/// `{"command":"status","arguments":{"conversation":"…"},"list":["a","b"]}`; `arguments` and `list`
/// may be left out.
public struct ControlRequest: Codable, Sendable, Hashable {
    /// The command's name, e.g. `status`.
    public var command: String
    /// Named string arguments.
    public var arguments: [String: String]
    /// Positional string arguments, in order.
    public var list: [String]

    /// A request for `command` with named and positional arguments.
    public init(command: String, arguments: [String: String] = [:], list: [String] = []) {
        self.command = command
        self.arguments = arguments
        self.list = list
    }

    private enum CodingKeys: String, CodingKey {
        case command, arguments, list
    }

    /// Decodes a request; missing `arguments` and `list` are empty.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        command = try container.decode(String.self, forKey: .command)
        arguments = try container.decodeIfPresent([String: String].self, forKey: .arguments) ?? [:]
        list = try container.decodeIfPresent([String].self, forKey: .list) ?? []
    }
}

/// Why a control request failed, as sent to the client: a stable `code` and a sentence for a person.
public struct ControlErrorBody: Codable, Sendable, Hashable {
    /// Stable, machine-readable; see ``Code`` for the ones the transport itself sends.
    public var code: String
    /// What went wrong, for a person.
    public var message: String

    /// An error with `code` and `message`.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// The error codes the control transport sends on its own; handlers add their own.
    public enum Code {
        /// A request line was longer than ``ControlServer/maximumRequestBytes``; the connection is closed.
        public static let requestTooLarge = "request_too_large"
        /// A request line was not a JSON request object; the connection stays open.
        public static let malformedRequest = "malformed_request"
        /// The server had no room for another connection; the connection is closed.
        public static let busy = "busy"
        /// The handler's response could not be encoded (e.g. a non-finite number).
        public static let internalError = "internal_error"
    }
}

/// The answer to one ``ControlRequest``: one JSON object on one line.
///
/// `{"ok":true,"result":…}` or `{"ok":false,"error":{"code":"…","message":"…"}}`.
public struct ControlResponse: Codable, Sendable, Hashable {
    /// Whether the command succeeded.
    public var ok: Bool
    /// Why it failed, when `ok` is false.
    public var error: ControlErrorBody?
    /// What the command returned, if anything.
    public var result: JSONValue?

    /// A response with every field given.
    public init(ok: Bool, error: ControlErrorBody? = nil, result: JSONValue? = nil) {
        self.ok = ok
        self.error = error
        self.result = result
    }

    /// A successful response carrying `result`.
    public static func success(_ result: JSONValue? = nil) -> ControlResponse {
        ControlResponse(ok: true, result: result)
    }

    /// A failed response with `code` and `message`.
    public static func failure(code: String, message: String) -> ControlResponse {
        ControlResponse(ok: false, error: ControlErrorBody(code: code, message: message))
    }
}

/// Encoding and decoding of control messages as JSON lines.
enum ControlCoding {
    /// One message as compact JSON with sorted keys, followed by a newline. JSON never contains a raw
    /// newline outside strings, and `JSONEncoder` escapes those inside, so the message is one line.
    static func line(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes = Array(try encoder.encode(value))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// The response line for `response`, or an `internal_error` line if it does not encode.
    static func responseLine(_ response: ControlResponse) -> [UInt8] {
        if let bytes = try? line(response) { return bytes }
        let fallback = #"{"error":{"code":"internal_error","message":"the response could not be encoded as JSON"},"ok":false}"#
        return Array((fallback + "\n").utf8)
    }

    /// Decodes one line (without its newline) as a `T`.
    static func decode<T: Decodable>(_ type: T.Type, from line: [UInt8]) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(line))
    }
}
