import APIRuntime
import ControlService
import Foundation
import Generated
import Glibc
@testable import RuntimeCore
import TestSupport
import XCTest

/// The control-owned lanes (reference-system.md 3.2): codex workers, threads
/// and the skill registry, each durable across a restart.
final class ControlLaneTests: ControlHarness {
    func worker(_ user: String = "u1") throws -> String {
        let r = try post("/api/runtime/codex/workers", "{}", as: user)
        XCTAssertEqual(r.status, 202, r.text)
        return try XCTUnwrap(try decode(ControlV1.CodexWorkerCreatedResponse.self, r).data?.workerId)
    }

    // MARK: Codex workers

    func testCreatingACodexWorkerIs202WithACodexwIdAndReplaysForItsOwner() throws {
        try serve(runtime: false)
        let id = try worker()
        XCTAssertTrue(id.hasPrefix("codexw_"))
        let again = try post("/api/runtime/codex/workers", "{\"worker_id\":\"\(id)\"}")
        XCTAssertEqual(again.status, 202)
        XCTAssertEqual(try decode(ControlV1.CodexWorkerCreatedResponse.self, again).data?.idempotentReplay, true)
        XCTAssertEqual(try post("/api/runtime/codex/workers", "{\"worker_id\":\"\(id)\"}", as: "u2").status, 403, "another owner")
        XCTAssertEqual(try get("/api/runtime/codex/workers/\(id)", as: "u2").status, 403)
        XCTAssertEqual(try get("/api/runtime/codex/workers/codexw_none").status, 404)
        XCTAssertEqual(try decode(ControlV1.CodexWorkerListResponse.self, try get("/api/runtime/codex/workers")).data.map(\.workerId), [id])
        XCTAssertEqual(try decode(ControlV1.CodexWorkerListResponse.self, try get("/api/runtime/codex/workers", as: "u2")).data, [])
    }

    func testCodexWorkerEventsMustBeWorkerEventsWithObjectPayloads() throws {
        try serve(runtime: false)
        let id = try worker()
        XCTAssertEqual(try post("/api/runtime/codex/workers/\(id)/events", #"{"event_type":"turn.started","payload":{}}"#).status, 422)
        XCTAssertEqual(try post("/api/runtime/codex/workers/\(id)/events", "{\"event_type\":\"worker.\(String(repeating: "x", count: 160))\"}").status, 422)
        XCTAssertEqual(try post("/api/runtime/codex/workers/\(id)/events", #"{"event_type":"worker.note","payload":"text"}"#).status, 422, "a payload that is not an object")
        let r = try post("/api/runtime/codex/workers/\(id)/events", #"{"event_type":"worker.note","payload":{"n":1}}"#)
        XCTAssertEqual(r.status, 202, r.text)
        let e = try XCTUnwrap(try decode(ControlV1.CodexWorkerEventResponse.self, r).data)
        XCTAssertEqual(e.seq, 1)
        XCTAssertEqual(e.workerId, id)
    }

    func testHandshakeEventsNeedTheirFields() throws {
        try serve(runtime: false)
        let id = try worker()
        let ios = try post("/api/runtime/codex/workers/\(id)/events", #"{"event_type":"worker.event","payload":{"method":"ios/handshake","source":"ios","handshake_id":"h1","occurred_at":"2026-01-01T00:00:00Z"}}"#)
        XCTAssertEqual(ios.status, 422)
        XCTAssertNotNil(try envelope(ios).errors?.fields["payload.device_id"])
        let desktop = try post("/api/runtime/codex/workers/\(id)/events", #"{"event_type":"worker.event","payload":{"method":"desktop/handshake_ack","source":"desktop","handshake_id":"h1","occurred_at":"2026-01-01T00:00:00Z"}}"#)
        XCTAssertNotNil(try envelope(desktop).errors?.fields["payload.desktop_session_id"])
        let ok = try post("/api/runtime/codex/workers/\(id)/events", #"{"event_type":"worker.event","payload":{"method":"ios/handshake","source":"ios","handshake_id":"h1","occurred_at":"2026-01-01T00:00:00Z","device_id":"d"}}"#)
        XCTAssertEqual(ok.status, 202, ok.text)
    }

    func testTheStreamNamesItsKhalaTopicAndReturnsEventsAfterTheCursor() throws {
        try serve(runtime: false)
        let id = try worker()
        for i in 1...3 { _ = try post("/api/runtime/codex/workers/\(id)/events", "{\"event_type\":\"worker.note\",\"payload\":{\"i\":\(i)}}") }
        let s = try XCTUnwrap(try decode(ControlV1.CodexWorkerStreamResponse.self, try get("/api/runtime/codex/workers/\(id)/stream?cursor=1")).data)
        XCTAssertEqual(s.events.map(\.seq), [2, 3])
        XCTAssertEqual(s.tailMs, 15000)
        XCTAssertEqual(s.streamProtocol, "khala_ws")
        XCTAssertEqual(s.delivery?.topic, "org:org1:worker_events")
        XCTAssertEqual(s.delivery?.scope, "runtime.codex_worker_events")
        XCTAssertEqual(s.delivery?.syncTokenRoute, "/api/sync/token")
        XCTAssertEqual(s.snapshot?.latestSeq, 3)
        XCTAssertEqual(try get("/api/runtime/codex/workers/\(id)/stream?tail_ms=0").status, 422)
        XCTAssertEqual(try get("/api/runtime/codex/workers/\(id)/stream?tail_ms=120001").status, 422)
    }

    func testStoppingIsIdempotentAndAStoppedWorkerTakesNothingNew() throws {
        try serve(runtime: false)
        let id = try worker()
        let first = try post("/api/runtime/codex/workers/\(id)/stop", #"{"reason":"done"}"#)
        XCTAssertEqual(first.status, 202, first.text)
        let a = try XCTUnwrap(try decode(ControlV1.CodexWorkerStopResult.self, first).data)
        XCTAssertFalse(a.idempotentReplay)
        let b = try XCTUnwrap(try decode(ControlV1.CodexWorkerStopResult.self, try post("/api/runtime/codex/workers/\(id)/stop", "{}")).data)
        XCTAssertTrue(b.idempotentReplay)
        XCTAssertTrue(b.idempotentReplayCamel)
        XCTAssertEqual(a.seq, b.seq)
        XCTAssertEqual(try post("/api/runtime/codex/workers/\(id)/events", #"{"event_type":"worker.note","payload":{}}"#).status, 409)
        XCTAssertEqual(try post("/api/runtime/codex/workers/\(id)/requests", #"{"request":{"request_id":"r1","method":"turn/start"}}"#).status, 409)
    }

    func testControlRequestsAreAllowListedAndIdempotentByRequestID() throws {
        try serve(runtime: false)
        let id = try worker()
        XCTAssertEqual(try post("/api/runtime/codex/workers/\(id)/requests", #"{"request":{"request_id":"r0","method":"shell/exec"}}"#).status, 422)
        let first = try post("/api/runtime/codex/workers/\(id)/requests", #"{"request":{"request_id":"r1","method":"turn/start","params":{"text":"hi"}}}"#)
        XCTAssertEqual(first.status, 202, first.text)
        let a = try XCTUnwrap(try decode(ControlV1.CodexWorkerRequestResult.self, first).data)
        XCTAssertFalse(a.idempotentReplay)
        let b = try XCTUnwrap(try decode(ControlV1.CodexWorkerRequestResult.self, try post("/api/runtime/codex/workers/\(id)/requests", #"{"request":{"request_id":"r1","method":"turn/start"}}"#)).data)
        XCTAssertTrue(b.idempotentReplay)
        XCTAssertEqual(a.seq, b.seq)
        XCTAssertEqual(try post("/api/runtime/codex/workers/\(id)/requests", #"{"request":{"request_id":"r1","method":"thread/list"}}"#).status, 409)
        // The request is in the worker's event log.
        let s = try XCTUnwrap(try decode(ControlV1.CodexWorkerStreamResponse.self, try get("/api/runtime/codex/workers/\(id)/stream")).data)
        XCTAssertEqual(s.events.map(\.eventType), ["worker.request"])
    }

    func testCodexWorkersSurviveARestart() async throws {
        try serve(runtime: false)
        let id = try worker()
        _ = try post("/api/runtime/codex/workers/\(id)/events", #"{"event_type":"worker.note","payload":{"a":1}}"#)
        _ = try post("/api/runtime/codex/workers/\(id)/requests", #"{"request":{"request_id":"r1","method":"turn/start"}}"#)
        let before = try decode(ControlV1.CodexWorkerStreamResponse.self, try get("/api/runtime/codex/workers/\(id)/stream"))
        XCTAssertEqual(before.data?.events.count, 2)
        try await restartControl()
        XCTAssertEqual(try decode(ControlV1.CodexWorkerStreamResponse.self, try get("/api/runtime/codex/workers/\(id)/stream")), before)
        let replay = try decode(ControlV1.CodexWorkerRequestResult.self, try post("/api/runtime/codex/workers/\(id)/requests", #"{"request":{"request_id":"r1","method":"turn/start"}}"#)).data
        XCTAssertEqual(replay?.idempotentReplay, true)
    }

    // MARK: Threads

    func testThreadMessagesAreIdempotentByKeyAndPrivateToTheirUser() throws {
        try serve(runtime: false)
        let first = try post("/api/runtime/threads/t1/messages", #"{"text":"hello","idempotency_key":"k1"}"#)
        XCTAssertEqual(first.status, 201, first.text)
        let replay = try post("/api/runtime/threads/t1/messages", #"{"text":"hello","idempotency_key":"k1"}"#)
        XCTAssertEqual(replay.status, 200)
        XCTAssertTrue(try decode(ControlV1.ThreadMessageResponse.self, replay).idempotentReplay)
        XCTAssertEqual(try post("/api/runtime/threads/t1/messages", #"{"text":"other","idempotency_key":"k1"}"#).status, 409)
        XCTAssertEqual(try get("/api/runtime/threads/t1/messages", as: "u2").status, 404)
        XCTAssertEqual(try post("/api/runtime/threads/t1/messages", #"{"text":"intrude"}"#, as: "u2").status, 404)
        XCTAssertEqual(try post("/api/runtime/threads/t1/messages", #"{"text":"x","role":"robot"}"#).status, 422)
    }

    func testThreadMessagesPageAfterACursor() throws {
        try serve(runtime: false)
        for i in 1...5 { _ = try post("/api/runtime/threads/t1/messages", "{\"text\":\"m\(i)\"}") }
        let page = try decode(ControlV1.ThreadMessageListResponse.self, try get("/api/runtime/threads/t1/messages?cursor=1&limit=2"))
        XCTAssertEqual(page.data.map(\.seq), [2, 3])
        XCTAssertEqual(page.nextCursor, "3")
        let last = try decode(ControlV1.ThreadMessageListResponse.self, try get("/api/runtime/threads/t1/messages?cursor=3"))
        XCTAssertEqual(last.data.map(\.text), ["m4", "m5"])
        XCTAssertEqual(last.nextCursor, "")
    }

    func testThreadsAreListedNewestFirstAPageAtATime() throws {
        try serve(runtime: false)
        for t in ["a", "b", "c"] { _ = try post("/api/runtime/threads/\(t)/messages", #"{"text":"x"}"#); usleep(2000) }
        _ = try post("/api/runtime/threads/x/messages", #"{"text":"x"}"#, as: "u2")
        let first = try decode(ControlV1.ThreadListResponse.self, try get("/api/runtime/threads?limit=2"))
        XCTAssertEqual(first.data.map(\.threadId), ["c", "b"])
        let second = try decode(ControlV1.ThreadListResponse.self, try get("/api/runtime/threads?limit=2&cursor=\(first.nextCursor)"))
        XCTAssertEqual(second.data.map(\.threadId), ["a"])
        XCTAssertEqual(second.nextCursor, "")
    }

    // MARK: Skills

    static let schema = #"{"type":"object","properties":{}}"#

    func testToolSpecsAreValidatedWithFieldDetails() throws {
        try serve(runtime: false)
        let r = try post("/api/runtime/skills/tool-specs", #"{"spec":{"tool_id":"Bad Id","version":"1.0","input_schema":{"type":"string"}}}"#)
        XCTAssertEqual(r.status, 422, r.text)
        let errors = try XCTUnwrap(try envelope(r).errors?.fields)
        XCTAssertEqual(Set(errors.keys), ["spec.tool_id", "spec.version", "spec.input_schema", "spec.output_schema"])
    }

    func testAVersionIsRegisteredOnceWithItsContent() throws {
        try serve(runtime: false)
        let spec = "{\"spec\":{\"tool_id\":\"search\",\"version\":\"1.2.0\",\"description\":\"web\",\"input_schema\":\(Self.schema),\"output_schema\":\(Self.schema)}}"
        XCTAssertEqual(try post("/api/runtime/skills/tool-specs", spec).status, 201)
        let again = try post("/api/runtime/skills/tool-specs", spec)
        XCTAssertEqual(again.status, 200)
        XCTAssertTrue(try decode(ControlV1.ToolSpecResponse.self, again).idempotentReplay)
        XCTAssertEqual(try post("/api/runtime/skills/tool-specs", spec.replacingOccurrences(of: "\"web\"", with: "\"other\"")).status, 409)
        XCTAssertEqual(try decode(ControlV1.ToolSpecListResponse.self, try get("/api/runtime/skills/tool-specs")).data.map(\.version), ["1.2.0"])
    }

    func testAPublishedReleaseNeverChanges() async throws {
        try serve(runtime: false)
        _ = try post("/api/runtime/skills/tool-specs", "{\"spec\":{\"tool_id\":\"search\",\"version\":\"1.0.0\",\"input_schema\":\(Self.schema),\"output_schema\":\(Self.schema)}}")
        XCTAssertEqual(try post("/api/runtime/skills/skill-specs", "{\"spec\":{\"skill_id\":\"research\",\"version\":\"1.0.0\",\"name\":\"R\",\"tool_ids\":[\"nope\"],\"input_schema\":\(Self.schema),\"output_schema\":\(Self.schema)}}").status, 422, "an unknown tool")
        let skill = "{\"spec\":{\"skill_id\":\"research\",\"version\":\"1.0.0\",\"name\":\"R\",\"tool_ids\":[\"search\"],\"input_schema\":\(Self.schema),\"output_schema\":\(Self.schema)}}"
        XCTAssertEqual(try post("/api/runtime/skills/skill-specs", skill).status, 201)
        XCTAssertEqual(try get("/api/runtime/skills/releases/research/1.0.0").status, 404)
        XCTAssertEqual(try post("/api/runtime/skills/skill-specs/research/9.9.9/publish", "{}").status, 404)
        let published = try post("/api/runtime/skills/skill-specs/research/1.0.0/publish", "{}")
        XCTAssertEqual(published.status, 201, published.text)
        let release = try XCTUnwrap(try decode(ControlV1.SkillReleaseResponse.self, published).data)
        XCTAssertTrue(release.releaseHash.hasPrefix("sha256:"))
        XCTAssertEqual(try post("/api/runtime/skills/skill-specs/research/1.0.0/publish", "{}").status, 200)
        try await restartControl()
        XCTAssertEqual(try decode(ControlV1.SkillReleaseResponse.self, try get("/api/runtime/skills/releases/research/1.0.0")).data, release)
    }
}
