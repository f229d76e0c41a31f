import Generated
import HTTPServer

/// Workers: register / reattach, list by owner, read, heartbeat, status, checkpoint.
enum WorkerRoutes {
    static func add(to r: inout Router, core: RuntimeCore, config: ServiceConfig, signed: SignedRoutes) {
        let ledger = core.ledger
        signed.post(&r, "/internal/v1/workers") { req, _ in
            try Services.checkWritable(config)
            let body = try MessageIO.decode(RuntimeV1.RegisterWorkerRequest.self, from: req)
            let owner = try WorkerOwner(userID: body.ownerUserId, guestScope: body.ownerGuestScope)
            let w = try await ledger.registerWorker(id: body.workerId, owner: owner, workspaceRef: body.workspaceRef, codexHomeRef: body.codexHomeRef,
                                                    adapter: body.adapter, metadata: body.metadata)
            return respond(201, w, req)
        }
        signed.getSync(&r, "/internal/v1/workers") { req, _ in
            let owner = try queryOwner(req)
            var out = RuntimeV1.WorkerListResponse()
            out.workers = ledger.workers(ownedBy: owner).map { WorkerRules.view($0) }
            return MessageIO.respond(200, out, to: req)
        }
        signed.getSync(&r, "/internal/v1/workers/:worker_id") { req, _ in
            let owner = try queryOwner(req)
            return respond(200, try owned(req, owner, ledger), req)
        }
        signed.post(&r, "/internal/v1/workers/:worker_id/heartbeat") { req, _ in
            try Services.checkWritable(config)
            let body = try MessageIO.decode(RuntimeV1.WorkerHeartbeatRequest.self, from: req)
            let owner = try WorkerOwner(userID: body.ownerUserId, guestScope: body.ownerGuestScope)
            return respond(200, try await ledger.heartbeat(workerID: req.params["worker_id"] ?? "", owner: owner, metadataPatch: body.metadataPatch), req)
        }
        signed.post(&r, "/internal/v1/workers/:worker_id/status") { req, _ in
            try Services.checkWritable(config)
            let body = try MessageIO.decode(RuntimeV1.WorkerStatusRequest.self, from: req)
            let owner = try WorkerOwner(userID: body.ownerUserId, guestScope: body.ownerGuestScope)
            guard let status = WorkerRules.status(named: body.status) else {
                throw ServiceError.invalidRequest("status must be one of \(WorkerRules.names.map(\.0).joined(separator: ", "))")
            }
            return respond(200, try await ledger.setWorkerStatus(workerID: req.params["worker_id"] ?? "", owner: owner, status: status, reason: body.reason), req)
        }
        signed.getSync(&r, "/internal/v1/workers/:worker_id/checkpoint") { req, _ in
            let id = req.params["worker_id"] ?? ""
            guard let c = core.projector.checkpoint(topic: Projector.workerTopic(id)) else { throw ServiceError.notFound("no checkpoint for worker \(id)") }
            var out = RuntimeV1.CheckpointResponse()
            out.checkpoint = c
            return MessageIO.respond(200, out, to: req)
        }
    }

    static func respond(_ status: Int, _ w: RuntimeV1.RuntimeWorker, _ req: HTTPRequest) -> HTTPResponse {
        var out = RuntimeV1.WorkerResponse()
        out.worker = WorkerRules.view(w)
        return MessageIO.respond(status, out, to: req)
    }

    static func queryOwner(_ req: HTTPRequest) throws -> WorkerOwner {
        let q = req.queryItems
        return try WorkerOwner(userID: q["owner_user_id"] ?? "", guestScope: q["owner_guest_scope"] ?? "")
    }

    static func owned(_ req: HTTPRequest, _ owner: WorkerOwner, _ ledger: RuntimeLedger) throws -> RuntimeV1.RuntimeWorker {
        let id = req.params["worker_id"] ?? ""
        guard let w = ledger.worker(id) else { throw ServiceError.notFound("worker \(id) not found") }
        guard owner.owns(w) else { throw ServiceError(403, "forbidden", "worker \(id) belongs to another owner") }
        return w
    }
}
