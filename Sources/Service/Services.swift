import Foundation
import Generated
import HTTPServer
import ProtoWire

/// Builds the routers of the two services. The runtime routes beyond health
/// and metrics arrive with the runtime-core issue.
public enum Services {
    static let version = "0.1.0"
    static let started = Date()

    public static func runtimeRouter(config: ServiceConfig, metrics: Metrics, ready: @escaping @Sendable () -> Bool = { true }) -> Router {
        var r = Router()
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
