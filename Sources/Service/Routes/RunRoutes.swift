import Generated
import HTTPServer
import ProtoWire

/// Runs: create (run.started appended), read, append events, receipt, replay.
enum RunRoutes {
    static func add(to r: inout Router, core: RuntimeCore, config: ServiceConfig, signed: SignedRoutes) {
        let ledger = core.ledger
        signed.post(&r, "/internal/v1/runs") { req, _ in
            try Services.checkWritable(config)
            let body = try MessageIO.decode(RuntimeV1.CreateRunRequest.self, from: req)
            // The owner is the principal making the request, from its headers.
            let owner = RuntimeLedger.RunOwner(userID: req.headers["x-oa-user-id"] ?? "", guestScope: req.headers["x-oa-guest-scope"] ?? "")
            let created = try await ledger.createRun(runID: body.runId, threadID: body.threadId, workerID: body.workerId, metadata: body.metadata, owner: owner)
            var out = RuntimeV1.RunResponse()
            out.run = created.run
            return MessageIO.respond(201, out, to: req)
        }
        signed.getSync(&r, "/internal/v1/runs/:run_id") { req, _ in
            var out = RuntimeV1.RunResponse()
            out.run = try runRecord(req, ledger)
            return MessageIO.respond(200, out, to: req)
        }
        signed.post(&r, "/internal/v1/runs/:run_id/events") { req, _ in
            try Services.checkWritable(config)
            let body = try MessageIO.decode(RuntimeV1.AppendRunEventRequest.self, from: req)
            try validate(body)
            let appended = try await ledger.append(runID: req.params["run_id"] ?? "", eventType: body.eventType, payload: body.payload,
                                                   idempotencyKey: body.idempotencyKey, expectedPreviousSeq: body.expectedPreviousSeq)
            var out = RuntimeV1.RunResponse()
            out.run = appended.run
            out.event = appended.event
            out.idempotentReplay = appended.idempotentReplay
            return MessageIO.respond(200, out, to: req)
        }
        // Artifacts are built off the event loop: a long run's receipt is real work.
        signed.get(&r, "/internal/v1/runs/:run_id/receipt") { req, _ in
            let state = try runState(req, ledger)
            do {
                let (receipt, canonical) = try Artifacts.receipt(run: state.run, events: state.events)
                if MessageIO.wantsProtobuf(req) { return MessageIO.respond(200, receipt, to: req) }
                return .json(200, canonical)
            } catch {
                throw ServiceError(500, "internal_error", "receipt cannot be built: \(error)")
            }
        }
        signed.get(&r, "/internal/v1/runs/:run_id/replay") { req, _ in
            let state = try runState(req, ledger)
            do {
                let body = try Artifacts.replay(run: state.run, events: state.events)
                return HTTPResponse(status: 200, headers: HTTPHeaders([("content-type", "application/x-ndjson")]), body: body)
            } catch {
                throw ServiceError(500, "internal_error", "replay cannot be built: \(error)")
            }
        }
    }

    static func runRecord(_ req: HTTPRequest, _ ledger: RuntimeLedger) throws -> RuntimeV1.RuntimeRun {
        let id = req.params["run_id"] ?? ""
        guard let run = ledger.runRecord(id) else { throw ServiceError.notFound("run \(id) not found") }
        return run
    }

    static func runState(_ req: HTTPRequest, _ ledger: RuntimeLedger) throws -> RuntimeLedger.RunState {
        let id = req.params["run_id"] ?? ""
        guard let state = ledger.run(id) else { throw ServiceError.notFound("run \(id) not found") }
        return state
    }

    /// Shape rules checked before the writer sees the event.
    static func validate(_ body: RuntimeV1.AppendRunEventRequest) throws {
        if let p = body.payload, case .structValue = p.kind {} else if body.payload != nil { throw ServiceError.invalidRequest("payload must be an object") }
        let type = body.eventType.trimmingCharacters(in: .whitespaces)
        if type == "payment" { throw ServiceError.invalidRequest("payment events are recorded by the treasury, not appended directly") }
        var probe = RuntimeV1.RuntimeRunEvent()
        probe.eventType = type
        probe.payloadJson = body.payload
        do { try Artifacts.validate(probe) } catch {
            if case .missingField(_, let t, let field) = error { throw ServiceError.invalidRequest("\(t) events need payload.\(field)") }
        }
    }
}
