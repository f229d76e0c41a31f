import APIRuntime
import Foundation
import Generated
import HTTPServer
import ProtoWire
import RuntimeCore
import ServiceKit
import Synchronization

/// The capability registry's JSON-RPC methods (registry_rpc.proto), on the
/// control service: `initialize` serves the registry document; the session
/// methods drive runtime runs through the generated runtime client, signed as
/// the session's user. Control keeps only its index of sessions (owner,
/// runtime, workspace); the run is the truth of events and status. Another
/// user's session is "not found", never data.
public final class RegistryRPC: ControlV1.RegistryRpcServiceHandler, Sendable {
    /// cdev's session error codes (reference-system.md section 5).
    static let sessionNotFound = -32010
    static let sessionInvalid = -32011
    static let needsWebSocket = -32000

    let adapters: RuntimeAdapters
    let store: RecordLog<ControlState>
    let proxy: RuntimeProxy
    let logger: Logger
    let watches = RegistryWatches()
    /// The OpenRPC document as served: the contract's, with the registry's runtimes as enums.
    public let discoverJSON: [UInt8]
    static let serverVersion = "1.0.0"

    /// `generatedAt`: the registry's generatedAt (when the service is constructed).
    init(adapters: RuntimeAdapters, store: RecordLog<ControlState>, proxy: RuntimeProxy, logger: Logger, generatedAt: Date = Date()) {
        self.adapters = adapters
        self.store = store
        self.proxy = proxy
        self.logger = logger
        discoverJSON = RegistryDiscovery.document(adapters)
        var info = ControlV1.RpcServerInfo()
        info.name = "openagents-control"
        info.version = Self.serverVersion
        var caps = ControlV1.RpcServerCapabilities()
        caps.supportedAgents = adapters.supportedAgents
        caps.runtimeRegistry = adapters.document(at: generatedAt)
        caps.notifications = ControlV1.RegistryRpcService.methods.filter { $0.kind == .serverNotification }.map(\.name)
        var template = ControlV1.InitializeResult()
        template.protocolVersion = "1.0"
        template.serverInfo = info
        template.capabilities = caps
        initializeTemplate = template
    }

    /// initialize's answer but for the client id: the registry is fixed once the service is built.
    let initializeTemplate: ControlV1.InitializeResult

    /// The dispatcher of this handler: the generated table, routing before each session method.
    static func make(adapters: RuntimeAdapters, store: RecordLog<ControlState>, proxy: RuntimeProxy, logger: Logger) -> (RegistryRPC, JSONRPCDispatcher) {
        let handler = RegistryRPC(adapters: adapters, store: store, proxy: proxy, logger: logger)
        let dispatcher = JSONRPCDispatcher(ControlV1.RegistryRpcService.bind(handler), middleware: [RegistryRouting(adapters: adapters)])
        return (handler, dispatcher)
    }

    /// The method a WebSocket must open with.
    static let opening = ControlV1.RegistryRpcService.methods.first { $0.rpc == "Initialize" }?.name ?? "initialize"

    func session(_ context: JSONRPCContext) throws -> ControlSession {
        guard let s = context.transport.claims as? ControlSession else { throw APIError.unauthorized("Authorization: Bearer <session token> is required") }
        return s
    }

    // MARK: Lifecycle

    public func initialize(_ params: ControlV1.InitializeParams, context: JSONRPCContext) async throws -> ControlV1.InitializeResult {
        _ = try session(context)
        var out = initializeTemplate
        out.clientId = context.connection?.id ?? "http_" + UUID().uuidString.lowercased()
        return out
    }

    public func initialized(_ params: ControlV1.InitializedParams, context: JSONRPCContext) async throws -> GoogleProtobuf.Empty { GoogleProtobuf.Empty() }

    public func shutdown(_ params: ControlV1.ShutdownParams, context: JSONRPCContext) async throws -> ControlV1.ShutdownResult {
        if let c = context.connection { context.afterAnswer { c.close() } }
        var out = ControlV1.ShutdownResult()
        out.success = true
        return out
    }

    public func discover(_ params: ControlV1.DiscoverParams, context: JSONRPCContext) async throws -> GoogleProtobuf.Struct {
        try GoogleProtobuf.Struct(jsonBytes: discoverJSON)
    }

    // MARK: Sessions

    /// The caller's session and the runtime it must be driven through: the
    /// session's own, checked against what routing selected, and never a
    /// runtime disabled since the session started.
    func ownedSession(_ id: String, _ s: ControlSession, _ context: JSONRPCContext) throws -> (ControlV1.RpcSessionRecord, RuntimeSelection) {
        let sid = id.whitespaceTrimmed
        guard let record = store.read({ $0.rpcSessions[sid] }), record.ownerUserId == s.userID else {
            throw JSONRPC.ErrorObject(Self.sessionNotFound, "Session not found", data: Array("{\"session_id\":\(jsonQuote(sid))}".utf8))
        }
        let routed = context.routing as? RuntimeSelection
        if let routed, routed.runtime.id != record.agentType {
            throw JSONRPC.ErrorObject.invalidParams("session \(sid) runs on \(record.agentType), not \(routed.runtime.id)", data: Array(
                "{\"agent_type\":\(jsonQuote(routed.runtime.id)),\"method\":\(jsonQuote(context.method.name)),\"session_id\":\(jsonQuote(sid)),\"session_agent_type\":\(jsonQuote(record.agentType))}".utf8))
        }
        let selection = try routed ?? RegistryRouting.select(record.agentType, method: context.method.name, explicit: false, adapters: adapters)
        return (record, selection)
    }

    /// One runtime call for a session method: signed as the user, with the
    /// user as principal. An unreachable or unconfigured runtime is the
    /// registry's "known runtime, adapter unavailable" (-32603 naming it); a
    /// refusal of the session's state (a stopped run) is SessionInvalid.
    func runtime<T>(_ action: String, _ s: ControlSession, _ context: JSONRPCContext, agentType: String,
                    _ body: (RuntimeV1.RuntimeServiceClient, [(String, String)]) async throws -> T) async throws -> T {
        do {
            return try await proxy.call(action, s, context.transport) { client, headers in try await body(client, headers + [("x-oa-user-id", s.userID)]) }
        } catch let e as ServiceError where e.status == 409 {
            throw JSONRPC.ErrorObject(Self.sessionInvalid, "Session invalid", data: Array("{\"code\":\(jsonQuote(e.code)),\"message\":\(jsonQuote(e.message))}".utf8))
        } catch let e as APIError where e.kind == .unavailable {
            throw JSONRPC.ErrorObject.internalError("runtime \(agentType) is unavailable", data: Array(
                "{\"agent_type\":\(jsonQuote(agentType)),\"method\":\(jsonQuote(context.method.name)),\"reason\":\(jsonQuote(e.message))}".utf8))
        }
    }

    /// The run's snapshot (a session's run is its own thread).
    func snapshot(_ sessionID: String, agentType: String, _ action: String, _ s: ControlSession, _ context: JSONRPCContext) async throws -> RuntimeV1.RunSnapshotResponse {
        var req = RuntimeV1.GetRunSnapshotRequest()
        req.runId = sessionID
        req.threadId = sessionID
        return try await runtime(action, s, context, agentType: agentType) { c, h in try await c.getRunSnapshot(req, headers: h) }.message
    }

    public func sessionStart(_ params: ControlV1.SessionStartParams, context: JSONRPCContext) async throws -> ControlV1.SessionStartResult {
        let s = try session(context)
        guard let selection = context.routing as? RuntimeSelection else { throw JSONRPC.ErrorObject.internalError("session/start was not routed") }
        let agent = selection.runtime.id
        let key = params.idempotencyKey.whitespaceTrimmed
        guard key.count <= 200, params.title.count <= 500, params.workspaceId.count <= 500 else {
            throw JSONRPC.ErrorObject.invalidParams("idempotency_key is at most 200 characters, title and workspace_id at most 500")
        }
        if !key.isEmpty, let existing = store.read({ st in st.rpcSessionKeys[ControlState.messageKey(s.userID, key)].flatMap { st.rpcSessions[$0] } }) {
            return try startResult(existing, status: nil, replay: true, s, context)
        }
        // A keyed start has one id, so a retry after a crash between the run and the record finds the run.
        let sid = key.isEmpty ? "sess_" + UUID().uuidString.lowercased() : "sess_" + String(SHA256.hex(Array("\(s.userID)\u{0}\(key)".utf8)).prefix(32))
        var metadata = params.metadata ?? GoogleProtobuf.Struct()
        metadata.fields["agent_type"] = JSONValue.string(agent)
        metadata.fields["workspace_id"] = JSONValue.string(params.workspaceId)
        metadata.fields["source"] = JSONValue.string("registry_rpc")
        if !params.title.isEmpty { metadata.fields["title"] = JSONValue.string(params.title) }
        var create = RuntimeV1.CreateRunRequest()
        create.runId = sid
        create.threadId = sid
        create.metadata = metadata
        var status = "created"
        do {
            let created = try await runtime("start a session", s, context, agentType: agent) { c, h in try await c.createRun(create, headers: h) }
            status = created.message.run.map { RunStateMachine.name($0.status) } ?? status
        } catch let e as JSONRPC.ErrorObject where e.code == Self.sessionInvalid && !key.isEmpty {
            // The keyed run exists: ours if the runtime lets this user read it.
            status = try await snapshot(sid, agentType: agent, "start a session", s, context).status
        }
        var record = ControlV1.RpcSessionRecord()
        record.sessionId = sid
        record.ownerUserId = s.userID
        record.agentType = agent
        record.workspaceId = params.workspaceId
        record.title = params.title
        record.idempotencyKey = key
        let now = ControlClock.now()
        record.createdAt = now
        let (kept, replay) = try await store.commit { state throws(APIError) in
            if let r = state.rpcSessions[sid] { return ([], (r, true)) }
            return (state.records([.rpcSession(record)], at: now), (record, false))
        }
        return try startResult(kept, status: status, replay: replay, s, context)
    }

    func startResult(_ r: ControlV1.RpcSessionRecord, status: String?, replay: Bool, _ s: ControlSession, _ context: JSONRPCContext) throws -> ControlV1.SessionStartResult {
        if let routed = context.routing as? RuntimeSelection, routed.runtime.id != r.agentType {
            throw JSONRPC.ErrorObject.invalidParams("idempotency_key \(r.idempotencyKey) started a \(r.agentType) session, not \(routed.runtime.id)")
        }
        var out = ControlV1.SessionStartResult()
        out.sessionId = r.sessionId
        out.agentType = r.agentType
        out.workspaceId = r.workspaceId
        out.status = status ?? "created"
        out.idempotentReplay = replay
        return out
    }

    /// send, input and respond: one frame each, idempotent by client_message_id.
    func frame(_ sessionID: String, clientMessageID: String, type: String, payload: [String: GoogleProtobuf.Value], _ context: JSONRPCContext) async throws -> ControlV1.SessionFrameResult {
        let s = try session(context)
        let (record, _) = try ownedSession(sessionID, s, context)
        var mid = clientMessageID.whitespaceTrimmed
        guard mid.count <= 200 else { throw JSONRPC.ErrorObject.invalidParams("client_message_id is at most 200 characters") }
        if mid.isEmpty { mid = "cm_" + UUID().uuidString.lowercased() }
        var req = RuntimeV1.AppendFrameRequest()
        req.runId = record.sessionId
        req.threadId = record.sessionId
        req.frameId = mid
        req.type = type
        req.payload = JSONValue.object(payload)
        let appended = try await runtime("append to the session", s, context, agentType: record.agentType) { c, h in try await c.appendFrame(req, headers: h) }
        var out = ControlV1.SessionFrameResult()
        out.sessionId = record.sessionId
        out.clientMessageId = mid
        out.status = appended.message.status
        out.idempotentReplay = appended.message.idempotentReplay
        return out
    }

    public func sessionSend(_ params: ControlV1.SessionSendParams, context: JSONRPCContext) async throws -> ControlV1.SessionFrameResult {
        var payload: [String: GoogleProtobuf.Value] = ["text": JSONValue.string(params.text)]
        if let m = params.metadata { payload["metadata"] = JSONValue.value(.structValue(m)) }
        return try await frame(params.sessionId, clientMessageID: params.clientMessageId, type: "user_message", payload: payload, context)
    }

    public func sessionInput(_ params: ControlV1.SessionInputParams, context: JSONRPCContext) async throws -> ControlV1.SessionFrameResult {
        try await frame(params.sessionId, clientMessageID: params.clientMessageId, type: "user_input", payload: ["input": JSONValue.string(params.input)], context)
    }

    public func sessionRespond(_ params: ControlV1.SessionRespondParams, context: JSONRPCContext) async throws -> ControlV1.SessionFrameResult {
        try await frame(params.sessionId, clientMessageID: params.clientMessageId, type: "user_response",
                        payload: ["request_id": JSONValue.string(params.requestId), "response": params.response ?? JSONValue.null], context)
    }

    public func sessionStop(_ params: ControlV1.SessionStopParams, context: JSONRPCContext) async throws -> ControlV1.SessionStopResult {
        let s = try session(context)
        let (record, _) = try ownedSession(params.sessionId, s, context)
        var req = RuntimeV1.CancelRunRequest()
        req.runId = record.sessionId
        req.threadId = record.sessionId
        req.reason = params.reason.isEmpty ? "session/stop" : params.reason
        let canceled = try await runtime("stop the session", s, context, agentType: record.agentType) { c, h in try await c.cancelRun(req, headers: h) }
        var out = ControlV1.SessionStopResult()
        out.sessionId = record.sessionId
        out.status = canceled.message.status
        out.idempotentReplay = canceled.message.idempotentReplay
        return out
    }

    public func sessionState(_ params: ControlV1.SessionStateParams, context: JSONRPCContext) async throws -> ControlV1.SessionStateResult {
        let s = try session(context)
        let (record, _) = try ownedSession(params.sessionId, s, context)
        let snap = try await snapshot(record.sessionId, agentType: record.agentType, "read the session", s, context)
        var out = ControlV1.SessionStateResult()
        out.sessionId = record.sessionId
        out.agentType = record.agentType
        out.workspaceId = record.workspaceId
        out.title = record.title
        out.status = snap.status
        out.latestSeq = snap.latestSeq
        out.updatedAt = snap.updatedAt
        out.createdAt = record.createdAt
        return out
    }

    public func sessionHistory(_ params: ControlV1.SessionHistoryParams, context: JSONRPCContext) async throws -> ControlV1.SessionHistoryResult {
        let s = try session(context)
        let agent = (context.routing as? RuntimeSelection)?.runtime.id
        let limit = params.limit == 0 ? 50 : Int(params.limit)
        guard limit <= 200 else { throw JSONRPC.ErrorObject.invalidParams("limit is at most 200") }
        // Newest first by (created_at, session_id); the token is the last row's.
        func order(_ r: ControlV1.RpcSessionRecord) -> (Int64, Int32, String) { (r.createdAt?.seconds ?? 0, r.createdAt?.nanos ?? 0, r.sessionId) }
        let all = store.read { st in
            st.rpcSessions.values.filter { $0.ownerUserId == s.userID && (agent == nil || $0.agentType == agent) && (params.workspaceId.isEmpty || $0.workspaceId == params.workspaceId) }
        }.sorted { order($0) > order($1) }
        var start = 0
        if !params.pageToken.isEmpty {
            guard let raw = Base64URL.decode(params.pageToken), let text = String(bytes: raw, encoding: .utf8) else {
                throw JSONRPC.ErrorObject.invalidParams("page_token is not a token this server issued")
            }
            let parts = text.split(separator: "|", maxSplits: 2).map(String.init)
            guard parts.count == 3, let sec = Int64(parts[0]), let ns = Int32(parts[1]) else { throw JSONRPC.ErrorObject.invalidParams("page_token is not a token this server issued") }
            start = all.firstIndex { order($0) < (sec, ns, parts[2]) } ?? all.count
        }
        let page = all[start..<min(all.count, start + limit)]
        var out = ControlV1.SessionHistoryResult()
        out.sessions = page.map { r in
            var x = ControlV1.SessionSummary()
            x.sessionId = r.sessionId
            x.agentType = r.agentType
            x.workspaceId = r.workspaceId
            x.title = r.title
            x.createdAt = r.createdAt
            return x
        }
        if start + limit < all.count, let last = page.last {
            let (sec, ns, id) = order(last)
            out.nextPageToken = Base64URL.encode(Array("\(sec)|\(ns)|\(id)".utf8))
        }
        return out
    }

    public func sessionMessages(_ params: ControlV1.SessionMessagesParams, context: JSONRPCContext) async throws -> ControlV1.SessionMessagesResult {
        let s = try session(context)
        let (record, _) = try ownedSession(params.sessionId, s, context)
        guard params.limit <= 500 else { throw JSONRPC.ErrorObject.invalidParams("limit is at most 500") }
        let page = try await events(record, after: params.afterSeq, limit: params.limit, waitMs: 0, s, context)
        var out = ControlV1.SessionMessagesResult()
        out.sessionId = record.sessionId
        out.events = page.events.map(Self.event)
        out.latestSeq = page.latestSeq
        out.hasMore = page.hasMore
        out.nextAfterSeq = page.nextAfterSeq
        return out
    }

    /// A run event as the registry shows it.
    static func event(_ e: RuntimeV1.RuntimeRunEvent) -> ControlV1.SessionEvent {
        var out = ControlV1.SessionEvent()
        out.seq = e.seq
        out.eventType = e.eventType
        out.emittedAt = e.emittedAt
        out.payload = e.payloadJson
        return out
    }

    func events(_ record: ControlV1.RpcSessionRecord, after: UInt64, limit: UInt32, waitMs: UInt32, _ s: ControlSession, _ context: JSONRPCContext) async throws -> RuntimeV1.RunEventPage {
        var req = RuntimeV1.ListRunEventsRequest()
        req.runId = record.sessionId
        req.threadId = record.sessionId
        req.afterSeq = after
        req.limit = limit
        req.waitMs = waitMs
        do {
            return try await runtime("read the session's events", s, context, agentType: record.agentType) { c, h in try await c.listRunEvents(req, headers: h) }.message
        } catch let e as ServiceError where e.status == 410 || e.status == 400 {
            throw JSONRPC.ErrorObject.invalidParams(e.message, data: Array("{\"code\":\(jsonQuote(e.code)),\"after_seq\":\(after)}".utf8))
        }
    }

    public func sessionWatch(_ params: ControlV1.SessionWatchParams, context: JSONRPCContext) async throws -> ControlV1.SessionWatchResult {
        let s = try session(context)
        let (record, _) = try ownedSession(params.sessionId, s, context)
        guard let connection = context.connection else {
            throw JSONRPC.ErrorObject(Self.needsWebSocket, "Watch needs the WebSocket", data: Array("{\"transport\":\"/api/rpc/ws\"}".utf8))
        }
        let after: UInt64
        if let given = params.afterSeq {
            // Checks the cursor now (below the floor or ahead of the head is an error here, not a silent watch).
            _ = try await events(record, after: given, limit: 1, waitMs: 0, s, context)
            after = given
        } else {
            after = try await snapshot(record.sessionId, agentType: record.agentType, "watch the session", s, context).latestSeq
        }
        let pump = WatchPump(owner: self, record: record, session: s, context: context, connection: connection)
        context.afterAnswer { [watches] in watches.start(connection: connection, sessionID: record.sessionId, after: after, pump: pump) }
        var out = ControlV1.SessionWatchResult()
        out.sessionId = record.sessionId
        out.watching = true
        out.afterSeq = after
        return out
    }

    public func sessionUnwatch(_ params: ControlV1.SessionUnwatchParams, context: JSONRPCContext) async throws -> ControlV1.SessionWatchResult {
        let s = try session(context)
        let (record, _) = try ownedSession(params.sessionId, s, context)
        let stopped = context.connection.map { watches.stop(connection: $0.id, sessionID: record.sessionId) } ?? nil
        var out = ControlV1.SessionWatchResult()
        out.sessionId = record.sessionId
        out.watching = false
        out.afterSeq = stopped ?? 0
        return out
    }
}

/// Follows one watched session: long polls of the run's events after the
/// last one pushed, each event pushed once as `session/event`, in order,
/// until the run's terminal event, an unwatch, or the socket closing.
struct WatchPump: Sendable {
    let owner: RegistryRPC
    let record: ControlV1.RpcSessionRecord
    let session: ControlSession
    let context: JSONRPCContext
    let connection: any JSONRPCConnection
    static let waitMs: UInt32 = 2000

    /// Runs until done; `sent` is updated after each push (unwatch reports it).
    func run(after start: UInt64, watch: RegistryWatches.Watch) async {
        var after = start
        let method = ControlV1.RegistryRpcService.sessionEventNotification
        while !Task.isCancelled, connection.isOpen {
            let page: RuntimeV1.RunEventPage
            do { page = try await owner.events(record, after: after, limit: 200, waitMs: Self.waitMs, session, context) } catch {
                if Task.isCancelled { return }
                owner.logger.log(.warn, "watch could not read the session's events", ["session_id": record.sessionId, "error": "\(error)".prefix(200).description])
                try? await Task.sleep(nanoseconds: 500_000_000)
                continue
            }
            for e in page.events where e.seq > after {
                guard !Task.isCancelled else { return }
                var n = ControlV1.SessionEventNotification()
                n.sessionId = record.sessionId
                n.event = RegistryRPC.event(e)
                guard connection.notify(method, n) else { return }
                after = e.seq
                watch.sent.store(after, ordering: .relaxed)
            }
            if page.terminal, after >= page.latestSeq { return }
        }
    }
}

/// The watches of every socket, by connection and session: one pump each (a
/// second watch of the same session restarts it from its own seq).
final class RegistryWatches: Sendable {
    final class Watch: Sendable {
        let task: Mutex<Task<Void, Never>?> = Mutex(nil)
        let sent: Atomic<UInt64>
        init(after: UInt64) { sent = Atomic(after) }
    }
    private let live = Mutex<[String: Watch]>([:])

    static func key(_ connection: String, _ session: String) -> String { connection + "\u{0}" + session }

    func start(connection: any JSONRPCConnection, sessionID: String, after: UInt64, pump: WatchPump) {
        let key = Self.key(connection.id, sessionID)
        let watch = Watch(after: after)
        let previous = live.withLock { l -> Watch? in
            let p = l[key]
            l[key] = watch
            return p
        }
        previous?.task.withLock { $0?.cancel() }
        let task = Task { [self] in
            await pump.run(after: after, watch: watch)
            live.withLock { l in if l[key] === watch { l[key] = nil } }
        }
        watch.task.withLock { $0 = task }
        connection.onClose { [self] in _ = stop(connection: connection.id, sessionID: sessionID) }
    }

    /// Stops a watch; the last seq it pushed, or nil when none ran.
    func stop(connection: String, sessionID: String) -> UInt64? {
        guard let w = live.withLock({ $0.removeValue(forKey: Self.key(connection, sessionID)) }) else { return nil }
        w.task.withLock { $0?.cancel() }
        return w.sent.load(ordering: .relaxed)
    }

    var count: Int { live.withLock { $0.count } }
}
