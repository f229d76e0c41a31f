import APIRuntime
import Foundation
import Generated
import RuntimeCore
import Synchronization

/// A verified control session: who, which session, which org and device.
public struct ControlSession: Sendable, Equatable {
    public var userID: String
    public var sessionID: String
    public var orgID: String
    public var deviceID: String
    public var issuedAt: Int64
    public var expiresAt: Int64

    public init(userID: String, sessionID: String, orgID: String = "", deviceID: String = "", issuedAt: Int64 = 0, expiresAt: Int64 = 0) {
        self.userID = userID
        self.sessionID = sessionID
        self.orgID = orgID
        self.deviceID = deviceID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}

/// Control session tokens: HS256 JWTs with `sub` (the user id, a string),
/// `sid`, `oa_org_id`, `oa_device_id` (optional), `iat`, `exp`, signed with
/// `OA_CONTROL_SESSION_SECRET` or `<data dir>/control-session.secret`.
/// Verification checks, in order: a bearer token is present, it is a JWT
/// whose header says HS256, its MAC, its claims, its lifetime, then the
/// durable revocations.
public struct SessionTokens: Sendable {
    let key: [UInt8]
    let clock: @Sendable () -> Int64
    /// Tokens may be up to this many seconds early (clock skew between machines).
    static let skewSeconds: Int64 = 30

    public init(key: [UInt8], clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.key = key
        self.clock = clock
    }

    public static func loadKey(environment: [String: String], dataDirectory: String) throws -> [UInt8] {
        try SecretFile.load(variable: "OA_CONTROL_SESSION_SECRET", file: "control-session.secret", environment: environment, dataDirectory: dataDirectory)
    }

    /// A token for a new session (`openagents token session`, email login, tests).
    public func mint(userID: String, orgID: String, deviceID: String = "", sessionID: String = "sess_" + UUID().uuidString.lowercased(),
                     ttl: Int64 = 3600, now: Int64? = nil) -> (token: String, session: ControlSession) {
        let iat = now ?? clock()
        var claims: [String: Any] = ["sub": userID, "sid": sessionID, "oa_org_id": orgID, "iat": iat, "exp": iat + ttl]
        if !deviceID.isEmpty { claims["oa_device_id"] = deviceID }
        let json = (try? JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])) ?? Data()
        let session = ControlSession(userID: userID, sessionID: sessionID, orgID: orgID, deviceID: deviceID, issuedAt: iat, expiresAt: iat + ttl)
        return (JWT.sign(claims: [UInt8](json), key: key), session)
    }

    /// The session an `Authorization` header value carries, or 401 naming why not.
    public func verify(authorization: String?, revocations: [String: ControlV1.SessionRevoked]) throws(APIError) -> ControlSession {
        let token = try Self.bearer(authorization)
        // A token verified before needs only its lifetime and the revocations checked again.
        if let s = verified.withLock({ $0[token] }) {
            guard s.expiresAt > clock() else { throw .unauthorized("the session has expired") }
            if SessionTokens.isRevoked(s, revocations) { throw .unauthorized("the session has been revoked") }
            return s
        }
        let session = try verifyToken(token)
        if SessionTokens.isRevoked(session, revocations) { throw .unauthorized("the session has been revoked") }
        verified.withLock { cache in
            // Bounded: a full cache starts over (tokens are long-lived, so this is rare).
            if cache.count >= SessionTokens.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[token] = session
        }
        return session
    }

    /// The token of `Bearer <token>` (the scheme case-insensitive, spaces around it ignored).
    static func bearer(_ authorization: String?) throws(APIError) -> String {
        guard let authorization else { throw .unauthorized("Authorization: Bearer <session token> is required") }
        let parts = authorization.utf8.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        guard !parts.isEmpty else { throw .unauthorized("Authorization: Bearer <session token> is required") }
        guard parts.count == 2, parts[0].count == 6, zip(parts[0], "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }) else {
            throw .unauthorized("the Authorization scheme must be Bearer")
        }
        return String(decoding: parts[1], as: UTF8.self)
    }

    /// Tokens whose MAC and claims held, by token (the MAC check and JSON parse are most of a request's cost).
    private let verified = VerifiedCache()
    static let cacheLimit = 10_000

    final class VerifiedCache: Sendable {
        let tokens = Mutex<[String: ControlSession]>([:])
        func withLock<T>(_ body: (inout [String: ControlSession]) -> T) -> T { tokens.withLock { body(&$0) } }
    }

    func verifyToken(_ token: String) throws(APIError) -> ControlSession {
        let bytes: [UInt8]
        do { bytes = try JWT.verify(token, key: key) } catch {
            switch error {
            case .malformed: throw .unauthorized("the session token is malformed")
            case .unsupportedAlgorithm(let alg): throw .unauthorized("the session token's algorithm \(alg) is not HS256")
            case .badSignature: throw .unauthorized("the session token's signature does not verify")
            }
        }
        guard let claims = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let sub = claims["sub"] as? String, !sub.isEmpty, let sid = claims["sid"] as? String, !sid.isEmpty,
              let iat = (claims["iat"] as? NSNumber)?.int64Value, let exp = (claims["exp"] as? NSNumber)?.int64Value else {
            throw .unauthorized("the session token lacks sub, sid, iat or exp")
        }
        let now = clock()
        guard exp > now else { throw .unauthorized("the session has expired") }
        guard iat <= now + SessionTokens.skewSeconds, exp > iat else { throw .unauthorized("the session token's iat and exp are not a valid lifetime") }
        return ControlSession(userID: sub, sessionID: sid, orgID: claims["oa_org_id"] as? String ?? "", deviceID: claims["oa_device_id"] as? String ?? "",
                              issuedAt: iat, expiresAt: exp)
    }

    static func isRevoked(_ s: ControlSession, _ revocations: [String: ControlV1.SessionRevoked]) -> Bool {
        if revocations["sid:" + s.sessionID] != nil { return true }
        if let all = revocations["user:" + s.userID], s.issuedAt <= (all.revokedAt?.seconds ?? 0) { return true }
        if !s.deviceID.isEmpty, let d = revocations["device:\(s.userID):\(s.deviceID)"], s.issuedAt <= (d.revokedAt?.seconds ?? 0) { return true }
        return false
    }
}
