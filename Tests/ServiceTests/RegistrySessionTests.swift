import APIRuntime
@testable import ControlService
import Foundation
import Generated
import ProtoWire
import TestSupport
import XCTest

/// The session methods on real runtime runs, through the generated runtime
/// client: one test per behaviour of the point 6.
final class RegistrySessionTests: RegistryHarness {
    func testStartCreatesARunWithTheAgentTypeAndWorkspaceInItsMetadata() throws {
        try serve()
        let s = try call(ControlV1.SessionStartResult.self, "session/start", ["agent_type": "codex", "workspace_id": "ws-7", "title": "fix the build"])
        XCTAssertTrue(s.sessionId.hasPrefix("sess_"))
        XCTAssertFalse(s.idempotentReplay)
        let run = try runAtRuntime(s.sessionId)
        XCTAssertEqual(run.metadata?.fields["agent_type"]?.stringValue, "codex")
        XCTAssertEqual(run.metadata?.fields["workspace_id"]?.stringValue, "ws-7")
        XCTAssertEqual(run.ownerUserRef, "u1", "the run belongs to the session's user")
    }

    func testAKeyedStartIsAnsweredOnceAndReplayed() throws {
        try serve()
        let p: [String: Any] = ["agent_type": "codex", "workspace_id": "w", "idempotency_key": "start-1"]
        let a = try call(ControlV1.SessionStartResult.self, "session/start", p)
        let b = try call(ControlV1.SessionStartResult.self, "session/start", p)
        XCTAssertEqual(a.sessionId, b.sessionId)
        XCTAssertTrue(b.idempotentReplay)
        let other = try call(ControlV1.SessionStartResult.self, "session/start", p, as: "u2")
        XCTAssertNotEqual(other.sessionId, a.sessionId, "keys are per user")
    }

    func testSendAppendsAFrameIdempotentByClientMessageId() throws {
        try serve()
        let s = try start()
        let p: [String: Any] = ["agent_type": "codex", "session_id": s.sessionId, "text": "hello", "client_message_id": "m-1"]
        let first = try call(ControlV1.SessionFrameResult.self, "session/send", p)
        XCTAssertEqual(first.status, "accepted")
        XCTAssertFalse(first.idempotentReplay)
        let again = try call(ControlV1.SessionFrameResult.self, "session/send", p)
        XCTAssertTrue(again.idempotentReplay)
        let page = try call(ControlV1.SessionMessagesResult.self, "workspace/session/messages", ["session_id": s.sessionId])
        let frames = page.events.filter { $0.eventType == "run.frame" }
        XCTAssertEqual(frames.count, 1, "a replay appends nothing")
        let changed = try rpc("session/send", ["agent_type": "codex", "session_id": s.sessionId, "text": "other", "client_message_id": "m-1"])
        XCTAssertEqual(changed.code, RegistryRPC.sessionInvalid, "a reused id with other content is refused")
    }

    func testInputAndRespondAppendTheirFrames() throws {
        try serve()
        let s = try start()
        _ = try call(ControlV1.SessionFrameResult.self, "session/input", ["agent_type": "codex", "session_id": s.sessionId, "input": "y"])
        _ = try call(ControlV1.SessionFrameResult.self, "session/respond", ["agent_type": "codex", "session_id": s.sessionId, "request_id": "perm-1", "response": ["approved": true]])
        let page = try call(ControlV1.SessionMessagesResult.self, "workspace/session/messages", ["session_id": s.sessionId])
        let types = page.events.filter { $0.eventType == "run.frame" }.compactMap { e in e.payload.flatMap { JSONValueTest.string($0, "type") } }
        XCTAssertEqual(types, ["user_input", "user_response"])
    }

    func testStopCancelsTheRun() throws {
        try serve()
        let s = try start()
        let stopped = try call(ControlV1.SessionStopResult.self, "session/stop", ["agent_type": "codex", "session_id": s.sessionId, "reason": "done"])
        XCTAssertEqual(stopped.status, "canceling")
        XCTAssertEqual(RunStateName.of(try runAtRuntime(s.sessionId)), "canceling")
        XCTAssertTrue(try call(ControlV1.SessionStopResult.self, "session/stop", ["agent_type": "codex", "session_id": s.sessionId]).idempotentReplay)
    }

    func testStateIsTheRunsSnapshot() throws {
        try serve()
        let s = try start()
        _ = try call(ControlV1.SessionFrameResult.self, "session/send", ["agent_type": "codex", "session_id": s.sessionId, "text": "a"])
        let st = try call(ControlV1.SessionStateResult.self, "session/state", ["session_id": s.sessionId])
        XCTAssertEqual(st.agentType, "codex")
        XCTAssertEqual(st.workspaceId, "w1")
        XCTAssertEqual(st.status, "running")
        XCTAssertEqual(st.latestSeq, 2, "run.started and the frame")
        XCTAssertNotNil(st.updatedAt)
    }

    func testHistoryListsTheCallersSessionsForARuntimeNewestFirst() throws {
        try serve()
        let a = try start("codex", workspace: "w1")
        let b = try start("claude", workspace: "w1")
        let c = try start("codex", workspace: "w2")
        _ = try start("codex", as: "u2")
        let codex = try call(ControlV1.SessionHistoryResult.self, "workspace/session/history", ["agent_type": "codex"])
        XCTAssertEqual(codex.sessions.map(\.sessionId), [c.sessionId, a.sessionId])
        let all = try call(ControlV1.SessionHistoryResult.self, "workspace/session/history", [:])
        XCTAssertEqual(all.sessions.map(\.sessionId), [c.sessionId, b.sessionId, a.sessionId])
        let w1 = try call(ControlV1.SessionHistoryResult.self, "workspace/session/history", ["workspace_id": "w1"])
        XCTAssertEqual(Set(w1.sessions.map(\.sessionId)), [a.sessionId, b.sessionId])
    }

    func testHistoryPagesWithItsToken() throws {
        try serve()
        var ids: [String] = []
        for _ in 0..<5 { ids.append(try start().sessionId) }
        var seen: [String] = []
        var token = ""
        repeat {
            let page = try call(ControlV1.SessionHistoryResult.self, "workspace/session/history", ["limit": 2, "page_token": token])
            XCTAssertLessThanOrEqual(page.sessions.count, 2)
            seen += page.sessions.map(\.sessionId)
            token = page.nextPageToken
        } while !token.isEmpty
        XCTAssertEqual(seen, ids.reversed())
        XCTAssertEqual(try rpc("workspace/session/history", ["page_token": "bogus!"]).code, -32602)
    }

    func testMessagesPagesTheSessionsEventsInOrder() throws {
        try serve()
        let s = try start()
        for i in 0..<6 { _ = try call(ControlV1.SessionFrameResult.self, "session/send", ["agent_type": "codex", "session_id": s.sessionId, "text": "m\(i)"]) }
        var seqs: [UInt64] = []
        var after: UInt64 = 0
        while true {
            let page = try call(ControlV1.SessionMessagesResult.self, "workspace/session/messages", ["session_id": s.sessionId, "after_seq": after, "limit": 3])
            seqs += page.events.map(\.seq)
            XCTAssertEqual(page.latestSeq, 7)
            after = page.nextAfterSeq
            if !page.hasMore { break }
        }
        XCTAssertEqual(seqs, Array(1...7))
    }

    func testAnotherUsersSessionIsAnErrorNeverData() throws {
        try serve()
        let s = try start()
        for (method, p) in [("session/state", [:]), ("workspace/session/messages", [:]), ("session/send", ["text": "x"]), ("session/stop", [:] as [String: Any])] {
            var params = p
            params["session_id"] = s.sessionId
            params["agent_type"] = "codex"
            let a = try rpc(method, params, as: "intruder")
            XCTAssertEqual(a.code, RegistryRPC.sessionNotFound, method)
            XCTAssertNil(a.result, method)
            XCTAssertEqual(a.data?["session_id"] as? String, s.sessionId)
        }
        XCTAssertTrue(try call(ControlV1.SessionHistoryResult.self, "workspace/session/history", [:], as: "intruder").sessions.isEmpty)
        XCTAssertEqual(try runAtRuntime(s.sessionId).latestSeq, 1, "nothing was appended for the intruder")
    }

    func testWatchNeedsTheWebSocket() throws {
        try serve()
        let s = try start()
        let a = try rpc("workspace/session/watch", ["session_id": s.sessionId])
        XCTAssertEqual(a.code, -32000)
    }

    func testSessionsSurviveARestartOfControl() async throws {
        try serve()
        let s = try start()
        try await restartControl()
        XCTAssertEqual(try call(ControlV1.SessionStateResult.self, "session/state", ["session_id": s.sessionId]).agentType, "codex")
        XCTAssertEqual(try call(ControlV1.SessionHistoryResult.self, "workspace/session/history", [:]).sessions.map(\.sessionId), [s.sessionId])
    }
}

enum JSONValueTest {
    static func string(_ v: GoogleProtobuf.Value, _ key: String) -> String? {
        guard case .structValue(let s)? = v.kind, case .stringValue(let t)? = s.fields[key]?.kind else { return nil }
        return t
    }
}

enum RunStateName {
    static func of(_ run: RuntimeV1.RuntimeRun) -> String {
        (try? run.jsonBytes(options: JSONEncodingOptions(enumWireWords: true))).flatMap { b in
            (try? JSONSerialization.jsonObject(with: Data(b)) as? [String: Any])?["status"] as? String
        } ?? ""
    }
}
