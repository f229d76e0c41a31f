import ProtoWire
import APIRuntime
import Foundation
import Generated
import RuntimeCore

/// Khala sync tokens (reference-system.md 3.4): which scopes a session may
/// get, which topic each scope reads, and the HS256 JWT the runtime verifies
/// with the same key (`RUNTIME_SYNC_TOKEN_SIGNING_KEY`, or
/// `<data dir>/sync-token.key` read by both services).
public struct SyncTokens: Sendable {
    let key: [UInt8]
    public var issuer = "https://openagents.com"
    public var audience = "openagents-sync"
    public var kid = "sync-auth-v1"
    public var claimsVersion = "oa_sync_claims_v1"
    let clock: @Sendable () -> Int64

    public init(key: [UInt8], clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.key = key
        self.clock = clock
    }

    public static func loadKey(environment: [String: String], dataDirectory: String) throws -> [UInt8] {
        try SecretFile.load(variable: "RUNTIME_SYNC_TOKEN_SIGNING_KEY", file: "sync-token.key", environment: environment, dataDirectory: dataDirectory)
    }

    /// Every scope the runtime's Khala ACL knows (DECISIONS.md), declared once.
    public static let scopes = ["runtime.codex_worker_events", "runtime.codex_worker_summaries", "runtime.run_summaries",
                                "runtime.run_events", "runtime.worker_lifecycle_events"]
    public static let defaultScope = "runtime.codex_worker_events"
    public static let ttl = (min: UInt32(60), max: UInt32(900), default: UInt32(300))

    /// The scope a topic needs and whether the session may read it at all
    /// (`nil`: not a topic this service grants).
    static func requiredScope(_ topic: String, session: ControlSession, org: String) -> (scope: String, owned: Bool)? {
        // The runtime's topics are named as Khala parses them (one grammar); the earlier system's grants are control's own.
        switch KhalaTopic(topic) {
        case .run: return ("runtime.run_events", true)  // the runtime checks the run's owner
        case .worker: return ("runtime.worker_lifecycle_events", true)
        case .fleetUser(let user): return ("runtime.worker_lifecycle_events", user == session.userID)
        case .codexWorkerEvents: return ("runtime.codex_worker_events", true)
        case .fleetGuest: return nil
        case .other:
            let p = topic.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            switch p.count {
            case 3 where p[0] == "org" && p[2] == "worker_events": return ("runtime.codex_worker_events", p[1] == org)
            case 3 where p[0] == "org" && p[2] == "workers": return ("runtime.codex_worker_summaries", p[1] == org)
            case 3 where p[0] == "user" && p[2] == "runs": return ("runtime.run_summaries", p[1] == session.userID)
            default: return nil
            }
        }
    }

    /// The topic a scope reads when none is asked for.
    static func defaultTopic(_ scope: String, session: ControlSession, org: String) -> String? {
        switch scope {
        case "runtime.codex_worker_events": return "org:\(org):worker_events"
        case "runtime.codex_worker_summaries": return "org:\(org):workers"
        case "runtime.run_summaries": return "user:\(session.userID):runs"
        case "runtime.worker_lifecycle_events": return "fleet:user:\(session.userID):workers"
        default: return nil
        }
    }

    /// The org a session acts in (a session without one acts in its user's personal org).
    public static func org(_ s: ControlSession) -> String { s.orgID.isEmpty ? "personal_" + s.userID : s.orgID }

    /// Checks a request in the documented order and mints the token.
    public func mint(_ request: ControlV1.SyncTokenMintRequest, session: ControlSession) throws(APIError) -> ControlV1.SyncTokenGrant {
        let ttl = request.ttlSeconds ?? SyncTokens.ttl.default
        guard (SyncTokens.ttl.min...SyncTokens.ttl.max).contains(ttl) else {
            throw APIError(.unprocessable, "invalid_request", "ttl_seconds must be between \(SyncTokens.ttl.min) and \(SyncTokens.ttl.max)", details: ["ttl_seconds: must be between 60 and 900"])
        }
        let device = request.deviceId.whitespaceTrimmed
        if !device.isEmpty, !session.deviceID.isEmpty, device != session.deviceID {
            throw .forbidden("device_id \(device) is not the session's device")
        }
        var scopes: [String] = []
        for s in request.scopes.map({ $0.whitespaceTrimmed }) where !s.isEmpty && !scopes.contains(s) {
            guard SyncTokens.scopes.contains(s) else {
                throw APIError(.unprocessable, "invalid_scope", "unknown scope \(s) (known: \(SyncTokens.scopes.joined(separator: ", ")))", details: ["scopes: unknown scope \(s)"])
            }
            scopes.append(s)
        }
        if scopes.isEmpty { scopes = [SyncTokens.defaultScope] }
        let org = SyncTokens.org(session)
        var grants: [ControlV1.SyncTopicGrant] = []
        let asked = request.topics.map { $0.whitespaceTrimmed }.filter { !$0.isEmpty }
        for topic in asked where !grants.contains(where: { $0.topic == topic }) {
            guard let (scope, owned) = SyncTokens.requiredScope(topic, session: session, org: org) else {
                throw APIError(.unprocessable, "invalid_request", "topic \(topic) is not a topic sync tokens grant", details: ["topics: unknown topic \(topic)"])
            }
            guard owned else { throw .forbidden("topic \(topic) belongs to another user or org") }
            guard scopes.contains(scope) else {
                throw APIError(.unprocessable, "invalid_scope", "topic \(topic) needs scope \(scope), which was not requested", details: ["topics: \(topic) needs \(scope)"])
            }
            var g = ControlV1.SyncTopicGrant()
            g.topic = topic
            g.requiredScope = scope
            grants.append(g)
        }
        if asked.isEmpty {
            for scope in scopes {
                guard let topic = SyncTokens.defaultTopic(scope, session: session, org: org) else { continue }
                var g = ControlV1.SyncTopicGrant()
                g.topic = topic
                g.requiredScope = scope
                grants.append(g)
            }
        }
        let now = clock()
        let jti = "sync_" + UUID().uuidString.lowercased()
        let deviceID = device.isEmpty ? session.deviceID : device
        var claims: [String: Any] = [
            "iss": issuer, "aud": audience, "sub": "user:\(session.userID)", "iat": now, "nbf": now, "exp": now + Int64(ttl), "jti": jti,
            "oa_user_id": session.userID, "oa_org_id": org, "oa_session_id": session.sessionID,
            "oa_sync_scopes": scopes, "oa_sync_topics": grants.map(\.topic), "oa_claims_version": claimsVersion,
        ]
        if !deviceID.isEmpty { claims["oa_device_id"] = deviceID }
        let json = (try? JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])) ?? Data()
        var g = ControlV1.SyncTokenGrant()
        g.token = JWT.sign(claims: [UInt8](json), key: key, kid: kid)
        g.tokenType = "Bearer"
        g.expiresIn = ttl
        g.issuedAt = ControlClock.rfc3339(now)
        g.expiresAt = ControlClock.rfc3339(now + Int64(ttl))
        g.issuer = issuer
        g.audience = audience
        g.subject = "user:\(session.userID)"
        g.orgId = org
        g.claimsVersion = claimsVersion
        g.scopes = scopes
        g.grantedTopics = grants
        g.kid = kid
        g.tokenId = jti
        g.sessionId = session.sessionID
        g.deviceId = deviceID
        return g
    }
}

/// Times as the control API writes them.
public enum ControlClock {
    public static func rfc3339(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    public static func now() -> GoogleProtobuf.Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = GoogleProtobuf.Timestamp()
        t.seconds = Int64(ts.tv_sec)
        t.nanos = Int32(ts.tv_nsec / 1000) * 1000
        return t
    }

    public static func rfc3339(_ t: GoogleProtobuf.Timestamp) -> String {
        let base = rfc3339(t.seconds)
        return String(base.dropLast()) + String(format: ".%06dZ", t.nanos / 1000)
    }
}
