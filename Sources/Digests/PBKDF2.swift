/// PBKDF2 (RFC 8018 section 5.2) with HMAC-SHA-256 as the PRF: what SCRAM's
/// `Hi(password, salt, i)` is (RFC 5802 section 2.2).
public enum PBKDF2 {
    public static func sha256(password: [UInt8], salt: [UInt8], iterations: Int, length: Int = 32) -> [UInt8] {
        precondition(iterations >= 1 && length >= 1)
        var out: [UInt8] = []
        var block: UInt32 = 1
        while out.count < length {
            var u = HMACSHA256.mac(key: password, message: salt + [UInt8(block >> 24), UInt8(block >> 16 & 0xff), UInt8(block >> 8 & 0xff), UInt8(block & 0xff)])
            var t = u
            if iterations > 1 {
                for _ in 1..<iterations {
                    u = HMACSHA256.mac(key: password, message: u)
                    for i in 0..<t.count { t[i] ^= u[i] }
                }
            }
            out += t
            block += 1
        }
        return Array(out.prefix(length))
    }
}
