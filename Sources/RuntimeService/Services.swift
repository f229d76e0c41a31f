import RuntimeCore
import APIRuntime
import Foundation
import Generated
import HTTPServer
import ProtoWire
import ServiceKit

/// One service `serve` starts: its name, where it listens and what it routes.
public struct ServedService: Sendable {
    public var name: String
    public var port: Int
    public var router: Router
    public var metrics: Metrics
}

/// Builds the routers of the two services from their generated route tables.
public enum Services {
    /// The services this configuration starts, in start order. The runtime
    /// needs its core (the recovered log) and, unless auth is off, the signer.
    public static func served(config: ServiceConfig, core: RuntimeCore?, signature: RuntimeSignature?, control: (router: Router, metrics: Metrics)? = nil,
                              runtime: (router: Router, metrics: Metrics)? = nil) -> [ServedService] {
        var out: [ServedService] = []
        if config.startRuntime {
            let m = runtime?.metrics ?? Metrics()
            out.append(ServedService(name: "runtime", port: config.runtimePort, router: runtime?.router ?? runtimeRouter(config: config, metrics: m, core: core, signature: signature), metrics: m))
        }
        if config.startControl, let control {
            out.append(ServedService(name: "control", port: config.controlPort, router: control.router, metrics: control.metrics))
        }
        return out
    }

    static let version = "0.1.0"

    /// The runtime service: runtime_service.proto's route table bound to
    /// `RuntimeHandler`, REST and Connect, behind its middleware. Without a core
    /// only health, readiness (not ready) and metrics answer; the rest is 503.
    /// `signature` nil means `/internal/v1` is not authenticated (`RUNTIME_INTERNAL_AUTH=disabled`).
    public static func runtimeRouter(config: ServiceConfig, metrics: Metrics, core: RuntimeCore? = nil, signature: RuntimeSignature?) -> Router {
        let handler = RuntimeHandler(config: config, metrics: metrics, core: core)
        let mode = config.authorityWriteMode
        let binder = RouteBinder(
            middleware: [
                SignatureMiddleware(verifier: signature),
                SyncTokenMiddleware(khala: core?.khala),
                // RUNTIME_AUTHORITY_WRITE_MODE other than rust_active freezes every write route.
                WriteFreezeMiddleware { mode == "rust_active" ? nil : "writes are frozen: RUNTIME_AUTHORITY_WRITE_MODE is \(mode)" },
                PrincipalMiddleware(),
            ],
            checks: [SignatureClaimsCheck()])
        var r = Router()
        binder.mount(RuntimeV1.RuntimeService.bind(handler), on: &r)
        OpenAPIRoute.add(RuntimeV1.RuntimeService.openAPIDocument, to: &r)
        return r
    }

}
