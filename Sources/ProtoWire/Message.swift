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
