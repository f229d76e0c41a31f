#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A strict JSON reader over borrowed bytes (RFC 8259: no comments, no
/// trailing commas, no single quotes, no bare NaN). Generated `decodeJSON`
/// drives it object by object. It tracks the path of keys and indices so an
/// error names where it happened, e.g. `events[3].toolCall.arguments`.
public struct JSONReader: ~Copyable {
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline var ptr: UnsafePointer<UInt8>
    @usableFromInline let end: UnsafePointer<UInt8>
    public let options: JSONDecodingOptions
    @usableFromInline let ignoreUnknown: Bool
    @usableFromInline var depth = 0
    @usableFromInline let maxDepth: Int
    /// Path frames: for each open object the current key, for each open array the index.
    @usableFromInline var frames: UnsafeMutablePointer<Frame>
    /// The object depth whose `@type` member belongs to an enclosing `Any`.
    public var anyTypeDepth = -1
    /// Unescaped key bytes (keys with escapes only).
    @usableFromInline var scratch: [UInt8] = []

    @usableFromInline
    struct Frame {
        @usableFromInline var key: UnsafePointer<UInt8>?
        @usableFromInline var keyCount: Int
        @usableFromInline var index: Int
        @usableFromInline init(key: UnsafePointer<UInt8>?, keyCount: Int, index: Int) {
            self.key = key
            self.keyCount = keyCount
            self.index = index
        }
    }

    @usableFromInline nonisolated(unsafe) static let emptyInput: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.pointee = 0
        return UnsafePointer(p)
    }()

    public init(_ buffer: UnsafeRawBufferPointer, options: JSONDecodingOptions = .init()) {
        let start = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? JSONReader.emptyInput
        base = start
        ptr = start
        end = start + buffer.count
        self.options = options
        ignoreUnknown = options.ignoreUnknownFields
        maxDepth = options.depthLimit
        frames = .allocate(capacity: options.depthLimit + 2)
        frames.initialize(repeating: Frame(key: nil, keyCount: 0, index: -1), count: options.depthLimit + 2)
    }

    deinit { frames.deallocate() }

    // MARK: Errors

    /// The JSON path of the value being read.
    public var path: String {
        var out = ""
        if depth == 0 { return out }
        for d in 1...depth {
            let f = frames[d]
            if let k = f.key {
                if !out.isEmpty { out += "." }
                out += String(decoding: UnsafeBufferPointer(start: k, count: f.keyCount), as: UTF8.self)
            } else if f.index >= 0 {
                out += "[\(f.index)]"
            }
        }
        return out
    }

    public func error(_ message: String) -> JSONDecodingError {
        JSONDecodingError(message: message, path: path, offset: ptr - base)
    }

    // MARK: Whitespace and tokens

    @inlinable @inline(__always)
    mutating func skipWhitespace() {
        while ptr < end {
            let c = ptr.pointee
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { ptr += 1 } else { return }
        }
    }

    @inlinable @inline(__always)
    public mutating func peek() -> UInt8 {
        skipWhitespace()
        return ptr < end ? ptr.pointee : 0
    }

    @inlinable
    mutating func expect(_ c: UInt8, _ what: StaticString) throws(JSONDecodingError) {
        if peek() != c { throw error("expected \(what)") }
        ptr += 1
    }

    /// After the top-level value only whitespace may follow.
    public mutating func finish() throws(JSONDecodingError) {
        skipWhitespace()
        if ptr < end { throw error("unexpected data after the JSON value") }
    }

    private mutating func literal(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard end - ptr >= n, memcmp(ptr, s.utf8Start, n) == 0 else { return false }
        ptr += n
        return true
    }

    /// Consumes `null` if it is next.
    @inlinable
    public mutating func consumeNull() -> Bool {
        if peek() == UInt8(ascii: "n"), end - ptr >= 4, ptr[1] == 0x75, ptr[2] == 0x6C, ptr[3] == 0x6C {
            ptr += 4
            return true
        }
        return false
    }

    // MARK: Objects and arrays

    /// `{`; returns false for an empty object (the closing brace is consumed).
    @inlinable
    public mutating func beginObject() throws(JSONDecodingError) -> Bool {
        if peek() != UInt8(ascii: "{") { throw error("expected object") }
        ptr += 1
        depth += 1
        if depth > maxDepth { throw error("nesting deeper than \(maxDepth)") }
        frames[depth] = Frame(key: nil, keyCount: 0, index: -1)
        if peek() == UInt8(ascii: "}") { ptr += 1; depth -= 1; return false }
        return true
    }

    /// After a member: true if another member follows (`,`), false at `}`.
    @inlinable
    public mutating func nextMember() throws(JSONDecodingError) -> Bool {
        let c = peek()
        if c == UInt8(ascii: ",") { ptr += 1; return true }
        if c == UInt8(ascii: "}") { ptr += 1; depth -= 1; return false }
        throw error("expected ',' or '}'")
    }

    /// Reads a member key and the colon after it. The bytes stay valid until the next key.
    @inlinable
    public mutating func readKey() throws(JSONDecodingError) -> UnsafeBufferPointer<UInt8> {
        if peek() != 0x22 { throw error("expected a quoted member name") }
        ptr += 1
        let start = ptr
        while ptr < end {
            let c = ptr.pointee
            if c == 0x22 {
                let key = UnsafeBufferPointer(start: start, count: ptr - start)
                ptr += 1
                frames[depth].key = start
                frames[depth].keyCount = key.count
                try expect(UInt8(ascii: ":"), "':'")
                return key
            }
            if c == 0x5C || c < 0x20 { break }
            ptr += 1
        }
        // Escaped (or malformed) key: unescape into scratch.
        ptr = start - 1
        let s = try readString()
        scratch = Array(s.utf8)
        frames[depth].key = start
        frames[depth].keyCount = max(0, ptr - start - 1)
        try expect(UInt8(ascii: ":"), "':'")
        return scratch.withUnsafeBufferPointer { $0 }
    }

    /// Reads a member key as a String (map keys, Struct fields).
    public mutating func readKeyString() throws(JSONDecodingError) -> String {
        let k = try readKey()
        guard let s = String(validatingUTF8Bytes: k) else { throw error("invalid UTF-8 in member name") }
        return s
    }

    /// Calls `body` once per array element, with the path index set. `null`
    /// elements are an error unless `allowingNull` (ListValue, repeated Value).
    @inlinable
    public mutating func readArray(allowingNull: Bool = false, _ body: (inout JSONReader) throws(JSONDecodingError) -> Void) throws(JSONDecodingError) {
        if peek() != UInt8(ascii: "[") { throw error("expected array") }
        ptr += 1
        depth += 1
        if depth > maxDepth { throw error("nesting deeper than \(maxDepth)") }
        frames[depth] = Frame(key: nil, keyCount: 0, index: 0)
        if peek() == UInt8(ascii: "]") { ptr += 1; depth -= 1; return }
        var i = 0
        while true {
            frames[depth].index = i
            if !allowingNull, peek() == UInt8(ascii: "n"), consumeNull() { ptr -= 4; throw error("null is not allowed in an array") }
            try body(&self)
            let c = peek()
            if c == UInt8(ascii: ",") { ptr += 1; i += 1; continue }
            if c == UInt8(ascii: "]") { ptr += 1; break }
            throw error("expected ',' or ']'")
        }
        depth -= 1
    }

    public mutating func readArrayAllowingNull(_ body: (inout JSONReader) throws(JSONDecodingError) -> Void) throws(JSONDecodingError) {
        try readArray(allowingNull: true, body)
    }

    /// Calls `body` once per member of an object, with the key (maps, Struct).
    public mutating func readObject(allowingNull: Bool = false, _ body: (inout JSONReader, String) throws(JSONDecodingError) -> Void) throws(JSONDecodingError) {
        // Duplicate keys are caught by the caller when it inserts (one hash, not two).
        var more = try beginObject()
        while more {
            let key = try readKeyString()
            if !allowingNull, peek() == UInt8(ascii: "n"), consumeNull() { ptr -= 4; throw error("null is not allowed as a map value") }
            try body(&self, key)
            more = try nextMember()
        }
    }

    // MARK: Fields

    /// A member that names no field: an error, or skipped with `ignoreUnknownFields`.
    public mutating func unknownField(_ key: UnsafeBufferPointer<UInt8>) throws(JSONDecodingError) {
        if ignoreUnknown || (depth == anyTypeDepth && key.elementsEqual("@type".utf8)) { try skipValue(); return }
        throw error("unknown field \"\(String(decoding: key, as: UTF8.self))\"")
    }

    /// Marks a field as seen; a second occurrence (by either name) is an error.
    @inlinable
    public mutating func claim(_ seen: inout JSONSeenFields, _ slot: Int) throws(JSONDecodingError) {
        if !seen.insert(slot) { throw error("duplicate field") }
    }

    /// Marks a oneof as set; a second member is an error.
    @inlinable
    public mutating func claimOneof(_ seen: inout JSONSeenFields, _ slot: Int) throws(JSONDecodingError) {
        if !seen.insert(slot) { throw error("oneof is already set") }
    }

    // MARK: Values

    public mutating func skipValue() throws(JSONDecodingError) {
        switch peek() {
        case UInt8(ascii: "{"):
            var more = try beginObject()
            while more {
                _ = try readKey()
                try skipValue()
                more = try nextMember()
            }
        case UInt8(ascii: "["):
            try readArrayAllowingNull { (r: inout JSONReader) throws(JSONDecodingError) in try r.skipValue() }
        case 0x22: _ = try readString()
        case UInt8(ascii: "t"): if !literal("true") { throw error("invalid literal") }
        case UInt8(ascii: "f"): if !literal("false") { throw error("invalid literal") }
        case UInt8(ascii: "n"): if !literal("null") { throw error("invalid literal") }
        default: _ = try numberToken(quotedAllowed: false)
        }
    }

    public mutating func readBool() throws(JSONDecodingError) -> Bool {
        let c = peek()
        if c == UInt8(ascii: "t"), literal("true") { return true }
        if c == UInt8(ascii: "f"), literal("false") { return false }
        throw error("expected true or false")
    }

    /// A JSON string, unescaped and checked to be valid UTF-8 (lone surrogates rejected).
    @inlinable
    public mutating func readString() throws(JSONDecodingError) -> String {
        if peek() != 0x22 { throw error("expected string") }
        ptr += 1
        let start = ptr
        // 8 bytes at a time while none is a quote, backslash or control byte;
        // remember whether any is non-ASCII (only then is UTF-8 checked here).
        var highBits: UInt64 = 0
        while end - ptr >= 8 {
            let x = UnsafeRawPointer(ptr).loadUnaligned(as: UInt64.self)
            if JSONWriter.needsEscape(x) { break }
            highBits |= x
            ptr += 8
        }
        while ptr < end {
            let c = ptr.pointee
            if c == 0x22 {
                let bytes = UnsafeBufferPointer(start: start, count: ptr - start)
                if highBits & 0x8080_8080_8080_8080 != 0 || bytes.contains(where: { $0 >= 0x80 }) {
                    guard isValidUTF8(bytes) else { ptr = start; throw error("invalid UTF-8 in string") }
                }
                ptr += 1
                return String(decoding: bytes, as: UTF8.self)
            }
            if c == 0x5C || c < 0x20 { break }
            ptr += 1
        }
        ptr = start
        return try readEscapedString()
    }

    /// The bytes of a JSON string without building a String: borrowed from
    /// the input when it has no escapes, else unescaped into `scratch`.
    /// Valid until the next read. Not UTF-8 checked (callers compare or parse ASCII).
    @inlinable
    public mutating func readStringBytes() throws(JSONDecodingError) -> UnsafeBufferPointer<UInt8> {
        if peek() != 0x22 { throw error("expected string") }
        ptr += 1
        let start = ptr
        while ptr < end {
            let c = ptr.pointee
            if c == 0x22 {
                let bytes = UnsafeBufferPointer(start: start, count: ptr - start)
                ptr += 1
                return bytes
            }
            if c == 0x5C || c < 0x20 { break }
            ptr += 1
        }
        ptr = start - 1
        let s = try readString()
        scratch = Array(s.utf8)
        return scratch.withUnsafeBufferPointer { $0 }
    }

    @usableFromInline
    static func equal(_ s: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var s = s
        return s.withUTF8 { u in
            u.count == bytes.count && (u.count == 0 || memcmp(u.baseAddress!, bytes.baseAddress!, u.count) == 0)
        }
    }

    @usableFromInline
    mutating func readEscapedString() throws(JSONDecodingError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        while true {
            guard ptr < end else { throw error("unterminated string") }
            let c = ptr.pointee
            if c == 0x22 { ptr += 1; break }
            if c < 0x20 { throw error("control character in string") }
            if c != 0x5C {
                // Copy the run up to the next quote, escape or control byte at once.
                let runStart = ptr
                while ptr < end, ptr.pointee != 0x22, ptr.pointee != 0x5C, ptr.pointee >= 0x20 { ptr += 1 }
                out.append(contentsOf: UnsafeBufferPointer(start: runStart, count: ptr - runStart))
                continue
            }
            ptr += 1
            guard ptr < end else { throw error("unterminated string") }
            let e = ptr.pointee
            ptr += 1
            switch e {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x2F: out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard end - ptr >= 6, ptr[0] == 0x5C, ptr[1] == UInt8(ascii: "u") else { throw error("unpaired surrogate in string") }
                    ptr += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw error("unpaired surrogate in string") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("unpaired surrogate in string")
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("invalid escape") }
                out.append(contentsOf: String(Character(u)).utf8)
            default: throw error("invalid escape")
            }
        }
        guard let s = out.withUnsafeBufferPointer({ String(validatingUTF8Bytes: $0) }) else { throw error("invalid UTF-8 in string") }
        return s
    }

    mutating func hex4() throws(JSONDecodingError) -> UInt32 {
        guard end - ptr >= 4 else { throw error("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = ptr.pointee
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | d
            ptr += 1
        }
        return v
    }

    // MARK: Numbers

    /// A number token, bare or (when allowed) quoted. Returns its text.
    @usableFromInline
    mutating func numberToken(quotedAllowed: Bool) throws(JSONDecodingError) -> (text: UnsafeBufferPointer<UInt8>, quoted: Bool, owned: [UInt8]?) {
        let c = peek()
        if c == 0x22 {
            guard quotedAllowed else { throw error("expected number") }
            let save = ptr
            let s = try readString()
            var owned = Array(s.utf8)
            owned.append(0)
            let count = owned.count - 1
            if !JSONReader.isNumberGrammar(owned, count) { ptr = save; throw error("invalid number \"\(s)\"") }
            return (UnsafeBufferPointer(start: nil, count: 0), true, Array(owned[0..<count]))
        }
        let start = ptr
        while ptr < end {
            let d = ptr.pointee
            if (d >= 0x30 && d <= 0x39) || d == 0x2D || d == 0x2B || d == 0x2E || d == 0x65 || d == 0x45 { ptr += 1 } else { break }
        }
        let text = UnsafeBufferPointer(start: start, count: ptr - start)
        if text.isEmpty { throw error("expected number") }
        if !JSONReader.isNumberGrammar(text, text.count) { ptr = start; throw error("invalid number") }
        return (text, false, nil)
    }

    /// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    static func isNumberGrammar<C: Collection>(_ t: C, _ n: Int) -> Bool where C.Element == UInt8, C.Index == Int {
        var i = t.startIndex
        let e = t.startIndex + n
        func digit(_ j: Int) -> Bool { j < e && t[j] >= 0x30 && t[j] <= 0x39 }
        if i < e && t[i] == 0x2D { i += 1 }
        guard digit(i) else { return false }
        if t[i] == 0x30 { i += 1 } else { while digit(i) { i += 1 } }
        if i < e && t[i] == 0x2E {
            i += 1
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        if i < e && (t[i] == 0x65 || t[i] == 0x45) {
            i += 1
            if i < e && (t[i] == 0x2B || t[i] == 0x2D) { i += 1 }
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        return i == e
    }

    /// An integer given as a number or string, possibly in exponent or
    /// fractional form if integral (`1e5`, `"1.000"`), parsed exactly from its
    /// text (never through Double). Returns sign and magnitude.
    @usableFromInline
    mutating func readInteger() throws(JSONDecodingError) -> (negative: Bool, magnitude: UInt64) {
        let save = ptr
        var quoted = false
        if peek() == 0x22 { quoted = true; ptr += 1 }
        // Fast path: -?digits with no fraction, exponent or escape.
        let tokenStart = ptr
        var p = ptr
        var negative = false
        if p < end && p.pointee == 0x2D { negative = true; p += 1 }
        let digitsStart = p
        var v: UInt64 = 0
        var overflow = false
        while p < end, p.pointee >= 0x30, p.pointee <= 0x39 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(p.pointee - 0x30))
            overflow = overflow || o1 || o2
            v = a
            p += 1
        }
        let digitCount = p - digitsStart
        let next: UInt8 = p < end ? p.pointee : 0
        let plain = digitCount > 0 && !(digitCount > 1 && digitsStart.pointee == 0x30)
            && next != 0x2E && next != 0x65 && next != 0x45 && next != 0x5C
            && (!quoted || next == 0x22)
        if plain && !overflow {
            ptr = quoted ? p + 1 : p
            return (negative, v)
        }
        // General path: the full number grammar, exponent and fraction.
        ptr = save
        _ = tokenStart
        let tok = try numberToken(quotedAllowed: true)
        let result: (Bool, UInt64)?
        if let owned = tok.owned {
            result = owned.withUnsafeBufferPointer { JSONReader.exactInteger($0) }
        } else {
            result = JSONReader.exactInteger(tok.text)
        }
        guard let result else { ptr = save; throw error("expected an integer in range") }
        return result
    }

    static func exactInteger(_ t: UnsafeBufferPointer<UInt8>) -> (Bool, UInt64)? {
        var i = 0
        let n = t.count
        var negative = false
        if i < n && t[i] == 0x2D { negative = true; i += 1 }
        var digits: [UInt8] = []
        var pointAt = -1
        while i < n && t[i] != 0x65 && t[i] != 0x45 {
            if t[i] == 0x2E { pointAt = digits.count } else { digits.append(t[i] - 0x30) }
            i += 1
        }
        var exp = 0
        if i < n {
            i += 1
            var expNeg = false
            if t[i] == 0x2D { expNeg = true; i += 1 } else if t[i] == 0x2B { i += 1 }
            while i < n {
                exp = exp * 10 + Int(t[i] - 0x30)
                if exp > 400 { return digits.allSatisfy({ $0 == 0 }) ? (negative, 0) : nil }
                i += 1
            }
            if expNeg { exp = -exp }
        }
        let fracDigits = pointAt < 0 ? 0 : digits.count - pointAt
        let shift = exp - fracDigits  // value = digits * 10^shift
        var intDigits = digits
        if shift < 0 {
            let drop = -shift
            if drop > intDigits.count { return intDigits.allSatisfy({ $0 == 0 }) ? (negative, 0) : nil }
            if !intDigits.suffix(drop).allSatisfy({ $0 == 0 }) { return nil }
            intDigits.removeLast(drop)
        } else if shift > 0 {
            if shift > 25 { return intDigits.allSatisfy({ $0 == 0 }) ? (negative, 0) : nil }
            intDigits += [UInt8](repeating: 0, count: shift)
        }
        var v: UInt64 = 0
        for d in intDigits {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = s
        }
        return (negative, v)
    }

    public mutating func readInt64() throws(JSONDecodingError) -> Int64 {
        let save = ptr
        let (neg, mag) = try readInteger()
        if neg {
            if mag > UInt64(Int64.max) + 1 { ptr = save; throw error("integer out of range for int64") }
            return mag == UInt64(Int64.max) + 1 ? .min : -Int64(mag)
        }
        if mag > UInt64(Int64.max) { ptr = save; throw error("integer out of range for int64") }
        return Int64(mag)
    }

    public mutating func readUInt64() throws(JSONDecodingError) -> UInt64 {
        let save = ptr
        let (neg, mag) = try readInteger()
        if neg && mag != 0 { ptr = save; throw error("integer out of range for uint64") }
        return mag
    }

    public mutating func readInt32() throws(JSONDecodingError) -> Int32 {
        let save = ptr
        let v = try readInt64()
        guard let r = Int32(exactly: v) else { ptr = save; throw error("integer out of range for int32") }
        return r
    }

    public mutating func readUInt32() throws(JSONDecodingError) -> UInt32 {
        let save = ptr
        let (neg, mag) = try readInteger()
        guard !neg || mag == 0, let r = UInt32(exactly: mag) else { ptr = save; throw error("integer out of range for uint32") }
        return r
    }

    public mutating func readDouble() throws(JSONDecodingError) -> Double {
        let save = ptr
        if peek() == 0x22 {
            let start = ptr
            let s = try readString()
            switch s {
            case "NaN": return .nan
            case "Infinity": return .infinity
            case "-Infinity": return -.infinity
            default:
                ptr = start
            }
        }
        let tok = try numberToken(quotedAllowed: true)
        let v: Double?
        if let owned = tok.owned {
            v = JSONReader.parseDouble(owned)
        } else if let start = tok.text.baseAddress, start + tok.text.count < end {
            // The grammar check ended the token at a non-number byte inside the
            // buffer, so strtod stops exactly there: parse in place.
            v = start.withMemoryRebound(to: CChar.self, capacity: tok.text.count + 1) { strtod($0, nil) }
        } else {
            v = JSONReader.parseDouble(Array(tok.text))
        }
        guard let v, v.isFinite else { ptr = save; throw error("number out of range for double") }
        return v
    }

    public mutating func readFloat() throws(JSONDecodingError) -> Float {
        let save = ptr
        let d = try readDouble()
        if d.isNaN { return .nan }
        if d.isInfinite { return d < 0 ? -.infinity : .infinity }
        let f = Float(d)
        guard f.isFinite else { ptr = save; throw error("number out of range for float") }
        return f
    }

    static func parseDouble(_ text: [UInt8]) -> Double? {
        var t = text
        t.append(0)
        return t.withUnsafeBufferPointer { buf -> Double? in
            guard let p = buf.baseAddress else { return nil }
            var endp: UnsafeMutablePointer<CChar>?
            let v = p.withMemoryRebound(to: CChar.self, capacity: buf.count) { strtod($0, &endp) }
            return v
        }
    }

    /// bytes: standard or URL-safe base64, padded or not.
    public mutating func readBytes() throws(JSONDecodingError) -> [UInt8] {
        let save = ptr
        let s = try readStringBytes()
        guard let b = Base64.decode(s) else { ptr = save; throw error("invalid base64") }
        return b
    }

    /// An enum by name or number. Nil for an unknown name with `ignoreUnknownFields`.
    public mutating func readEnum<E: ProtoEnum>(_ type: E.Type) throws(JSONDecodingError) -> E? {
        if peek() == 0x22 {
            let save = ptr
            let bytes = try readStringBytes()
            for (v, name) in E.protoNames where JSONReader.equal(name, bytes) { return v }
            for (v, name) in E.protoAliases where JSONReader.equal(name, bytes) { return v }
            if options.acceptEnumWireWords { for (v, word) in E.wireWords where JSONReader.equal(word, bytes) { return v } }
            if ignoreUnknown { return nil }
            ptr = save
            throw error("unknown enum value \"\(String(decoding: bytes, as: UTF8.self))\" for \(E.self)")
        }
        return E(rawValue: try readInt32())
    }

    @inlinable
    public mutating func readMessage<M: ProtoMessage>(into m: inout M) throws(JSONDecodingError) {
        try m.decodeJSON(from: &self)
    }

    @inlinable
    public mutating func readMessage<M: ProtoMessage>(into m: inout M?) throws(JSONDecodingError) {
        var v = M()
        try v.decodeJSON(from: &self)
        m = v
    }

    // MARK: Map keys (JSON object keys are strings; numbers and bools are quoted)

    public func mapKeyInt64(_ key: String) throws(JSONDecodingError) -> Int64 {
        let bytes = Array(key.utf8)
        guard JSONReader.isNumberGrammar(bytes, bytes.count), let (neg, mag) = bytes.withUnsafeBufferPointer({ JSONReader.exactInteger($0) }),
              neg ? mag <= UInt64(Int64.max) + 1 : mag <= UInt64(Int64.max) else { throw error("invalid integer map key \"\(key)\"") }
        return neg ? (mag == UInt64(Int64.max) + 1 ? .min : -Int64(mag)) : Int64(mag)
    }
    public func mapKeyUInt64(_ key: String) throws(JSONDecodingError) -> UInt64 {
        let bytes = Array(key.utf8)
        guard JSONReader.isNumberGrammar(bytes, bytes.count), let (neg, mag) = bytes.withUnsafeBufferPointer({ JSONReader.exactInteger($0) }),
              !neg || mag == 0 else { throw error("invalid integer map key \"\(key)\"") }
        return mag
    }
    public func mapKeyInt32(_ key: String) throws(JSONDecodingError) -> Int32 {
        guard let v = Int32(exactly: try mapKeyInt64(key)) else { throw error("map key out of range \"\(key)\"") }
        return v
    }
    public func mapKeyUInt32(_ key: String) throws(JSONDecodingError) -> UInt32 {
        guard let v = UInt32(exactly: try mapKeyUInt64(key)) else { throw error("map key out of range \"\(key)\"") }
        return v
    }
    public func mapKeyBool(_ key: String) throws(JSONDecodingError) -> Bool {
        switch key {
        case "true": return true
        case "false": return false
        default: throw error("invalid bool map key \"\(key)\"")
        }
    }

    /// Saves the position (for `Any`, whose `@type` may come after the fields).
    public var position: Int { ptr - base }
    public mutating func rewind(to position: Int) { ptr = base + position }
}

/// Which fields (or oneofs) an object has set so far, for duplicate detection.
public struct JSONSeenFields {
    @usableFromInline var low: UInt64 = 0
    @usableFromInline var high: Set<Int> = []
    @inlinable public init() {}
    @inlinable
    public mutating func insert(_ slot: Int) -> Bool {
        if slot < 64 {
            let bit: UInt64 = 1 << UInt64(slot)
            if low & bit != 0 { return false }
            low |= bit
            return true
        }
        return high.insert(slot).inserted
    }
}
