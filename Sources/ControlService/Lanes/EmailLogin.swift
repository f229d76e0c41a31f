import ProtoWire
import APIRuntime
import Foundation
import Generated
import RuntimeCore

/// Email-code login: a six-digit code goes to the address (here: a
/// development mail sink that logs it), and the code buys a session. Only the
/// code's hash is stored; a code works once, for ten minutes, and five wrong
/// tries use the challenge up. The user id is derived from the address, so
/// the same person gets the same user (and personal org) every time.
extension ControlHandler {
    static let challengeSeconds: Int64 = 600
    static let maxOpenChallenges = 5
    static let maxWrongCodes = 5
    static let sessionSeconds: Int64 = 7 * 24 * 3600

    static func userID(email: String) -> String { "user_" + SHA256.hex(SHA256.hash(Array(email.utf8))).prefix(24) }
    static func codeHash(_ challenge: String, _ code: String) -> String { SHA256.hex(SHA256.hash(Array("\(challenge):\(code)".utf8))) }

    static func hint(_ email: String) -> String {
        guard let at = email.firstIndex(of: "@") else { return "***" }
        return String(email[..<at].prefix(1)) + "***" + String(email[at...])
    }

    public func startEmailChallenge(_ request: ControlV1.EmailChallengeRequest, context: RequestContext) async throws -> APIResponse<ControlV1.EmailChallengeResult> {
        let email = request.email.whitespaceTrimmed.lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !email.contains(" ") else {
            throw ControlHandler.unprocessable("email", "must be an email address")
        }
        var generator = SystemRandomNumberGenerator()
        let code = String(format: "%06d", Int.random(in: 0..<1_000_000, using: &generator))
        let id = "chal_" + UUID().uuidString.lowercased()
        let now = ControlClock.now()
        var c = ControlV1.EmailChallengeRecord()
        c.challengeId = id
        c.email = email
        c.codeHash = ControlHandler.codeHash(id, code)
        c.expiresAt = ControlHandler.timestamp(now.seconds + ControlHandler.challengeSeconds)
        c.deviceId = request.deviceId
        let record = c
        _ = try await store.commit { state throws(APIError) -> (records: [ControlV1.ControlLogRecord], answer: Bool) in
            let open = state.challenges.values.filter { $0.email == email && ($0.expiresAt?.seconds ?? 0) > now.seconds && !state.usedChallenges.contains($0.challengeId) }
            guard open.count < ControlHandler.maxOpenChallenges else {
                throw APIError(.rateLimited, "rate_limited", "too many open login codes for this address; use one or wait for them to expire")
            }
            return (state.records([.challenge(record)], at: now), true)
        }
        mailSink(email, code)
        var r = ControlV1.AuthChallengeResponse()
        r.challengeId = id
        r.provider = .workosEmailCode
        r.status = .codeSent
        r.deliveryChannel = "email"
        r.emailHint = ControlHandler.hint(email)
        r.resendAllowed = true
        r.expiresAt = c.expiresAt
        r.requestId = context.requestID
        var out = ControlV1.EmailChallengeResult()
        out.data = r
        return APIResponse(out)
    }

    public func verifyEmailChallenge(_ request: ControlV1.EmailVerifyRequest, context: RequestContext) async throws -> APIResponse<ControlV1.EmailVerifyResult> {
        let id = request.challengeId.whitespaceTrimmed
        let code = request.code.whitespaceTrimmed
        guard code.count == 6, code.allSatisfy(\.isNumber) else { throw ControlHandler.unprocessable("code", "must be six digits") }
        let now = ControlClock.now()
        let (challenge, usable) = store.read { st in (st.challenges[id], !st.usedChallenges.contains(id)) }
        guard let challenge, usable, (challenge.expiresAt?.seconds ?? 0) > now.seconds else { throw APIError.unauthorized("the login code is expired or already used") }
        guard HMACSHA256.constantTimeEqual(Array(ControlHandler.codeHash(id, code).utf8), Array(challenge.codeHash.utf8)) else {
            let wrong = failedCodes.withLock { f -> Int in f[id, default: 0] += 1; return f[id] ?? 0 }
            if wrong >= ControlHandler.maxWrongCodes {
                var used = ControlV1.ChallengeUsed()
                used.challengeId = id
                _ = try await store.commit { state in (state.usedChallenges.contains(id) ? [] : state.records([.challengeUsed(used)], at: now), true) }
            }
            throw APIError.unauthorized("the login code is wrong")
        }
        let user = ControlHandler.userID(email: challenge.email)
        let device = request.deviceId.isEmpty ? challenge.deviceId : request.deviceId
        let org = "org_" + user.dropFirst("user_".count)
        let (token, s) = sessions.mint(userID: user, orgID: org, deviceID: device, ttl: ControlHandler.sessionSeconds, now: now.seconds)
        var stored = ControlV1.AuthSession()
        stored.sessionId = s.sessionID
        stored.userId = user
        stored.deviceId = device
        stored.status = .active
        stored.issuedAt = ControlHandler.timestamp(s.issuedAt)
        stored.accessExpiresAt = ControlHandler.timestamp(s.expiresAt)
        stored.activeOrgId = org
        stored.memberships = [ControlHandler.membership(s)]
        var used = ControlV1.ChallengeUsed()
        used.challengeId = id
        used.verified = true
        let record = stored
        let newUser = try await store.commit { state throws(APIError) in
            // Checked again in commit order: two verifies of one code cannot both win.
            guard !state.usedChallenges.contains(id) else { throw .unauthorized("the login code is expired or already used") }
            let first = !state.sessions.values.contains { $0.userId == user }
            return (state.records([.challengeUsed(used), .sessionCreated(record)], at: now), first)
        }
        var session = stored
        session.accessToken = token
        var v = ControlV1.AuthVerifyResponse()
        v.session = session
        v.newUser = newUser
        v.tokenType = "Bearer"
        v.requestId = context.requestID
        var out = ControlV1.EmailVerifyResult()
        out.data = v
        return APIResponse(out)
    }
}
