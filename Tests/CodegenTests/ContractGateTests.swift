@testable import Codegen
import Foundation
import XCTest

/// The gates DEVELOPERS.md rule 4 and the package map require, on the real
/// contracts: lint clean under STANDARD (plus the frozen legacy namespace),
/// and no breaking change (FILE) against the committed baseline.
final class ContractGateTests: XCTestCase {
    let config = try! BufConfig.load(Repo.path("buf.yaml"))
    let baseline = Repo.path("proto/" + Baseline.relativePath)

    func testContractsAreLintCleanUnderStandard() throws {
        let findings = try Checks.lint(moduleRoot: Repo.path("proto"), config: config, baselinePath: baseline, extraRules: ["OPENAGENTS_PROTOCOL_V1_FROZEN"])
        XCTAssertEqual(findings, [], "lint findings:\n" + Checks.format(findings, json: false))
    }

    func testContractsHaveNoBreakingChangesAgainstTheBaseline() throws {
        let findings = try Checks.breaking(moduleRoot: Repo.path("proto"), against: baseline, config: config)
        XCTAssertEqual(findings, [], "breaking changes in v1 (a breaking change needs a v2 package):\n" + Checks.format(findings, json: false))
    }

    func testTheConfigIsTheOneTheIssueAsksFor() {
        XCTAssertEqual(config.version, "v2")
        XCTAssertEqual(config.lint.use, ["STANDARD"])
        XCTAssertEqual(config.breaking.use, ["FILE"])
    }

    /// Copies proto/ to a temporary tree, applies `edit` to one v1 file, and runs breaking against the baseline.
    func breakingAfterEditing(_ file: String, _ edit: (String) -> String) throws -> [Finding] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gate-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: Repo.path("proto"), toPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + file
        try edit(try String(contentsOfFile: path, encoding: .utf8)).write(toFile: path, atomically: true, encoding: .utf8)
        return try Checks.breaking(moduleRoot: dir, against: baseline, config: config)
    }

    let orchestration = "openagents/runtime/v1/orchestration.proto"

    func testDeletingAFieldFailsTheGate() throws {
        let f = try breakingAfterEditing(orchestration) { $0.replacingOccurrences(of: "  string thread_id = 2; // Thread.\n", with: "") }
        XCTAssertEqual(f.map(\.type), ["FIELD_NO_DELETE"])
        XCTAssertEqual(f.first?.message, "Previously present field \"2\" with name \"thread_id\" on message \"RuntimeRun\" was deleted.")
    }

    func testRenumberingAFieldFailsTheGate() throws {
        let f = try breakingAfterEditing(orchestration) { $0.replacingOccurrences(of: "string thread_id = 2; // Thread.", with: "string thread_id = 99; // Thread.") }
        XCTAssertEqual(Set(f.map(\.type)), ["FIELD_NO_DELETE"])
    }

    func testChangingATypeFailsTheGate() throws {
        let f = try breakingAfterEditing(orchestration) { $0.replacingOccurrences(of: "uint64 latest_seq = 6; // Latest event seq.", with: "int64 latest_seq = 6; // Latest event seq.") }
        XCTAssertEqual(f.map(\.type), ["FIELD_SAME_TYPE"])
        XCTAssertEqual(f.first?.message, "Field \"6\" with name \"latest_seq\" on message \"RuntimeRun\" changed type from \"uint64\" to \"int64\".")
    }

    func testChangingAJSONNameFailsTheGate() throws {
        let f = try breakingAfterEditing("openagents/sync/v1/khala_http.proto") {
            $0.replacingOccurrences(of: "uint64 next_cursor = 8 [json_name = \"next_cursor\"];", with: "uint64 next_cursor = 8;")
        }
        XCTAssertEqual(f.map(\.type), ["FIELD_SAME_JSON_NAME"])
        XCTAssertEqual(f.first?.message, "Field \"8\" with name \"next_cursor\" on message \"KhalaPollResponse\" changed option \"json_name\" from \"next_cursor\" to \"nextCursor\".")
    }

    func testRemovingAReservedRangeFailsTheGate() throws {
        // The baseline has no reserved range, so prove it on a fixture pair: reserve, then remove.
        let before = Fixture.v1("message M {\n  reserved 5 to 10;\n  string a = 1;\n}")
        let after = Fixture.v1("message M {\n  string a = 1;\n}")
        let f = try Fixture.breaking(before: before, after: after)
        XCTAssertEqual(f.map(\.type), ["RESERVED_MESSAGE_NO_DELETE"])
    }

    func testAddingAFieldPassesTheGate() throws {
        let f = try breakingAfterEditing(orchestration) { $0.replacingOccurrences(of: "  string worker_id = 13; // Worker the run is bound to.\n", with: "  string worker_id = 13; // Worker the run is bound to.\n  string added_later = 14; // A new field.\n") }
        XCTAssertEqual(f, [])
    }

    func testAddingToTheFrozenLegacyNamespaceFailsLint() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("frozen-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: Repo.path("proto"), toPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/openagents/protocol/v1/comms.proto"
        let text = try String(contentsOfFile: path, encoding: .utf8) + "\n// A new legacy message.\nmessage CommsNewThing {\n  string id = 1; // Id.\n}\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let f = try Checks.lint(moduleRoot: dir, config: config, baselinePath: baseline, extraRules: ["OPENAGENTS_PROTOCOL_V1_FROZEN"])
        XCTAssertEqual(f.map(\.type), ["OPENAGENTS_PROTOCOL_V1_FROZEN"])
        XCTAssertEqual(f.first?.message, "Message \"CommsNewThing\" is new in the frozen legacy package \"openagents.protocol.v1\"; add new contracts in their canonical package.")
    }

    func testBaselineRefreshIsRefusedWhileV1HasBreakingChanges() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("refresh-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: Repo.path("proto"), toPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + orchestration
        try (try String(contentsOfFile: path, encoding: .utf8)).replacingOccurrences(of: "  string thread_id = 2; // Thread.\n", with: "").write(toFile: path, atomically: true, encoding: .utf8)
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + Baseline.relativePath))
        let blocking = try Baseline.write(moduleRoot: dir, to: dir + "/" + Baseline.relativePath, config: config)
        XCTAssertEqual(blocking.map(\.type), ["FIELD_NO_DELETE"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + Baseline.relativePath)), before, "baseline must be left unchanged")
    }
}
