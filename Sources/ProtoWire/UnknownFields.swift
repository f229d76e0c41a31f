/// Fields a message did not know when it was decoded, kept as their exact wire
/// bytes (tags included, in arrival order) and written back unchanged.
public struct UnknownFields: Hashable, Sendable {
    public var bytes: [UInt8]

    public init() { bytes = [] }
    public init(bytes: [UInt8]) { self.bytes = bytes }

    @inlinable public var isEmpty: Bool { bytes.isEmpty }

    @inlinable
    public mutating func append(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
    }
}
