import Foundation
import Generated
import HTTPServer
import ProtoWire

/// Builds the routers of the two services.
public enum Services {
    static let version = "0.1.0"
    static let started = Date()

    /// The runtime service. Without a core only health and metrics are served
    /// (and /readyz reports not ready).
    /// Every `/internal/v1` route requires a valid `X-OA-RUNTIME-SIGNATURE`
    /// checked by `signature` (nil: not checked, `RUNTIME_INTERNAL_AUTH=disabled`).
    public static func runtimeRouter(config: ServiceConfig, metrics: Metrics, core: RuntimeCore? = nil, signature: RuntimeSignature?) -> Router {
        var r = Router()
        let signed = SignedRoutes(verifier: signature)
        if let core {
            RunRoutes.add(to: &r, core: core, config: config, signed: signed)
            ContractRoutes.add(to: &r, core: core, config: config, signed: signed)
            StreamRoutes.add(to: &r, core: core, config: config, signed: signed)
            ToolRoutes.add(to: &r, core: core, config: config, signed: signed)
            WorkerRoutes.add(to: &r, core: core, config: config, signed: signed)
            ProjectorRoutes.add(to: &r, core: core, signed: signed)
        }
        r.getSync("/healthz") { req in
            var h = RuntimeV1.HealthzResponse()
            h.status = "ok"
            h.service = "openagents-runtime"
            h.buildSha = ProcessInfo.processInfo.environment["OA_BUILD_SHA"] ?? "dev"
            h.uptimeSeconds = UInt64(max(0, Date().timeIntervalSince(started)))
            h.authorityWriteMode = config.authorityWriteMode
            h.authorityWriterActive = config.authorityWriteMode == "rust_active"
            h.fanoutDriver = "memory"
            h.dbConfigured = core != nil
            h.version = version
            return MessageIO.respond(200, h, to: req)
        }
        r.getSync("/readyz") { req in
            // Authority and workers are ready once the log is recovered (the core
            // exists only then); projectors once they have caught up with it.
            var h = RuntimeV1.ReadyzResponse()
            h.authorityReady = core != nil
            h.workersReady = core != nil
            h.projectorReady = core?.projector.isReady ?? false
            let ok = h.authorityReady && h.workersReady && h.projectorReady
            h.status = ok ? "ready" : "not_ready"
            h.authorityWriterActive = config.authorityWriteMode == "rust_active"
            h.fanoutDriver = "memory"
            return MessageIO.respond(ok ? 200 : 503, h, to: req)
        }
        signed.getSync(&r, "/internal/v1/health") { req, _ in
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
