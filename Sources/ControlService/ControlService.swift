import APIRuntime
import Foundation
import Generated
import HTTPServer
import PostgresClient
import RuntimeCore
import ServiceKit

/// The control service assembled: its durable state, token issuers, runtime
/// proxy and router (control_service.proto's route table bound to
/// `ControlHandler`, REST and Connect, behind the session middleware).
public final class ControlService: Sendable {
    public let handler: ControlHandler
    public let router: Router
    /// The capability registry's runtimes, validated at start-up.
    public let adapters: RuntimeAdapters
    let outbox: RuntimeOutbox?

    /// `runtimeURL` nil: runtime-owned routes answer 503 "Runtime is not configured.".
    /// `localRuntime`: the runtime of this process, called in process instead of at `runtimeURL`.
    /// `runtimeSecret` nil: the runtime does not check signatures.
    public init(dataDirectory: String, runtimeURL: String?, runtimeSecret: [UInt8]?, environment: [String: String], metrics: Metrics, logger: Logger,
                writesFrozen: @escaping @Sendable () -> String? = { nil }, mailSink: (@Sendable (String, String) -> Void)? = nil,
                runtimeTimeout: Double = 5, runtimeRegistry: String? = nil, localRuntime: RouterClient? = nil, database: PostgresConfig? = nil) throws {
        adapters = try RuntimeAdapters.load(file: runtimeRegistry)
        // With a database the control records are shared by every control instance.
        let store = try database.map { try RecordLog<ControlState>(database: $0, log: "control") } ?? RecordLog<ControlState>(path: dataDirectory + "/control-events.jsonl")
        let sessions = SessionTokens(key: try SessionTokens.loadKey(environment: environment, dataDirectory: dataDirectory))
        let sync = SyncTokens(key: try SyncTokens.loadKey(environment: environment, dataDirectory: dataDirectory))
        let proxy = try RuntimeProxy(baseURL: runtimeURL, secret: runtimeSecret, timeout: runtimeTimeout, local: localRuntime)
        outbox = proxy.client.map { RuntimeOutbox(store: store, client: $0, secret: runtimeSecret, logger: logger) }
        handler = ControlHandler(store: store, sessions: sessions, sync: sync, proxy: proxy, metrics: metrics, logger: logger, adapters: adapters, mailSink: mailSink)
        var binder = RouteBinder(middleware: [SessionMiddleware(tokens: sessions, store: store), WriteFreezeMiddleware(frozen: writesFrozen)])
        binder.render = { ControlErrors.render($0) }
        var r = Router()
        binder.mount(ControlV1.ControlService.bind(handler), on: &r)
        OpenAPIRoute.add(ControlV1.ControlService.openAPIDocument, to: &r)
        router = r
    }
}
