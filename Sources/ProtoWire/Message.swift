/// Anything the wire reader can decode as an embedded message: generated
/// messages, and the generator's hand-written descriptor model.
public protocol WireDecodable {
    init()
    /// Reads fields until the reader's current limit, merging into `self`.
    mutating func decodeMessage(from reader: inout WireReader) throws(WireDecodingError)
}

/// What every generated message is: a value type with a binary codec.
/// Generated code implements the requirements; everything else is here.
public protocol ProtoMessage: WireDecodable, Hashable, Sendable {
    /// The fully qualified protobuf name, e.g. `openagents.runtime.v1.RuntimeRun`.
    static var protoMessageName: String { get }
    /// Fields this message did not know when it was decoded.
    var unknownFields: UnknownFields { get set }
    /// Writes the fields back to front (see `WireWriter`).
    func encodeMessage(to writer: inout WireWriter)
    /// Writes the message as a JSON value (an object, or a well-known type's special form).
    func encodeJSON(to writer: inout JSONWriter)
    /// Writes the members of the message's JSON object, without braces.
    func encodeJSONFields(to writer: inout JSONWriter)
    /// Reads one JSON value into `self`.
    mutating func decodeJSON(from reader: inout JSONReader) throws(JSONDecodingError)
}

extension WireDecodable {
    /// Decodes a message from protobuf binary bytes.
    @inlinable
    public init(serializedBytes bytes: [UInt8], options: BinaryDecodingOptions = .init()) throws(WireDecodingError) {
        self.init()
        try merge(serializedBytes: bytes, options: options)
    }

    /// Decodes from a borrowed buffer (no copy of the input).
    @inlinable
    public init(serializedBuffer buffer: UnsafeRawBufferPointer, options: BinaryDecodingOptions = .init()) throws(WireDecodingError) {
        self.init()
        var reader = WireReader(buffer, options: options)
        try decodeMessage(from: &reader)
    }

    /// Merges the fields in `bytes` into this message (protobuf merge semantics).
    @inlinable
    public mutating func merge(serializedBytes bytes: [UInt8], options: BinaryDecodingOptions = .init()) throws(WireDecodingError) {
        let result: Result<Self, WireDecodingError> = bytes.withUnsafeBytes { buffer in
            var reader = WireReader(buffer, options: options)
            var copy = self
            do throws(WireDecodingError) {
                try copy.decodeMessage(from: &reader)
                return .success(copy)
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }
}

extension ProtoMessage {
    /// Encodes to protobuf binary. `deterministic` sorts map entries by key.
    @inlinable
    public func serializedBytes(options: BinaryEncodingOptions = .init()) -> [UInt8] {
        var writer = WireWriter(capacity: 256, options: options)
        encodeMessage(to: &writer)
        return writer.bytes()
    }
}

extension ProtoMessage {
    public func encodeJSON(to writer: inout JSONWriter) {
        writer.beginObject()
        encodeJSONFields(to: &writer)
        writer.endObject()
    }

    /// Decodes proto3 JSON.
    public init(jsonBytes bytes: [UInt8], options: JSONDecodingOptions = .init()) throws(JSONDecodingError) {
        self.init()
        let result: Result<Self, JSONDecodingError> = bytes.withUnsafeBytes { buffer in
            var reader = JSONReader(buffer, options: options)
            var message = Self()
            do throws(JSONDecodingError) {
                try message.decodeJSON(from: &reader)
                try reader.finish()
                return .success(message)
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    /// Merges the members of a JSON object into this message: fields it names
    /// are set (repeated ones appended), the others keep their values.
    public mutating func merge(jsonBytes bytes: [UInt8], options: JSONDecodingOptions = .init()) throws(JSONDecodingError) {
        let base = self
        let result: Result<Self, JSONDecodingError> = bytes.withUnsafeBytes { buffer in
            var reader = JSONReader(buffer, options: options)
            var message = base
            do throws(JSONDecodingError) {
                try message.decodeJSON(from: &reader)
                try reader.finish()
                return .success(message)
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    /// Decodes proto3 JSON from memory the caller owns (no copy).
    public init(jsonBuffer buffer: UnsafeRawBufferPointer, options: JSONDecodingOptions = .init()) throws(JSONDecodingError) {
        var reader = JSONReader(buffer, options: options)
        var message = Self()
        try message.decodeJSON(from: &reader)
        try reader.finish()
        self = message
    }

    public init(jsonString: String, options: JSONDecodingOptions = .init()) throws(JSONDecodingError) {
        try self.init(jsonBytes: Array(jsonString.utf8), options: options)
    }

    /// Encodes proto3 JSON (canonical unless the options say otherwise).
    public func jsonBytes(options: JSONEncodingOptions = .init()) throws(JSONEncodingError) -> [UInt8] {
        var writer = JSONWriter(capacity: 256, options: options)
        encodeJSON(to: &writer)
        return try writer.finish()
    }

    public func jsonString(options: JSONEncodingOptions = .init()) throws(JSONEncodingError) -> String {
        String(decoding: try jsonBytes(options: options), as: UTF8.self)
    }
}
