import APIRuntime
import ControlService
import Foundation
import Generated
@testable import RuntimeCore
import TestSupport
import XCTest

/// Topics Khala keeps itself: the fleet topics (own contiguous sequence,
/// projected from worker records) and published topics with the class's
/// payload and rate limits.
final class KhalaTopicTests: KhalaHarness {
    func publish(_ topic: String, kind: String = "worker.event", payload: String = #"{"n":1}"#, key: String = "") throws -> RawClient.Response {
        try post("/internal/v1/khala/topics/\(topic)/messages", #"{"kind":"\#(kind)","payload":\#(payload),"idempotency_key":"\#(key)"}"#)
    }

    func fleet(_ user: String, after: UInt64 = 0) throws -> SyncV1.KhalaPollResponse {
        for _ in 0..<100 {
            let r = try poll("fleet:user:\(user):workers", "after_seq=\(after)", headers: bearer(claims(user: user, scopes: ["runtime.worker_lifecycle_events"])))
            if r.status == 429 { usleep(260_000); continue }
            return try page(r)
        }
        throw CocoaError(.featureUnsupported)
    }

    func testFleetTopicsHaveTheirOwnContiguousSequencePerUser() throws {
        try serve(configure: { $0.khala.pollMinIntervalMs = 0 })
        XCTAssertEqual(try post("/internal/v1/workers", #"{"worker_id":"wa","owner_user_id":"u1"}"#).status, 201)
        XCTAssertEqual(try post("/internal/v1/workers", #"{"worker_id":"wb","owner_user_id":"u2"}"#).status, 201)
        XCTAssertEqual(try post("/internal/v1/workers", #"{"worker_id":"wc","owner_user_id":"u1"}"#).status, 201)
        XCTAssertEqual(try post("/internal/v1/workers/wa/status", #"{"owner_user_id":"u1","status":"stopping"}"#).status, 200)
        var p = try fleet("u1")
        for _ in 0..<100 where p.messages.count < 3 { usleep(20_000); p = try fleet("u1") }
        XCTAssertEqual(p.messages.map(\.sequence), [1, 2, 3])
        XCTAssertEqual(p.messages.map { JSONValue.stringField($0.payload, "worker_id") }, ["wa", "wc", "wa"])
        XCTAssertEqual(p.messages.map(\.kind), ["worker.running", "worker.running", "worker.stopping"])
        XCTAssertEqual(try fleet("u2").messages.map(\.sequence), [1])
    }

    func testFleetTopicsSurviveARestartWithoutRepeatingAMessage() async throws {
        try serve(configure: { $0.khala.pollMinIntervalMs = 0 })
        XCTAssertEqual(try post("/internal/v1/workers", #"{"worker_id":"wa","owner_user_id":"u1"}"#).status, 201)
        var p = try fleet("u1")
        for _ in 0..<100 where p.messages.isEmpty { usleep(20_000); p = try fleet("u1") }
        XCTAssertEqual(p.headCursor, 1)
        await server?.shutdown(deadline: 2)
        try serve(configure: { $0.khala.pollMinIntervalMs = 0 })
        XCTAssertEqual(try post("/internal/v1/workers/wa/heartbeat", #"{"owner_user_id":"u1"}"#).status, 200)
        p = try fleet("u1")
        for _ in 0..<100 where p.messages.count < 2 { usleep(20_000); p = try fleet("u1") }
        XCTAssertEqual(p.messages.map(\.sequence), [1, 2])
    }

    func testPublishedMessagesGetTheNextSequenceAndReplayByKey() throws {
        try serve()
        let first = try publish("runtime.codex_worker_events", key: "k1")
        XCTAssertEqual(first.status, 202, first.text)
        XCTAssertEqual(try SyncV1.KhalaPublishResponse(jsonBytes: first.body).message?.sequence, 1)
        let again = try publish("runtime.codex_worker_events", key: "k1")
        XCTAssertEqual(again.status, 200)
        XCTAssertTrue(try SyncV1.KhalaPublishResponse(jsonBytes: again.body).idempotentReplay)
        XCTAssertEqual(try publish("runtime.codex_worker_events", payload: #"{"n":2}"#, key: "k1").status, 409)
        XCTAssertEqual(try SyncV1.KhalaPublishResponse(jsonBytes: try publish("runtime.codex_worker_events", key: "k2").body).message?.sequence, 2)
        let p = try page(poll("runtime.codex_worker_events", headers: bearer(claims(scopes: ["runtime.codex_worker_events"]))))
        XCTAssertEqual(p.messages.map(\.sequence), [1, 2])
        XCTAssertEqual(p.messages.first?.kind, "worker.event")
    }

    func testPublishingToADerivedTopicIsRefused() throws {
        try serve()
        XCTAssertEqual(try publish("run:r1:events").status, 400)
        XCTAssertEqual(try publish("fleet:user:u1:workers").status, 400)
    }

    func testPayloadOverTheClassLimitIsPayloadTooLarge() throws {
        try serve(configure: { $0.khala.classes[2].maxPayloadBytes = 64 })
        let big = "\"" + String(repeating: "x", count: 100) + "\""
        let r = try publish("runtime.codex_worker_events", payload: #"{"blob":\#(big)}"#)
        XCTAssertEqual(r.status, 413)
        XCTAssertEqual(try envelope(r).code, "khala_frame_payload_too_large")
        let p = try page(poll("runtime.codex_worker_events", headers: bearer(claims(scopes: ["runtime.codex_worker_events"]))))
        XCTAssertNil(p.headCursor, "nothing was written")
    }

    func testPublishRateLimitReturnsADeterministicError() throws {
        try serve(configure: { $0.khala.classes[3].publishRatePerSecond = 3 })
        // The limit counts per one-second window of the server's clock: start early in one,
        // so the six publishes do not straddle two windows.
        while DispatchTime.now().uptimeNanoseconds / 1_000_000 % 1000 > 300 { usleep(5_000) }
        var statuses: [Int] = []
        var limited: RawClient.Response?
        for i in 0..<6 {
            let r = try publish("other.topic", key: "r\(i)")
            statuses.append(r.status)
            if r.status == 429 { limited = r; break }
        }
        let r = try XCTUnwrap(limited, "\(statuses)")
        XCTAssertTrue(statuses.filter { $0 == 202 }.count <= 3)
        let e = try envelope(r)
        XCTAssertEqual(e.code, "khala_publish_rate_limited")
        XCTAssertTrue((1...1000).contains(e.retryAfterMs ?? 0))
    }
}

/// The control service's codex worker events reach `runtime.codex_worker_events`.
final class CodexEventRelayTests: ControlHarness {
    func testCodexWorkerEventsArePublishedToTheRuntimesKhalaTopicOnce() throws {
        try serve()
        XCTAssertEqual(try post("/api/runtime/codex/workers", #"{"worker_id":"codexw_k"}"#).status, 202)
        for i in 0..<3 {
            XCTAssertEqual(try post("/api/runtime/codex/workers/codexw_k/events", #"{"event_type":"worker.note","payload":{"i":\#(i)}}"#).status, 202)
        }
        let key = Array(Self.syncKey.utf8)
        let now = Int64(Date().timeIntervalSince1970)
        let claims: [String: Any] = ["iss": "https://openagents.com", "aud": "openagents-sync", "iat": now, "exp": now + 60, "jti": "relay",
                                     "oa_user_id": "u1", "oa_sync_scopes": ["runtime.codex_worker_events"]]
        let token = JWT.sign(claims: [UInt8](try JSONSerialization.data(withJSONObject: claims)), key: key)
        var p = SyncV1.KhalaPollResponse()
        for _ in 0..<100 {
            let r = try XCTUnwrap(RawClient.get(port: runtimePort, path: "/internal/v1/khala/topics/runtime.codex_worker_events/messages",
                                                headers: [("authorization", "Bearer " + token)]))
            if r.status == 200 { p = try SyncV1.KhalaPollResponse(jsonBytes: r.body) }
            if p.messages.filter({ $0.kind == "worker.note" }).count >= 3 { break }
            usleep(260_000)
        }
        let notes = p.messages.filter { $0.kind == "worker.note" }
        XCTAssertEqual(notes.count, 3)
        XCTAssertEqual(notes.compactMap { JSONValue.stringField($0.payload, "worker_id") }, ["codexw_k", "codexw_k", "codexw_k"])
        XCTAssertEqual(p.messages.map(\.sequence), Array(1...UInt64(p.messages.count)))
    }
}

/// Control's session revocations reach the runtime: the sync tokens minted
/// for a revoked session stop working there at once (`token_revoked`).
final class SyncRevocationTests: ControlHarness {
    func pollStatus(_ token: String) throws -> (Int, String) {
        for _ in 0..<40 {
            let r = try XCTUnwrap(RawClient.get(port: runtimePort, path: "/internal/v1/khala/topics/fleet:user:u1:workers/messages",
                                                headers: [("authorization", "Bearer " + token)]))
            if r.status == 429 { usleep(260_000); continue }
            return (r.status, (try? RuntimeV1.ErrorEnvelope(jsonBytes: r.body).error?.reasonCode) ?? "")
        }
        return (0, "")
    }

    func testRevokingTheControlSessionRevokesItsSyncTokensAtTheRuntime() throws {
        try serve()
        let session = session("u1")
        let minted = try call("POST", "/api/sync/token", #"{"scopes":["runtime.worker_lifecycle_events"]}"#, token: session)
        XCTAssertEqual(minted.status, 200, minted.text)
        let sync = try XCTUnwrap(try decode(ControlV1.SyncTokenMintResponse.self, minted).data?.token)
        XCTAssertEqual(try pollStatus(sync).0, 200)
        let revoked = try call("POST", "/api/v1/auth/sessions/revoke", #"{"revoke_all_sessions":true,"include_current":true}"#, token: session)
        XCTAssertEqual(revoked.status, 200, revoked.text)
        var answer = (0, "")
        for _ in 0..<40 {
            usleep(100_000)
            answer = try pollStatus(sync)
            if answer.0 == 401 { break }
        }
        XCTAssertEqual(answer.0, 401)
        XCTAssertEqual(answer.1, "token_revoked")
    }
}
