/// A forward reader over protobuf binary bytes. Valid only inside the closure
/// that lent it the buffer (see `ProtoMessage.init(serializedBytes:)`).
///
/// Generated `decodeMessage` code drives it: `nextTag()`, then a typed read per
/// known field, and `skipUnknown` for the rest (which keeps the raw bytes).
public struct WireReader {
    @usableFromInline let base: UnsafeRawPointer
    @usableFromInline var ptr: UnsafeRawPointer
    @usableFromInline var end: UnsafeRawPointer
    @usableFromInline var depth: Int
    @usableFromInline let maxDepth: Int
    @usableFromInline let keepUnknown: Bool
    /// Start of the most recent tag, so unknown fields can be copied whole.
    @usableFromInline var tagStart: UnsafeRawPointer
    /// Field number of the most recent tag (for error messages).
    @usableFromInline var field: Int = 0

    // Never written through; only a non-nil base for empty buffers.
    @usableFromInline nonisolated(unsafe) static let emptyBase = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1))

    public init(_ buffer: UnsafeRawBufferPointer, options: BinaryDecodingOptions = .init()) {
        let start = buffer.baseAddress ?? WireReader.emptyBase
        base = start
        ptr = start
        end = start + buffer.count
        tagStart = start
        depth = 0
        maxDepth = options.messageDepthLimit
        keepUnknown = !options.discardUnknownFields
    }

    /// Bytes left before the current limit (the end of the enclosing message).
    @inlinable public var remaining: Int { end - ptr }
    @inlinable public var offset: Int { ptr - base }

    @inlinable
    public func error(_ kind: WireDecodingError.Kind) -> WireDecodingError {
        WireDecodingError(kind, offset: ptr - base, fieldNumber: field)
    }

    // MARK: Varints and tags

    @inlinable @inline(__always)
    public mutating func readVarint() throws(WireDecodingError) -> UInt64 {
        if ptr < end {
            let b = ptr.load(as: UInt8.self)
            if b < 0x80 { ptr += 1; return UInt64(b) }
        }
        return try readVarintSlow()
    }

    @usableFromInline
    mutating func readVarintSlow() throws(WireDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var p = ptr
        while true {
            guard p < end else { throw error(.truncated) }
            let b = p.load(as: UInt8.self)
            p += 1
            // Bits beyond 64 in the 10th byte are ignored, as C++ and Go do.
            result |= UInt64(b & 0x7F) &<< shift
            if b < 0x80 { break }
            shift += 7
            if shift >= 70 { throw error(.overlongVarint) }
        }
        ptr = p
        return result
    }

    /// The next tag, or nil at the end of the current message. Rejects wire
    /// types 6/7, field number 0 and tags that do not fit 32 bits.
    @inlinable @inline(__always)
    public mutating func nextTag() throws(WireDecodingError) -> UInt32? {
        guard ptr < end else { return nil }
        tagStart = ptr
        let b = ptr.load(as: UInt8.self)
        let tag: UInt32
        if b < 0x80 {
            ptr += 1
            tag = UInt32(b)
        } else {
            tag = try readTagSlow()
        }
        field = Int(tag >> 3)
        if tag & 7 >= 6 || tag < 8 { try tagProblem(tag) }
        return tag
    }

    @usableFromInline
    mutating func readTagSlow() throws(WireDecodingError) -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        var p = ptr
        while true {
            guard p < end else { throw error(.truncated) }
            let b = p.load(as: UInt8.self)
            p += 1
            if shift == 28 && b > 0x0F { throw error(.overlongVarint) }
            result |= UInt32(b & 0x7F) &<< shift
            if b < 0x80 { break }
            shift += 7
        }
        ptr = p
        return result
    }

    @usableFromInline
    func tagProblem(_ tag: UInt32) throws(WireDecodingError) {
        let wt = UInt8(tag & 7)
        if wt >= 6 {
            throw WireDecodingError(.invalidWireType(wt), offset: tagStart - base, fieldNumber: Int(tag >> 3))
        }
        throw WireDecodingError(.zeroFieldNumber, offset: tagStart - base)
    }

    // MARK: Scalars

    @inlinable public mutating func readInt32() throws(WireDecodingError) -> Int32 { Int32(truncatingIfNeeded: try readVarint()) }
    @inlinable public mutating func readInt64() throws(WireDecodingError) -> Int64 { Int64(bitPattern: try readVarint()) }
    @inlinable public mutating func readUInt32() throws(WireDecodingError) -> UInt32 { UInt32(truncatingIfNeeded: try readVarint()) }
    @inlinable public mutating func readUInt64() throws(WireDecodingError) -> UInt64 { try readVarint() }
    @inlinable public mutating func readSInt32() throws(WireDecodingError) -> Int32 { zigZagDecode32(UInt32(truncatingIfNeeded: try readVarint())) }
    @inlinable public mutating func readSInt64() throws(WireDecodingError) -> Int64 { zigZagDecode64(try readVarint()) }
    @inlinable public mutating func readBool() throws(WireDecodingError) -> Bool { try readVarint() != 0 }
    /// Enum numbers are int32 on the wire; the generated enum keeps unknown ones.
    @inlinable public mutating func readEnum() throws(WireDecodingError) -> Int32 { Int32(truncatingIfNeeded: try readVarint()) }

    @inlinable @inline(__always)
    public mutating func readFixed32() throws(WireDecodingError) -> UInt32 {
        guard end - ptr >= 4 else { throw error(.truncated) }
        let v = ptr.loadUnaligned(as: UInt32.self)
        ptr += 4
        return UInt32(littleEndian: v)
    }

    @inlinable @inline(__always)
    public mutating func readFixed64() throws(WireDecodingError) -> UInt64 {
        guard end - ptr >= 8 else { throw error(.truncated) }
        let v = ptr.loadUnaligned(as: UInt64.self)
        ptr += 8
        return UInt64(littleEndian: v)
    }

    @inlinable public mutating func readSFixed32() throws(WireDecodingError) -> Int32 { Int32(bitPattern: try readFixed32()) }
    @inlinable public mutating func readSFixed64() throws(WireDecodingError) -> Int64 { Int64(bitPattern: try readFixed64()) }
    @inlinable public mutating func readFloat() throws(WireDecodingError) -> Float { Float(bitPattern: try readFixed32()) }
    @inlinable public mutating func readDouble() throws(WireDecodingError) -> Double { Double(bitPattern: try readFixed64()) }

    // MARK: Length-delimited

    @inlinable @inline(__always)
    public mutating func readLength() throws(WireDecodingError) -> Int {
        let n = try readVarint()
        guard n <= UInt64(end - ptr) else {
            throw error(n > UInt64(Int32.max) ? .invalidLength : .truncated)
        }
        return Int(n)
    }

    @inlinable
    public mutating func readString() throws(WireDecodingError) -> String {
        let n = try readLength()
        let bytes = UnsafeBufferPointer(start: ptr.assumingMemoryBound(to: UInt8.self), count: n)
        guard let s = String(validatingUTF8Bytes: bytes) else { throw error(.invalidUTF8) }
        ptr += n
        return s
    }

    @inlinable
    public mutating func readBytes() throws(WireDecodingError) -> [UInt8] {
        let n = try readLength()
        let out = [UInt8](UnsafeRawBufferPointer(start: ptr, count: n))
        ptr += n
        return out
    }

    /// Reads one embedded message and merges it into `message` (repeated
    /// occurrences of a singular message field merge, as the format requires).
    @inlinable
    public mutating func readMessage<M: WireDecodable>(into message: inout M) throws(WireDecodingError) {
        let n = try readLength()
        let savedEnd = end
        end = ptr + n
        depth += 1
        if depth > maxDepth { throw error(.depthLimitExceeded(maxDepth)) }
        try message.decodeMessage(from: &self)
        depth -= 1
        end = savedEnd
    }

    /// Merges into an optional message field, creating it when absent.
    @inlinable
    public mutating func readMessage<M: WireDecodable>(into message: inout M?) throws(WireDecodingError) {
        var value = message ?? M()
        message = nil  // keep `value` uniquely referenced while it is decoded
        try readMessage(into: &value)
        message = value
    }

    /// Reads one length-delimited body with `body`, bounded to its length and
    /// depth-checked like an embedded message (for descriptor-driven decoding).
    public mutating func readEmbedded(_ body: (inout WireReader) throws(WireDecodingError) -> Void) throws(WireDecodingError) {
        let n = try readLength()
        let savedEnd = end
        end = ptr + n
        depth += 1
        if depth > maxDepth { throw error(.depthLimitExceeded(maxDepth)) }
        try body(&self)
        depth -= 1
        end = savedEnd
    }

    /// Reads one map entry: `body` is called with each tag inside the entry.
    @inlinable
    public mutating func readMapEntry(_ body: (inout WireReader, UInt32) throws(WireDecodingError) -> Void) throws(WireDecodingError) {
        let n = try readLength()
        let savedEnd = end
        let savedField = field
        end = ptr + n
        depth += 1
        if depth > maxDepth { throw error(.depthLimitExceeded(maxDepth)) }
        while let tag = try nextTag() {
            try body(&self, tag)
        }
        depth -= 1
        end = savedEnd
        field = savedField
    }

    // MARK: Packed repeated fields

    @inlinable
    public mutating func readPacked<T>(into array: inout [T], _ read: (inout WireReader) throws(WireDecodingError) -> T) throws(WireDecodingError) {
        let n = try readLength()
        let savedEnd = end
        end = ptr + n
        while ptr < end { array.append(try read(&self)) }
        end = savedEnd
    }

    // MARK: Unknown fields and wrong types

    /// Skips the field whose tag was just read, keeping its bytes (tag included)
    /// in `unknown` unless the options discard unknown fields.
    @inlinable
    public mutating func skipUnknown(_ tag: UInt32, into unknown: inout UnknownFields) throws(WireDecodingError) {
        let start = tagStart
        try skipValue(tag)
        if keepUnknown {
            unknown.append(UnsafeRawBufferPointer(start: start, count: ptr - start))
        }
    }

    /// Skips a field inside a map entry (unknown fields there are dropped).
    @inlinable
    public mutating func skipField(_ tag: UInt32) throws(WireDecodingError) { try skipValue(tag) }

    public mutating func wrongWireType(_ tag: UInt32) -> WireDecodingError {
        WireDecodingError(.wrongWireType(UInt8(tag & 7)), offset: tagStart - base, fieldNumber: Int(tag >> 3))
    }

    @usableFromInline
    mutating func skipValue(_ tag: UInt32) throws(WireDecodingError) {
        switch tag & 7 {
        case 0: _ = try readVarint()
        case 1:
            guard end - ptr >= 8 else { throw error(.truncated) }
            ptr += 8
        case 2: ptr += try readLength()
        case 5:
            guard end - ptr >= 4 else { throw error(.truncated) }
            ptr += 4
        case 3: try skipGroup(field: tag >> 3)
        default:  // 4: an end-group outside any group
            throw WireDecodingError(.unmatchedEndGroup, offset: tagStart - base, fieldNumber: Int(tag >> 3))
        }
    }

    @usableFromInline
    mutating func skipGroup(field number: UInt32) throws(WireDecodingError) {
        depth += 1
        if depth > maxDepth { throw error(.depthLimitExceeded(maxDepth)) }
        while true {
            guard let tag = try nextTag() else { throw error(.truncated) }
            if tag & 7 == 4 {
                guard tag >> 3 == number else {
                    throw WireDecodingError(.unmatchedEndGroup, offset: tagStart - base, fieldNumber: Int(tag >> 3))
                }
                break
            }
            try skipValue(tag)
        }
        depth -= 1
    }
}
