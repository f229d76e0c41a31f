import APIRuntime
@testable import ControlService
import Foundation
import Generated
import ProtoWire
import TestSupport
import XCTest

/// `initialize`, `initialized`, `shutdown` and the transports
/// (runtime-capability-registry.md; reference-system.md section 5): the
/// registry document's shape field by field, over HTTP and the WebSocket.
final class RegistryInitializeTests: RegistryHarness {
    func registry(_ a: Answer) throws -> [String: Any] {
        let caps = try XCTUnwrap((a.result as? [String: Any])?["capabilities"] as? [String: Any])
        return try XCTUnwrap(caps["runtimeRegistry"] as? [String: Any])
    }

    func testInitializeAnswersProtocolVersionServerInfoClientIdAndCapabilities() throws {
        try serve()
        let r = try call(ControlV1.InitializeResult.self, "initialize", ["protocolVersion": "1.0", "clientInfo": ["name": "cdev-ios", "version": "2.0"]])
        XCTAssertEqual(r.protocolVersion, "1.0")
        XCTAssertEqual(r.serverInfo?.name, "openagents-control")
        XCTAssertFalse(r.serverInfo?.version.isEmpty ?? true)
        XCTAssertTrue(r.clientId.hasPrefix("http_"))
        XCTAssertEqual(r.capabilities?.notifications, ["session/event"])
    }

    func testSupportedAgentsEqualTheRegistrysRuntimeIds() throws {
        try serve()
        let r = try call(ControlV1.InitializeResult.self, "initialize")
        XCTAssertEqual(r.capabilities?.supportedAgents, ["claude", "codex", "gemini"])
        XCTAssertEqual(r.capabilities?.supportedAgents, r.capabilities?.runtimeRegistry?.runtimes.map(\.id))
    }

    func testTheRegistryHasEveryTopLevelFieldByItsDocumentName() throws {
        try serve()
        let doc = try registry(try rpc("initialize"))
        XCTAssertEqual(Set(doc.keys), ["schemaVersion", "generatedAt", "defaultRuntime", "routing", "runtimes"])
        XCTAssertEqual(doc["schemaVersion"] as? String, "1.0")
        XCTAssertEqual(doc["defaultRuntime"] as? String, "claude")
        let routing = try XCTUnwrap(doc["routing"] as? [String: Any])
        XCTAssertEqual(Set(routing.keys), ["agentTypeField", "defaultAgentType", "requiredOnMethods"])
        XCTAssertEqual(routing["agentTypeField"] as? String, "agent_type")
        XCTAssertEqual(routing["defaultAgentType"] as? String, "claude")
        XCTAssertEqual(routing["requiredOnMethods"] as? [String], ["session/start", "session/send", "session/stop", "session/input", "session/respond"])
    }

    func testGeneratedAtIsRFC3339UTC() throws {
        try serve()
        let text = try XCTUnwrap(try registry(try rpc("initialize"))["generatedAt"] as? String)
        XCTAssertNotNil(text.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"#, options: .regularExpression), text)
        let f = ISO8601DateFormatter()
        let at = try XCTUnwrap(f.date(from: text.replacingOccurrences(of: #"\.\d+"#, with: "", options: .regularExpression)))
        XCTAssertLessThan(abs(at.timeIntervalSinceNow), 120)
    }

    func testEachRuntimeHasAllTwelveFieldsWithTheirTypesAndEnumValues() throws {
        try serve()
        let runtimes = try XCTUnwrap(try registry(try rpc("initialize"))["runtimes"] as? [[String: Any]])
        XCTAssertEqual(runtimes.count, 3)
        let strings = ["id", "displayName", "status", "sessionListSource", "sessionMessagesSource", "sessionWatchSource"]
        let bools = ["requiresWorkspaceActivationOnResume", "requiresSessionResolutionOnNewSession", "supportsResume", "supportsInteractiveQuestions", "supportsPermissions"]
        for r in runtimes {
            XCTAssertEqual(Set(r.keys), Set(strings + bools + ["methods"]), "\(r)")
            for k in strings { XCTAssertTrue(r[k] is String, "\(k) of \(r["id"] ?? "?") is a string") }
            XCTAssertTrue(["active", "preview", "deprecated", "disabled"].contains(r["status"] as? String ?? ""))
            XCTAssertTrue(["workspaceHistory", "runtimeScoped"].contains(r["sessionListSource"] as? String ?? ""))
            XCTAssertTrue(["workspaceScoped", "runtimeScoped"].contains(r["sessionMessagesSource"] as? String ?? ""))
            XCTAssertTrue(["workspaceScoped", "runtimeScoped"].contains(r["sessionWatchSource"] as? String ?? ""))
        }
        // Booleans are JSON true/false, never 0/1 (the strict decode into the generated type checks the same).
        let text = try post(Self.request("initialize")).text
        for k in bools { XCTAssertEqual(text.components(separatedBy: "\"\(k)\":").dropFirst().filter { $0.hasPrefix("true") || $0.hasPrefix("false") }.count, 3, k) }
        _ = try call(ControlV1.InitializeResult.self, "initialize")
        XCTAssertEqual(runtimes.map { $0["status"] as? String }, ["active", "active", "preview"])
        let codex = try XCTUnwrap(runtimes.first { $0["id"] as? String == "codex" })
        XCTAssertEqual(codex["requiresWorkspaceActivationOnResume"] as? Bool, false)
        XCTAssertEqual(codex["requiresSessionResolutionOnNewSession"] as? Bool, false)
        XCTAssertEqual(runtimes.first?["requiresWorkspaceActivationOnResume"] as? Bool, true)
    }

    func testTheMethodsMapHasTheRequiredKeysAndTheOptionalState() throws {
        try serve()
        let runtimes = try XCTUnwrap(try registry(try rpc("initialize"))["runtimes"] as? [[String: Any]])
        let methods = try XCTUnwrap(runtimes[1]["methods"] as? [String: String])
        for k in ["history", "messages", "watch", "unwatch", "start", "send", "stop", "input", "respond"] { XCTAssertNotNil(methods[k], k) }
        XCTAssertEqual(methods["state"], "session/state")
        XCTAssertEqual(methods["start"], "session/start")
        XCTAssertEqual(methods["history"], "workspace/session/history")
    }

    func testARuntimeWithoutStateLeavesTheKeyOut() throws {
        let file = try registryFile { runtimes in
            var m = runtimes[1]["methods"] as? [String: Any] ?? [:]
            m.removeValue(forKey: "state")
            runtimes[1]["methods"] = m
        }
        try serve(registry: file)
        let runtimes = try XCTUnwrap(try registry(try rpc("initialize"))["runtimes"] as? [[String: Any]])
        XCTAssertNil((runtimes[1]["methods"] as? [String: Any])?["state"])
        XCTAssertNotNil((runtimes[0]["methods"] as? [String: Any])?["state"])
    }

    func testInitializedIsANotificationWithNoAnswer() throws {
        try serve()
        let r = try post(#"{"jsonrpc":"2.0","method":"initialized"}"#)
        XCTAssertEqual(r.status, 204)
        XCTAssertTrue(r.body.isEmpty)
        let ws = try socket()
        ws.send(text: #"{"jsonrpc":"2.0","method":"initialized"}"#)
        ws.send(text: Self.request("session/state", ["session_id": "none"], id: "after"))
        let a = try Answer(message: XCTUnwrap(next(ws) as? [String: Any]))
        XCTAssertEqual(a.id as? String, "after", "the notification got no answer before the next call's")
    }

    func testShutdownAnswersSuccessAndClosesTheSocket() throws {
        try serve()
        XCTAssertEqual(try call(ControlV1.ShutdownResult.self, "shutdown").success, true)
        let ws = try socket()
        ws.send(text: Self.request("shutdown", nil, id: "bye"))
        XCTAssertEqual(try result(ControlV1.ShutdownResult.self, try answer(ws, id: "bye")).success, true)
        let close = ws.read()
        XCTAssertEqual(close?.opcode, 8, "the server closes after shutdown")
    }

    func testOtherMethodsBeforeInitializeOnAWebSocketAreAnError() throws {
        try serve()
        let ws = try socket(initialize: false)
        ws.send(text: Self.request("workspace/session/history", [:], id: "early"))
        let a = try answer(ws, id: "early")
        XCTAssertEqual(a.code, -32000)
        XCTAssertEqual(a.data?["first"] as? String, "initialize")
        ws.send(text: Self.request("initialize", nil, id: "init"))
        let clientID = try result(ControlV1.InitializeResult.self, try answer(ws, id: "init")).clientId
        XCTAssertTrue(clientID.hasPrefix("ws_"))
        ws.send(text: Self.request("workspace/session/history", [:], id: "later"))
        XCTAssertNil(try answer(ws, id: "later").error)
    }

    func testAPipelinedInitializeThenCallIsAnsweredInFull() throws {
        try serve()
        let ws = try socket(initialize: false)
        ws.send(text: "[" + Self.request("initialize", nil, id: "a") + "," + Self.request("workspace/session/history", [:], id: "b") + "]")
        let batch = try XCTUnwrap(try next(ws) as? [[String: Any]])
        XCTAssertEqual(Set(batch.compactMap { $0["id"] as? String }), ["a", "b"])
        XCTAssertTrue(batch.allSatisfy { $0["error"] == nil }, "\(batch)")
    }

    func testBothTransportsRefuseAMissingSessionBeforeAnyUpgrade() throws {
        try serve()
        let r = try call("POST", "/api/rpc", Self.request("initialize"))
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(try envelope(r).error?.code, "unauthorized")
        let ws = try WSClient(port: controlPort, path: "/api/rpc/ws")
        XCTAssertEqual(ws.upgrade.status, 401, "no 101 without a session")
        let forged = try WSClient(port: controlPort, path: "/api/rpc/ws", headers: [("Authorization", "Bearer not-a-token")])
        XCTAssertEqual(forged.upgrade.status, 401)
    }

    func testAPlainGetOfTheSocketIsRefusedWithTheEnvelope() throws {
        try serve()
        let r = try get("/api/rpc/ws")
        XCTAssertEqual(r.status, 422, r.text)
        XCTAssertEqual(try envelope(r).error?.code, "invalid_request")
    }

    func testABodyThatIsNotJSONTypedIs415() throws {
        try serve()
        let c = try RawClient(port: controlPort)
        c.send("POST /api/rpc HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(session())\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 415, r.text)
    }

    func testAnUnknownParamIsInvalidParams() throws {
        try serve()
        let a = try rpc("initialize", ["protocolVersion": "1.0", "colour": "blue"])
        XCTAssertEqual(a.code, -32602)
        XCTAssertTrue("\(a.error?["message"] ?? "")" == "Invalid params")
    }

    func testPositionalParamsBindInFieldOrder() throws {
        try serve()
        let s = try call(ControlV1.SessionStartResult.self, "session/start", ["codex", "w-positional", "titled"])
        XCTAssertEqual(s.agentType, "codex")
        XCTAssertEqual(s.workspaceId, "w-positional")
        let tooMany = try rpc("session/start", ["codex", "w", "t", "k", [:] as [String: Any], "extra"])
        XCTAssertEqual(tooMany.code, -32602)
    }

    func testAMissingRequiredParamIsNamed() throws {
        try serve()
        let a = try rpc("session/send", ["agent_type": "codex", "text": "hi"])
        XCTAssertEqual(a.code, -32602)
        XCTAssertEqual(a.data?["missing"] as? [String], ["session_id"])
    }
}
