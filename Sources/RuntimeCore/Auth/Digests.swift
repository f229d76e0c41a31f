// SHA-256 and HMAC-SHA-256 live in their own module (the PostgreSQL client
// needs them too); the runtime's users keep seeing them through RuntimeCore.
@_exported import Digests

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
