import APIRuntime
import Foundation
import Generated
import ProtoWire
@testable import RuntimeCore
@testable import RuntimeService
import TestSupport
import XCTest

/// A runtime with Khala on a free port, sync tokens minted with the key it
/// reads from its data directory, and runs appended through the signed API.
class KhalaHarness: ServiceHarness {
    /// Sync-token claims as the control service mints them; tests remove or bend one at a time.
    func claims(user: String = "u1", org: String = "", scopes: [String] = ["runtime.run_events", "runtime.worker_lifecycle_events"],
                iatOffset: Int64 = 0, ttl: Int64 = 300, jti: String? = UUID().uuidString) -> [String: Any] {
        let now = Int64(Date().timeIntervalSince1970)
        var c: [String: Any] = ["iss": "https://openagents.com", "aud": "openagents-sync", "sub": "user:\(user)", "iat": now + iatOffset,
                                "nbf": now + iatOffset, "exp": now + iatOffset + ttl, "oa_user_id": user, "oa_sync_scopes": scopes]
        if let jti { c["jti"] = jti }
        if !org.isEmpty { c["oa_org_id"] = org }
        if user.isEmpty { c.removeValue(forKey: "oa_user_id") }
        return c
    }

    func syncToken(_ claims: [String: Any], key: [UInt8]? = nil) throws -> String {
        let k = try key ?? SyncAuthorizer.loadKey(environment: [:], dataDirectory: dir)
        return JWT.sign(claims: [UInt8](try JSONSerialization.data(withJSONObject: claims)), key: k)
    }

    func bearer(_ claims: [String: Any]) throws -> [(String, String)] { [("authorization", "Bearer " + (try syncToken(claims)))] }

    /// Creates a run owned by `user` and appends `events` more (seqs 2...events+1).
    func run(_ id: String, user: String = "u1", events: Int = 0) throws {
        let created = try post("/internal/v1/runs", #"{"run_id":"\#(id)","thread_id":"t-\#(id)"}"#, headers: [("x-oa-user-id", user)])
        XCTAssertEqual(created.status, 201, created.text)
        try append(id, count: events, user: user)
    }

    func append(_ id: String, count: Int, user: String = "u1") throws {
        for i in 0..<count {
            let r = try post("/internal/v1/runs/\(id)/events", #"{"event_type":"run.step","payload":{"i":\#(i)}}"#, headers: [("x-oa-user-id", user)])
            XCTAssertEqual(r.status, 200, r.text)
        }
    }

    func poll(_ topic: String, _ query: String = "", headers: [(String, String)]) throws -> RawClient.Response {
        let c = try RawClient(port: port)
        let extra = headers.map { "\($0.0): \($0.1)\r\n" }.joined()
        c.send("GET /internal/v1/khala/topics/\(topic)/messages\(query.isEmpty ? "" : "?" + query) HTTP/1.1\r\nHost: t\r\n\(extra)\r\n")
        return try XCTUnwrap(c.readResponse())
    }

    func page(_ r: RawClient.Response, file: StaticString = #filePath, line: UInt = #line) throws -> SyncV1.KhalaPollResponse {
        XCTAssertEqual(r.status, 200, r.text, file: file, line: line)
        return try SyncV1.KhalaPollResponse(jsonBytes: r.body)
    }

    func envelope(_ r: RawClient.Response) throws -> RuntimeV1.ErrorBody {
        try XCTUnwrap(RuntimeV1.ErrorEnvelope(jsonBytes: r.body, options: JSONDecodingOptions(ignoreUnknownFields: false)).error)
    }

    func socket(_ topic: String, _ query: String = "", headers: [(String, String)]) throws -> WSClient {
        try WSClient(port: port, path: "/internal/v1/khala/topics/\(topic)/ws\(query.isEmpty ? "" : "?" + query)", headers: headers)
    }

    func frame(_ text: String?) throws -> SyncV1.KhalaSocketFrame {
        try SyncV1.KhalaSocketFrame(jsonBytes: Array(XCTUnwrap(text).utf8))
    }
}
