/// A forward JSON writer. Generated `encodeJSONFields` calls `key` and the
/// value writers; separators and (optional) indentation are handled here.
/// Values with no JSON form record the first error, which `finish` throws, so
/// generated code does not need to throw.
public struct JSONWriter: ~Copyable {
    @usableFromInline var start: UnsafeMutablePointer<UInt8>
    @usableFromInline var cursor: UnsafeMutablePointer<UInt8>
    @usableFromInline var end: UnsafeMutablePointer<UInt8>
    @usableFromInline var needsComma = false
    @usableFromInline var depth = 0
    public let options: JSONEncodingOptions
    @usableFromInline let pretty: Bool
    public let emitDefaults: Bool
    @usableFromInline let protoNames: Bool
    @usableFromInline let int64AsNumbers: Bool
    @usableFromInline let enumsAsNumbers: Bool
    public var error: JSONEncodingError?

    public init(capacity: Int = 256, options: JSONEncodingOptions = .init()) {
        let cap = max(capacity, 16)
        start = .allocate(capacity: cap)
        cursor = start
        end = start + cap
        self.options = options
        pretty = options.prettyPrint
        emitDefaults = options.emitDefaultValues
        protoNames = options.preserveProtoFieldNames
        int64AsNumbers = options.int64AsNumbers
        enumsAsNumbers = options.enumsAsNumbers
    }

    deinit { start.deallocate() }

    @inlinable public var count: Int { cursor - start }
    public var deterministic: Bool { options.deterministic }

    /// The bytes written, or the first error recorded.
    public func finish() throws(JSONEncodingError) -> [UInt8] {
        if let error { throw error }
        let n = count
        return [UInt8](unsafeUninitializedCapacity: n) { out, initialized in
            if n > 0, let dst = out.baseAddress { dst.update(from: start, count: n) }
            initialized = n
        }
    }

    public mutating func fail(_ message: String) {
        if error == nil { error = JSONEncodingError(message) }
    }

    // MARK: Raw output

    @inlinable @inline(__always)
    mutating func reserve(_ n: Int) {
        if end - cursor < n { grow(n) }
    }

    @usableFromInline
    mutating func grow(_ n: Int) {
        let used = cursor - start
        var cap = (end - start) * 2
        while cap - used < n { cap *= 2 }
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
        fresh.update(from: start, count: used)
        start.deallocate()
        start = fresh
        cursor = fresh + used
        end = fresh + cap
    }

    @inlinable @inline(__always)
    public mutating func byte(_ b: UInt8) {
        reserve(1)
        cursor.pointee = b
        cursor += 1
    }

    @inlinable
    public mutating func raw(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        reserve(n)
        cursor.update(from: s.utf8Start, count: n)
        cursor += n
    }

    @inlinable
    public mutating func raw(_ bytes: UnsafeBufferPointer<UInt8>) {
        let n = bytes.count
        guard n > 0, let src = bytes.baseAddress else { return }
        reserve(n)
        cursor.update(from: src, count: n)
        cursor += n
    }

    @usableFromInline
    mutating func newlineAndIndent() {
        byte(0x0A)
        reserve(depth * 2)
        for _ in 0..<(depth * 2) { cursor.pointee = 0x20; cursor += 1 }
    }

    // MARK: Structure

    @inlinable
    public mutating func beginObject() {
        separateValue()
        byte(UInt8(ascii: "{"))
        depth += 1
        needsComma = false
    }

    @inlinable
    public mutating func endObject() {
        depth -= 1
        if pretty && needsComma { newlineAndIndent() }
        byte(UInt8(ascii: "}"))
        needsComma = true
    }

    @inlinable
    public mutating func beginArray() {
        separateValue()
        byte(UInt8(ascii: "["))
        depth += 1
        needsComma = false
    }

    @inlinable
    public mutating func endArray() {
        depth -= 1
        if pretty && needsComma { newlineAndIndent() }
        byte(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Before an array element (or a top-level value): a comma when needed.
    @inlinable @inline(__always)
    mutating func separateValue() {
        if keyPending { keyPending = false; return }
        if needsComma { byte(UInt8(ascii: ",")) }
        if pretty && depth > 0 { newlineAndIndent() }
    }

    /// Set between a key and its value, so the value adds no separator.
    @usableFromInline var keyPending = false

    /// A member key given as pre-quoted `"name":` literals, JSON name and proto name.
    @inlinable
    public mutating func key(_ json: StaticString, _ proto: StaticString) {
        if needsComma { byte(UInt8(ascii: ",")) }
        if pretty { newlineAndIndent() }
        raw(protoNames ? proto : json)
        if pretty { byte(0x20) }
        keyPending = true
    }

    /// A member key from a runtime string (map keys, Struct fields).
    @inlinable
    public mutating func key(_ name: String) {
        if needsComma { byte(UInt8(ascii: ",")) }
        if pretty { newlineAndIndent() }
        writeQuoted(name)
        byte(UInt8(ascii: ":"))
        if pretty { byte(0x20) }
        keyPending = true
    }

    // MARK: Scalars

    @inlinable
    public mutating func writeNull() { separateValue(); raw("null"); needsComma = true }

    @inlinable
    public mutating func writeBool(_ v: Bool) { separateValue(); if v { raw("true") } else { raw("false") }; needsComma = true }

    @inlinable
    public mutating func writeString(_ s: String) { separateValue(); writeQuoted(s); needsComma = true }

    @inlinable
    public mutating func writeInt32(_ v: Int32) { separateValue(); writeDecimal(Int64(v)); needsComma = true }
    @inlinable
    public mutating func writeUInt32(_ v: UInt32) { separateValue(); writeDecimalUnsigned(UInt64(v)); needsComma = true }

    @inlinable
    public mutating func writeInt64(_ v: Int64) {
        separateValue()
        if int64AsNumbers { writeDecimal(v) } else { byte(0x22); writeDecimal(v); byte(0x22) }
        needsComma = true
    }

    @inlinable
    public mutating func writeUInt64(_ v: UInt64) {
        separateValue()
        if int64AsNumbers { writeDecimalUnsigned(v) } else { byte(0x22); writeDecimalUnsigned(v); byte(0x22) }
        needsComma = true
    }

    public mutating func writeDouble(_ v: Double) { writeFloatingPoint(v) }

    public mutating func writeFloat(_ v: Float) { writeFloatingPoint(v) }

    /// Finite values use Swift's shortest round-trip form; the rest are the proto3 JSON strings.
    private mutating func writeFloatingPoint<F: BinaryFloatingPoint & CustomStringConvertible>(_ v: F) {
        separateValue()
        if v.isFinite {
            var s = v.description
            s.withUTF8 { raw($0) }
        } else if v.isNaN { raw("\"NaN\"") } else if v < 0 { raw("\"-Infinity\"") } else { raw("\"Infinity\"") }
        needsComma = true
    }

    /// bytes: standard base64 with padding.
    public mutating func writeBytes(_ b: [UInt8]) {
        separateValue()
        byte(0x22)
        Base64.encode(b, into: &self)
        byte(0x22)
        needsComma = true
    }

    @inlinable
    public mutating func writeEnum<E: ProtoEnum>(_ v: E) {
        if enumsAsNumbers { writeInt32(v.rawValue); return }
        if options.enumWireWords, let word = v.wireWord { writeString(word); return }
        if let name = v.protoName { writeString(name) } else { writeInt32(v.rawValue) }
    }

    @inlinable
    public mutating func writeMessage<M: ProtoMessage>(_ m: M) {
        m.encodeJSON(to: &self)
    }

    // MARK: Numbers and strings

    @usableFromInline
    mutating func writeDecimal(_ v: Int64) {
        if v < 0 {
            byte(UInt8(ascii: "-"))
            writeDecimalUnsigned(UInt64(bitPattern: 0 &- v))
        } else {
            writeDecimalUnsigned(UInt64(v))
        }
    }

    @usableFromInline
    mutating func writeDecimalUnsigned(_ v: UInt64) {
        if v < 10 { byte(0x30 + UInt8(v)); return }
        reserve(20)
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes of scratch
        withUnsafeMutableBytes(of: &digits) { buf in
            var i = 32
            var n = v
            while n > 0 {
                i -= 1
                buf[i] = 0x30 + UInt8(n % 10)
                n /= 10
            }
            let len = 32 - i
            cursor.update(from: buf.baseAddress!.assumingMemoryBound(to: UInt8.self) + i, count: len)
            cursor += len
        }
    }

    /// Whether any of 8 bytes needs escaping in a JSON string: < 0x20, `"` or `\`.
    @inlinable @inline(__always)
    static func needsEscape(_ x: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let quote = x ^ (ones &* 0x22)
        let slash = x ^ (ones &* 0x5C)
        let control = (x &- ones &* 0x20) & ~x
        let zq = (quote &- ones) & ~quote
        let zs = (slash &- ones) & ~slash
        return (control | zq | zs) & high != 0
    }

    /// A JSON string literal: quotes, `"` and `\` escaped, control characters as escapes.
    @usableFromInline
    mutating func writeQuoted(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            let n = utf8.count
            reserve(n + 2)
            cursor.pointee = 0x22
            cursor += 1
            guard let base = utf8.baseAddress else { cursor.pointee = 0x22; cursor += 1; return }
            var i = 0
            var runStart = 0
            while i < n {
                // Skip 8 clean bytes at a time; the common string is copied in one go.
                while i + 8 <= n, !JSONWriter.needsEscape(UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)) { i += 8 }
                if i >= n { break }
                let c = base[i]
                if c >= 0x20 && c != 0x22 && c != 0x5C { i += 1; continue }
                if i > runStart { raw(UnsafeBufferPointer(start: base + runStart, count: i - runStart)) }
                switch c {
                case 0x22: raw("\\\"")
                case 0x5C: raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                case 0x08: raw("\\b")
                case 0x0C: raw("\\f")
                default:
                    raw("\\u00")
                    let hex: StaticString = "0123456789abcdef"
                    byte(hex.utf8Start[Int(c >> 4)])
                    byte(hex.utf8Start[Int(c & 15)])
                }
                i += 1
                runStart = i
            }
            if n > runStart { raw(UnsafeBufferPointer(start: base + runStart, count: n - runStart)) }
            byte(0x22)
        }
    }

    /// A Timestamp as its RFC 3339 string, written straight into the buffer.
    /// False (nothing written) when out of range.
    public mutating func writeTimestamp(seconds: Int64, nanos: Int32) -> Bool {
        guard seconds >= -62_135_596_800, seconds <= 253_402_300_799, nanos >= 0, nanos <= 999_999_999 else { return false }
        separateValue()
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secOfDay = seconds - days * 86400
        let (y, m, d) = WellKnownJSON.civilFromDays(days)
        reserve(32)
        func put(_ v: Int64, _ width: Int) {
            var v = v
            var i = width - 1
            while i >= 0 { cursor[i] = 0x30 + UInt8(v % 10); v /= 10; i -= 1 }
            cursor += width
        }
        cursor.pointee = 0x22; cursor += 1
        put(y, 4); cursor.pointee = 0x2D; cursor += 1
        put(m, 2); cursor.pointee = 0x2D; cursor += 1
        put(d, 2); cursor.pointee = UInt8(ascii: "T"); cursor += 1
        put(secOfDay / 3600, 2); cursor.pointee = 0x3A; cursor += 1
        put(secOfDay / 60 % 60, 2); cursor.pointee = 0x3A; cursor += 1
        put(secOfDay % 60, 2)
        if nanos != 0 {
            cursor.pointee = 0x2E; cursor += 1
            if nanos % 1_000_000 == 0 { put(Int64(nanos / 1_000_000), 3) } else if nanos % 1000 == 0 { put(Int64(nanos / 1000), 6) } else { put(Int64(nanos), 9) }
        }
        cursor.pointee = UInt8(ascii: "Z"); cursor += 1
        cursor.pointee = 0x22; cursor += 1
        needsComma = true
        return true
    }
}
