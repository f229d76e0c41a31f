import ProtoWire
import APIRuntime
import Generated

/// `coding.v1` (runtime-internal-contract.md, tools/execute): manifest and
/// request validation (422 with machine-readable details), the capability,
/// authorization, write-approval and budget policy (a denial is an answer with
/// a `ReasonCode`, not an error), execution through a `CodingProvider`, and a
/// deterministic receipt. Every call is recorded in the event log, so a repeat
/// or `mode: replay` returns the recorded outcome without running again.
public enum ToolPack {
    public static let name = "coding.v1"
    public static let manifestVersion = "coding.integration.v1"
    static let reads: Set<String> = ["get_issue", "get_pull_request", "list_issue_comments"]
    static let writes: Set<String> = ["add_issue_comment"]
    static var operations: Set<String> { reads.union(writes) }
    static let writeModes: Set<String> = ["enforce", "allow", "deny"]
    static let authorizationModes: Set<String> = ["delegated_budget", "interactive", "system"]
    /// Charged against `policy.budget.max_total_sats` per successful call.
    public static func cost(of operation: String) -> UInt64 { writes.contains(operation) ? 10 : 1 }

    /// The repository a request acts on: its own, or the manifest's default.
    static func repository(_ r: RuntimeV1.ToolExecuteRequest) -> String {
        let own = r.request?.repository ?? ""
        return own.isEmpty ? (r.manifest?.policy?.defaultRepository ?? "") : own
    }

    static func isRepository(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(allowed.contains) }
    }

    /// Every problem with the call, as `field: problem` (empty when valid).
    public static func problems(_ r: RuntimeV1.ToolExecuteRequest) -> [String] {
        var p: [String] = []
        if r.toolPack != name { p.append("tool_pack: must be \(name)") }
        if !["", "execute", "replay"].contains(r.mode) { p.append("mode: must be execute or replay") }
        if let m = r.manifest {
            if m.manifestVersion != manifestVersion { p.append("manifest.manifest_version: must be \(manifestVersion)") }
            if m.integrationId.isEmpty { p.append("manifest.integration_id: required") }
            if m.provider != "github" { p.append("manifest.provider: must be github") }
            if !["active", "disabled"].contains(m.status) { p.append("manifest.status: must be active or disabled") }
            if m.toolPack != name { p.append("manifest.tool_pack: must be \(name)") }
            if m.capabilities.isEmpty { p.append("manifest.capabilities: required") }
            for c in m.capabilities where !operations.contains(c) { p.append("manifest.capabilities: unknown operation \(c)") }
            if !writeModes.contains(m.policy?.writeOperationsMode ?? "") { p.append("manifest.policy.write_operations_mode: must be enforce, allow or deny") }
        } else {
            p.append("manifest: required")
        }
        if let q = r.request {
            if let m = r.manifest, q.integrationId != m.integrationId { p.append("request.integration_id: must match manifest.integration_id") }
            if !operations.contains(q.operation) { p.append("request.operation: must be one of \(operations.sorted().joined(separator: ", "))") }
            if !isRepository(repository(r)) { p.append("request.repository: must be owner/name (or set manifest.policy.default_repository)") }
            if ["get_issue", "list_issue_comments", "add_issue_comment"].contains(q.operation) && q.issueNumber == 0 { p.append("request.issue_number: required") }
            if q.operation == "get_pull_request" && q.pullNumber == 0 { p.append("request.pull_number: required") }
            if q.operation == "add_issue_comment" && q.body.whitespaceTrimmed.isEmpty { p.append("request.body: required") }
        } else {
            p.append("request: required")
        }
        return p
    }

    /// The canonical identity of a call: what makes two calls the same call.
    static func identity(_ r: RuntimeV1.ToolExecuteRequest, user: String) -> [String: GoogleProtobuf.Value] {
        let q = r.request ?? RuntimeV1.ToolRequest()
        return ["tool_pack": JSONValue.string(r.toolPack), "user_id": JSONValue.string(user), "integration_id": JSONValue.string(q.integrationId),
                "operation": JSONValue.string(q.operation), "repository": JSONValue.string(repository(r)), "issue_number": JSONValue.number(q.issueNumber),
                "pull_number": JSONValue.number(q.pullNumber), "body": JSONValue.string(q.body), "run_id": JSONValue.string(r.runId.isEmpty ? q.runId : r.runId),
                "thread_id": JSONValue.string(r.threadId), "tool_call_id": JSONValue.string(q.toolCallId)]
    }

    public static func receiptID(_ r: RuntimeV1.ToolExecuteRequest, user: String) -> String {
        "coding_" + String(SHA256.hex(CanonicalJSON.bytes(JSONValue.object(identity(r, user: user)))).prefix(24))
    }

    /// `sha256:` over the call's identity and its outcome.
    static func replayHash(_ r: RuntimeV1.ToolExecuteRequest, user: String, result: RuntimeV1.ToolExecuteResult) -> String {
        var fields = identity(r, user: user)
        fields["state"] = JSONValue.string(result.state)
        fields["decision"] = JSONValue.string(result.decision)
        fields["reason_code"] = JSONValue.string(result.reasonCode)
        fields["result"] = result.result ?? JSONValue.null
        return CanonicalJSON.prefixedHash(JSONValue.object(fields))
    }

    /// The policy decision before anything runs: nil when allowed, else the denial's reason code.
    public static func denial(_ r: RuntimeV1.ToolExecuteRequest, spent: UInt64) -> String? {
        guard let m = r.manifest, let q = r.request else { return "manifest_validation.invalid_schema" }
        if m.status == "disabled" || !m.capabilities.contains(q.operation) { return "policy_denied.explicit_deny" }
        if let p = r.policy {
            if p.authorizationId.isEmpty { return "policy_denied.authorization_missing" }
            if !p.authorizationMode.isEmpty && !authorizationModes.contains(p.authorizationMode) { return "policy_denied.invalid_authorization_mode" }
        }
        if writes.contains(q.operation) {
            guard r.policy != nil else { return "policy_denied.authorization_missing" }
            switch m.policy?.writeOperationsMode ?? "enforce" {
            case "deny": return "policy_denied.explicit_deny"
            case "enforce" where !(q.writeApproved || r.policy?.writeApproved == true): return "policy_denied.consent_required"
            default: break
            }
        }
        if let budget = r.policy?.budget, spent + cost(of: q.operation) > budget.maxTotalSats { return "policy_denied.budget_exhausted" }
        return nil
    }

    static func result(_ r: RuntimeV1.ToolExecuteRequest, user: String, receiptID: String, state: String, decision: String, reason: String,
                       value: GoogleProtobuf.Value?) -> RuntimeV1.ToolExecuteResult {
        var out = RuntimeV1.ToolExecuteResult()
        out.state = state
        out.decision = decision
        out.reasonCode = reason
        out.result = value
        var receipt = RuntimeV1.ToolReceipt()
        receipt.receiptId = receiptID
        receipt.replayHash = replayHash(r, user: user, result: out)
        out.receipt = receipt
        return out
    }
}

/// Runs tool calls: one at a time per call and per authorization (so a call is
/// never performed twice and a budget never overspent), recorded durably.
public final class ToolExecutor: Sendable {
    let ledger: any RuntimeStore
    let provider: any CodingProvider
    private let locks = KeyedAsyncLock()
    /// Locks shared with other instances, when the store has them (PostgreSQL).
    private let shared: (any SharedLocks)?

    public init(ledger: any RuntimeStore, provider: any CodingProvider) {
        self.ledger = ledger
        shared = ledger as? any SharedLocks
        self.provider = provider
    }

    public func execute(_ r: RuntimeV1.ToolExecuteRequest, user: String) async throws -> RuntimeV1.ToolExecuteResult {
        let problems = ToolPack.problems(r)
        guard problems.isEmpty else { throw APIError(.unprocessable, "invalid_request", "tool invocation validation failed", details: problems) }
        let receiptID = ToolPack.receiptID(r, user: user)
        if r.mode == "replay" {
            guard let recorded = try ledger.toolCall(receiptID: receiptID)?.result else { throw APIError.notFound("no recorded call for receipt \(receiptID)") }
            var out = recorded
            out.replayed = true
            return out
        }
        let authorization = r.policy?.authorizationId ?? ""
        // Across instances one lock covers both rules: a call's receipt belongs to one authorization.
        let sharedKey = authorization.isEmpty ? "call:" + receiptID : "authorization:" + authorization
        return try await locks.withLock("call:" + receiptID) {
            try await locks.withLock("authorization:" + authorization) {
                guard let shared else { return try await self.perform(r, user: user, receiptID: receiptID, authorization: authorization) }
                return try await shared.withSharedLock(sharedKey) { try await self.perform(r, user: user, receiptID: receiptID, authorization: authorization) }
            }
        }
    }

    /// One call under its locks: a recorded one is answered again, else policy, the provider, the record.
    private func perform(_ r: RuntimeV1.ToolExecuteRequest, user: String, receiptID: String, authorization: String) async throws -> RuntimeV1.ToolExecuteResult {
        if let recorded = try ledger.toolCall(receiptID: receiptID)?.result {
            var out = recorded
            out.replayed = true
            return out
        }
        let q = r.request ?? RuntimeV1.ToolRequest()
        var cost: UInt64 = 0
        let outcome: RuntimeV1.ToolExecuteResult
        if let reason = ToolPack.denial(r, spent: authorization.isEmpty ? 0 : try ledger.budgetSpent(authorizationID: authorization)) {
            outcome = ToolPack.result(r, user: user, receiptID: receiptID, state: "denied", decision: "denied", reason: reason, value: nil)
        } else {
            let call = CodingCall(operation: q.operation, repository: ToolPack.repository(r), issueNumber: q.issueNumber, pullNumber: q.pullNumber, body: q.body)
            do throws(CodingProviderError) {
                let value = try await provider.perform(call)
                cost = ToolPack.cost(of: q.operation)
                outcome = ToolPack.result(r, user: user, receiptID: receiptID, state: "succeeded", decision: "allowed", reason: "policy_allowed.default", value: value)
            } catch {
                outcome = ToolPack.result(r, user: user, receiptID: receiptID, state: "failed", decision: "allowed", reason: "coding_failed.provider_error",
                                          value: JSONValue.object(["error": JSONValue.string(error.message)]))
            }
        }
        var record = RuntimeV1.ToolExecutionRecord()
        record.receiptId = receiptID
        record.userId = user
        record.request = r
        record.result = outcome
        record.costSats = cost
        record.authorizationId = authorization
        let (stored, replay) = try await ledger.recordToolCall(record)
        var out = stored.result ?? outcome
        out.replayed = replay
        return out
    }
}
