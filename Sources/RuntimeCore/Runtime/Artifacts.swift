import Generated
import ProtoWire

/// Why a run's events cannot become a receipt or replay.
public enum ArtifactError: Error, Equatable, CustomStringConvertible {
    case missingField(seq: UInt64, eventType: String, field: String)
    public var description: String {
        switch self {
        case .missingField(let seq, let type, let field): return "event seq \(seq) (\(type)) needs payload.\(field)"
        }
    }
}

/// The deterministic run artifacts of reference-system.md 2.4: the
/// `openagents.receipt.v1` receipt and the REPLAY.jsonl v1 log. Both are pure
/// functions of the run record and its events, so the same log gives the same
/// bytes after any number of restarts.
public enum Artifacts {
    typealias Value = GoogleProtobuf.Value
    static let receiptSchema = "openagents.receipt.v1"
    static let paymentSchema = "openagents.treasury.payment_receipt.v1"

    // MARK: Typed views of the events artifacts care about

    struct ToolCall {
        var id, tool, paramsHash, outputHash, stepID: String
        var params: Value
        var latencyMs: UInt64
        var sideEffects: [String]
        var exitCode: Int64?
        var stepUtility: Double
    }
    struct Verification {
        var command: String
        var exitCode: Int64
        var cwd: String?
        var durationMs: UInt64?
        var delta: Double
    }
    struct Payment {
        var rail, assetID, proof, status: String
        var amountMsats: UInt64
        var jobHash: String?
    }

    static func required(_ e: RuntimeV1.RuntimeRunEvent, _ field: String) throws(ArtifactError) -> String {
        guard let s = JSONValue.stringField(e.payloadJson, field), !s.isEmpty else { throw .missingField(seq: e.seq, eventType: e.eventType, field: field) }
        return s
    }

    static func eventID(_ e: RuntimeV1.RuntimeRunEvent) -> String { e.idempotencyKey.isEmpty ? "runtime.seq:\(e.seq)" : e.idempotencyKey }

    static func toolCall(_ e: RuntimeV1.RuntimeRunEvent) throws(ArtifactError) -> ToolCall {
        let p = e.payloadJson
        let params = JSONValue.field(p, "params") ?? JSONValue.null
        var sideEffects: [String] = []
        if case .listValue(let l)? = JSONValue.field(p, "side_effects")?.kind {
            for v in l.values { if case .stringValue(let s)? = v.kind { sideEffects.append(s) } }
        }
        let id = eventID(e)
        return ToolCall(id: id, tool: try required(e, "tool"),
                        paramsHash: JSONValue.stringField(p, "params_hash") ?? CanonicalJSON.prefixedHash(params),
                        outputHash: JSONValue.stringField(p, "output_hash") ?? "sha256:unknown",
                        stepID: JSONValue.stringField(p, "step_id") ?? id, params: params,
                        latencyMs: JSONValue.unsignedField(p, "latency_ms") ?? 0, sideEffects: sideEffects,
                        exitCode: JSONValue.integerField(p, "exit_code"), stepUtility: JSONValue.numberField(p, "step_utility") ?? 0)
    }

    static func verification(_ e: RuntimeV1.RuntimeRunEvent) throws(ArtifactError) -> Verification {
        let p = e.payloadJson
        return Verification(command: try required(e, "command"), exitCode: JSONValue.integerField(p, "exit_code") ?? -1,
                            cwd: JSONValue.stringField(p, "cwd"), durationMs: JSONValue.unsignedField(p, "duration_ms"),
                            delta: JSONValue.numberField(p, "verification_delta") ?? 0)
    }

    static func payment(_ e: RuntimeV1.RuntimeRunEvent) throws(ArtifactError) -> Payment {
        guard let amount = JSONValue.unsignedField(e.payloadJson, "amount_msats") else { throw .missingField(seq: e.seq, eventType: e.eventType, field: "amount_msats") }
        return Payment(rail: try required(e, "rail"), assetID: try required(e, "asset_id"), proof: try required(e, "payment_proof"),
                       status: JSONValue.stringField(e.payloadJson, "status") ?? "released", amountMsats: amount,
                       jobHash: JSONValue.stringField(e.payloadJson, "job_hash"))
    }

    /// The shape rules an event must meet to be accepted (checked at append time
    /// too, so a stored run always has a receipt).
    public static func validate(_ e: RuntimeV1.RuntimeRunEvent) throws(ArtifactError) {
        switch e.eventType {
        case "tool": _ = try toolCall(e)
        case "verification": _ = try verification(e)
        case "payment": _ = try payment(e)
        default: break
        }
    }

    static func isObject(_ v: Value?) -> Bool { if case .structValue? = v?.kind { return true }; return false }

    // MARK: Hashes

    /// RFC 3339, as proto3 JSON writes a Timestamp.
    static func time(_ t: GoogleProtobuf.Timestamp?) -> Value {
        guard let t, let text = WellKnownJSON.formatTimestamp(seconds: t.seconds, nanos: t.nanos) else { return JSONValue.null }
        return JSONValue.string(text)
    }

    public static func policyBundleID(_ run: RuntimeV1.RuntimeRun) -> String {
        if case .stringValue(let s)? = run.metadata?.fields["policy_bundle_id"]?.kind, !s.isEmpty { return s }
        return "runtime.default"
    }

    /// `sha256:` over the canonical array of {seq, event_type, payload, idempotency_key, recorded_at}.
    public static func trajectoryHash(_ events: [RuntimeV1.RuntimeRunEvent]) -> String {
        CanonicalJSON.prefixedHash(JSONValue.array(events.map { e in
            JSONValue.object(["seq": JSONValue.number(e.seq), "event_type": JSONValue.string(e.eventType), "payload": e.payloadJson ?? JSONValue.null,
                              "idempotency_key": JSONValue.stringOrNull(e.idempotencyKey.isEmpty ? nil : e.idempotencyKey), "recorded_at": time(e.emittedAt)])
        }))
    }

    /// Bare hex SHA-256 of a message's canonical JSON without the named fields.
    static func canonicalHash<M: ProtoMessage>(_ m: M, excluding: [String]) -> String {
        var tree = CanonicalJSON.tree(m)
        if case .structValue(var s)? = tree.kind {
            for k in excluding { s.fields[k] = nil }
            tree.kind = .structValue(s)
        }
        return SHA256.hex(CanonicalJSON.bytes(tree))
    }

    // MARK: Receipt

    /// The receipt and its canonical JSON bytes (what the route serves).
    public static func receipt(run: RuntimeV1.RuntimeRun, events: [RuntimeV1.RuntimeRunEvent]) throws(ArtifactError) -> (RuntimeV1.RuntimeReceipt, [UInt8]) {
        var r = RuntimeV1.RuntimeReceipt()
        r.schema = receiptSchema
        r.sessionId = run.runId
        r.trajectoryHash = trajectoryHash(events)
        r.policyBundleId = policyBundleID(run)
        r.createdAt = run.createdAt
        r.eventCount = UInt64(events.count)
        r.firstSeq = events.first?.seq ?? 0
        r.lastSeq = events.last?.seq ?? 0
        var metrics = RuntimeV1.ReceiptMetrics()
        for e in events {
            switch e.eventType {
            case "tool":
                let t = try toolCall(e)
                var c = RuntimeV1.ReceiptToolCall()
                c.tool = t.tool
                c.paramsHash = t.paramsHash
                c.outputHash = t.outputHash
                c.latencyMs = t.latencyMs
                c.sideEffects = t.sideEffects
                r.toolCalls.append(c)
                metrics.toolCalls += 1
                metrics.toolLatencyMsTotal += t.latencyMs
            case "verification":
                let v = try verification(e)
                var c = RuntimeV1.ReceiptVerification()
                c.command = v.command
                c.exitCode = v.exitCode
                c.cwd = v.cwd
                c.durationMs = v.durationMs
                r.verification.append(c)
                metrics.verificationPassed = (metrics.verificationPassed ?? true) && v.exitCode == 0
            case "payment":
                let p = try payment(e)
                var c = RuntimeV1.ReceiptPayment()
                c.schema = paymentSchema
                c.rail = p.rail
                c.assetId = p.assetID
                c.amountMsats = p.amountMsats
                c.paymentProof = p.proof
                c.sessionId = run.runId
                c.trajectoryHash = r.trajectoryHash
                c.policyBundleId = r.policyBundleId
                c.jobHash = p.jobHash
                c.status = p.status
                c.canonicalJsonSha256 = canonicalHash(c, excluding: ["canonical_json_sha256"])
                r.payments.append(c)
                metrics.paymentsMsatsTotal += p.amountMsats
            default: break
            }
        }
        r.metrics = metrics
        r.canonicalJsonSha256 = canonicalHash(r, excluding: ["canonical_json_sha256", "signature"])
        return (r, CanonicalJSON.bytes(CanonicalJSON.tree(r)))
    }

    // MARK: Replay

    /// REPLAY.jsonl v1: one canonical JSON object per line, each ending in a newline.
    public static func replay(run: RuntimeV1.RuntimeRun, events: [RuntimeV1.RuntimeRunEvent]) throws(ArtifactError) -> [UInt8] {
        var out: [UInt8] = []
        func line(_ tag: String, _ fields: [String: Value]) {
            var f = fields
            f["event"] = JSONValue.string(tag)
            out += CanonicalJSON.bytes(JSONValue.object(f))
            out.append(0x0A)
        }
        let session = JSONValue.string(run.runId)
        let policy = JSONValue.string(policyBundleID(run))
        line("ReplayHeader", ["replay_version": JSONValue.number(1), "producer": JSONValue.string("openagents-runtime"), "created_at": time(run.createdAt)])
        line("SessionStart", ["t": time(run.createdAt), "session_id": session, "issue_number": JSONValue.null, "policy_bundle_id": policy])
        var toolCalls: UInt64 = 0
        var latency: UInt64 = 0
        for e in events {
            let t = time(e.emittedAt)
            switch e.eventType {
            case "tool" where isObject(e.payloadJson):
                let c = try toolCall(e)
                toolCalls += 1
                latency += c.latencyMs
                line("ToolCall", ["t": t, "id": JSONValue.string(c.id), "tool": JSONValue.string(c.tool), "params": c.params,
                                  "params_hash": JSONValue.string(c.paramsHash), "step_id": JSONValue.string(c.stepID)])
                var result: [String: Value] = ["t": t, "id": JSONValue.string(c.id), "output_hash": JSONValue.string(c.outputHash),
                                               "step_utility": JSONValue.number(c.stepUtility), "latency_ms": JSONValue.number(c.latencyMs)]
                if let code = c.exitCode { result["exit_code"] = JSONValue.number(code) }
                line("ToolResult", result)
            case "verification" where isObject(e.payloadJson):
                let v = try verification(e)
                line("Verification", ["t": t, "commands": JSONValue.array([JSONValue.string(v.command)]),
                                      "exit_codes": JSONValue.array([JSONValue.number(v.exitCode)]), "verification_delta": JSONValue.number(v.delta)])
            case "payment" where isObject(e.payloadJson):
                let p = try payment(e)
                line("Payment", ["t": t, "rail": JSONValue.string(p.rail), "asset_id": JSONValue.string(p.assetID), "amount_msats": JSONValue.number(p.amountMsats),
                                 "payment_proof": JSONValue.string(p.proof), "job_hash": JSONValue.stringOrNull(p.jobHash), "status": JSONValue.string(p.status)])
            default:
                let payload = e.payloadJson ?? JSONValue.null
                line("RuntimeEvent", ["t": t, "session_id": session, "seq": JSONValue.number(e.seq), "runtime_event_type": JSONValue.string(e.eventType),
                                      "payload_hash": JSONValue.string(CanonicalJSON.prefixedHash(payload)), "payload": payload,
                                      "idempotency_key": JSONValue.stringOrNull(e.idempotencyKey.isEmpty ? nil : e.idempotencyKey)])
            }
        }
        let (status, confidence): (String, Double) = switch run.status {
        case .succeeded: ("success", 1.0)
        case .failed: ("failure", 0.0)
        case .canceled: ("cancelled", 0.0)
        default: ("success", 0.5)  // a run still going: the reference system's mapping
        }
        line("SessionEnd", ["t": time(events.last?.emittedAt ?? run.createdAt), "status": JSONValue.string(status), "confidence": JSONValue.number(confidence),
                            "total_tool_calls": JSONValue.number(toolCalls), "total_latency_ms": JSONValue.number(latency)])
        return out
    }
}

/// `openagents replay validate FILE`: the REPLAY.jsonl v1 structure rules.
public enum ReplayValidator {
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let reason: String
        public var description: String { line > 0 ? "line \(line): \(reason)" : reason }
    }
    static let kinds: Set<String> = ["ReplayHeader", "SessionStart", "ToolCall", "ToolResult", "Verification", "Payment", "RuntimeEvent", "SessionEnd"]

    /// The number of lines when valid.
    public static func validate(_ bytes: [UInt8]) -> Result<Int, Problem> {
        guard !bytes.isEmpty else { return .failure(Problem(line: 0, reason: "empty replay")) }
        guard bytes.last == 0x0A else { return .failure(Problem(line: 0, reason: "the last line has no trailing newline")) }
        let lines = bytes.dropLast().split(separator: 0x0A, omittingEmptySubsequences: false)
        var tags: [String] = []
        var openToolCalls: Set<String> = []
        for (i, raw) in lines.enumerated() {
            let n = i + 1
            guard let v = try? GoogleProtobuf.Value(jsonBytes: Array(raw)), case .structValue(let obj)? = v.kind else {
                return .failure(Problem(line: n, reason: "not a JSON object"))
            }
            guard case .stringValue(let tag)? = obj.fields["event"]?.kind else { return .failure(Problem(line: n, reason: "missing \"event\" tag")) }
            guard kinds.contains(tag) else { return .failure(Problem(line: n, reason: "unknown event \(tag)")) }
            let id = JSONValue.stringField(v, "id") ?? ""
            switch tag {
            case "ReplayHeader":
                guard n == 1 else { return .failure(Problem(line: n, reason: "ReplayHeader must be the first line only")) }
                guard JSONValue.numberField(v, "replay_version") == 1 else { return .failure(Problem(line: n, reason: "replay_version must be 1")) }
            case "SessionStart":
                guard n == 2 else { return .failure(Problem(line: n, reason: "SessionStart must be the second line only")) }
            case "SessionEnd":
                guard n == lines.count else { return .failure(Problem(line: n, reason: "SessionEnd must be the last line only")) }
            case "ToolCall": openToolCalls.insert(id)
            case "ToolResult":
                guard openToolCalls.remove(id) != nil else { return .failure(Problem(line: n, reason: "ToolResult \(id) has no ToolCall before it")) }
            default: break
            }
            tags.append(tag)
        }
        if tags.first != "ReplayHeader" { return .failure(Problem(line: 1, reason: "the first line must be ReplayHeader")) }
        if tags.count < 2 || tags[1] != "SessionStart" { return .failure(Problem(line: 2, reason: "the second line must be SessionStart")) }
        if tags.last != "SessionEnd" { return .failure(Problem(line: tags.count, reason: "the last line must be SessionEnd")) }
        return .success(tags.count)
    }
}
