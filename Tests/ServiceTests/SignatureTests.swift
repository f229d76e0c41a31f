import Foundation
import Generated
import HTTPServer
@testable import RuntimeCore
@testable import RuntimeService
import XCTest

/// X-OA-RUNTIME-SIGNATURE (DECISIONS.md, reference-system.md 4a): one test per
/// rule, each failure with its status.
final class SignatureTests: XCTestCase {
    let secret = Array("signature-test-secret".utf8)
    let now: Int64 = 1_800_000_000
    var verifier: RuntimeSignature { let n = now; return RuntimeSignature(secret: secret, clock: { n }) }

    func claims(iat: Int64? = nil, exp: Int64? = nil, nonce: String = "n-1", run: String = "", thread: String = "", user: String = "", guest: String = "") -> RuntimeV1.RuntimeSignatureClaims {
        var c = RuntimeV1.RuntimeSignatureClaims()
        c.iat = iat ?? now
        c.exp = exp ?? now + 60
        c.nonce = nonce
        c.runId = run
        c.threadId = thread
        c.userId = user
        c.guestScope = guest
        return c
    }

    func status(_ token: String?, _ bindings: RuntimeSignature.Bindings = .init(), verifier v: RuntimeSignature? = nil) -> Int {
        do { try (v ?? verifier).verify(token, bindings: bindings); return 200 } catch { return error.status }
    }

    func testBase64URLHasNoPaddingAndRoundTrips() {
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 250) }
            let text = Base64URL.encode(bytes)
            XCTAssertFalse(text.contains("=") || text.contains("+") || text.contains("/"))
            XCTAssertEqual(Base64URL.decode(text), bytes)
        }
        XCTAssertEqual(Base64URL.encode(Array("foobar".utf8)), "Zm9vYmFy")
        XCTAssertEqual(Base64URL.encode([0xfb, 0xff]), "-_8")
        XCTAssertNil(Base64URL.decode("Zm9v="), "padding is refused")
        XCTAssertNil(Base64URL.decode("Zm+v"), "the standard alphabet's + is refused")
        XCTAssertNil(Base64URL.decode("Z"), "an impossible length is refused")
    }

    func testAValidTokenIsAccepted() {
        XCTAssertEqual(status(RuntimeSignature.sign(claims(), secret: secret)), 200)
    }

    func testTheMACCoversTheClaimsSegmentWithHMACSHA256() throws {
        let token = RuntimeSignature.sign(claims(), secret: secret)
        let parts = token.split(separator: ".").map(String.init)
        XCTAssertEqual(parts.count, 3)
        XCTAssertEqual(parts[0], "v1")
        XCTAssertEqual(Base64URL.decode(parts[2]), HMACSHA256.mac(key: secret, message: Array(parts[1].utf8)))
        let decoded = try RuntimeV1.RuntimeSignatureClaims(jsonBytes: try XCTUnwrap(Base64URL.decode(parts[1])))
        XCTAssertEqual(decoded, claims())
    }

    func testMissingHeaderIs401() {
        XCTAssertEqual(status(nil), 401)
        XCTAssertEqual(status(""), 401)
    }

    func testMalformedTokenIs401() {
        let good = RuntimeSignature.sign(claims(), secret: secret)
        let parts = good.split(separator: ".").map(String.init)
        for bad in ["v2.\(parts[1]).\(parts[2])", "\(parts[1]).\(parts[2])", good + ".x", "v1.%%%.\(parts[2])", "v1.\(parts[1]).***"] {
            XCTAssertEqual(status(bad), 401, bad)
        }
    }

    func testBadMACIs401() {
        let other = RuntimeSignature.sign(claims(), secret: Array("another secret".utf8))
        XCTAssertEqual(status(other), 401)
        // The claims changed after signing (the MAC no longer matches its segment).
        let good = RuntimeSignature.sign(claims(), secret: secret).split(separator: ".").map(String.init)
        let forged = RuntimeSignature.sign(claims(user: "admin"), secret: secret).split(separator: ".").map(String.init)
        XCTAssertEqual(status("v1.\(forged[1]).\(good[2])"), 401)
    }

    func testExpiredTokenIs401() {
        XCTAssertEqual(status(RuntimeSignature.sign(claims(iat: now - 120, exp: now), secret: secret)), 401, "exp <= now")
        XCTAssertEqual(status(RuntimeSignature.sign(claims(iat: now - 120, exp: now + 1), secret: secret)), 200)
    }

    func testIssuedInTheFutureBeyondThirtySecondsIs401() {
        XCTAssertEqual(status(RuntimeSignature.sign(claims(iat: now + 31, exp: now + 90, nonce: "a"), secret: secret)), 401)
        XCTAssertEqual(status(RuntimeSignature.sign(claims(iat: now + 30, exp: now + 90, nonce: "b"), secret: secret)), 200, "within the skew")
    }

    func testExpNotAfterIatIs401() {
        XCTAssertEqual(status(RuntimeSignature.sign(claims(iat: now + 10, exp: now + 10), secret: secret)), 401)
    }

    func testIatExpAndNonceAreRequired() {
        XCTAssertEqual(status(RuntimeSignature.sign(claims(nonce: ""), secret: secret)), 401)
        XCTAssertEqual(status(RuntimeSignature.sign(claims(iat: 0), secret: secret)), 401)
    }

    func testAReusedNonceIs401() {
        let v = verifier
        let token = RuntimeSignature.sign(claims(), secret: secret)
        XCTAssertEqual(status(token, verifier: v), 200)
        XCTAssertEqual(status(token, verifier: v), 401)
        XCTAssertEqual(status(RuntimeSignature.sign(claims(nonce: "n-2"), secret: secret), verifier: v), 200)
    }

    func testAClaimThatDoesNotMatchTheRequestIs403() {
        let request = RuntimeSignature.Bindings(runID: "r1", threadID: "t1", userID: "u1", guestScope: "g1")
        for (i, c) in [claims(nonce: "1", run: "r2"), claims(nonce: "2", thread: "t2"), claims(nonce: "3", user: "u2"), claims(nonce: "4", guest: "g2")].enumerated() {
            XCTAssertEqual(status(RuntimeSignature.sign(c, secret: secret), request), 403, "claim \(i)")
        }
        XCTAssertEqual(status(RuntimeSignature.sign(claims(nonce: "5", run: "r1", thread: "t1", user: "u1", guest: "g1"), secret: secret), request), 200)
        XCTAssertEqual(status(RuntimeSignature.sign(claims(nonce: "6"), secret: secret), request), 200, "claims absent from the token bind nothing")
    }

    func testTheSecretIsCreatedOnceInTheDataDirectoryWithMode0600() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try RuntimeSignature.loadSecret(environment: [:], dataDirectory: dir)
        let second = try RuntimeSignature.loadSecret(environment: [:], dataDirectory: dir)
        XCTAssertEqual(first, second)
        XCTAssertEqual(first.count, 64, "32 random bytes as hex")
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/runtime-signature.secret")[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        XCTAssertEqual(try RuntimeSignature.loadSecret(environment: ["OA_RUNTIME_SIGNATURE_SECRET": "from-env"], dataDirectory: dir), Array("from-env".utf8))
    }
}

/// Every `/internal/v1` route refuses an unsigned request; principals and
/// ownership come from stored records.
final class SignedRouteTests: ServiceHarness {
    static let routes: [(String, String)] = [
        ("GET", "/internal/v1/health"), ("POST", "/internal/v1/runs"), ("GET", "/internal/v1/runs/r"), ("POST", "/internal/v1/runs/r/events"),
        ("GET", "/internal/v1/runs/r/receipt"), ("GET", "/internal/v1/runs/r/replay"), ("POST", "/internal/v1/runs/r/frames"),
        ("GET", "/internal/v1/runs/r/stream?thread_id=t"), ("POST", "/internal/v1/runs/r/cancel"), ("GET", "/internal/v1/runs/r/snapshot?thread_id=t"),
        ("POST", "/internal/v1/comms/delivery-events"), ("POST", "/internal/v1/tools/execute"), ("GET", "/internal/v1/projectors/checkpoints/r"),
        ("GET", "/internal/v1/projectors/run-summary/r"), ("GET", "/internal/v1/projectors/drift?topic=x"), ("POST", "/internal/v1/workers"),
        ("GET", "/internal/v1/workers?owner_user_id=u"), ("GET", "/internal/v1/workers/w?owner_user_id=u"), ("POST", "/internal/v1/workers/w/heartbeat"),
        ("POST", "/internal/v1/workers/w/status"), ("GET", "/internal/v1/workers/w/checkpoint"),
    ]

    func testEveryInternalRouteRequiresASignature() throws {
        try serve()
        for (method, path) in Self.routes {
            let r = try call(method, path, "{}", headers: [(RuntimeSignature.header, "")])
            XCTAssertEqual(r.status, 401, "\(method) \(path)")
            XCTAssertEqual(errorCode(r), "unauthorized", "\(method) \(path)")
        }
        XCTAssertEqual(try get("/healthz", headers: [(RuntimeSignature.header, "")]).status, 200, "health probes stay open")
    }

    func testATokenBoundToAnotherRunIs403() throws {
        try serve()
        _ = try post("/internal/v1/runs", #"{"run_id":"r1"}"#)
        let r = try get("/internal/v1/runs/r1", headers: [(RuntimeSignature.header, token(RuntimeSignature.claims(runID: "r2")))])
        XCTAssertEqual(r.status, 403)
        XCTAssertEqual(errorCode(r), "forbidden")
        XCTAssertEqual(try get("/internal/v1/runs/r1", headers: [(RuntimeSignature.header, token(RuntimeSignature.claims(runID: "r1")))]).status, 200)
    }

    func testATokenBoundToAnotherThreadIs403EvenWhenTheThreadIsInTheBody() throws {
        try serve()
        _ = try post("/internal/v1/runs", #"{"run_id":"r1","thread_id":"t1"}"#)
        let r = try post("/internal/v1/runs/r1/cancel", #"{"thread_id":"t1"}"#, headers: [(RuntimeSignature.header, token(RuntimeSignature.claims(threadID: "t2")))])
        XCTAssertEqual(r.status, 403)
    }

    func testTheHealthRouteAnswersAsTheContractShows() throws {
        try serve()
        let r = try get("/internal/v1/health")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, #"{"status":"ok","service":"openagents-runtime","version":"0.1.0"}"#)
    }
}
