import APIRuntime
@testable import ControlService
import Foundation
import Generated
import ProtoWire
import TestSupport
import XCTest

/// The runtime adapters as data (runtime-capability-registry.md): the
/// built-in table, a file that overrides it, and the start-up validation
/// that names the entry at fault.
final class RuntimeRegistryTests: XCTestCase {
    func testTheBuiltInTableHasClaudeAndCodexActiveAndGeminiInPreview() throws {
        let a = try RuntimeAdapters.load(file: nil)
        XCTAssertEqual(a.supportedAgents, ["claude", "codex", "gemini"])
        XCTAssertEqual(a.registry.runtimes.map(\.status), ["active", "active", "preview"])
        XCTAssertEqual(a.registry.defaultRuntime, "claude")
        XCTAssertEqual(a.registry.routing?.agentTypeField, "agent_type")
        XCTAssertEqual(a.registry.routing?.requiredOnMethods, ["session/start", "session/send", "session/stop", "session/input", "session/respond"])
    }

    func testTheDocumentUsesTheRegistryDocumentsJSONNames() throws {
        let json = try RuntimeAdapters.load(file: nil).documentJSON(at: Date(timeIntervalSince1970: 1_771_329_600))
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        XCTAssertEqual(Set(doc.keys), ["schemaVersion", "generatedAt", "defaultRuntime", "routing", "runtimes"])
        XCTAssertEqual(doc["generatedAt"] as? String, "2026-02-17T12:00:00Z")
        XCTAssertEqual(Set((doc["routing"] as? [String: Any] ?? [:]).keys), ["agentTypeField", "defaultAgentType", "requiredOnMethods"])
        let codex = try XCTUnwrap((doc["runtimes"] as? [[String: Any]])?.first { $0["id"] as? String == "codex" })
        XCTAssertEqual(Set(codex.keys), ["id", "displayName", "status", "sessionListSource", "sessionMessagesSource", "sessionWatchSource",
                                         "requiresWorkspaceActivationOnResume", "requiresSessionResolutionOnNewSession", "supportsResume",
                                         "supportsInteractiveQuestions", "supportsPermissions", "methods"])
        XCTAssertEqual(codex["requiresWorkspaceActivationOnResume"] as? Bool, false)
        XCTAssertEqual(Set((codex["methods"] as? [String: String] ?? [:]).keys),
                       ["history", "messages", "watch", "unwatch", "start", "send", "stop", "input", "respond", "state"])
    }

    /// The built-in table as a file, edited by `change`.
    func loadEdited(_ change: (inout [String: Any]) -> Void) throws -> RuntimeAdapters {
        var doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(RuntimeAdapters.builtIn.jsonBytes())) as? [String: Any])
        change(&doc)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString).json").path
        try JSONSerialization.data(withJSONObject: doc).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try RuntimeAdapters.load(file: path)
    }

    func problem(_ change: (inout [String: Any]) -> Void) -> String {
        do { _ = try loadEdited(change); return "accepted" } catch { return (error as? APIError)?.message ?? "\(error)" }
    }

    func editRuntime(_ index: Int, _ edit: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
        return { doc in
            var runtimes = doc["runtimes"] as? [[String: Any]] ?? []
            edit(&runtimes[index])
            doc["runtimes"] = runtimes
        }
    }

    func testIdsAreTrimmedAndLowercased() throws {
        let a = try loadEdited(editRuntime(1) { $0["id"] = "  CODEX " })
        XCTAssertEqual(a.supportedAgents, ["claude", "codex", "gemini"])
        XCTAssertNotNil(a.runtime(" Codex"))
    }

    func testAnEmptyIdStopsStartUpNamingTheEntry() {
        XCTAssertTrue(problem(editRuntime(2) { $0["id"] = " " }).contains("runtimes[2] has an empty id"))
    }

    func testADuplicateIdStopsStartUpNamingBothEntries() {
        XCTAssertTrue(problem(editRuntime(2) { $0["id"] = "Claude" }).contains("runtimes[2] repeats the id \"claude\" of runtimes[0]"))
    }

    func testAnUnknownStatusStopsStartUp() {
        XCTAssertTrue(problem(editRuntime(1) { $0["status"] = "retired" }).contains("runtimes[1] (codex) has status \"retired\""))
    }

    func testAnUnknownSourceStopsStartUp() {
        XCTAssertTrue(problem(editRuntime(0) { $0["sessionWatchSource"] = "everywhere" }).contains("sessionWatchSource \"everywhere\""))
    }

    func testADefaultThatIsNotListedStopsStartUp() {
        XCTAssertTrue(problem { $0["defaultRuntime"] = "cursor" }.contains("defaultRuntime \"cursor\" is not a listed runtime"))
    }

    func testAMissingRequiredMethodKeyStopsStartUp() {
        let p = problem(editRuntime(1) { r in
            var m = r["methods"] as? [String: Any] ?? [:]
            m.removeValue(forKey: "respond")
            r["methods"] = m
        })
        XCTAssertTrue(p.contains("runtimes[1] (codex) is missing the required method key \"respond\""), p)
    }

    func testTheOptionalStateMethodMayBeLeftOut() throws {
        let a = try loadEdited(editRuntime(1) { r in
            var m = r["methods"] as? [String: Any] ?? [:]
            m.removeValue(forKey: "state")
            r["methods"] = m
        })
        XCTAssertNil(a.runtime("codex")?.methods?.state)
    }

    func testAFileThatIsNotARegistryDocumentStopsStartUp() {
        XCTAssertTrue(problem { $0["runtimez"] = [] }.contains("not a registry document"))
        XCTAssertThrowsError(try RuntimeAdapters.load(file: "/nonexistent/registry.json"))
    }

    func testServeRefusesABadRegistryFileNamingTheProblem() throws {
        try XCTSkipUnless(ServeProcess.isBuilt, "openagents binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("registry-serve-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(RuntimeAdapters.builtIn.jsonBytes())) as? [String: Any])
        doc["defaultRuntime"] = "nobody"
        try JSONSerialization.data(withJSONObject: doc).write(to: URL(fileURLWithPath: dir + "/registry.json"))
        let (status, text) = try ServeProcess.run(ServeProcess.binary, ["serve", "--only", "control", "--control-port", "0", "--data-dir", dir,
                                                                        "--runtime-registry", dir + "/registry.json"])
        XCTAssertNotEqual(status, 0, text)
        XCTAssertTrue(text.contains("defaultRuntime \"nobody\" is not a listed runtime"), text)
    }
}
