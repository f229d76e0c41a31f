import ProtoWire
import Foundation
import Generated

/// Who a verified sync token speaks for (its `oa_*` claims).
public struct SyncPrincipal: Sendable, Equatable {
    public var subject = ""
    public var userID = ""
    public var orgID = ""
    public var deviceID = ""
    public var sessionID = ""
    public var jti = ""
    /// The token's `iat`: a user or device revocation covers tokens issued at or before it.
    public var issuedAt: Int64 = 0
    public var scopes: Set<String> = []
    public init() {}

    /// The poll guard's and the strikes' consumer: principal user, org and device.
    public var consumerKey: String { "\(userID)|\(orgID)|\(deviceID)" }
}

/// Verifies `Authorization: Bearer <sync token>` in the documented order and
/// decides the topic ACL matrix (reference-system.md 2.6, with DECISIONS.md's
/// fix: user ids are strings, so control-minted tokens verify here).
public struct SyncAuthorizer: Sendable {
    let key: [UInt8]
    let config: KhalaConfig
    let clock: @Sendable () -> Int64
    /// Revoked token ids besides `RUNTIME_SYNC_REVOKED_JTIS`.
    var revoked: @Sendable (SyncPrincipal) -> Bool

    public init(key: [UInt8], config: KhalaConfig, clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
                revoked: @escaping @Sendable (SyncPrincipal) -> Bool = { _ in false }) {
        self.key = key
        self.config = config
        self.clock = clock
        self.revoked = revoked
    }

    public static func loadKey(environment: [String: String], dataDirectory: String) throws -> [UInt8] {
        try SecretFile.load(variable: "RUNTIME_SYNC_TOKEN_SIGNING_KEY", file: "sync-token.key", environment: environment, dataDirectory: dataDirectory)
    }

    public func verify(authorization: String?) throws(KhalaError) -> SyncPrincipal {
        guard let header = authorization?.whitespaceTrimmed, !header.isEmpty else { throw .unauthorized("missing_authorization") }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw .unauthorized("invalid_authorization_scheme") }
        let token = parts[1].whitespaceTrimmed
        guard let claimBytes = try? JWT.verify(token, key: key),
              let claims = try? JSONSerialization.jsonObject(with: Data(claimBytes)) as? [String: Any] else { throw .unauthorized("invalid_token") }
        guard claims["iss"] as? String == config.syncIssuer else { throw .unauthorized("invalid_token") }
        let audiences: [String] = (claims["aud"] as? String).map { [$0] } ?? (claims["aud"] as? [String]) ?? []
        guard audiences.contains(config.syncAudience) else { throw .unauthorized("invalid_token") }
        let now = clock()
        guard let iat = Self.integer(claims["iat"]) else { throw .unauthorized("missing_iat") }
        if now - iat > config.syncMaxAgeSeconds { throw .unauthorized("token_too_old") }
        let jti = claims["jti"] as? String ?? ""
        if config.syncRequireJTI && jti.isEmpty { throw .unauthorized("missing_jti") }
        var p = SyncPrincipal()
        p.jti = jti
        p.issuedAt = iat
        p.subject = claims["sub"] as? String ?? ""
        p.userID = Self.text(claims["oa_user_id"])
        p.orgID = Self.text(claims["oa_org_id"])
        p.deviceID = Self.text(claims["oa_device_id"])
        p.sessionID = Self.text(claims["oa_session_id"])
        p.scopes = Set((claims["oa_sync_scopes"] as? [Any] ?? []).compactMap { $0 as? String })
        if (!jti.isEmpty && config.revokedJTIs.contains(jti)) || revoked(p) { throw .unauthorized("token_revoked") }
        guard let exp = Self.integer(claims["exp"]) else { throw .unauthorized("invalid_token") }
        if now >= exp { throw .unauthorized("token_expired") }
        if let nbf = Self.integer(claims["nbf"]), now < nbf { throw .unauthorized("invalid_token") }
        return p
    }

    static func integer(_ v: Any?) -> Int64? {
        guard !(v is String), let n = v as? NSNumber else { return nil }
        return n.int64Value
    }

    /// A string claim, or a number written as one (the earlier system's u64 user ids).
    static func text(_ v: Any?) -> String {
        if let s = v as? String { return s.whitespaceTrimmed }
        if let n = integer(v) { return String(n) }
        return ""
    }

    static let workerScopes: Set<String> = ["runtime.codex_worker_events", "runtime.worker_lifecycle_events"]

    /// The ACL matrix: the scope first (`missing_scope`), then ownership (`owner_mismatch`).
    /// `workerOwner` gives a worker's (user, guest scope), nil when it does not exist;
    /// `runOwner` a run's owning user (empty when it has none), nil when it does not exist.
    public func authorize(_ topic: KhalaTopic, _ p: SyncPrincipal, workerOwner: (String) -> (user: String, guest: String)?,
                          runOwner: (String) -> String?) throws(KhalaError) {
        func need(_ scopes: Set<String>) throws(KhalaError) {
            guard !p.scopes.isDisjoint(with: scopes) else { throw .forbiddenTopic(topic.name, "missing_scope") }
        }
        switch topic {
        case .codexWorkerEvents:
            try need(Self.workerScopes)
        case .worker(let id):
            try need(Self.workerScopes)
            guard let owner = workerOwner(id) else { throw .forbiddenTopic(topic.name, "owner_mismatch") }
            let matches = !p.userID.isEmpty ? owner.user == p.userID : (!p.orgID.isEmpty && owner.guest == p.orgID)
            guard matches else { throw .forbiddenTopic(topic.name, "owner_mismatch") }
        case .fleetUser(let user):
            try need(Self.workerScopes)
            guard !p.userID.isEmpty, user == p.userID else { throw .forbiddenTopic(topic.name, "owner_mismatch") }
        case .fleetGuest(let scope):
            try need(Self.workerScopes)
            guard p.userID.isEmpty, !p.orgID.isEmpty, scope == p.orgID else { throw .forbiddenTopic(topic.name, "owner_mismatch") }
        case .run(let id):
            try need(["runtime.run_events"])
            // Better than the earlier system, which checked no owner: a run
            // owned by a user is that user's to follow.
            if let owner = runOwner(id), !owner.isEmpty, owner != p.userID { throw .forbiddenTopic(topic.name, "owner_mismatch") }
        case .other:
            throw .forbiddenTopic(topic.name, "unsupported_topic")
        }
    }
}
