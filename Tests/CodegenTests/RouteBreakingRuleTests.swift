@testable import Codegen
import Foundation
import XCTest

/// Route-level breaking rules (ours; buf has none): each edit of a copy of the
/// real contracts fails `breaking` against the committed baseline, naming its rule.
final class RouteBreakingRuleTests: XCTestCase {
    let config = try! BufConfig.load(Repo.path("buf.yaml"))
    let baseline = Repo.path("proto/" + Baseline.relativePath)
    let service = "openagents/runtime/v1/runtime_service.proto"

    func findings(editing file: String, _ edit: (String) -> String) throws -> [Finding] {
        try Self.breaking(editing: file, config: config, baseline: baseline, edit)
    }

    /// `make breaking` on a copy of proto/ with `file` edited, against the committed baseline.
    static func breaking(editing file: String, config: BufConfig, baseline: String, _ edit: (String) -> String) throws -> [Finding] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("breaking-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: Repo.path("proto"), toPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + file
        let before = try String(contentsOfFile: path, encoding: .utf8)
        let after = edit(before)
        XCTAssertNotEqual(before, after, "the edit changed nothing")
        try after.write(toFile: path, atomically: true, encoding: .utf8)
        return try Checks.breaking(moduleRoot: dir, against: baseline, config: config)
    }

    func rules(_ f: [Finding]) -> Set<String> { Set(f.map(\.type)) }

    func testDeletingARouteIsBreaking() throws {
        let f = try findings(editing: service) { $0.replacingOccurrences(of: "option (google.api.http) = {get: \"/internal/v1/runs/{run_id}/snapshot\"};", with: "") }
        XCTAssertTrue(rules(f).contains("OPENAGENTS_HTTP_BINDING_NO_DELETE"), Checks.format(f, json: false))
        XCTAssertTrue(f.contains { $0.message == "Previously present HTTP binding \"GET /internal/v1/runs/{run_id}/snapshot\" of RPC \"openagents.runtime.v1.RuntimeService.GetRunSnapshot\" was deleted." })
    }

    func testChangingARoutePathIsBreaking() throws {
        let f = try findings(editing: service) { $0.replacingOccurrences(of: "{get: \"/internal/v1/runs/{run_id}/receipt\"}", with: "{get: \"/internal/v1/runs/{run_id}/receipts\"}") }
        XCTAssertEqual(rules(f), ["OPENAGENTS_HTTP_SAME_PATH_TEMPLATE"], Checks.format(f, json: false))
        XCTAssertEqual(f.first?.path, service)
        XCTAssertGreaterThan(f.first?.startLine ?? 0, 1, "the finding points at the rpc")
    }

    func testChangingARouteMethodIsBreaking() throws {
        let f = try findings(editing: service) { $0.replacingOccurrences(of: "post: \"/internal/v1/runs/{run_id}/cancel\"", with: "put: \"/internal/v1/runs/{run_id}/cancel\"") }
        XCTAssertEqual(rules(f), ["OPENAGENTS_HTTP_SAME_METHOD"], Checks.format(f, json: false))
    }

    func testRenamingAPathVariableIsBreaking() throws {
        let f = try findings(editing: service) { $0.replacingOccurrences(of: "{get: \"/internal/v1/projectors/checkpoints/{run_id}\"}", with: "{get: \"/internal/v1/projectors/checkpoints/{topic_id}\"}") }
            .filter { $0.type.hasPrefix("OPENAGENTS_HTTP") }
        // topic_id is no field of the request: generation would refuse it too, but the gate sees the rename first.
        XCTAssertTrue(rules(f).contains("OPENAGENTS_HTTP_PATH_VARIABLE_NO_RENAME"), Checks.format(f, json: false))
        XCTAssertTrue(f.contains { $0.message.contains("renamed path variable \"run_id\" to \"topic_id\"") })
    }

    func testChangingTheBodyIsBreaking() throws {
        let f = try findings(editing: service) {
            $0.replacingOccurrences(of: "post: \"/internal/v1/comms/delivery-events\"\n      body: \"*\"", with: "post: \"/internal/v1/comms/delivery-events\"\n      body: \"payload\"")
        }
        XCTAssertTrue(rules(f).contains("OPENAGENTS_HTTP_SAME_BODY"), Checks.format(f, json: false))
    }

    func testChangingTheResponseBodyIsBreaking() throws {
        let f = try findings(editing: service) { $0.replacingOccurrences(of: "{get: \"/internal/v1/runs/{run_id}\"}", with: "{get: \"/internal/v1/runs/{run_id}\" response_body: \"run\"}") }
        XCTAssertEqual(rules(f), ["OPENAGENTS_HTTP_SAME_RESPONSE_BODY"], Checks.format(f, json: false))
    }

    func testMovingARouteToAnotherAuthorityIsBreaking() throws {
        let f = try findings(editing: "openagents/control/v1/control_service.proto") {
            $0.replacingOccurrences(of: "authority: {owner: \"runtime_service\" delivery: \"runtime_proxy\"", with: "authority: {owner: \"control_service\" delivery: \"in_process\"")
        }
        XCTAssertEqual(rules(f), ["OPENAGENTS_HTTP_SAME_AUTHORITY"], Checks.format(f, json: false))
        XCTAssertTrue(f.contains { $0.message.contains("changed its authority from \"runtime_service/runtime_proxy\" to \"control_service/in_process\"") })
    }

    func testServingAStreamOverWebSocketInsteadOfSSEIsBreaking() throws {
        let f = try findings(editing: service) {
            $0.replacingOccurrences(of: "option (google.api.http) = {get: \"/internal/v1/runs/{run_id}/stream\"};\n    option (openagents.api.v1.route) = {",
                                    with: "option (google.api.http) = {get: \"/internal/v1/runs/{run_id}/stream\"};\n    option (openagents.api.v1.route) = {\n      websocket: true")
        }
        XCTAssertEqual(rules(f), ["OPENAGENTS_HTTP_SAME_TRANSPORT"], Checks.format(f, json: false))
        XCTAssertTrue(f.contains { $0.message.contains("changed its transport from sse to websocket") })
    }

    func testRemovingAQueryFieldIsBreaking() throws {
        // thread_id of the snapshot comes from the query; renaming the field takes the parameter away.
        let f = try findings(editing: service) { $0.replacingOccurrences(of: "  string thread_id = 2 [(openagents.api.v1.required) = true]; // The thread the caller acts in.\n}\n\n// A page of a run's events", with: "  string thread = 2 [(openagents.api.v1.required) = true]; // The thread the caller acts in.\n}\n\n// A page of a run's events") }
        XCTAssertTrue(rules(f).contains("OPENAGENTS_HTTP_QUERY_FIELD_NO_DELETE"), Checks.format(f, json: false))
        XCTAssertTrue(f.contains { $0.message.contains("no longer takes query parameter \"thread_id\"") })
    }

    func testAddingARouteIsNotBreaking() throws {
        let f = try findings(editing: service) {
            $0.replacingOccurrences(of: "option (google.api.http) = {get: \"/internal/v1/runs/{run_id}\"};",
                                    with: "option (google.api.http) = {get: \"/internal/v1/runs/{run_id}\" additional_bindings {get: \"/internal/v1/run/{run_id}\"}};")
        }
        XCTAssertEqual(f, [], Checks.format(f, json: false))
    }

    func testRouteRulesCanBeExcepted() throws {
        var c = config
        c.breaking.except = ["OPENAGENTS_HTTP_SAME_PATH_TEMPLATE"]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("routes-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: Repo.path("proto"), toPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + service
        try (try String(contentsOfFile: path, encoding: .utf8)).replacingOccurrences(of: "/replay\"}", with: "/replay.jsonl\"}").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Checks.breaking(moduleRoot: dir, against: baseline, config: c), [])
    }
}

/// Breaking changes of the JSON-RPC surface (ours): each edit of a copy of
/// the real contracts fails `breaking` against the committed baseline.
final class JSONRPCBreakingRuleTests: XCTestCase {
    let config = try! BufConfig.load(Repo.path("buf.yaml"))
    let baseline = Repo.path("proto/" + Baseline.relativePath)
    let file = "openagents/control/v1/registry_rpc.proto"

    func findings(_ edit: (String) -> String) throws -> [Finding] {
        try RouteBreakingRuleTests.breaking(editing: file, config: config, baseline: baseline, edit).filter { $0.type.hasPrefix("OPENAGENTS_JSONRPC") }
    }

    func testRenamingAMethodIsBreaking() throws {
        let f = try findings { $0.replacingOccurrences(of: "{name: \"session/stop\"}", with: "{name: \"session/cancel\"}") }
        XCTAssertEqual(Set(f.map(\.type)), ["OPENAGENTS_JSONRPC_METHOD_NO_DELETE"], Checks.format(f, json: false))
        XCTAssertTrue(f.contains { $0.message.contains("\"session/stop\"") })
    }

    func testTurningARequestIntoANotificationIsBreaking() throws {
        let f = try findings { $0.replacingOccurrences(of: "{name: \"shutdown\"}", with: "{name: \"shutdown\" notification: true}") }
        XCTAssertEqual(Set(f.map(\.type)), ["OPENAGENTS_JSONRPC_SAME_KIND"], Checks.format(f, json: false))
    }

    func testChangingAMethodsResultTypeIsBreaking() throws {
        let f = try findings { $0.replacingOccurrences(of: "rpc SessionStop(SessionStopParams) returns (SessionStopResult)", with: "rpc SessionStop(SessionStopParams) returns (SessionFrameResult)") }
        XCTAssertEqual(Set(f.map(\.type)), ["OPENAGENTS_JSONRPC_SAME_TYPES"], Checks.format(f, json: false))
    }

    func testInsertingAParamBeforeOthersIsBreakingForPositionalCallers() throws {
        // Positional params bind in declaration order: a field declared before reason moves reason.
        let f = try findings { $0.replacingOccurrences(of: "  string reason = 3; // Why, kept with the cancel.", with: "  bool force = 4; // Declared first.\n  string reason = 3; // Why, kept with the cancel.") }
        XCTAssertEqual(Set(f.map(\.type)), ["OPENAGENTS_JSONRPC_PARAM_POSITIONS_KEPT"], Checks.format(f, json: false))
    }

    func testAppendingAParamIsNotBreaking() throws {
        let f = try findings { $0.replacingOccurrences(of: "  string reason = 3; // Why, kept with the cancel.\n}", with: "  string reason = 3; // Why, kept with the cancel.\n  bool force = 4; // Appended.\n}") }
        XCTAssertEqual(f, [], Checks.format(f, json: false))
    }
}
