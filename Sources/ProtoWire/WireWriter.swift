/// A back-to-front binary writer. Generated `encodeMessage` writes fields in
/// descending field-number order (unknown fields first); an embedded message is
/// written before its length prefix, so its size is known the moment the
/// prefix is written. No size pass, no re-walk per nesting level: encoding is
/// linear in the size of the message tree.
public struct WireWriter: ~Copyable {
    @usableFromInline var start: UnsafeMutablePointer<UInt8>
    @usableFromInline var cursor: UnsafeMutablePointer<UInt8>
    @usableFromInline var end: UnsafeMutablePointer<UInt8>
    /// Map entries sorted by key (see `BinaryEncodingOptions.deterministic`).
    public let deterministic: Bool

    public init(capacity: Int = 256, options: BinaryEncodingOptions = .init()) {
        let cap = max(capacity, 16)
        start = .allocate(capacity: cap)
        end = start + cap
        cursor = end
        deterministic = options.deterministic
    }

    deinit { start.deallocate() }

    /// Bytes written so far.
    @inlinable public var count: Int { end - cursor }

    /// The written bytes in wire order.
    public func bytes() -> [UInt8] {
        let n = count
        return [UInt8](unsafeUninitializedCapacity: n) { out, initialized in
            if n > 0, let dst = out.baseAddress { dst.update(from: cursor, count: n) }
            initialized = n
        }
    }

    @inlinable @inline(__always)
    mutating func reserve(_ n: Int) {
        if cursor - start < n { grow(n) }
    }

    @usableFromInline
    mutating func grow(_ n: Int) {
        let used = end - cursor
        let oldCap = end - start
        var newCap = oldCap * 2
        while newCap - used < n { newCap *= 2 }
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: newCap)
        let freshCursor = fresh + (newCap - used)
        freshCursor.update(from: cursor, count: used)
        start.deallocate()
        start = fresh
        end = fresh + newCap
        cursor = freshCursor
    }

    // MARK: Primitives (each writes *before* what is already there)

    @inlinable @inline(__always)
    public mutating func writeByte(_ b: UInt8) {
        reserve(1)
        cursor -= 1
        cursor.pointee = b
    }

    @inlinable @inline(__always)
    public mutating func writeVarint(_ value: UInt64) {
        if value < 0x80 { writeByte(UInt8(truncatingIfNeeded: value)); return }
        let n = varintSize(value)
        reserve(n)
        cursor -= n
        var p = cursor
        var v = value
        while v >= 0x80 {
            p.pointee = UInt8(truncatingIfNeeded: v) | 0x80
            v &>>= 7
            p += 1
        }
        p.pointee = UInt8(truncatingIfNeeded: v)
    }

    /// Tags are constants in generated code, so this inlines to a byte store or two.
    @inlinable @inline(__always)
    public mutating func writeTag(_ tag: UInt32) { writeVarint(UInt64(tag)) }

    @inlinable @inline(__always)
    public mutating func writeFixed32(_ v: UInt32) {
        reserve(4)
        cursor -= 4
        UnsafeMutableRawPointer(cursor).storeBytes(of: v.littleEndian, as: UInt32.self)
    }

    @inlinable @inline(__always)
    public mutating func writeFixed64(_ v: UInt64) {
        reserve(8)
        cursor -= 8
        UnsafeMutableRawPointer(cursor).storeBytes(of: v.littleEndian, as: UInt64.self)
    }

    @inlinable public mutating func writeInt32(_ v: Int32) { writeVarint(UInt64(bitPattern: Int64(v))) }
    @inlinable public mutating func writeInt64(_ v: Int64) { writeVarint(UInt64(bitPattern: v)) }
    @inlinable public mutating func writeUInt32(_ v: UInt32) { writeVarint(UInt64(v)) }
    @inlinable public mutating func writeUInt64(_ v: UInt64) { writeVarint(v) }
    @inlinable public mutating func writeSInt32(_ v: Int32) { writeVarint(UInt64(zigZagEncode32(v))) }
    @inlinable public mutating func writeSInt64(_ v: Int64) { writeVarint(zigZagEncode64(v)) }
    @inlinable public mutating func writeBool(_ v: Bool) { writeByte(v ? 1 : 0) }
    @inlinable public mutating func writeEnum(_ v: Int32) { writeInt32(v) }
    @inlinable public mutating func writeSFixed32(_ v: Int32) { writeFixed32(UInt32(bitPattern: v)) }
    @inlinable public mutating func writeSFixed64(_ v: Int64) { writeFixed64(UInt64(bitPattern: v)) }
    @inlinable public mutating func writeFloat(_ v: Float) { writeFixed32(v.bitPattern) }
    @inlinable public mutating func writeDouble(_ v: Double) { writeFixed64(v.bitPattern) }

    @inlinable @inline(__always)
    public mutating func writeRaw(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0, let src = bytes.baseAddress else { return }
        reserve(n)
        cursor -= n
        UnsafeMutableRawPointer(cursor).copyMemory(from: src, byteCount: n)
    }

    /// String contents followed (in wire order: preceded) by their length.
    @inlinable
    public mutating func writeString(_ s: String) {
        let before = count
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { writeRaw(UnsafeRawBufferPointer($0)) }
        if done == nil {
            var copy = s
            copy.withUTF8 { writeRaw(UnsafeRawBufferPointer($0)) }
        }
        writeVarint(UInt64(count - before))
    }

    @inlinable
    public mutating func writeBytes(_ b: [UInt8]) {
        b.withUnsafeBytes { writeRaw($0) }
        writeVarint(UInt64(b.count))
    }

    /// An embedded message and its length prefix (the tag is written by the caller).
    @inlinable
    public mutating func writeMessage<M: ProtoMessage>(_ m: M) {
        let before = count
        m.encodeMessage(to: &self)
        writeVarint(UInt64(count - before))
    }

    /// A packed repeated field's payload and length prefix.
    @inlinable
    public mutating func writePacked<T>(_ values: [T], _ write: (inout WireWriter, T) -> Void) {
        let before = count
        var i = values.count
        while i > 0 {
            i -= 1
            write(&self, values[i])
        }
        writeVarint(UInt64(count - before))
    }

    /// Brackets a length-delimited body written by `body` (map entries).
    @inlinable
    public mutating func writeLengthDelimited(_ body: (inout WireWriter) -> Void) {
        let before = count
        body(&self)
        writeVarint(UInt64(count - before))
    }

    @inlinable
    public mutating func writeUnknown(_ unknown: UnknownFields) {
        unknown.bytes.withUnsafeBytes { writeRaw($0) }
    }
}
