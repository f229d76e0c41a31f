/// Options for JSON encoding. Defaults give canonical proto3 JSON.
public struct JSONEncodingOptions: Sendable {
    /// Also write fields without presence that hold their default (and empty repeated/map fields).
    public var emitDefaultValues = false
    /// Write proto field names (`run_id`) instead of JSON names (`runId`).
    public var preserveProtoFieldNames = false
    /// Write enums as numbers instead of names.
    public var enumsAsNumbers = false
    /// Write 64-bit integers as JSON numbers instead of strings (the service's choice).
    public var int64AsNumbers = false
    /// Indent with two spaces and one member per line.
    public var prettyPrint = false
    /// Sort map entries by key (the JSON form of deterministic encoding).
    public var deterministic = false
    /// Resolves `google.protobuf.Any` payloads.
    public var typeRegistry: TypeRegistry?
    /// Write an enum value's declared wire word (`running`) instead of its name:
    /// the REST bindings' mode. Values without a wire word keep their name.
    public var enumWireWords = false

    public init(emitDefaultValues: Bool = false, preserveProtoFieldNames: Bool = false, enumsAsNumbers: Bool = false,
                int64AsNumbers: Bool = false, prettyPrint: Bool = false, deterministic: Bool = false, typeRegistry: TypeRegistry? = nil,
                enumWireWords: Bool = false) {
        self.enumWireWords = enumWireWords
        self.emitDefaultValues = emitDefaultValues
        self.preserveProtoFieldNames = preserveProtoFieldNames
        self.enumsAsNumbers = enumsAsNumbers
        self.int64AsNumbers = int64AsNumbers
        self.prettyPrint = prettyPrint
        self.deterministic = deterministic
        self.typeRegistry = typeRegistry
    }
}

/// Options for JSON decoding.
public struct JSONDecodingOptions: Sendable {
    /// Skip members that name no field (and enum names the contract does not know) instead of failing.
    public var ignoreUnknownFields = false
    /// Deepest allowed nesting of JSON objects and arrays.
    public var depthLimit = 100
    /// Resolves `google.protobuf.Any` payloads.
    public var typeRegistry: TypeRegistry?
    /// Also accept enum wire words (the REST bindings' mode); names and numbers are always accepted.
    public var acceptEnumWireWords = false

    public init(ignoreUnknownFields: Bool = false, depthLimit: Int = 100, typeRegistry: TypeRegistry? = nil, acceptEnumWireWords: Bool = false) {
        self.acceptEnumWireWords = acceptEnumWireWords
        self.ignoreUnknownFields = ignoreUnknownFields
        self.depthLimit = depthLimit
        self.typeRegistry = typeRegistry
    }
}

/// Message types by full name, for `google.protobuf.Any`.
public struct TypeRegistry: Sendable {
    public private(set) var types: [String: any ProtoMessage.Type] = [:]
    public init(_ types: [any ProtoMessage.Type]) {
        for t in types { self.types[t.protoMessageName] = t }
    }
    public func type(named name: String) -> (any ProtoMessage.Type)? { types[name] }
    /// The type a type URL names: everything after the last `/`.
    public func type(forURL url: String) -> (any ProtoMessage.Type)? {
        guard let slash = url.lastIndex(of: "/") else { return nil }
        return types[String(url[url.index(after: slash)...])]
    }
}

/// Why JSON decoding failed: the JSON path of the problem, what was wrong, and the byte offset.
public struct JSONDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    /// e.g. `events[3].toolCall.arguments`; empty at the top level.
    public var path: String
    public var offset: Int
    public init(message: String, path: String, offset: Int) {
        self.message = message
        self.path = path
        self.offset = offset
    }
    public var description: String {
        (path.isEmpty ? "" : path + ": ") + message + " (at byte \(offset))"
    }
}

/// Why JSON encoding failed (a value with no JSON form: a Timestamp out of
/// range, a Value with no kind, an Any whose type is not registered, ...).
public struct JSONEncodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "JSON encode error: " + message }
}
