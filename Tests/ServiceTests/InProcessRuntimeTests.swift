import APIRuntime
@testable import ControlService
import Foundation
import Generated
import HTTPServer
import ProtoWire
@testable import RuntimeCore
import ServiceKit
import TestSupport
import XCTest

/// Control calling the runtime of its own process through the runtime's
/// router (what `serve` does unless --runtime-url names another runtime):
/// the same routes, signature checks, envelopes and metrics as over HTTP.
final class InProcessRuntimeTests: RegistryHarness {
    func testTheProxyReachesTheRuntimeInProcess() throws {
        try startRuntime()
        try serve(inProcess: true)
        let created = try post("/api/runtime/workers", #"{"workerId":"w-local","workspaceRef":"ws1"}"#, as: "user-7")
        XCTAssertEqual(created.status, 200, created.text)
        XCTAssertEqual(try decode(ControlV1.RuntimeWorkerResult.self, try get("/api/runtime/workers/w-local", as: "user-7")).data?.worker?.workerId, "w-local")
        XCTAssertEqual(try get("/api/runtime/workers/w-local", as: "intruder").status, 403, "ownership is the runtime's, in process too")
        XCTAssertEqual(try get("/api/runtime/workers/nobody", as: "user-7").status, 404)
    }

    func testInProcessCallsAreSignedAndCheckedByTheRuntime() throws {
        try startRuntime()
        let router = try XCTUnwrap(runtimeRouter)
        let svc = try ControlService(dataDirectory: dir + "/other", runtimeURL: nil, runtimeSecret: Array("wrong".utf8),
                                     environment: ["OA_CONTROL_SESSION_SECRET": Self.sessionKey], metrics: Metrics(), logger: Logger(level: .error),
                                     localRuntime: RouterClient(router: router, errors: ServiceError.rendering))
        try serve(svc)
        let r = try get("/api/runtime/workers")
        XCTAssertEqual(r.status, 401, "a bad signature is refused in process as over HTTP: \(r.text)")
    }

    func testRegistrySessionsWorkInProcess() throws {
        try startRuntime()
        try serve(inProcess: true)
        let s = try start()
        _ = try call(ControlV1.SessionFrameResult.self, "session/send", ["agent_type": "codex", "session_id": s.sessionId, "text": "hi"])
        let page = try call(ControlV1.SessionMessagesResult.self, "workspace/session/messages", ["session_id": s.sessionId])
        XCTAssertEqual(page.events.map(\.seq), [1, 2])
        let ws = try socket()
        ws.send(text: Self.request("workspace/session/watch", ["session_id": s.sessionId, "after_seq": 2], id: "w"))
        _ = try answer(ws, id: "w")
        ws.send(text: Self.request("session/stop", ["agent_type": "codex", "session_id": s.sessionId], id: "stop"))
        var seen: [[String: Any]] = []
        _ = try answer(ws, id: "stop", notifications: &seen)
        while !seen.contains(where: { $0["method"] as? String == "session/event" }), let text = ws.readText() {
            if let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], o["method"] != nil { seen.append(o) }
        }
        XCTAssertEqual(((seen.first?["params"] as? [String: Any])?["event"] as? [String: Any])?["seq"] as? Int, 3)
    }

    func testAnUnknownPathIs404InTheRuntimesEnvelope() async throws {
        var r = Router()
        r.getSync("/known") { _ in HTTPResponse.json(200, Array("{}".utf8)) }
        let client = RouterClient(router: r, errors: ServiceError.rendering)
        let missing = await client.send(method: "GET", target: "/unknown?x=1", headers: [], body: [])
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(try RuntimeV1.ErrorEnvelope(jsonBytes: missing.body).error?.code, "not_found")
        let wrong = await client.send(method: "POST", target: "/known", headers: [], body: [])
        XCTAssertEqual(wrong.status, 405)
        let known = await client.send(method: "GET", target: "/known", headers: [], body: [])
        XCTAssertEqual(known.status, 200)
    }
}
