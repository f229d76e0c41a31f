import ProtoWire
import APIRuntime
import Dispatch
import Foundation
import Generated
import HTTPServer
import RuntimeCore
import ServiceKit
import Synchronization

/// The control service: the generated `ControlServiceHandler` on the durable
/// control state, the session and sync-token issuers and the runtime proxy.
/// Sessions are verified by `SessionMiddleware` before any `/api` handler
/// runs; a handler reads the verified session from the context.
public final class ControlHandler: ControlV1.ControlServiceHandler, @unchecked Sendable {
    public let store: RecordLog<ControlState>
    let sessions: SessionTokens
    let sync: SyncTokens
    let proxy: RuntimeProxy
    let metricsSource: Metrics
    let logger: Logger
    let startedAt = DispatchTime.now().uptimeNanoseconds
    /// Wrong login codes per challenge (a restart forgets them; the challenge's expiry still holds).
    let failedCodes = Mutex<[String: Int]>([:])
    /// Where login codes go (email address, code): the development mail sink logs them.
    let mailSink: @Sendable (String, String) -> Void
    /// The capability registry's JSON-RPC methods and their dispatcher.
    public let registry: RegistryRPC
    let rpc: JSONRPCDispatcher

    public init(store: RecordLog<ControlState>, sessions: SessionTokens, sync: SyncTokens, proxy: RuntimeProxy, metrics: Metrics, logger: Logger,
                adapters: RuntimeAdapters, mailSink: (@Sendable (String, String) -> Void)? = nil) {
        (registry, rpc) = RegistryRPC.make(adapters: adapters, store: store, proxy: proxy, logger: logger)
        self.mailSink = mailSink ?? { email, code in logger.log(.info, "login code (development mail sink)", ["email": email, "code": code]) }
        self.store = store
        self.sessions = sessions
        self.sync = sync
        self.proxy = proxy
        self.metricsSource = metrics
        self.logger = logger
    }

    /// The session `SessionMiddleware` verified.
    func session(_ context: RequestContext) throws -> ControlSession {
        guard let s = context.claims as? ControlSession else { throw APIError.unauthorized("Authorization: Bearer <session token> is required") }
        return s
    }

    // MARK: Health, status, sessions

    public func healthz(_ request: ControlV1.ControlHealthzRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.HealthzResponse> {
        var h = RuntimeV1.HealthzResponse()
        h.status = "ok"
        h.service = "openagents-control"
        h.uptimeSeconds = (DispatchTime.now().uptimeNanoseconds - startedAt) / 1_000_000_000
        return APIResponse(h)
    }

    public func metrics(_ request: ControlV1.ControlMetricsRequest, context: RequestContext) async throws -> APIResponse<ApiV1.HttpBody> {
        var body = ApiV1.HttpBody()
        body.contentType = context.route.mediaType
        body.data = Array(metricsSource.render().utf8)
        return APIResponse(body)
    }

    /// The ownership table as the contract declares it, in declaration order.
    public static var ownership: [ControlV1.RuntimeRouteOwnership] {
        ControlV1.ControlService.routes.compactMap { d in
            guard let a = d.authority else { return nil }
            var row = ControlV1.RuntimeRouteOwnership()
            row.method = d.method
            row.path = d.template.segments.isEmpty ? d.template.source : ControlHandler.colonPath(d.template)
            row.owner = a.owner
            row.delivery = a.delivery
            row.migrationStatus = a.migrationStatus
            row.rationale = a.rationale
            return row
        }
    }

    /// `/a/{b}/c` as the ownership table writes it: `/a/:b/c`.
    static func colonPath(_ t: PathTemplate) -> String {
        var s = t.source
        for v in t.variables { s = s.replacingOccurrences(of: "{\(v.fieldPath)}", with: ":\(v.fieldPath)") }
        return s
    }

    public func getStatus(_ request: ControlV1.ControlStatusRequest, context: RequestContext) async throws -> APIResponse<ControlV1.ControlStatusResponse> {
        let s = try session(context)
        var status = ControlV1.ControlStatus()
        status.service = "openagents-control"
        status.authProvider = "email_code"
        status.activeOrgId = SyncTokens.org(s)
        status.memberships = [ControlHandler.membership(s)]
        var c = ControlV1.CompatibilityWindow()
        c.protocolVersion = "openagents.control.v1"
        c.minClientBuildId = "0"
        c.maxClientBuildId = "*"
        c.minSchemaVersion = 1
        c.maxSchemaVersion = 1
        status.compatibility = c
        status.runtimeRouteOwnership = ControlHandler.ownership
        status.runtimeBaseUrl = proxy.baseURL ?? ""
        var routing = ControlV1.RuntimeRouting()
        // Every runtime-owned route goes to the runtime; there is no second driver to canary against.
        routing.defaultDriver = "runtime_service"
        routing.shadow = ControlV1.RuntimeRoutingShadow()
        status.runtimeRouting = routing
        var out = ControlV1.ControlStatusResponse()
        out.data = status
        return APIResponse(out)
    }

    static func membership(_ s: ControlSession) -> ControlV1.OrgMembership {
        var m = ControlV1.OrgMembership()
        m.orgId = SyncTokens.org(s)
        m.orgSlug = m.orgId
        m.role = .owner
        m.roleScopes = SyncTokens.scopes
        m.defaultOrg = true
        return m
    }

    public func getSession(_ request: ControlV1.GetSessionRequest, context: RequestContext) async throws -> APIResponse<ControlV1.SessionResponse> {
        let s = try session(context)
        var a = ControlV1.AuthSession()
        a.sessionId = s.sessionID
        a.userId = s.userID
        a.deviceId = s.deviceID
        a.status = .active
        a.issuedAt = ControlHandler.timestamp(s.issuedAt)
        a.accessExpiresAt = ControlHandler.timestamp(s.expiresAt)
        a.activeOrgId = SyncTokens.org(s)
        a.memberships = [ControlHandler.membership(s)]
        var out = ControlV1.SessionResponse()
        out.data = a
        return APIResponse(out)
    }

    static func timestamp(_ seconds: Int64) -> GoogleProtobuf.Timestamp {
        var t = GoogleProtobuf.Timestamp()
        t.seconds = seconds
        return t
    }

    public func revokeSessions(_ request: ControlV1.SessionRevocationRequest, context: RequestContext) async throws -> APIResponse<ControlV1.SessionRevocationResult> {
        let s = try session(context)
        let now = ControlClock.now()
        var r = ControlV1.SessionRevoked()
        r.userId = s.userID
        r.reason = request.reason == .unspecified ? .userRequested : request.reason
        r.revokedAt = now
        var revoked: [String] = []
        switch request.target {
        case .sessionId(let id)?:
            let id = id.whitespaceTrimmed
            guard !id.isEmpty else { throw APIError(.unprocessable, "invalid_request", "session_id is empty", details: ["session_id: required"]) }
            // Sessions are tokens, not rows: a session id is the caller's only if it is the current one or one its email login opened.
            let owned = id == s.sessionID || store.read { $0.sessions[id]?.userId == s.userID }
            guard owned else { throw APIError.forbidden("session \(id) is not one of the caller's sessions") }
            r.key = "sid:" + id
            r.sessionId = id
            revoked = [id]
        case .deviceId(let device)?:
            let device = device.whitespaceTrimmed
            guard !device.isEmpty else { throw APIError(.unprocessable, "invalid_request", "device_id is empty", details: ["device_id: required"]) }
            r.key = "device:\(s.userID):\(device)"
            revoked = store.read { st in st.sessions.values.filter { $0.userId == s.userID && $0.deviceId == device }.map(\.sessionId) }
            if s.deviceID == device, !revoked.contains(s.sessionID) { revoked.append(s.sessionID) }
        case .revokeAllSessions(true)?:
            r.key = "user:" + s.userID
            revoked = store.read { st in st.sessions.values.filter { $0.userId == s.userID }.map(\.sessionId) }
            if !revoked.contains(s.sessionID) { revoked.append(s.sessionID) }
        default:
            // No target: the current session (logout).
            r.key = "sid:" + s.sessionID
            r.sessionId = s.sessionID
            revoked = [s.sessionID]
        }
        let record = r
        _ = try await store.commit { state in (state.records([.sessionRevoked(record)], at: now), true) }
        var response = ControlV1.SessionRevocationResponse()
        response.revokedSessionIds = revoked.sorted()
        response.reason = r.reason
        response.revokedAt = now
        response.requestId = request.requestId.isEmpty ? context.requestID : request.requestId
        var out = ControlV1.SessionRevocationResult()
        out.data = response
        return APIResponse(out)
    }

    public func mintSyncToken(_ request: ControlV1.SyncTokenMintRequest, context: RequestContext) async throws -> APIResponse<ControlV1.SyncTokenMintResponse> {
        var out = ControlV1.SyncTokenMintResponse()
        out.data = try sync.mint(request, session: try session(context))
        return APIResponse(out, headers: [("cache-control", "no-store")])
    }

    // MARK: Runtime-owned worker routes (forwarded)

    public func listRuntimeWorkers(_ request: ControlV1.ListRuntimeWorkersRequest, context: RequestContext) async throws -> APIResponse<ControlV1.RuntimeWorkerListResult> {
        let s = try session(context)
        var q = RuntimeV1.ListWorkersRequest()
        q.ownerUserId = s.userID
        let answer = try await proxy.call("list runtime workers", s, context) { try await $0.listWorkers(q, headers: $1) }
        var out = ControlV1.RuntimeWorkerListResult()
        out.data = answer.message.workers
        return APIResponse(out)
    }

    public func createRuntimeWorker(_ request: ControlV1.CreateRuntimeWorkerRequest, context: RequestContext) async throws -> APIResponse<ControlV1.RuntimeWorkerResult> {
        let s = try session(context)
        var q = RuntimeV1.RegisterWorkerRequest()
        q.workerId = request.workerId
        q.ownerUserId = s.userID
        q.workspaceRef = request.workspaceRef
        q.codexHomeRef = request.codexHomeRef
        q.adapter = request.adapter
        q.metadata = request.metadata
        let answer = try await proxy.call("create runtime worker", s, context) { try await $0.registerWorker(q, headers: $1) }
        return APIResponse(ControlHandler.wrap(answer.message.worker))
    }

    public func getRuntimeWorker(_ request: ControlV1.GetRuntimeWorkerRequest, context: RequestContext) async throws -> APIResponse<ControlV1.RuntimeWorkerResult> {
        let s = try session(context)
        var q = RuntimeV1.GetWorkerRequest()
        q.workerId = request.workerId
        q.ownerUserId = s.userID
        let answer = try await proxy.call("fetch runtime worker", s, context) { try await $0.getWorker(q, headers: $1) }
        return APIResponse(ControlHandler.wrap(answer.message.worker))
    }

    public func heartbeatRuntimeWorker(_ request: ControlV1.RuntimeWorkerHeartbeatRequest, context: RequestContext) async throws -> APIResponse<ControlV1.RuntimeWorkerResult> {
        let s = try session(context)
        var q = RuntimeV1.WorkerHeartbeatRequest()
        q.workerId = request.workerId
        q.ownerUserId = s.userID
        q.metadataPatch = request.metadataPatch
        let answer = try await proxy.call("heartbeat runtime worker", s, context) { try await $0.heartbeatWorker(q, headers: $1) }
        return APIResponse(ControlHandler.wrap(answer.message.worker))
    }

    /// The worker statuses the runtime's transition table knows.
    static let workerStatuses = ["starting", "running", "stopping", "stopped", "failed"]

    public func setRuntimeWorkerStatus(_ request: ControlV1.RuntimeWorkerStatusRequest, context: RequestContext) async throws -> APIResponse<ControlV1.RuntimeWorkerResult> {
        let s = try session(context)
        let status = request.status.whitespaceTrimmed.lowercased()
        guard ControlHandler.workerStatuses.contains(status) else {
            throw APIError(.unprocessable, "invalid_request", "status must be one of \(ControlHandler.workerStatuses.joined(separator: ", "))",
                           details: ["status: must be one of \(ControlHandler.workerStatuses.joined(separator: ", "))"])
        }
        var q = RuntimeV1.WorkerStatusRequest()
        q.workerId = request.workerId
        q.ownerUserId = s.userID
        q.status = status
        q.reason = request.reason
        let answer = try await proxy.call("update runtime worker status", s, context) { try await $0.setWorkerStatus(q, headers: $1) }
        return APIResponse(ControlHandler.wrap(answer.message.worker))
    }

    static func wrap(_ view: RuntimeV1.WorkerView?) -> ControlV1.RuntimeWorkerResult {
        var out = ControlV1.RuntimeWorkerResult()
        out.data = view
        return out
    }

    // MARK: tools/execute (control-owned, decided at the runtime)

    public func executeTool(_ request: RuntimeV1.ToolExecuteRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.ToolExecuteResponse> {
        let s = try session(context)
        let bodyUser = request.userId.whitespaceTrimmed
        if !bodyUser.isEmpty, bodyUser != s.userID { throw APIError.forbidden("user_id \(bodyUser) is not the session's user") }
        var q = request
        q.userId = s.userID
        let answer = try await proxy.call("execute tool", s, context) { client, headers in
            try await client.executeTool(q, headers: headers + [("x-oa-user-id", s.userID)])
        }
        return APIResponse(answer.message, status: answer.status)
    }
}
