import RuntimeCore
import APIRuntime
import Dispatch
import Foundation
import Generated
import HTTPServer
import ProtoWire
import ServiceKit

/// The runtime service's handlers: `RuntimeV1.RuntimeServiceHandler`, one
/// method per rpc of runtime_service.proto. Requests arrive typed and their
/// policies (signature, write freeze, principal, required fields) already ran;
/// a method only does the domain work. Run ownership comes from the stored
/// run, never the body.
struct RuntimeHandler: RuntimeV1.RuntimeServiceHandler {
    let config: ServiceConfig
    let metricsSource: Metrics
    let runtime: RuntimeCore?
    /// The constant part of /healthz, built once (per-request environment and
    /// clock reads made the product's probe slower than its neighbours).
    let healthTemplate: RuntimeV1.HealthzResponse
    let startedAt = DispatchTime.now().uptimeNanoseconds

    init(config: ServiceConfig, metrics: Metrics, core: RuntimeCore?) {
        self.config = config
        self.metricsSource = metrics
        self.runtime = core
        var h = RuntimeV1.HealthzResponse()
        h.status = "ok"
        h.service = "openagents-runtime"
        h.buildSha = ProcessInfo.processInfo.environment["OA_BUILD_SHA"] ?? "dev"
        h.authorityWriteMode = config.authorityWriteMode
        h.authorityWriterActive = config.authorityWriteMode == "rust_active"
        h.fanoutDriver = core?.khala.driver.name ?? "embedded"
        h.dbConfigured = core != nil
        h.version = Services.version
        healthTemplate = h
    }

    /// The core, or 503 while there is none (the log is not recovered).
    var core: RuntimeCore {
        get throws {
            guard let runtime else { throw ServiceError(503, "service_unavailable", "the event log is not open") }
            return runtime
        }
    }

    // MARK: Health

    func healthz(_ request: RuntimeV1.HealthzRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.HealthzResponse> {
        var h = healthTemplate
        h.uptimeSeconds = (DispatchTime.now().uptimeNanoseconds - startedAt) / 1_000_000_000
        return APIResponse(h)
    }

    func readyz(_ request: RuntimeV1.ReadyzRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.ReadyzResponse> {
        // Authority and workers are ready once the log is recovered (the core
        // exists only then); projectors once they have caught up with it.
        var h = RuntimeV1.ReadyzResponse()
        h.authorityReady = runtime != nil
        h.workersReady = runtime != nil
        h.projectorReady = runtime?.projector.isReady ?? false
        h.storageBackend = runtime?.database == nil ? "embedded" : "postgres"
        var ok = h.authorityReady && h.workersReady && h.projectorReady
        if let database = runtime?.database {
            // Each probe asks the database: a load balancer takes an instance that cannot reach it out of rotation.
            let problem = database.ping()
            h.databaseReady = problem == nil
            h.databaseError = problem ?? ""
            ok = ok && problem == nil
        }
        h.status = ok ? "ready" : "not_ready"
        h.authorityWriterActive = config.authorityWriteMode == "rust_active"
        h.fanoutDriver = runtime?.khala.driver.name ?? "embedded"
        return APIResponse(h, status: ok ? 200 : 503)
    }

    func metrics(_ request: RuntimeV1.MetricsRequest, context: RequestContext) async throws -> APIResponse<ApiV1.HttpBody> {
        var body = ApiV1.HttpBody()
        body.contentType = context.route.mediaType
        body.data = Array((metricsSource.render() + (runtime?.khala.prometheus() ?? "")).utf8)
        return APIResponse(body)
    }

    func health(_ request: RuntimeV1.HealthRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.HealthResponse> {
        var h = RuntimeV1.HealthResponse()
        h.status = "ok"
        h.service = "openagents-runtime"
        h.version = Services.version
        return APIResponse(h)
    }

    // MARK: Runs

    func createRun(_ request: RuntimeV1.CreateRunRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.RunResponse> {
        // The owner is the principal making the request, from its headers.
        let owner = RuntimeLedger.RunOwner(userID: context.principal.userID, guestScope: context.principal.guestScope)
        let created = try await core.store.createRun(runID: request.runId, threadID: request.threadId, workerID: request.workerId, metadata: request.metadata, owner: owner)
        var out = RuntimeV1.RunResponse()
        out.run = created.run
        return APIResponse(out)
    }

    func getRun(_ request: RuntimeV1.GetRunRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.RunResponse> {
        guard let run = try core.store.runRecord(request.runId) else { throw ServiceError.notFound("run \(request.runId) not found") }
        var out = RuntimeV1.RunResponse()
        out.run = run
        return APIResponse(out)
    }

    func appendRunEvent(_ request: RuntimeV1.AppendRunEventRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.RunResponse> {
        try Self.validate(request)
        let appended = try await core.store.append(runID: request.runId, eventType: request.eventType, payload: request.payload,
                                                    idempotencyKey: request.idempotencyKey, expectedPreviousSeq: request.expectedPreviousSeq,
                                                   requireOpen: false, keyConflict: nil)
        var out = RuntimeV1.RunResponse()
        out.run = appended.run
        out.event = appended.event
        out.idempotentReplay = appended.idempotentReplay
        return APIResponse(out)
    }

    /// Shape rules checked before the writer sees the event.
    static func validate(_ body: RuntimeV1.AppendRunEventRequest) throws {
        if let p = body.payload, case .structValue = p.kind {} else if body.payload != nil { throw ServiceError.invalidRequest("payload must be an object") }
        let type = body.eventType.whitespaceTrimmed
        if type == "payment" { throw ServiceError.invalidRequest("payment events are recorded by the treasury, not appended directly") }
        var probe = RuntimeV1.RuntimeRunEvent()
        probe.eventType = type
        probe.payloadJson = body.payload
        do { try Artifacts.validate(probe) } catch {
            if case .missingField(_, let t, let field) = error { throw ServiceError.invalidRequest("\(t) events need payload.\(field)") }
        }
    }

    func runState(_ id: String) throws -> RuntimeLedger.RunState {
        guard let state = try core.store.run(id) else { throw ServiceError.notFound("run \(id) not found") }
        return state
    }

    func getRunReceipt(_ request: RuntimeV1.GetRunReceiptRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.RuntimeReceipt> {
        let state = try runState(request.runId)
        do {
            // REST clients get the canonical JSON the receipt's hash covers; protobuf and Connect clients the message.
            let (receipt, canonical) = try Artifacts.receipt(run: state.run, events: state.events)
            return APIResponse(receipt, rawJSON: canonical)
        } catch {
            throw ServiceError(500, "internal_error", "receipt cannot be built: \(error)")
        }
    }

    func getRunReplay(_ request: RuntimeV1.GetRunReplayRequest, context: RequestContext) async throws -> APIResponse<ApiV1.HttpBody> {
        let state = try runState(request.runId)
        do {
            var body = ApiV1.HttpBody()
            body.contentType = context.route.mediaType
            body.data = try Artifacts.replay(run: state.run, events: state.events)
            return APIResponse(body)
        } catch {
            throw ServiceError(500, "internal_error", "replay cannot be built: \(error)")
        }
    }

    /// The run, if the request may act on it: the thread must be the run's
    /// (when the run has one) and a principal, when given, must be the run's
    /// owner (when it has one). 404 for an unknown run, 403 otherwise.
    func ownedRun(_ id: String, threadID: String, principal: RequestPrincipal) throws -> RuntimeV1.RuntimeRun {
        guard let run = try core.store.runRecord(id) else { throw ServiceError.notFound("run \(id) not found") }
        if !run.threadId.isEmpty, run.threadId != threadID {
            throw ServiceError(403, "forbidden", "run \(id) does not belong to thread \(threadID)")
        }
        let owned = !run.ownerUserRef.isEmpty || !run.ownerGuestScope.isEmpty
        if owned && !principal.isEmpty {
            let matches = (!run.ownerUserRef.isEmpty && principal.userID == run.ownerUserRef) || (!run.ownerGuestScope.isEmpty && principal.guestScope == run.ownerGuestScope)
            guard matches else { throw ServiceError(403, "forbidden", "run \(id) belongs to another principal") }
        }
        return run
    }

    func appendFrame(_ request: RuntimeV1.AppendFrameRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.AppendFrameResponse> {
        let run = try ownedRun(request.runId, threadID: request.threadId, principal: context.principal)
        let payload = JSONValue.object(["frame_id": JSONValue.string(request.frameId), "type": JSONValue.string(request.type),
                                        "thread_id": JSONValue.string(request.threadId), "payload": request.payload ?? JSONValue.null])
        let appended = try await core.store.append(runID: run.runId, eventType: "run.frame", payload: payload, idempotencyKey: "frame:" + request.frameId, expectedPreviousSeq: nil, requireOpen: true,
                                                    keyConflict: "frame_id \(request.frameId) was already used with a different type or payload")
        var out = RuntimeV1.AppendFrameResponse()
        out.runId = run.runId
        out.frameId = request.frameId
        out.status = "accepted"
        out.idempotentReplay = appended.idempotentReplay
        return APIResponse(out, status: appended.idempotentReplay ? 200 : 202)
    }

    func cancelRun(_ request: RuntimeV1.CancelRunRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.CancelRunResponse> {
        let run = try ownedRun(request.runId, threadID: request.threadId, principal: context.principal)
        let canceled = try await core.store.cancel(runID: run.runId, reason: request.reason)
        var out = RuntimeV1.CancelRunResponse()
        out.runId = run.runId
        out.status = RunStateMachine.name(canceled.run.status)
        out.cancelRequested = true
        out.idempotentReplay = canceled.idempotentReplay
        return APIResponse(out, status: canceled.idempotentReplay ? 200 : 202)
    }

    func getRunSnapshot(_ request: RuntimeV1.GetRunSnapshotRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.RunSnapshotResponse> {
        let run = try ownedRun(request.runId, threadID: request.threadId, principal: context.principal)
        var out = RuntimeV1.RunSnapshotResponse()
        out.runId = run.runId
        out.threadId = run.threadId.isEmpty ? request.threadId : run.threadId
        out.status = RunStateMachine.name(run.status)
        out.latestSeq = run.latestSeq
        out.updatedAt = run.updatedAt
        return APIResponse(out)
    }

    func streamRun(_ request: RuntimeV1.StreamRunRequest, context: RequestContext) async throws -> ServerStream<RuntimeV1.RuntimeRunEvent> {
        let core = try self.core
        let run = try ownedRun(request.runId, threadID: request.threadId, principal: context.principal)
        let start = try RunStreaming.resolve(lastEventID: context.header("last-event-id"), cursor: request.cursor, tailMs: request.tailMs,
                                             latest: run.latestSeq, retention: config.streamRetentionEvents)
        let runID = run.runId
        let ledger = core.store, hub = core.streams
        return ServerStream(headers: [("cache-control", "no-store")]) { sink in
            await RunStreaming.stream(runID: runID, from: start, ledger: ledger, hub: hub, to: sink)
        }
    }

    func listRunEvents(_ request: RuntimeV1.ListRunEventsRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.RunEventPage> {
        let core = try self.core
        let run = try ownedRun(request.runId, threadID: request.threadId, principal: context.principal)
        let retention = config.streamRetentionEvents
        let floor = retention > 0 && run.latestSeq > retention ? run.latestSeq - retention : 0
        // 0 means "from the first retained event"; any other cursor obeys the stream's rules (410 below the floor, 400 ahead of the head).
        let after = request.afterSeq == 0 ? floor
            : try RunStreaming.resolve(lastEventID: nil, cursor: String(request.afterSeq), tailMs: nil, latest: run.latestSeq, retention: retention).after
        let limit = request.limit == 0 ? 100 : min(500, Int(request.limit))
        guard var page = try core.store.events(of: run.runId, after: after, limit: limit) else { throw ServiceError.notFound("run \(run.runId) not found") }
        if page.events.isEmpty, request.waitMs > 0, !RunEventFrames.isTerminal(page.run.status) {
            let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(min(request.waitMs, 25_000)) * 1_000_000
            await core.streams.follow(runID: run.runId, writer: CommitSignal(), sent: after, deadline: deadline)
            if let next = try core.store.events(of: run.runId, after: after, limit: limit) { page = next }
        }
        var out = RuntimeV1.RunEventPage()
        out.runId = run.runId
        out.events = page.events
        out.latestSeq = page.run.latestSeq
        out.status = RunStateMachine.name(page.run.status)
        let last = page.events.last?.seq ?? after
        out.nextAfterSeq = last
        out.hasMore = last < page.run.latestSeq
        out.terminal = RunEventFrames.isTerminal(page.run.status)
        return APIResponse(out)
    }

    func ingestCommsDeliveryEvent(_ request: RuntimeV1.CommsDeliveryEventRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.CommsDeliveryEventResponse> {
        let replay = try await core.store.ingestComms(request)
        var out = RuntimeV1.CommsDeliveryEventResponse()
        out.eventId = request.eventId
        out.status = "accepted"
        out.idempotentReplay = replay
        return APIResponse(out, status: replay ? 200 : 202)
    }

    func executeTool(_ request: RuntimeV1.ToolExecuteRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.ToolExecuteResponse> {
        // The principal is the header, never the body's user_id.
        var out = RuntimeV1.ToolExecuteResponse()
        out.data = try await core.tools.execute(request, user: context.principal.userID)
        return APIResponse(out)
    }

    // MARK: Workers

    func workerResponse(_ w: RuntimeV1.RuntimeWorker) -> RuntimeV1.WorkerResponse {
        var out = RuntimeV1.WorkerResponse()
        out.worker = WorkerRules.view(w)
        return out
    }

    func registerWorker(_ request: RuntimeV1.RegisterWorkerRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.WorkerResponse> {
        let owner = try WorkerOwner(userID: request.ownerUserId, guestScope: request.ownerGuestScope)
        let w = try await core.store.registerWorker(id: request.workerId, owner: owner, workspaceRef: request.workspaceRef, codexHomeRef: request.codexHomeRef,
                                                     adapter: request.adapter, metadata: request.metadata)
        return APIResponse(workerResponse(w))
    }

    func listWorkers(_ request: RuntimeV1.ListWorkersRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.WorkerListResponse> {
        let owner = try WorkerOwner(userID: request.ownerUserId, guestScope: request.ownerGuestScope)
        var out = RuntimeV1.WorkerListResponse()
        out.workers = try core.store.workers(ownedBy: owner).map { WorkerRules.view($0) }
        return APIResponse(out)
    }

    func getWorker(_ request: RuntimeV1.GetWorkerRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.WorkerResponse> {
        let owner = try WorkerOwner(userID: request.ownerUserId, guestScope: request.ownerGuestScope)
        guard let w = try core.store.worker(request.workerId) else { throw ServiceError.notFound("worker \(request.workerId) not found") }
        guard owner.owns(w) else { throw ServiceError(403, "forbidden", "worker \(request.workerId) belongs to another owner") }
        return APIResponse(workerResponse(w))
    }

    func heartbeatWorker(_ request: RuntimeV1.WorkerHeartbeatRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.WorkerResponse> {
        let owner = try WorkerOwner(userID: request.ownerUserId, guestScope: request.ownerGuestScope)
        return APIResponse(workerResponse(try await core.store.heartbeat(workerID: request.workerId, owner: owner, metadataPatch: request.metadataPatch)))
    }

    func setWorkerStatus(_ request: RuntimeV1.WorkerStatusRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.WorkerResponse> {
        let owner = try WorkerOwner(userID: request.ownerUserId, guestScope: request.ownerGuestScope)
        guard let status = WorkerRules.status(named: request.status) else {
            throw ServiceError.invalidRequest("status must be one of \(WorkerRules.names.map(\.0).joined(separator: ", "))")
        }
        return APIResponse(workerResponse(try await core.store.setWorkerStatus(workerID: request.workerId, owner: owner, status: status, reason: request.reason)))
    }

    // MARK: Projectors

    func getWorkerCheckpoint(_ request: RuntimeV1.GetWorkerCheckpointRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.CheckpointResponse> {
        guard let c = try core.projector.checkpoint(topic: Projector.workerTopic(request.workerId)) else { throw ServiceError.notFound("no checkpoint for worker \(request.workerId)") }
        var out = RuntimeV1.CheckpointResponse()
        out.checkpoint = c
        return APIResponse(out)
    }

    func getRunCheckpoint(_ request: RuntimeV1.GetRunCheckpointRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.CheckpointResponse> {
        guard let c = try core.projector.checkpoint(topic: Projector.runTopic(request.runId)) else { throw ServiceError.notFound("no checkpoint for run \(request.runId)") }
        var out = RuntimeV1.CheckpointResponse()
        out.checkpoint = c
        return APIResponse(out)
    }

    func getRunSummary(_ request: RuntimeV1.GetRunSummaryRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.RunSummaryResponse> {
        guard let s = try core.projector.runSummary(request.runId) else { throw ServiceError.notFound("no summary for run \(request.runId)") }
        var out = RuntimeV1.RunSummaryResponse()
        out.summary = s
        return APIResponse(out)
    }

    func getDrift(_ request: RuntimeV1.GetDriftRequest, context: RequestContext) async throws -> APIResponse<RuntimeV1.DriftResponse> {
        let topic = request.topic.whitespaceTrimmed
        guard let d = try core.projector.drift(topic: topic) else { throw ServiceError.notFound("no drift recorded for \(topic)") }
        var out = RuntimeV1.DriftResponse()
        out.drift = d
        return APIResponse(out)
    }

    // MARK: Khala

    func pollKhalaTopic(_ request: SyncV1.KhalaPollRequest, context: RequestContext) async throws -> APIResponse<SyncV1.KhalaPollResponse> {
        let khala = try core.khala
        guard let principal = context.claims as? SyncPrincipal else { throw ServiceError(401, "unauthorized", "khala sync authorization failed") }
        do {
            let page = try khala.poll(topic: PercentEncoding.decode(request.topic, keepReserved: false), principal: principal,
                                      afterSeq: request.afterSeq, limit: request.limit)
            return APIResponse(page, headers: [("cache-control", "no-store")])
        } catch let e as KhalaError { throw ServiceError(e) }
    }

    func followKhalaTopic(_ request: SyncV1.KhalaFollowRequest, context: RequestContext) async throws -> ServerStream<SyncV1.KhalaSocketFrame> {
        let khala = try core.khala
        guard let principal = context.claims as? SyncPrincipal else { throw ServiceError(401, "unauthorized", "khala sync authorization failed") }
        let name = PercentEncoding.decode(request.topic, keepReserved: false)
        let (after, limit) = try KhalaSocketLane.start(request, config: khala.config)
        return ServerStream { sink in
            await KhalaSocketLane.run(khala: khala, topic: name, principal: principal, after: after, limit: max(1, limit), sink: sink)
        }
    }

    func getKhalaFanout(_ request: SyncV1.KhalaFanoutRequest, context: RequestContext) async throws -> APIResponse<SyncV1.KhalaFanoutResponse> {
        APIResponse(try core.khala.fanout(limit: Int(request.limit ?? 100)))
    }
}

extension RuntimeHandler {
    func publishKhalaMessage(_ request: SyncV1.KhalaPublishRequest, context: RequestContext) async throws -> APIResponse<SyncV1.KhalaPublishResponse> {
        let khala = try core.khala
        let result: Result<(SyncV1.FanoutMessage, replay: Bool), KhalaError> = await {
            do { return .success(try await khala.publish(request, topic: PercentEncoding.decode(request.topic, keepReserved: false))) } catch let e as KhalaError {
                return .failure(e)
            } catch { return .failure(KhalaError(500, "internal_error", "\(error)")) }
        }()
        switch result {
        case .success(let (m, replay)):
            var out = SyncV1.KhalaPublishResponse()
            out.message = m
            out.idempotentReplay = replay
            return APIResponse(out, status: replay ? 200 : 202)
        case .failure(let e): throw ServiceError(e)
        }
    }
}

extension RuntimeHandler {
    func recordSyncRevocations(_ request: SyncV1.SyncRevocationRequest, context: RequestContext) async throws -> APIResponse<SyncV1.SyncRevocationResponse> {
        guard let topics = try core.khala.topics else { throw ServiceError(503, "service_unavailable", "khala keeps no records here") }
        var out = SyncV1.SyncRevocationResponse()
        out.recorded = UInt32(try await topics.record(request.revocations))
        return APIResponse(out)
    }
}

/// A stream reader that only wants to know that something was committed:
/// the hub's first delivery (an event, the end of the run, a keep-alive)
/// ends the follow, and the long poll reads the page again.
struct CommitSignal: StreamSink {
    func send(framed bytes: [UInt8]) async -> Bool { false }
    func post(framed bytes: [UInt8]) -> Bool { false }
    func send(data: String) async -> Bool { false }
    func comment(_ text: String) async -> Bool { false }
}
