/// Well-formed UTF-8 per Unicode Table 3-7 (no overlong forms, no
/// surrogates, nothing above U+10FFFF). Non-generic and allocation-free, so
/// the hot string paths avoid the generic `String(validating:as:)`.
@inlinable
public func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let p = bytes.baseAddress else { return true }
    let n = bytes.count
    var i = 0
    while i < n {
        // ASCII fast path, 8 bytes at a time.
        while i + 8 <= n, UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 { i += 8 }
        if i >= n { break }
        let b0 = p[i]
        if b0 < 0x80 { i += 1; continue }
        if b0 < 0xC2 { return false }
        if b0 < 0xE0 {
            guard i + 1 < n, p[i + 1] & 0xC0 == 0x80 else { return false }
            i += 2
            continue
        }
        if b0 < 0xF0 {
            guard i + 2 < n else { return false }
            let b1 = p[i + 1]
            let lo: UInt8 = b0 == 0xE0 ? 0xA0 : 0x80
            let hi: UInt8 = b0 == 0xED ? 0x9F : 0xBF
            guard b1 >= lo, b1 <= hi, p[i + 2] & 0xC0 == 0x80 else { return false }
            i += 3
            continue
        }
        if b0 < 0xF5 {
            guard i + 3 < n else { return false }
            let b1 = p[i + 1]
            let lo: UInt8 = b0 == 0xF0 ? 0x90 : 0x80
            let hi: UInt8 = b0 == 0xF4 ? 0x8F : 0xBF
            guard b1 >= lo, b1 <= hi, p[i + 2] & 0xC0 == 0x80, p[i + 3] & 0xC0 == 0x80 else { return false }
            i += 4
            continue
        }
        return false
    }
    return true
}

extension String {
    /// Validating UTF-8 decode; nil when the bytes are not well-formed UTF-8.
    @inlinable
    public init?(validatingUTF8Bytes bytes: UnsafeBufferPointer<UInt8>) {
        guard isValidUTF8(bytes) else { return nil }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
