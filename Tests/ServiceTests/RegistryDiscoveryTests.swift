import APIRuntime
@testable import ControlService
import Foundation
import Generated
import ProtoWire
import TestSupport
import XCTest

/// The OpenRPC 1.2.6 document of the registry's methods, generated from
/// registry_rpc.proto and served with the runtime table's enums.
final class RegistryDiscoveryTests: RegistryHarness {
    func document() throws -> [String: Any] {
        let r = try call("GET", "/api/rpc/discover")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.headers["content-type"], "application/json")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
    }

    func methods(_ doc: [String: Any]) -> [[String: Any]] { doc["methods"] as? [[String: Any]] ?? [] }

    func testTheDocumentListsEveryMethodOfTheContract() throws {
        try serve(runtime: false)
        let doc = try document()
        XCTAssertEqual(doc["openrpc"] as? String, "1.2.6")
        XCTAssertEqual(methods(doc).compactMap { $0["name"] as? String }, ControlV1.RegistryRpcService.methods.map(\.name))
        for name in ["initialize", "initialized", "shutdown", "rpc.discover", "session/start", "session/send", "session/input", "session/respond",
                     "session/stop", "session/state", "workspace/session/history", "workspace/session/messages", "workspace/session/watch",
                     "workspace/session/unwatch", "session/event"] {
            XCTAssertTrue(methods(doc).contains { $0["name"] as? String == name }, name)
        }
    }

    func testRpcDiscoverAnswersTheServedDocument() throws {
        try serve(runtime: false)
        let served = try document()
        let a = try rpc("rpc.discover")
        XCTAssertEqual(Self.json(try XCTUnwrap(a.result)), Self.json(served))
    }

    func testEveryAgentTypeParamEnumeratesTheRegistrysRuntimes() throws {
        try serve(runtime: false, registry: try registryFile { $0.append(contentsOf: [["id": "cursor", "displayName": "Cursor", "status": "disabled", "sessionListSource": "runtimeScoped",
                                                                                       "sessionMessagesSource": "runtimeScoped", "sessionWatchSource": "runtimeScoped",
                                                                                       "methods": $0[0]["methods"] ?? [:]]]) })
        var routed = 0
        for m in methods(try document()) {
            for p in m["params"] as? [[String: Any]] ?? [] where p["name"] as? String == "agent_type" {
                XCTAssertEqual((p["schema"] as? [String: Any])?["enum"] as? [String], ["claude", "codex", "gemini", "cursor"], "\(m["name"] ?? "")")
                routed += 1
            }
        }
        XCTAssertEqual(routed, 10, "every session method takes agent_type")
    }

    func testTheRuntimeRegistrySchemaIsPublishedInFull() throws {
        try serve(runtime: false)
        let schemas = try XCTUnwrap((try document()["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let capability = try XCTUnwrap(schemas["openagents.runtime.v1.RuntimeCapability"] as? [String: Any])
        let props = try XCTUnwrap(capability["properties"] as? [String: Any])
        let fields = ["id", "displayName", "status", "sessionListSource", "sessionMessagesSource", "sessionWatchSource", "requiresWorkspaceActivationOnResume",
                      "requiresSessionResolutionOnNewSession", "supportsResume", "supportsInteractiveQuestions", "supportsPermissions", "methods"]
        XCTAssertEqual(Set(props.keys), Set(fields))
        XCTAssertEqual(Set(capability["required"] as? [String] ?? []), Set(fields), "the document requires all twelve")
        XCTAssertEqual((props["status"] as? [String: Any])?["enum"] as? [String], ["active", "preview", "deprecated", "disabled"])
        XCTAssertEqual((props["sessionListSource"] as? [String: Any])?["enum"] as? [String], ["workspaceHistory", "runtimeScoped"])
        XCTAssertEqual((props["sessionWatchSource"] as? [String: Any])?["enum"] as? [String], ["workspaceScoped", "runtimeScoped"])
        let methods = try XCTUnwrap(schemas["openagents.runtime.v1.RuntimeMethods"] as? [String: Any])
        XCTAssertEqual(Set(methods["required"] as? [String] ?? []), ["history", "messages", "watch", "unwatch", "start", "send", "stop", "input", "respond"], "state is optional")
        let registry = try XCTUnwrap(schemas["openagents.runtime.v1.RuntimeRegistry"] as? [String: Any])
        XCTAssertEqual(Set(registry["required"] as? [String] ?? []), ["schemaVersion", "generatedAt", "defaultRuntime", "routing", "runtimes"])
        XCTAssertNotNil(schemas["openagents.control.v1.InitializeResult"])
    }

    func testTheServedDocumentIsTheCommittedOneWithTheTablesEnums() throws {
        let committed = try XCTUnwrap(FileManager.default.contents(atPath: Repo.path("Sources/Generated/OpenRPC/openagents.control.v1.RegistryRpcService.openrpc.json")))
        XCTAssertEqual(String(decoding: committed, as: UTF8.self), ControlV1.RegistryRpcService.openRPCDocument)
        try serve(runtime: false)
        func withoutEnums(_ v: Any) -> Any {
            if let o = v as? [String: Any] { return o.filter { $0.key != "enum" }.mapValues(withoutEnums) }
            if let a = v as? [Any] { return a.map(withoutEnums) }
            return v
        }
        let served = try document()
        XCTAssertEqual(Self.json(withoutEnums(served)), Self.json(withoutEnums(try JSONSerialization.jsonObject(with: committed))))
        XCTAssertTrue(String(decoding: try call("GET", "/api/rpc/discover").body, as: UTF8.self).contains("\"code\":-32602,"), "integers keep their bytes")
    }

    func testTheDocumentValidatesAndRealResultsMatchItsSchemas() throws {
        let python = GeneratedAPITests.venv + "python"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("\(python) is missing: `make test` installs the test tools") }
        try serve()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(try call("GET", "/api/rpc/discover").body).write(to: URL(fileURLWithPath: dir + "/openrpc.json"))
        let s = try start()
        _ = try rpc("session/send", ["agent_type": "codex", "session_id": s.sessionId, "text": "hi"])
        var samples: [String: [Any]] = [:]
        for (method, params) in [("initialize", [:]), ("shutdown", [:]), ("session/start", ["agent_type": "claude"]),
                                 ("session/send", ["agent_type": "codex", "session_id": s.sessionId, "text": "again"]),
                                 ("session/state", ["session_id": s.sessionId]), ("workspace/session/history", [:]),
                                 ("workspace/session/messages", ["session_id": s.sessionId]),
                                 ("session/stop", ["agent_type": "codex", "session_id": s.sessionId])] as [(String, [String: Any])] {
            samples[method, default: []].append(try XCTUnwrap(try rpc(method, params).result, method))
        }
        try JSONSerialization.data(withJSONObject: samples).write(to: URL(fileURLWithPath: dir + "/samples.json"))
        let result = try GeneratedAPITests.run(python, [Repo.path("Tests/Scripts/openrpc_check.py"), dir + "/openrpc.json", dir + "/samples.json"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("15 methods, 0 problems"), result.output)
    }
}
