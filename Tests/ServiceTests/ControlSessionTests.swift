import APIRuntime
import ControlService
import Foundation
import Generated
@testable import RuntimeCore
import TestSupport
import XCTest

/// Sessions (DECISIONS.md "Control sessions"), sync tokens (reference-system.md
/// 3.4) and the email-code login.
final class ControlSessionTests: ControlHarness {
    func assert401(_ r: RawClient.Response, _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(r.status, 401, r.text, file: file, line: line)
        let e = try envelope(r, file: file, line: line)
        XCTAssertEqual(e.error?.code, "unauthorized", file: file, line: line)
        XCTAssertTrue(e.message.contains(message), "\(e.message) does not say \(message)", file: file, line: line)
    }

    func testEveryApiRouteRequiresASession() throws {
        try serve(runtime: false)
        for d in ControlV1.ControlService.routes where d.template.source.hasPrefix("/api/") && d.auth == .session {
            let path = d.template.source.replacingOccurrences(of: "{worker_id}", with: "w").replacingOccurrences(of: "{thread_id}", with: "t")
                .replacingOccurrences(of: "{skill_id}", with: "s").replacingOccurrences(of: "{version}", with: "1.0.0")
            try assert401(try call(d.method, path, d.method == "POST" ? "{}" : nil), "Bearer")
        }
    }

    func testAMissingSessionIs401() throws {
        try serve(runtime: false)
        try assert401(try call("GET", "/api/v1/auth/session"), "Authorization: Bearer")
    }

    func testAnotherSchemeIs401() throws {
        try serve(runtime: false)
        try assert401(try call("GET", "/api/v1/auth/session", headers: [("Authorization", "Basic dTpw")]), "scheme must be Bearer")
    }

    func testAMalformedTokenIs401() throws {
        try serve(runtime: false)
        try assert401(try call("GET", "/api/v1/auth/session", token: "not.a-token"), "malformed")
    }

    func testAForgedMacIs401() throws {
        try serve(runtime: false)
        let forged = SessionTokens(key: Array("another key".utf8)).mint(userID: "u1", orgID: "o").token
        try assert401(try call("GET", "/api/v1/auth/session", token: forged), "signature")
    }

    func testAnUnsignedAlgNoneTokenIs401() throws {
        try serve(runtime: false)
        let header = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
        let claims = Base64URL.encode(Array(#"{"sub":"u1","sid":"s","iat":1,"exp":9999999999}"#.utf8))
        try assert401(try call("GET", "/api/v1/auth/session", token: "\(header).\(claims)."), "not HS256")
    }

    func testAnExpiredSessionIs401() throws {
        try serve(runtime: false)
        let old = tokens.mint(userID: "u1", orgID: "o", ttl: 60, now: Int64(Date().timeIntervalSince1970) - 3600).token
        try assert401(try call("GET", "/api/v1/auth/session", token: old), "expired")
    }

    func testTheSessionRouteReturnsTheCallersSession() throws {
        try serve(runtime: false)
        let (token, s) = tokens.mint(userID: "u9", orgID: "org9", deviceID: "ios-1")
        let session = try XCTUnwrap(try decode(ControlV1.SessionResponse.self, try call("GET", "/api/v1/auth/session", token: token)).data)
        XCTAssertEqual(session.userId, "u9")
        XCTAssertEqual(session.sessionId, s.sessionID)
        XCTAssertEqual(session.deviceId, "ios-1")
        XCTAssertEqual(session.status, .active)
        XCTAssertEqual(session.activeOrgId, "org9")
        XCTAssertTrue(session.accessToken.isEmpty, "the token is never echoed")
    }

    func testARevokedSessionIs401EverywhereAndStaysRevokedAfterARestart() async throws {
        try serve(runtime: false)
        let (token, s) = tokens.mint(userID: "u1", orgID: "o")
        let other = session("u1")
        let r = try call("POST", "/api/v1/auth/sessions/revoke", "{}", token: token)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(try decode(ControlV1.SessionRevocationResult.self, r).data?.revokedSessionIds, [s.sessionID])
        try assert401(try call("GET", "/api/v1/auth/session", token: token), "revoked")
        try assert401(try call("GET", "/api/runtime/codex/workers", token: token), "revoked")
        XCTAssertEqual(try call("GET", "/api/v1/auth/session", token: other).status, 200, "only that session")
        try await restartControl()
        try assert401(try call("GET", "/api/v1/auth/session", token: token), "revoked")
        XCTAssertEqual(try call("GET", "/api/v1/auth/session", token: other).status, 200)
    }

    func testRevokingAllSessionsCoversEveryEarlierTokenOfTheUser() throws {
        try serve(runtime: false)
        let now = Int64(Date().timeIntervalSince1970)
        let a = tokens.mint(userID: "u1", orgID: "o", now: now - 10).token
        let b = tokens.mint(userID: "u1", orgID: "o", now: now - 5).token
        let stranger = tokens.mint(userID: "u2", orgID: "o", now: now - 5).token
        XCTAssertEqual(try call("POST", "/api/v1/auth/sessions/revoke", #"{"revokeAllSessions":true}"#, token: a).status, 200)
        try assert401(try call("GET", "/api/v1/auth/session", token: b), "revoked")
        XCTAssertEqual(try call("GET", "/api/v1/auth/session", token: stranger).status, 200)
        let later = tokens.mint(userID: "u1", orgID: "o", now: now + 5).token
        XCTAssertEqual(try call("GET", "/api/v1/auth/session", token: later).status, 200, "a session opened after the revocation works")
    }

    func testAnotherUsersSessionCannotBeRevoked() throws {
        try serve(runtime: false)
        let victim = tokens.mint(userID: "u2", orgID: "o")
        let r = try call("POST", "/api/v1/auth/sessions/revoke", "{\"sessionId\":\"\(victim.session.sessionID)\"}", token: session("u1"))
        XCTAssertEqual(r.status, 403, r.text)
        XCTAssertEqual(try call("GET", "/api/v1/auth/session", token: victim.token).status, 200)
    }

    func testMalformedInputGetsTheControlEnvelope() throws {
        try serve(runtime: false)
        let bad = try call("POST", "/api/runtime/codex/workers", "{not json", token: session())
        XCTAssertEqual(bad.status, 422, "invalid_request is 422 on control")
        XCTAssertEqual(try envelope(bad).error?.code, "invalid_request")
        let unknown = try call("POST", "/api/runtime/codex/workers", #"{"no_such_field":1}"#, token: session())
        XCTAssertEqual(unknown.status, 422)
        let missing = try call("GET", "/api/runtime/nothing-here", token: session())
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(try envelope(missing).error?.code, "not_found")
        let huge = try call("POST", "/api/runtime/threads/t/messages", "{\"text\":\"\(String(repeating: "x", count: 2 << 20))\"}", token: session())
        XCTAssertEqual(huge.status, 413)
        XCTAssertNotNil(try envelope(huge).error)
        XCTAssertEqual(try call("GET", "/api/runtime/threads", token: session()).text, #"{"data":[],"next_cursor":""}"#, "nothing was written")
    }

    // MARK: Sync tokens

    func claims(_ token: String) throws -> [String: Any] {
        let bytes = try JWT.verify(token, key: Array(Self.syncKey.utf8))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    func testASyncTokenIsAnHS256JWTWithTheListedClaims() throws {
        try serve(runtime: false)
        let (token, s) = tokens.mint(userID: "user_abc", orgID: "org1", deviceID: "dev1")
        let r = try call("POST", "/api/sync/token", "{}", token: token)
        XCTAssertEqual(r.status, 200, r.text)
        let g = try XCTUnwrap(try decode(ControlV1.SyncTokenMintResponse.self, r).data)
        XCTAssertEqual(g.tokenType, "Bearer")
        XCTAssertEqual(g.expiresIn, 300)
        XCTAssertEqual(g.scopes, ["runtime.codex_worker_events"])
        XCTAssertEqual(g.grantedTopics.map(\.topic), ["org:org1:worker_events"])
        XCTAssertEqual(g.kid, "sync-auth-v1")
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(Base64URL.decode(g.token.split(separator: ".")[0]) ?? [])) as? [String: String])
        XCTAssertEqual(header, ["alg": "HS256", "typ": "JWT", "kid": "sync-auth-v1"])
        let c = try claims(g.token)
        XCTAssertEqual(c["iss"] as? String, "https://openagents.com")
        XCTAssertEqual(c["aud"] as? String, "openagents-sync")
        XCTAssertEqual(c["sub"] as? String, "user:user_abc")
        XCTAssertEqual(c["oa_user_id"] as? String, "user_abc", "user ids are strings")
        XCTAssertEqual(c["oa_org_id"] as? String, "org1")
        XCTAssertEqual(c["oa_session_id"] as? String, s.sessionID)
        XCTAssertEqual(c["oa_device_id"] as? String, "dev1")
        XCTAssertEqual(c["oa_claims_version"] as? String, "oa_sync_claims_v1")
        XCTAssertEqual(c["jti"] as? String, g.tokenId)
        XCTAssertTrue(g.tokenId.hasPrefix("sync_"))
        let (iat, nbf, exp) = ((c["iat"] as? NSNumber)?.int64Value ?? 0, (c["nbf"] as? NSNumber)?.int64Value ?? 0, (c["exp"] as? NSNumber)?.int64Value ?? 0)
        XCTAssertEqual(nbf, iat)
        XCTAssertEqual(exp - iat, 300)
        XCTAssertEqual(r.headers["cache-control"], "no-store")
    }

    func testTheV1AliasMatchesThePrimaryRoute() throws {
        try serve(runtime: false)
        let token = session()
        let a = try decode(ControlV1.SyncTokenMintResponse.self, try call("POST", "/api/sync/token", #"{"scopes":["runtime.run_summaries"]}"#, token: token)).data
        let b = try decode(ControlV1.SyncTokenMintResponse.self, try call("POST", "/api/v1/sync/token", #"{"scopes":["runtime.run_summaries"]}"#, token: token)).data
        XCTAssertEqual(a?.grantedTopics, b?.grantedTopics)
        XCTAssertEqual(a?.grantedTopics.map(\.topic), ["user:u1:runs"])
        XCTAssertEqual(a?.scopes, b?.scopes)
    }

    func testASyncTokenTtlOutside60To900IsInvalidRequest() throws {
        try serve(runtime: false)
        for ttl in [59, 901] {
            let r = try call("POST", "/api/sync/token", "{\"ttl_seconds\":\(ttl)}", token: session())
            XCTAssertEqual(r.status, 422)
            XCTAssertEqual(try envelope(r).error?.code, "invalid_request")
        }
        XCTAssertEqual(try decode(ControlV1.SyncTokenMintResponse.self, try call("POST", "/api/sync/token", #"{"ttl_seconds":900}"#, token: session())).data?.expiresIn, 900)
    }

    func testAnUnknownScopeIsInvalidScope() throws {
        try serve(runtime: false)
        let r = try call("POST", "/api/sync/token", #"{"scopes":["runtime.everything"]}"#, token: session())
        XCTAssertEqual(r.status, 422)
        XCTAssertEqual(try envelope(r).error?.code, "invalid_scope")
    }

    func testATopicOfAnotherUserOrOrgIsForbidden() throws {
        try serve(runtime: false)
        let r = try call("POST", "/api/sync/token", #"{"scopes":["runtime.run_summaries"],"topics":["user:u2:runs"]}"#, token: session("u1"))
        XCTAssertEqual(r.status, 403, r.text)
        let o = try call("POST", "/api/sync/token", #"{"topics":["org:other:worker_events"]}"#, token: session("u1", org: "org1"))
        XCTAssertEqual(o.status, 403, o.text)
    }

    func testADeviceIdThatIsNotTheSessionsIsForbidden() throws {
        try serve(runtime: false)
        let token = session(device: "phone")
        XCTAssertEqual(try call("POST", "/api/sync/token", #"{"device_id":"laptop"}"#, token: token).status, 403)
        XCTAssertEqual(try call("POST", "/api/sync/token", #"{"device_id":"phone"}"#, token: token).status, 200)
    }

    func testARevokedSessionGetsNoSyncToken() throws {
        try serve(runtime: false)
        let token = session()
        XCTAssertEqual(try call("POST", "/api/v1/auth/sessions/revoke", "{}", token: token).status, 200)
        try assert401(try call("POST", "/api/sync/token", "{}", token: token), "revoked")
    }

    // MARK: Email login

    func testAnEmailCodeBuysASessionOnce() throws {
        try serve(runtime: false)
        let c = try call("POST", "/api/v1/auth/challenge", #"{"email":"Ada@Example.com","device_id":"d1"}"#)
        XCTAssertEqual(c.status, 200, c.text)
        let challenge = try XCTUnwrap(try decode(ControlV1.EmailChallengeResult.self, c).data)
        XCTAssertEqual(challenge.status, .codeSent)
        XCTAssertEqual(challenge.emailHint, "a***@example.com")
        let code = try XCTUnwrap(mail.withLock { $0["ada@example.com"] })
        let wrong = code == "000000" ? "000001" : "000000"
        XCTAssertEqual(try call("POST", "/api/v1/auth/verify", "{\"challenge_id\":\"\(challenge.challengeId)\",\"code\":\"\(wrong)\"}").status, 401)
        let v = try call("POST", "/api/v1/auth/verify", "{\"challenge_id\":\"\(challenge.challengeId)\",\"code\":\"\(code)\"}")
        XCTAssertEqual(v.status, 200, v.text)
        let verified = try XCTUnwrap(try decode(ControlV1.EmailVerifyResult.self, v).data)
        XCTAssertTrue(verified.newUser)
        let session = try XCTUnwrap(verified.session)
        XCTAssertEqual(session.deviceId, "d1")
        let me = try decode(ControlV1.SessionResponse.self, try call("GET", "/api/v1/auth/session", token: session.accessToken)).data
        XCTAssertEqual(me?.userId, session.userId)
        XCTAssertEqual(try call("POST", "/api/v1/auth/verify", "{\"challenge_id\":\"\(challenge.challengeId)\",\"code\":\"\(code)\"}").status, 401, "a code works once")
    }

    func testAnEmailThatIsNotOneIs422() throws {
        try serve(runtime: false)
        let r = try call("POST", "/api/v1/auth/challenge", #"{"email":"nobody"}"#)
        XCTAssertEqual(r.status, 422)
        XCTAssertNotNil(try envelope(r).errors?.fields["email"])
    }
}
