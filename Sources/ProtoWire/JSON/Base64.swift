/// Base64 for `bytes` fields: written standard with padding; read standard
/// or URL-safe, padded or not.
public enum Base64 {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let decodeTable: [Int8] = {
        var t = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = Int8(i) }
        t[Int(UInt8(ascii: "-"))] = 62
        t[Int(UInt8(ascii: "_"))] = 63
        return t
    }()

    public static func encode(_ bytes: [UInt8]) -> String {
        var w = JSONWriter(capacity: bytes.count * 4 / 3 + 4)
        encode(bytes, into: &w)
        return String(decoding: (try? w.finish()) ?? [], as: UTF8.self)
    }

    static func encode(_ bytes: [UInt8], into w: inout JSONWriter) {
        let n = bytes.count
        w.reserve((n + 2) / 3 * 4)
        alphabet.withUnsafeBufferPointer { a in
            bytes.withUnsafeBufferPointer { b in
                var out = w.cursor
                var i = 0
                while i + 3 <= n {
                    let v = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
                    out[0] = a[Int(v >> 18 & 63)]; out[1] = a[Int(v >> 12 & 63)]
                    out[2] = a[Int(v >> 6 & 63)]; out[3] = a[Int(v & 63)]
                    out += 4
                    i += 3
                }
                if n - i == 1 {
                    let v = UInt32(b[i]) << 16
                    out[0] = a[Int(v >> 18 & 63)]; out[1] = a[Int(v >> 12 & 63)]; out[2] = 61; out[3] = 61
                    out += 4
                } else if n - i == 2 {
                    let v = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8
                    out[0] = a[Int(v >> 18 & 63)]; out[1] = a[Int(v >> 12 & 63)]; out[2] = a[Int(v >> 6 & 63)]; out[3] = 61
                    out += 4
                }
                w.cursor = out
            }
        }
    }

    public static func decode(_ s: String) -> [UInt8]? {
        Array(s.utf8).withUnsafeBufferPointer { decode($0) }
    }

    public static func decode(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        // Padding only at the end, at most two, and only to a multiple of 4.
        var count = input.count
        var pad = 0
        while count > 0, input[count - 1] == 61 { count -= 1; pad += 1 }
        if pad > 2 || (pad > 0 && (count + pad) % 4 != 0) { return nil }
        if count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in UnsafeBufferPointer(rebasing: input[0..<count]) {
            let v = decodeTable[Int(c)]
            if v < 0 { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero (canonical encodings only).
        if bits > 0 && acc & ((1 << UInt32(bits)) - 1) != 0 { return nil }
        return out
    }
}
