import APIRuntime
import Foundation
import Generated
import Glibc
import ProtoWire
import Synchronization

/// `X-OA-RUNTIME-SIGNATURE` (DECISIONS.md, reference-system.md section 4a):
/// `v1.<base64url(claims JSON)>.<base64url(HMAC-SHA256(secret, claims segment))>`.
/// The MAC covers the claims segment as sent; MACs compare in constant time;
/// nonces are single-use until `exp`; 30 s clock skew; claims present in the
/// token must match the request (403); every other failure is 401.
/// Where spent nonces are kept when several instances must refuse the same
/// replay: a token used on one instance is refused on every other.
public protocol NonceLedger: Sendable {
    /// Spends `nonce` until `expires` (unix seconds); false when it is already
    /// spent and not yet expired at `now`. Throws `unavailable` when the ledger
    /// cannot be reached (the request is refused, never let through).
    func spend(nonce: String, expires: Int64, now: Int64) throws(APIError) -> Bool
}

public final class RuntimeSignature: Sendable {
    public static let header = "x-oa-runtime-signature"
    public static let skewSeconds: Int64 = 30
    let secret: [UInt8]
    /// nonce -> exp, pruned as they expire.
    private let nonces = Mutex<(seen: [String: Int64], nextPrune: Int64)>(([:], 0))
    private let clock: @Sendable () -> Int64
    /// Shared nonces (PostgreSQL with several instances); nil: this process's memory.
    private let shared: (any NonceLedger)?

    public init(secret: [UInt8], clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }, nonces: (any NonceLedger)? = nil) {
        self.secret = secret
        self.clock = clock
        shared = nonces
    }

    /// A token for `claims` (the `sign` subcommand, tests).
    public static func sign(_ claims: RuntimeV1.RuntimeSignatureClaims, secret: [UInt8]) -> String {
        let json = (try? claims.jsonBytes(options: JSONEncodingOptions(int64AsNumbers: true))) ?? []
        let payload = Base64URL.encode(json)
        return "v1." + payload + "." + Base64URL.encode(HMACSHA256.mac(key: secret, message: Array(payload.utf8)))
    }

    public static func claims(ttl: Int64 = 60, runID: String = "", threadID: String = "", userID: String = "", guestScope: String = "",
                              now: Int64 = Int64(Date().timeIntervalSince1970)) -> RuntimeV1.RuntimeSignatureClaims {
        var c = RuntimeV1.RuntimeSignatureClaims()
        c.iat = now
        c.exp = now + ttl
        c.nonce = "nonce-" + randomHex(16)
        c.runId = runID
        c.threadId = threadID
        c.userId = userID
        c.guestScope = guestScope
        return c
    }

    /// `bytes` bytes from the system generator (getrandom) as lowercase hex:
    /// what a nonce needs, without `UUID()` opening /dev/urandom per call.
    public static func randomHex(_ bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes * 2)
        var left = bytes
        while left > 0 {
            var word = g.next()
            for _ in 0..<min(8, left) {
                out.append(digits[Int(word >> 4 & 15)])
                out.append(digits[Int(word & 15)])
                word >>= 8
            }
            left -= min(8, left)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// What the request carries that a token's claims must match.
    public struct Bindings: Sendable {
        public var runID: String?
        public var threadID: String?
        public var userID: String?
        public var guestScope: String?
        public init(runID: String? = nil, threadID: String? = nil, userID: String? = nil, guestScope: String? = nil) {
            self.runID = runID
            self.threadID = threadID
            self.userID = userID
            self.guestScope = guestScope
        }
    }

    static func unauthorized(_ m: String) -> APIError { APIError.unauthorized(m) }

    /// Verifies a token against the request's bindings; consumes its nonce on success.
    @discardableResult
    public func verify(_ token: String?, bindings: Bindings) throws(APIError) -> RuntimeV1.RuntimeSignatureClaims {
        guard let token = token?.whitespaceTrimmed, !token.isEmpty else { throw Self.unauthorized("missing \(Self.header)") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", let payload = Base64URL.decode(parts[1]), let mac = Base64URL.decode(parts[2]) else {
            throw Self.unauthorized("invalid token encoding")
        }
        guard HMACSHA256.constantTimeEqual(HMACSHA256.mac(key: secret, message: Array(parts[1].utf8)), mac) else { throw Self.unauthorized("invalid signature") }
        let claims: RuntimeV1.RuntimeSignatureClaims
        do { claims = try RuntimeV1.RuntimeSignatureClaims(jsonBytes: payload) } catch { throw Self.unauthorized("invalid claims: \(error)") }
        let now = clock()
        guard claims.iat > 0, claims.exp > 0, !claims.nonce.isEmpty else { throw Self.unauthorized("invalid claims: iat, exp and nonce are required") }
        guard claims.exp > now else { throw Self.unauthorized("token expired") }
        guard claims.iat <= now + Self.skewSeconds else { throw Self.unauthorized("token issued in the future") }
        guard claims.exp > claims.iat else { throw Self.unauthorized("invalid claims: exp must be after iat") }
        for (name, claim, actual) in [("run_id", claims.runId, bindings.runID), ("thread_id", claims.threadId, bindings.threadID),
                                      ("user_id", claims.userId, bindings.userID), ("guest_scope", claims.guestScope, bindings.guestScope)] {
            if !claim.isEmpty, let actual, !actual.isEmpty, actual != claim {
                throw APIError.forbidden("claim mismatch for \(name)")
            }
        }
        if let shared {
            guard try shared.spend(nonce: claims.nonce, expires: claims.exp, now: now) else { throw Self.unauthorized("token nonce already used") }
            return claims
        }
        let fresh = nonces.withLock { n -> Bool in
            if now >= n.nextPrune {
                n.seen = n.seen.filter { $0.value > now }
                n.nextPrune = now + 10
            }
            if let exp = n.seen[claims.nonce], exp > now { return false }
            n.seen[claims.nonce] = claims.exp
            return true
        }
        guard fresh else { throw Self.unauthorized("token nonce already used") }
        return claims
    }


    // MARK: The secret

    /// `OA_RUNTIME_SIGNATURE_SECRET` when set; otherwise a random secret created
    /// once in the data directory (mode 0600) and reused after restarts.
    public static func loadSecret(environment: [String: String], dataDirectory: String) throws -> [UInt8] {
        try SecretFile.load(variable: "OA_RUNTIME_SIGNATURE_SECRET", file: "runtime-signature.secret", environment: environment, dataDirectory: dataDirectory)
    }

}
