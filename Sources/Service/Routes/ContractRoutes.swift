import Generated
import HTTPServer

/// The `/internal/v1` contract's run routes beyond the foundation
/// (runtime-internal-contract.md): frames, cancel, snapshot, and comms
/// delivery events. Run ownership comes from the stored run, never the body.
enum ContractRoutes {
    static func add(to r: inout Router, core: RuntimeCore, config: ServiceConfig, signed: SignedRoutes) {
        let ledger = core.ledger
        signed.post(&r, "/internal/v1/runs/:run_id/frames") { req, auth in
            try Services.checkWritable(config)
            let body = try MessageIO.decode(RuntimeV1.AppendFrameRequest.self, from: req)
            try required(["thread_id": body.threadId, "frame_id": body.frameId, "type": body.type], payload: body.payload != nil)
            try auth.bind(threadID: body.threadId)
            let run = try ownedRun(req, threadID: body.threadId, ledger: ledger)
            let payload = JSONValue.object(["frame_id": JSONValue.string(body.frameId), "type": JSONValue.string(body.type),
                                            "thread_id": JSONValue.string(body.threadId), "payload": body.payload ?? JSONValue.null])
            let appended = try await ledger.append(runID: run.runId, eventType: "run.frame", payload: payload, idempotencyKey: "frame:" + body.frameId, requireOpen: true,
                                                   keyConflict: "frame_id \(body.frameId) was already used with a different type or payload")
            var out = RuntimeV1.AppendFrameResponse()
            out.runId = run.runId
            out.frameId = body.frameId
            out.status = "accepted"
            out.idempotentReplay = appended.idempotentReplay
            return MessageIO.respond(appended.idempotentReplay ? 200 : 202, out, to: req)
        }
        signed.post(&r, "/internal/v1/runs/:run_id/cancel") { req, auth in
            try Services.checkWritable(config)
            let body = try MessageIO.decode(RuntimeV1.CancelRunRequest.self, from: req)
            try required(["thread_id": body.threadId])
            try auth.bind(threadID: body.threadId)
            let run = try ownedRun(req, threadID: body.threadId, ledger: ledger)
            let canceled = try await ledger.cancel(runID: run.runId, reason: body.reason)
            var out = RuntimeV1.CancelRunResponse()
            out.runId = run.runId
            out.status = RunStateMachine.name(canceled.run.status)
            out.cancelRequested = true
            out.idempotentReplay = canceled.idempotentReplay
            return MessageIO.respond(canceled.idempotentReplay ? 200 : 202, out, to: req)
        }
        signed.getSync(&r, "/internal/v1/runs/:run_id/snapshot") { req, _ in
            let threadID = req.queryItems["thread_id"] ?? ""
            try required(["thread_id": threadID])
            guard !(req.headers["x-oa-user-id"] ?? "").isEmpty || !(req.headers["x-oa-guest-scope"] ?? "").isEmpty else {
                throw ServiceError.invalidRequest("x-oa-user-id or x-oa-guest-scope is required")
            }
            let run = try ownedRun(req, threadID: threadID, ledger: ledger)
            var out = RuntimeV1.RunSnapshotResponse()
            out.runId = run.runId
            out.threadId = run.threadId.isEmpty ? threadID : run.threadId
            out.status = RunStateMachine.name(run.status)
            out.latestSeq = run.latestSeq
            out.updatedAt = run.updatedAt
            return MessageIO.respond(200, out, to: req)
        }
        signed.post(&r, "/internal/v1/comms/delivery-events") { req, _ in
            try Services.checkWritable(config)
            let body = try MessageIO.decode(RuntimeV1.CommsDeliveryEventRequest.self, from: req)
            try required(["event_id": body.eventId, "provider": body.provider, "delivery_state": body.deliveryState], payload: body.payload != nil)
            let replay = try await ledger.ingestComms(body)
            var out = RuntimeV1.CommsDeliveryEventResponse()
            out.eventId = body.eventId
            out.status = "accepted"
            out.idempotentReplay = replay
            return MessageIO.respond(replay ? 200 : 202, out, to: req)
        }
    }

    /// 400 naming every missing field (sorted, so the details are stable).
    static func required(_ fields: [String: String], payload: Bool = true) throws {
        var missing = fields.filter { $0.value.trimmingCharacters(in: .whitespaces).isEmpty }.map(\.key).sorted()
        if !payload { missing.append("payload") }
        guard missing.isEmpty else {
            throw ServiceError.invalidRequest("\(missing.joined(separator: ", ")) \(missing.count == 1 ? "is" : "are") required",
                                              details: missing.map { "\($0): required" })
        }
    }

    /// The run, if the request may act on it: the thread must be the run's
    /// (when the run has one) and a principal header, when given, must be the
    /// run's owner (when it has one). 404 for an unknown run, 403 otherwise.
    static func ownedRun(_ req: HTTPRequest, threadID: String, ledger: RuntimeLedger) throws -> RuntimeV1.RuntimeRun {
        let id = req.params["run_id"] ?? ""
        guard let run = ledger.runRecord(id) else { throw ServiceError.notFound("run \(id) not found") }
        if !run.threadId.isEmpty, run.threadId != threadID {
            throw ServiceError(403, "forbidden", "run \(id) does not belong to thread \(threadID)")
        }
        let user = req.headers["x-oa-user-id"] ?? ""
        let guest = req.headers["x-oa-guest-scope"] ?? ""
        let owned = !run.ownerUserRef.isEmpty || !run.ownerGuestScope.isEmpty
        if owned && (!user.isEmpty || !guest.isEmpty) {
            let matches = (!run.ownerUserRef.isEmpty && user == run.ownerUserRef) || (!run.ownerGuestScope.isEmpty && guest == run.ownerGuestScope)
            guard matches else { throw ServiceError(403, "forbidden", "run \(id) belongs to another principal") }
        }
        return run
    }
}
