import APIRuntime
@testable import ControlService
import Foundation
import Generated
import ProtoWire
import TestSupport
import XCTest

/// Routing by `agent_type` (runtime-capability-registry.md, error handling
/// contract; DECISIONS.md): one test per rule.
final class RegistryRoutingTests: RegistryHarness {
    func testAnOmittedAgentTypeSelectsTheDefaultRuntime() throws {
        try serve()
        let s = try start(nil)
        XCTAssertEqual(s.agentType, "claude")
        XCTAssertEqual(try runAtRuntime(s.sessionId).metadata?.fields["agent_type"]?.stringValue, "claude")
    }

    func testTheAgentTypeIsTrimmedAndLowercased() throws {
        try serve()
        XCTAssertEqual(try start(" Codex ").agentType, "codex")
    }

    func testAnUnknownRuntimeIsInvalidParamsWithAgentTypeMethodAndSupportedTypes() throws {
        try serve()
        let a = try rpc("session/start", ["agent_type": "cursor"])
        XCTAssertEqual(a.code, -32602)
        XCTAssertEqual(a.data?["agent_type"] as? String, "cursor")
        XCTAssertEqual(a.data?["method"] as? String, "session/start")
        XCTAssertEqual(a.data?["supported_agent_types"] as? [String], ["claude", "codex", "gemini"])
    }

    func testAnUnknownRuntimeIsRefusedOnEveryRoutedMethod() throws {
        try serve()
        let s = try start()
        for method in ["session/send", "session/stop", "session/input", "session/respond"] {
            let a = try rpc(method, ["agent_type": "cursor", "session_id": s.sessionId, "request_id": "q1"])
            XCTAssertEqual(a.code, -32602, method)
            XCTAssertEqual(a.data?["method"] as? String, method)
        }
    }

    func testANonStringAgentTypeIsInvalidParams() throws {
        try serve()
        XCTAssertEqual(try rpc("session/start", ["agent_type": 7]).code, -32602)
    }

    func testADisabledRuntimeIsNeverInvokable() throws {
        try serve(registry: try registryFile { $0[2]["status"] = "disabled" })
        let a = try rpc("session/start", ["agent_type": "gemini"])
        XCTAssertEqual(a.code, -32602)
        XCTAssertEqual(a.data?["agent_type"] as? String, "gemini")
        XCTAssertEqual(a.data?["status"] as? String, "disabled")
        XCTAssertTrue((a.data?["reason"] as? String ?? "").contains("gemini is disabled"))
        XCTAssertEqual(a.data?["supported_agent_types"] as? [String], ["claude", "codex"])
        // Still listed: clients show it and block it.
        let r = try call(ControlV1.InitializeResult.self, "initialize")
        XCTAssertEqual(r.capabilities?.runtimeRegistry?.runtimes.first { $0.id == "gemini" }?.status, "disabled")
    }

    func testASessionOfARuntimeDisabledLaterCannotBeDriven() async throws {
        try serve()
        let s = try start("gemini")
        await control?.shutdown(deadline: 2)
        try serve(registry: try registryFile { $0[2]["status"] = "disabled" })
        let a = try rpc("session/state", ["session_id": s.sessionId])
        XCTAssertEqual(a.code, -32602)
        XCTAssertEqual(a.data?["status"] as? String, "disabled")
    }

    func testADeprecatedRuntimeWorksAndTheResultCarriesAWarning() throws {
        try serve(registry: try registryFile { $0[1]["status"] = "deprecated" })
        let s = try start("codex")
        XCTAssertFalse(s.sessionId.isEmpty)
        XCTAssertTrue((s.warning ?? "").contains("codex is deprecated"), "\(s)")
        let sent = try call(ControlV1.SessionFrameResult.self, "session/send", ["agent_type": "codex", "session_id": s.sessionId, "text": "hi"])
        XCTAssertEqual(sent.status, "accepted")
        XCTAssertNotNil(sent.warning)
        XCTAssertNil(try start("claude").warning, "an active runtime carries no warning")
    }

    func testAKnownRuntimeWhoseAdapterIsUnavailableIsInternalErrorNamingIt() throws {
        try serve(runtime: false)
        let a = try rpc("session/start", ["agent_type": "codex"])
        XCTAssertEqual(a.code, -32603)
        XCTAssertEqual(a.data?["agent_type"] as? String, "codex")
        XCTAssertEqual(a.data?["method"] as? String, "session/start")
        XCTAssertNotNil(a.data?["reason"])
    }

    func testAnUnreachableRuntimeIsInternalErrorNamingIt() throws {
        try serve(runtime: true, runtimeURL: "http://127.0.0.1:1")
        let a = try rpc("session/start", ["agent_type": "claude"])
        XCTAssertEqual(a.code, -32603)
        XCTAssertEqual(a.data?["agent_type"] as? String, "claude")
    }

    func testASessionIsDrivenOnlyThroughItsOwnRuntime() throws {
        try serve()
        let s = try start("codex")
        // send is in requiredOnMethods: omitted means the default (claude), which is not the session's runtime.
        let omitted = try rpc("session/send", ["session_id": s.sessionId, "text": "hi"])
        XCTAssertEqual(omitted.code, -32602)
        XCTAssertEqual(omitted.data?["session_agent_type"] as? String, "codex")
        XCTAssertEqual(omitted.data?["agent_type"] as? String, "claude")
        let other = try rpc("session/stop", ["agent_type": "gemini", "session_id": s.sessionId])
        XCTAssertEqual(other.code, -32602)
        // Methods outside requiredOnMethods use the session's runtime when the selector is omitted.
        XCTAssertNil(try rpc("session/state", ["session_id": s.sessionId]).error)
    }

    func testAFileNamingAMethodTheServerDoesNotAnswerStopsStartUp() throws {
        let path = try registryFile { runtimes in
            var m = runtimes[0]["methods"] as? [String: Any] ?? [:]
            m["send"] = "session/shout"
            runtimes[0]["methods"] = m
        }
        XCTAssertThrowsError(try RuntimeAdapters.load(file: path)) { e in
            XCTAssertTrue((e as? APIError)?.message.contains("runtimes[0] (claude) maps \"send\" to \"session/shout\", which is not a method of this server") ?? false, "\(e)")
        }
    }

    func testARequiredOnMethodWithoutTheSelectorStopsStartUp() throws {
        var doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(RuntimeAdapters.builtIn.jsonBytes())) as? [String: Any])
        doc["routing"] = ["agentTypeField": "agent_type", "defaultAgentType": "claude", "requiredOnMethods": ["session/start", "initialize"]]
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/routing.json"
        try JSONSerialization.data(withJSONObject: doc).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try RuntimeAdapters.load(file: path)) { e in
            XCTAssertTrue((e as? APIError)?.message.contains("\"initialize\", whose params have no \"agent_type\"") ?? false, "\(e)")
        }
    }
}

extension GoogleProtobuf.Value {
    var stringValue: String? { if case .stringValue(let s)? = kind { return s }; return nil }
}
