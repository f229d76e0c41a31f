import ProtoWire
import APIRuntime
import Foundation
import Generated
import RuntimeCore

/// The control-owned codex worker lane (reference-system.md 3.2): workers
/// bound to the session's user and org, a per-worker event log (seq from 1),
/// allow-listed control requests idempotent by request id. Every change is a
/// durable control record; the Khala sync issue derives the
/// `org:<org>:worker_events` topic from the same records.
extension ControlHandler {
    /// docs/protocol/codex-worker-control-v1.md's methods.
    static let allowedRequestMethods = ["thread/start", "thread/resume", "turn/start", "turn/interrupt", "thread/list", "thread/read"]
    static let tailMs = (min: UInt32(1), max: UInt32(120_000), default: UInt32(15_000))

    static func unprocessable(_ field: String, _ problem: String) -> APIError {
        APIError(.unprocessable, "invalid_request", "\(field) \(problem)", details: ["\(field): \(problem)"])
    }

    /// The caller's worker, or 404 / 403.
    func ownedWorker(_ id: String, _ s: ControlSession, in state: ControlState) throws(APIError) -> ControlV1.CodexWorkerRecord {
        guard let w = state.codexWorkers[id] else { throw .notFound("codex worker \(id) not found") }
        guard w.ownerUserId == s.userID else { throw .forbidden("codex worker \(id) belongs to another user") }
        return w
    }

    public func listCodexWorkers(_ request: ControlV1.ListCodexWorkersRequest, context: RequestContext) async throws -> APIResponse<ControlV1.CodexWorkerListResponse> {
        let s = try session(context)
        var out = ControlV1.CodexWorkerListResponse()
        out.data = store.read { st in st.codexWorkers.values.filter { $0.ownerUserId == s.userID } }
            .sorted { ($0.createdAt, $0.workerId) > ($1.createdAt, $1.workerId) }
        return APIResponse(out)
    }

    public func createCodexWorker(_ request: ControlV1.CreateCodexWorkerRequest, context: RequestContext) async throws -> APIResponse<ControlV1.CodexWorkerCreatedResponse> {
        let s = try session(context)
        let requested = request.workerId.whitespaceTrimmed
        if requested.count > 128 { throw ControlHandler.unprocessable("worker_id", "must be at most 128 characters") }
        let id = requested.isEmpty ? "codexw_" + UUID().uuidString.lowercased() : requested
        let now = ControlClock.now()
        let created = try await store.commit { state throws(APIError) in
            var c = ControlV1.CodexWorkerCreated()
            c.workerId = id
            if let existing = state.codexWorkers[id] {
                guard existing.ownerUserId == s.userID else { throw .forbidden("codex worker \(id) belongs to another user") }
                c.status = existing.status
                c.latestSeq = existing.latestSeq
                c.idempotentReplay = true
                return ([], c)
            }
            var w = ControlV1.CodexWorkerRecord()
            w.workerId = id
            w.ownerUserId = s.userID
            w.orgId = SyncTokens.org(s)
            w.status = "running"
            w.workspaceRef = request.workspaceRef
            w.adapter = request.adapter.isEmpty ? "codex" : request.adapter
            w.metadata = request.metadata
            w.createdAt = ControlClock.rfc3339(now)
            w.updatedAt = w.createdAt
            c.status = "running"
            return (state.records([.codexWorker(w)], at: now), c)
        }
        var out = ControlV1.CodexWorkerCreatedResponse()
        out.data = created
        return APIResponse(out)
    }

    public func getCodexWorker(_ request: ControlV1.GetCodexWorkerRequest, context: RequestContext) async throws -> APIResponse<ControlV1.CodexWorkerResponse> {
        let s = try session(context)
        var out = ControlV1.CodexWorkerResponse()
        out.data = try store.read { st throws(APIError) in try ownedWorker(request.workerId, s, in: st) }
        return APIResponse(out)
    }

    public func streamCodexWorker(_ request: ControlV1.StreamCodexWorkerRequest, context: RequestContext) async throws -> APIResponse<ControlV1.CodexWorkerStreamResponse> {
        let s = try session(context)
        let tail = request.tailMs ?? ControlHandler.tailMs.default
        guard (ControlHandler.tailMs.min...ControlHandler.tailMs.max).contains(tail) else { throw ControlHandler.unprocessable("tail_ms", "must be between 1 and 120000") }
        let cursor = request.cursor ?? 0
        let (worker, events) = try store.read { st throws(APIError) in
            let w = try ownedWorker(request.workerId, s, in: st)
            return (w, (st.codexEvents[w.workerId] ?? []).filter { $0.seq > cursor })
        }
        var d = ControlV1.CodexWorkerDelivery()
        d.transport = "khala_ws"
        d.topic = "org:\(worker.orgId):worker_events"
        d.scope = "runtime.codex_worker_events"
        d.syncTokenRoute = "/api/sync/token"
        var stream = ControlV1.CodexWorkerStream()
        stream.workerId = worker.workerId
        stream.streamProtocol = "khala_ws"
        stream.cursor = cursor
        stream.tailMs = tail
        stream.delivery = d
        stream.snapshot = worker
        stream.events = events
        var out = ControlV1.CodexWorkerStreamResponse()
        out.data = stream
        return APIResponse(out)
    }

    /// Handshake payloads must carry what each side of the handshake needs.
    static func checkHandshake(_ payload: GoogleProtobuf.Struct) throws(APIError) {
        func text(_ k: String) -> String {
            if case .stringValue(let v)? = payload.fields[k]?.kind { return v.whitespaceTrimmed }
            return ""
        }
        let method = text("method")
        let extra: String
        switch method {
        case "ios/handshake": extra = "device_id"
        case "desktop/handshake_ack": extra = "desktop_session_id"
        default: return
        }
        for field in ["source", "method", "handshake_id", "occurred_at", extra] where text(field).isEmpty {
            throw unprocessable("payload.\(field)", "is required for \(method)")
        }
    }

    public func appendCodexWorkerEvent(_ request: ControlV1.AppendCodexWorkerEventRequest, context: RequestContext) async throws -> APIResponse<ControlV1.CodexWorkerEventResponse> {
        let s = try session(context)
        let type = request.eventType.whitespaceTrimmed
        guard type.hasPrefix("worker."), type.count > "worker.".count else { throw ControlHandler.unprocessable("event_type", "must start with worker.") }
        guard type.count <= 160 else { throw ControlHandler.unprocessable("event_type", "must be at most 160 characters") }
        let payload = request.payload ?? GoogleProtobuf.Struct()
        try ControlHandler.checkHandshake(payload)
        let now = ControlClock.now()
        let event = try await store.commit { [self] state throws(APIError) in
            let w = try ownedWorker(request.workerId, s, in: state)
            guard w.status != "stopped" else { throw .conflict("codex worker \(w.workerId) is stopped") }
            var e = ControlV1.CodexWorkerEventRecord()
            e.workerId = w.workerId
            e.seq = w.latestSeq + 1
            e.eventType = type
            e.payload = payload
            e.occurredAt = ControlClock.rfc3339(now)
            return (state.records([.codexWorkerEvent(e)], at: now), e)
        }
        var out = ControlV1.CodexWorkerEventResponse()
        out.data = event
        return APIResponse(out)
    }

    public func stopCodexWorker(_ request: ControlV1.StopCodexWorkerRequest, context: RequestContext) async throws -> APIResponse<ControlV1.CodexWorkerStopResult> {
        let s = try session(context)
        let now = ControlClock.now()
        let stopped = try await store.commit { [self] state throws(APIError) in
            var w = try ownedWorker(request.workerId, s, in: state)
            var out = ControlV1.CodexWorkerStopped()
            out.workerId = w.workerId
            out.status = "stopped"
            if w.status == "stopped" {
                out.seq = w.latestSeq
                out.idempotentReplay = true
                out.idempotentReplayCamel = true
                return ([], out)
            }
            var e = ControlV1.CodexWorkerEventRecord()
            e.workerId = w.workerId
            e.seq = w.latestSeq + 1
            e.eventType = "worker.stopped"
            var p = GoogleProtobuf.Struct()
            var reason = GoogleProtobuf.Value()
            reason.kind = .stringValue(request.reason.isEmpty ? "requested" : request.reason)
            p.fields["reason"] = reason
            e.payload = p
            e.occurredAt = ControlClock.rfc3339(now)
            w.status = "stopped"
            w.stopReason = request.reason
            out.seq = e.seq
            // The event first (it moves latest_seq), then the worker as it stands after it.
            w.latestSeq = e.seq
            w.updatedAt = e.occurredAt
            return (state.records([.codexWorkerEvent(e), .codexWorker(w)], at: now), out)
        }
        var out = ControlV1.CodexWorkerStopResult()
        out.data = stopped
        return APIResponse(out)
    }

    public func requestCodexWorker(_ request: ControlV1.SendCodexWorkerRequest, context: RequestContext) async throws -> APIResponse<ControlV1.CodexWorkerRequestResult> {
        let s = try session(context)
        let r = request.request ?? ControlV1.CodexControlRequest()
        let requestID = r.requestId.whitespaceTrimmed
        guard !requestID.isEmpty else { throw ControlHandler.unprocessable("request.request_id", "is required") }
        guard ControlHandler.allowedRequestMethods.contains(r.method) else {
            throw ControlHandler.unprocessable("request.method", "must be one of \(ControlHandler.allowedRequestMethods.joined(separator: ", "))")
        }
        let now = ControlClock.now()
        let receipt = try await store.commit { [self] state throws(APIError) in
            let w = try ownedWorker(request.workerId, s, in: state)
            if var seen = state.codexRequests[ControlState.requestKey(w.workerId, requestID)] {
                guard seen.method == r.method else { throw .conflict("request_id \(requestID) was used for \(seen.method)") }
                seen.idempotentReplay = true
                return ([], seen)
            }
            guard w.status != "stopped" else { throw .conflict("codex worker \(w.workerId) is stopped") }
            var e = ControlV1.CodexWorkerEventRecord()
            e.workerId = w.workerId
            e.seq = w.latestSeq + 1
            e.eventType = "worker.request"
            var p = GoogleProtobuf.Struct()
            var v = GoogleProtobuf.Value()
            v.kind = .stringValue(requestID)
            p.fields["request_id"] = v
            v.kind = .stringValue(r.method)
            p.fields["method"] = v
            v.kind = .structValue(r.params ?? GoogleProtobuf.Struct())
            p.fields["params"] = v
            e.payload = p
            e.occurredAt = ControlClock.rfc3339(now)
            var c = ControlV1.CodexControlReceipt()
            c.workerId = w.workerId
            c.requestId = requestID
            c.method = r.method
            c.seq = e.seq
            return (state.records([.codexWorkerEvent(e), .codexRequest(c)], at: now), c)
        }
        var out = ControlV1.CodexWorkerRequestResult()
        out.data = receipt
        return APIResponse(out)
    }
}
