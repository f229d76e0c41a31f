import Foundation
import Generated
import HTTPServer
import ProtoWire

/// Builds the routers of the two services. The runtime routes beyond health
/// and metrics arrive with the runtime-core issue.
public enum Services {
    static let version = "0.1.0"
    static let started = Date()

    public static func runtimeRouter(config: ServiceConfig, metrics: Metrics, ledger: RunLedger? = nil, ready: @escaping @Sendable () -> Bool = { true }) -> Router {
        var r = Router()
        if let ledger { addRunRoutes(&r, ledger: ledger, config: config) }
        r.getSync("/healthz") { req in
            var h = RuntimeV1.HealthzResponse()
            h.status = "ok"
            h.service = "openagents-runtime"
            h.buildSha = ProcessInfo.processInfo.environment["OA_BUILD_SHA"] ?? "dev"
            h.uptimeSeconds = UInt64(max(0, Date().timeIntervalSince(started)))
            h.authorityWriteMode = config.authorityWriteMode
            h.authorityWriterActive = config.authorityWriteMode == "rust_active"
            h.fanoutDriver = "memory"
            h.dbConfigured = true
            h.version = version
            return MessageIO.respond(200, h, to: req)
        }
        r.getSync("/readyz") { req in
            var h = RuntimeV1.ReadyzResponse()
            let ok = ready()
            h.status = ok ? "ready" : "not_ready"
            h.authorityReady = ok
            h.projectorReady = ok
            h.workersReady = ok
            h.authorityWriterActive = config.authorityWriteMode == "rust_active"
            h.fanoutDriver = "memory"
            return MessageIO.respond(ok ? 200 : 503, h, to: req)
        }
        r.getSync("/internal/v1/health") { req in
            var h = RuntimeV1.HealthResponse()
            h.status = "ok"
            h.service = "openagents-runtime"
            h.version = version
            return MessageIO.respond(200, h, to: req)
        }
        r.getSync("/metrics") { _ in
            HTTPResponse(status: 200, headers: HTTPHeaders([("content-type", "text/plain; version=0.0.4")]), body: Array(metrics.render().utf8))
        }
        return r
    }

    /// RUNTIME_AUTHORITY_WRITE_MODE other than rust_active freezes every write route.
    static func checkWritable(_ config: ServiceConfig) throws {
        guard config.authorityWriteMode == "rust_active" else {
            throw ServiceError(503, "write_path_frozen", "writes are frozen: RUNTIME_AUTHORITY_WRITE_MODE is \(config.authorityWriteMode)")
        }
    }

    /// Runs: create (run.started appended), read, append events. Signed-request
    /// checks for /internal/v1 arrive with the internal-contract issue.
    static func addRunRoutes(_ r: inout Router, ledger: RunLedger, config: ServiceConfig) {
        r.post("/internal/v1/runs") { req in
            try checkWritable(config)
            let body = try MessageIO.decode(RuntimeV1.CreateRunRequest.self, from: req)
            let created = try await ledger.createRun(runID: body.runId, threadID: body.threadId, workerID: body.workerId, metadata: body.metadata)
            var out = RuntimeV1.RunResponse()
            out.run = created.run
            return MessageIO.respond(201, out, to: req)
        }
        r.getSync("/internal/v1/runs/:run_id") { req in
            guard let run = ledger.runRecord(req.params["run_id"] ?? "") else { throw ServiceError.notFound("run \(req.params["run_id"] ?? "") not found") }
            var out = RuntimeV1.RunResponse()
            out.run = run
            return MessageIO.respond(200, out, to: req)
        }
        r.post("/internal/v1/runs/:run_id/events") { req in
            try checkWritable(config)
            let body = try MessageIO.decode(RuntimeV1.AppendRunEventRequest.self, from: req)
            if let p = body.payload, case .structValue = p.kind {} else if body.payload != nil { throw ServiceError.invalidRequest("payload must be an object") }
            let appended = try await ledger.append(runID: req.params["run_id"] ?? "", eventType: body.eventType, payload: body.payload,
                                                   idempotencyKey: body.idempotencyKey, expectedPreviousSeq: body.expectedPreviousSeq)
            var out = RuntimeV1.RunResponse()
            out.run = appended.run
            out.event = appended.event
            out.idempotentReplay = appended.idempotentReplay
            return MessageIO.respond(200, out, to: req)
        }
    }

    public static func controlRouter(config: ServiceConfig, metrics: Metrics) -> Router {
        var r = Router()
        r.getSync("/healthz") { req in
            var h = RuntimeV1.HealthResponse()
            h.status = "ok"
            h.service = "openagents-control"
            h.version = version
            return MessageIO.respond(200, h, to: req)
        }
        r.getSync("/metrics") { _ in
            HTTPResponse(status: 200, headers: HTTPHeaders([("content-type", "text/plain; version=0.0.4")]), body: Array(metrics.render().utf8))
        }
        return r
    }
}
