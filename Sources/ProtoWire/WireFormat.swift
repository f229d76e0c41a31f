/// The six wire types of the protobuf binary format.
public enum WireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// Options for binary decoding.
public struct BinaryDecodingOptions: Sendable {
    /// Deepest allowed nesting of messages and groups (protobuf's usual default is 100).
    public var messageDepthLimit: Int = 100
    /// Drop unknown fields instead of keeping them for re-encoding.
    public var discardUnknownFields: Bool = false
    public init(messageDepthLimit: Int = 100, discardUnknownFields: Bool = false) {
        self.messageDepthLimit = messageDepthLimit
        self.discardUnknownFields = discardUnknownFields
    }
}

/// Options for binary encoding.
public struct BinaryEncodingOptions: Sendable {
    /// Write map entries sorted by key so equal messages give equal bytes.
    public var deterministic: Bool = false
    public init(deterministic: Bool = false) { self.deterministic = deterministic }
}

@inlinable @inline(__always)
public func varintSize(_ v: UInt64) -> Int {
    // 1 + floor(bit_length / 7), with 0 taking one byte.
    let bits = 64 - (v | 1).leadingZeroBitCount
    return (bits &* 9 &+ 64) >> 6
}

@inlinable @inline(__always)
public func zigZagEncode32(_ n: Int32) -> UInt32 { UInt32(bitPattern: (n << 1) ^ (n >> 31)) }
@inlinable @inline(__always)
public func zigZagEncode64(_ n: Int64) -> UInt64 { UInt64(bitPattern: (n << 1) ^ (n >> 63)) }
@inlinable @inline(__always)
public func zigZagDecode32(_ n: UInt32) -> Int32 { Int32(bitPattern: (n >> 1) ^ (0 &- (n & 1))) }
@inlinable @inline(__always)
public func zigZagDecode64(_ n: UInt64) -> Int64 { Int64(bitPattern: (n >> 1) ^ (0 &- (n & 1))) }
