import Foundation
import Generated
import HTTPServer
@testable import RuntimeCore
@testable import RuntimeService
import TestSupport
import XCTest
import Synchronization

/// POST /internal/v1/tools/execute (`coding.v1`): validation, policy, budget,
/// replay and receipts, over the in-repo fake provider (no network).
final class ToolExecuteTests: ServiceHarness {
    /// The contract document's example request, with a few knobs.
    func request(operation: String = "get_issue", mode: String = "execute", issue: Int = 1747, toolCall: String = "tool_call_001",
                 capabilities: String = #"["get_issue","get_pull_request","add_issue_comment"]"#, writeMode: String = "enforce",
                 status: String = "active", policy: String? = #"{"authorization_id":"auth_abc","authorization_mode":"delegated_budget","budget":{"max_total_sats":5000}}"#,
                 extra: String = "") -> String {
        let body = operation == "add_issue_comment" ? #","body":"LGTM""# : ""
        let policyField = policy.map { #","policy":\#($0)"# } ?? ""
        return #"""
        {"tool_pack":"coding.v1","mode":"\#(mode)","run_id":"run_123","thread_id":"thread_abc",
         "manifest":{"manifest_version":"coding.integration.v1","integration_id":"github.primary","provider":"github","status":"\#(status)","tool_pack":"coding.v1",
                     "capabilities":\#(capabilities),"policy":{"write_operations_mode":"\#(writeMode)","default_repository":"OpenAgentsInc/openagents"}},
         "request":{"integration_id":"github.primary","operation":"\#(operation)","repository":"OpenAgentsInc/openagents","issue_number":\#(issue),
                    "run_id":"run_123","tool_call_id":"\#(toolCall)"\#(body)\#(extra)}\#(policyField)}
        """#
    }

    func execute(_ body: String, user: String = "u1") throws -> (status: Int, data: GoogleProtobuf.Value?, response: RawClient.Response) {
        let r = try post("/internal/v1/tools/execute", body, headers: user.isEmpty ? [] : [("x-oa-user-id", user)])
        return (r.status, JSONValue.field(try? object(r), "data"), r)
    }

    func field(_ v: GoogleProtobuf.Value?, _ name: String) -> String? { JSONValue.stringField(v, name) }

    func testAnAllowedCallSucceedsWithAReceipt() throws {
        try serve()
        let (status, data, _) = try execute(request())
        XCTAssertEqual(status, 200)
        XCTAssertEqual(field(data, "state"), "succeeded")
        XCTAssertEqual(field(data, "decision"), "allowed")
        XCTAssertEqual(field(data, "reason_code"), "policy_allowed.default")
        let receipt = JSONValue.field(data, "receipt")
        XCTAssertTrue(field(receipt, "receipt_id")?.hasPrefix("coding_") ?? false)
        XCTAssertTrue(field(receipt, "replay_hash")?.hasPrefix("sha256:") ?? false)
        XCTAssertEqual(JSONValue.numberField(JSONValue.field(data, "result"), "number"), 1747)
    }

    func testTheReceiptIsDeterministic() throws {
        let body = try RuntimeV1.ToolExecuteRequest(jsonString: request())
        XCTAssertEqual(ToolPack.receiptID(body, user: "u1"), ToolPack.receiptID(body, user: "u1"))
        XCTAssertNotEqual(ToolPack.receiptID(body, user: "u1"), ToolPack.receiptID(body, user: "u2"), "the principal is part of the call")
        let other = try RuntimeV1.ToolExecuteRequest(jsonString: request(toolCall: "tool_call_002"))
        XCTAssertNotEqual(ToolPack.receiptID(body, user: "u1"), ToolPack.receiptID(other, user: "u1"))
    }

    func testReplayModeReturnsTheRecordedResult() throws {
        try serve()
        let first = try execute(request())
        let replay = try execute(request(mode: "replay"))
        XCTAssertEqual(replay.status, 200)
        XCTAssertEqual(JSONValue.field(replay.data, "receipt"), JSONValue.field(first.data, "receipt"))
        XCTAssertEqual(JSONValue.field(replay.data, "result"), JSONValue.field(first.data, "result"))
        XCTAssertEqual(JSONValue.field(replay.data, "replayed")?.kind, .boolValue(true))
    }

    func testReplayOfACallNeverMadeIs404() throws {
        try serve()
        XCTAssertEqual(try execute(request(mode: "replay")).status, 404)
    }

    func testARepeatedCallIsNotPerformedTwice() throws {
        try serve()
        let policy = #"{"authorization_id":"a","authorization_mode":"delegated_budget"}"#
        let body = request(operation: "add_issue_comment", writeMode: "allow", policy: policy)
        _ = try execute(body)
        let again = try execute(body)
        XCTAssertEqual(JSONValue.field(again.data, "replayed")?.kind, .boolValue(true))
        let list = try execute(request(operation: "list_issue_comments", capabilities: #"["list_issue_comments"]"#, policy: policy))
        XCTAssertEqual(JSONValue.field(JSONValue.field(list.data, "result"), "comments"), JSONValue.array([JSONValue.string("LGTM")]), "one comment")
    }

    func testAnInvalidManifestIs422WithMachineReadableDetails() throws {
        try serve()
        let bad = request().replacingOccurrences(of: "coding.integration.v1", with: "coding.integration.v0").replacingOccurrences(of: "\"github\"", with: "\"gitlab\"")
        let (status, _, response) = try execute(bad)
        XCTAssertEqual(status, 422)
        let e = JSONValue.field(try object(response), "error")
        XCTAssertEqual(JSONValue.stringField(e, "code"), "invalid_request")
        XCTAssertEqual(JSONValue.stringField(e, "message"), "tool invocation validation failed")
        let details = JSONValue.field(e, "details")
        XCTAssertTrue("\(String(describing: details))".contains("manifest.manifest_version"))
        XCTAssertTrue("\(String(describing: details))".contains("manifest.provider"))
    }

    func testAnInvalidRequestIs422() throws {
        try serve()
        XCTAssertEqual(try execute(request(issue: 0)).status, 422, "issue_number required")
        XCTAssertEqual(try execute(request(operation: "delete_repository")).status, 422)
        XCTAssertEqual(try execute(request().replacingOccurrences(of: "\"coding.v1\",\"mode\"", with: "\"coding.v9\",\"mode\"")).status, 422)
    }

    func testThePrincipalHeaderIsRequired() throws {
        try serve()
        XCTAssertEqual(try execute(request(), user: "").status, 400)
    }

    func testAnOperationOutsideTheCapabilitiesIsDenied() throws {
        try serve()
        let (status, data, _) = try execute(request(capabilities: #"["get_pull_request"]"#))
        XCTAssertEqual(status, 200)
        XCTAssertEqual(field(data, "decision"), "denied")
        XCTAssertEqual(field(data, "state"), "denied")
        XCTAssertEqual(field(data, "reason_code"), "policy_denied.explicit_deny")
    }

    func testADisabledManifestIsDenied() throws {
        try serve()
        XCTAssertEqual(field(try execute(request(status: "disabled")).data, "reason_code"), "policy_denied.explicit_deny")
    }

    func testWritesNeedApprovalWhenTheModeIsEnforce() throws {
        try serve()
        XCTAssertEqual(field(try execute(request(operation: "add_issue_comment")).data, "reason_code"), "policy_denied.consent_required")
        let approved = try execute(request(operation: "add_issue_comment", toolCall: "c2", extra: #","write_approved":true"#))
        XCTAssertEqual(field(approved.data, "reason_code"), "policy_allowed.default")
    }

    func testWritesAreDeniedWhenTheModeIsDenyAndAllowedWhenAllow() throws {
        try serve()
        XCTAssertEqual(field(try execute(request(operation: "add_issue_comment", writeMode: "deny")).data, "reason_code"), "policy_denied.explicit_deny")
        XCTAssertEqual(field(try execute(request(operation: "add_issue_comment", toolCall: "c2", writeMode: "allow")).data, "state"), "succeeded")
    }

    func testWritesNeedAnAuthorization() throws {
        try serve()
        XCTAssertEqual(field(try execute(request(operation: "add_issue_comment", writeMode: "allow", policy: nil)).data, "reason_code"), "policy_denied.authorization_missing")
        XCTAssertEqual(field(try execute(request(toolCall: "c2", policy: #"{"authorization_mode":"delegated_budget"}"#)).data, "reason_code"), "policy_denied.authorization_missing")
        XCTAssertEqual(field(try execute(request(toolCall: "c3", policy: #"{"authorization_id":"a","authorization_mode":"telepathy"}"#)).data, "reason_code"),
                       "policy_denied.invalid_authorization_mode")
    }

    func testTheBudgetCapsWhatAnAuthorizationSpends() throws {
        try serve()
        let policy = #"{"authorization_id":"tight","authorization_mode":"delegated_budget","budget":{"max_total_sats":2}}"#
        XCTAssertEqual(field(try execute(request(toolCall: "1", policy: policy)).data, "state"), "succeeded")  // 1 sat
        XCTAssertEqual(field(try execute(request(toolCall: "2", policy: policy)).data, "state"), "succeeded")  // 2 sats
        XCTAssertEqual(field(try execute(request(toolCall: "3", policy: policy)).data, "reason_code"), "policy_denied.budget_exhausted")
    }

    func testConcurrentCallsCannotOverspendABudget() throws {
        try serve()
        let policy = #"{"authorization_id":"race","authorization_mode":"delegated_budget","budget":{"max_total_sats":5}}"#
        let allowed = Atomic<Int>(0)
        let bodies = (0..<16).map { request(toolCall: "race-\($0)", policy: policy) }
        let port = self.port
        let secret = Self.secret
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            let r = RawClient.post(port: port, path: "/internal/v1/tools/execute", json: bodies[i],
                                   headers: [("x-oa-user-id", "u1"), (RuntimeSignature.header, RuntimeSignature.sign(RuntimeSignature.claims(), secret: secret))])
            if r?.text.contains("\"state\":\"succeeded\"") == true { allowed.add(1, ordering: .relaxed) }
        }
        XCTAssertEqual(allowed.load(ordering: .relaxed), 5, "5 sats buy five 1-sat reads, no more")
    }

    func testAProviderErrorIsAFailedCallWithItsReasonCode() throws {
        try serve()
        let (status, data, _) = try execute(request(issue: 1_000_001))
        XCTAssertEqual(status, 200)
        XCTAssertEqual(field(data, "state"), "failed")
        XCTAssertEqual(field(data, "reason_code"), "coding_failed.provider_error")
    }

    func testRecordedCallsAndSpendSurviveARestart() async throws {
        try serve()
        let policy = #"{"authorization_id":"persist","authorization_mode":"delegated_budget","budget":{"max_total_sats":1}}"#
        let first = try execute(request(policy: policy))
        await server?.shutdown(deadline: 2)
        try serve()
        let replay = try execute(request(mode: "replay", policy: policy))
        XCTAssertEqual(JSONValue.field(replay.data, "receipt"), JSONValue.field(first.data, "receipt"))
        XCTAssertEqual(field(try execute(request(toolCall: "next", policy: policy)).data, "reason_code"), "policy_denied.budget_exhausted")
    }

    func testEveryReasonCodeUsedIsInTheReasonCodeSet() throws {
        let codes: Set<String> = ["policy_allowed.default", "policy_denied.explicit_deny", "policy_denied.authorization_missing",
                                  "policy_denied.invalid_authorization_mode", "policy_denied.budget_exhausted",
                                  "policy_denied.consent_required", "coding_failed.provider_error"]
        // The protocol.v1 ReasonCode enum documents each dotted code in its value comments.
        let source = try String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("proto/openagents/protocol/v1/reasons.proto").path, encoding: .utf8)
        for code in codes { XCTAssertTrue(source.contains("// \(code):"), code) }
    }
}
