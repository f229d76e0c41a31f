import APIRuntime
import Foundation
import Generated
import ProtoWire

/// What the write rules read of a store besides the batch they stage into:
/// committed state plus, for a backend that pipelines, the batches still in
/// flight. Each backend supplies one (the embedded log: memory and its index;
/// PostgreSQL: the rows its transaction locked and read).
protocol StagingSource {
    func run(_ id: String) -> RuntimeV1.RuntimeRun?
    /// The run's event carrying `key`, if any.
    func event(forKey key: String, run id: String) -> Result<RuntimeV1.RuntimeRunEvent?, APIError>
    func lastEvent(run id: String) -> Result<RuntimeV1.RuntimeRunEvent?, APIError>
    func worker(_ id: String) -> RuntimeV1.RuntimeWorker?
    func comms(_ key: String) -> RuntimeV1.CommsDeliveryEventRequest?
    func toolCall(_ receiptID: String) -> RuntimeV1.ToolExecutionRecord?
}

/// The write rules of `RuntimeStore`, declared once for every backend: each
/// intent is checked against what the batch already staged, then against the
/// store (`StagingSource`), and stages its records. Idempotency first, then
/// `expected_previous_seq`, then the run's state machine.
extension RuntimeLedger.Batch {
    mutating func evaluate(_ intent: RuntimeLedger.Intent, against source: some StagingSource) -> Result<RuntimeLedger.Outcome, APIError> {
        switch intent {
        case .create(let runID, let threadID, let workerID, let metadata, let owner):
            return createRun(runID: runID, threadID: threadID, workerID: workerID, metadata: metadata, owner: owner, source).map(RuntimeLedger.Outcome.run)
        case .cancel(let runID, let reason):
            return cancelRun(runID: runID, reason: reason, source).map(RuntimeLedger.Outcome.run)
        case .append(let event):
            return appendEvent(event, source).map(RuntimeLedger.Outcome.run)
        case .worker(let w):
            return evaluateWorker(w, source).map(RuntimeLedger.Outcome.worker)
        case .comms(let event):
            return recordComms(event, source)
        case .tool(let call):
            return recordTool(call, source)
        }
    }

    /// A run as the rules see it: staged in this batch, else in the store.
    func stagedRun(_ id: String, _ source: some StagingSource) -> StagedRun? {
        runs[id] ?? source.run(id).map { StagedRun(run: $0, isNew: false) }
    }

    // MARK: Runs

    private mutating func createRun(runID: String, threadID: String, workerID: String, metadata: GoogleProtobuf.Struct?, owner: RuntimeLedger.RunOwner,
                                    _ source: some StagingSource) -> Result<RuntimeLedger.Appended, APIError> {
        if stagedRun(runID, source) != nil { return .failure(.conflict("run \(runID) already exists")) }
        var run = RuntimeV1.RuntimeRun()
        run.runId = runID
        run.threadId = threadID
        run.workerId = workerID
        run.ownerUserRef = owner.userID
        run.ownerGuestScope = owner.guestScope
        run.metadata = metadata
        run.status = .created
        run.createdAt = now
        run.updatedAt = now
        log(.runCreated(run))
        runs[runID] = StagedRun(run: run, isNew: true)
        let started = JSONValue.object(["source": JSONValue.string("runtime")])
        return appendEvent(RuntimeLedger.EventAppend(runID: runID, eventType: "run.started", payload: started), source)
    }

    private mutating func appendEvent(_ append: RuntimeLedger.EventAppend, _ source: some StagingSource) -> Result<RuntimeLedger.Appended, APIError> {
        let (runID, eventType, payload, key) = (append.runID, append.eventType, append.payload, append.key)
        guard !eventType.isEmpty else { return .failure(.invalidRequest("event_type is required")) }
        guard var state = stagedRun(runID, source) else { return .failure(.notFound("run \(runID) not found")) }
        // Idempotency first: the same key with the same content replays; different content conflicts.
        if !key.isEmpty {
            let original: RuntimeV1.RuntimeRunEvent?
            if let i = state.newKeys[key] {
                original = state.newEvents[i]
            } else {
                switch source.event(forKey: key, run: runID) {
                case .failure(let error): return .failure(error)
                case .success(let e): original = e
                }
            }
            if let original {
                guard original.eventType == eventType, original.payloadJson == payload else {
                    return .failure(.conflict(append.keyConflict ?? "idempotency_key \(key) was used for a different event"))
                }
                return .success(RuntimeLedger.Appended(run: state.run, event: original, idempotentReplay: true))
            }
        }
        if append.requireOpen, [.succeeded, .failed, .canceled].contains(state.run.status) {
            return .failure(.conflict("run \(runID) is \(RunStateMachine.name(state.run.status)) and takes no new input"))
        }
        let latest = state.run.latestSeq
        if let expected = append.expectedPreviousSeq, expected != latest {
            return .failure(APIError.conflict("expected_previous_seq \(expected) does not match actual previous seq \(latest)", hints: .init(actualPreviousSeq: latest)))
        }
        var newStatus = state.run.status
        do {
            if let t = try RunStateMachine.transition(eventType: eventType, finishStatus: JSONValue.stringField(payload, "status")) {
                newStatus = try RunStateMachine.apply(t, to: state.run.status)
            }
        } catch {
            switch error {
            case .missingFinishStatus: return .failure(.invalidRequest("run.finished requires payload.status"))
            case .unknownFinishStatus(let s): return .failure(.invalidRequest("unknown run.finished status \(s)"))
            case .invalidTransition(let from, let tr):
                return .failure(APIError.conflict("invalid run transition \(tr) from \(from)", hints: .init(reasonCode: "invalid_transition.\(from).\(tr)")))
            }
        }
        var event = RuntimeV1.RuntimeRunEvent()
        event.runId = runID
        event.seq = latest + 1
        event.eventType = eventType
        event.emittedAt = now
        event.payloadJson = payload
        event.idempotencyKey = key
        state.newOffsets.append(log(.runEvent(event)))
        if !key.isEmpty { state.newKeys[key] = state.newEvents.count }
        state.newEvents.append(event)
        RuntimeLedger.update(&state.run, with: event, status: newStatus)
        runs[runID] = state
        return .success(RuntimeLedger.Appended(run: state.run, event: event, idempotentReplay: false))
    }

    /// A durable `run.cancel_requested`; once a run is canceling or canceled a
    /// repeat is an idempotent replay (no second event), and a run that already
    /// succeeded or failed cannot be canceled (409, as the state machine says).
    private mutating func cancelRun(runID: String, reason: String, _ source: some StagingSource) -> Result<RuntimeLedger.Appended, APIError> {
        guard let staged = stagedRun(runID, source) else { return .failure(.notFound("run \(runID) not found")) }
        if staged.run.status == .canceling || staged.run.status == .canceled {
            let last: Result<RuntimeV1.RuntimeRunEvent?, APIError> = staged.newEvents.last.map { .success($0) } ?? source.lastEvent(run: runID)
            return last.map { RuntimeLedger.Appended(run: staged.run, event: $0 ?? RuntimeV1.RuntimeRunEvent(), idempotentReplay: true) }
        }
        var payload: [String: GoogleProtobuf.Value] = [:]
        if !reason.isEmpty { payload["reason"] = JSONValue.string(reason) }
        return appendEvent(RuntimeLedger.EventAppend(runID: runID, eventType: "run.cancel_requested", payload: JSONValue.object(payload)), source)
    }

    // MARK: Comms delivery events and tool calls

    /// Deduplicated by `provider::event_id`: the same event again is a replay,
    /// the same id with anything different is 409.
    private mutating func recordComms(_ event: RuntimeV1.CommsDeliveryEventRequest, _ source: some StagingSource) -> Result<RuntimeLedger.Outcome, APIError> {
        let key = RuntimeLedger.commsKey(event)
        if let existing = comms[key] ?? source.comms(key) {
            guard existing == event else { return .failure(.conflict("event_id payload mismatch for existing webhook event")) }
            return .success(.recorded(replay: true))
        }
        comms[key] = event
        log(.commsDelivery(event))
        return .success(.recorded(replay: false))
    }

    /// A tool call already recorded under its receipt id is returned instead
    /// (`replay: true`). Budget checks happen before the call runs, serialized
    /// per authorization (`ToolPack`), so recording only adds the charge.
    private mutating func recordTool(_ call: RuntimeV1.ToolExecutionRecord, _ source: some StagingSource) -> Result<RuntimeLedger.Outcome, APIError> {
        if let existing = toolCalls.last(where: { $0.receiptId == call.receiptId }) ?? source.toolCall(call.receiptId) {
            return .success(.tool(existing, replay: true))
        }
        toolCalls.append(call)
        log(.toolExecution(call))
        return .success(.tool(call, replay: false))
    }

    // MARK: Workers

    /// The worker lifecycle rules of reference-system.md 2.7 (`WorkerRules`).
    private mutating func evaluateWorker(_ intent: WorkerIntent, _ source: some StagingSource) -> Result<RuntimeV1.RuntimeWorker, APIError> {
        func current(_ id: String) -> RuntimeV1.RuntimeWorker? { workers[id] ?? source.worker(id) }
        func owned(_ id: String, _ owner: WorkerOwner) -> Result<RuntimeV1.RuntimeWorker, APIError> {
            guard let w = current(id) else { return .failure(.notFound("worker \(id) not found")) }
            guard owner.owns(w) else { return .failure(APIError.forbidden("worker \(id) belongs to another owner")) }
            return .success(w)
        }
        let now = self.now
        switch intent {
        case .register(let reg):
            let id = reg.workerID.whitespaceTrimmed.isEmpty ? "worker_" + UUID().uuidString.lowercased() : reg.workerID.whitespaceTrimmed
            if var w = current(id) {
                // Reattach: same owner only; refs and adapter refreshed, metadata merged, a stopped worker runs again.
                guard reg.owner.owns(w) else { return .failure(APIError.forbidden("worker \(id) belongs to another owner")) }
                if !reg.workspaceRef.isEmpty { w.workspaceRef = reg.workspaceRef }
                if !reg.codexHomeRef.isEmpty { w.codexHomeRef = reg.codexHomeRef }
                if !reg.adapter.isEmpty { w.adapter = reg.adapter }
                WorkerRules.merge(reg.metadata, into: &w.metadata)
                if w.status == .stopped || w.status == .failed {
                    w.status = .running
                    w.startedAt = now
                    w.stoppedAt = nil
                }
                recordWorker(&w, "worker.started", ["status": JSONValue.string(WorkerRules.name(w.status)), "reason": JSONValue.string("reattach")])
                return .success(w)
            }
            var w = RuntimeV1.RuntimeWorker()
            w.workerId = id
            w.ownerUserRef = reg.owner.userID
            w.ownerGuestScope = reg.owner.guestScope
            w.workspaceRef = reg.workspaceRef
            w.codexHomeRef = reg.codexHomeRef
            w.adapter = reg.adapter.isEmpty ? "in_memory" : reg.adapter
            w.metadata = reg.metadata
            w.status = .running
            w.startedAt = now
            recordWorker(&w, "worker.started", ["status": JSONValue.string("running"), "reason": JSONValue.string("register")])
            return .success(w)
        case .heartbeat(let id, let owner, let patch):
            switch owned(id, owner) {
            case .failure(let e): return .failure(e)
            case .success(var w):
                w.lastHeartbeatAt = now
                WorkerRules.merge(patch, into: &w.metadata)
                recordWorker(&w, "worker.heartbeat", ["status": JSONValue.string(WorkerRules.name(w.status))])
                return .success(w)
            }
        case .status(let id, let owner, let status, let reason):
            switch owned(id, owner) {
            case .failure(let e): return .failure(e)
            case .success(var w):
                guard WorkerRules.isAllowed(from: w.status, to: status) else {
                    return .failure(.invalidRequest("invalid worker transition \(WorkerRules.name(w.status)) -> \(WorkerRules.name(status))"))
                }
                if (status == .running || status == .starting) && (w.status == .stopped || w.status == .failed) { w.stoppedAt = nil }
                w.status = status
                if status == .stopped || status == .failed { w.stoppedAt = now }
                let why = reason.whitespaceTrimmed.isEmpty ? "status_transition" : reason
                recordWorker(&w, "worker.\(WorkerRules.name(status))", ["status": JSONValue.string(WorkerRules.name(status)), "reason": JSONValue.string(why)])
                return .success(w)
            }
        }
    }

    private mutating func recordWorker(_ w: inout RuntimeV1.RuntimeWorker, _ eventType: String, _ payload: [String: GoogleProtobuf.Value]) {
        w.latestSeq += 1
        w.updatedAt = now
        var e = RuntimeV1.RuntimeWorkerLogEvent()
        e.workerId = w.workerId
        e.seq = w.latestSeq
        e.eventType = eventType
        e.payload = JSONValue.object(payload)
        e.emittedAt = now
        e.worker = w
        workerOffsets[w.workerId, default: []].append(log(.workerEvent(e)))
        workers[w.workerId] = w
    }
}

/// The intents behind `RuntimeStore`'s writes, normalized once for every
/// backend, and their outcomes read back as each method answers.
extension RuntimeLedger.Intent {
    /// A new run; an empty id gets a fresh one.
    static func creating(runID: String, threadID: String, workerID: String, metadata: GoogleProtobuf.Struct?, owner: RuntimeLedger.RunOwner) -> Self {
        .create(runID: runID.isEmpty ? UUID().uuidString.lowercased() : runID, threadID: threadID, workerID: workerID, metadata: metadata, owner: owner)
    }

    /// An event, its type and key trimmed.
    static func appending(runID: String, eventType: String, payload: GoogleProtobuf.Value?, idempotencyKey: String, expectedPreviousSeq: UInt64?,
                          requireOpen: Bool, keyConflict: String?) -> Self {
        .append(RuntimeLedger.EventAppend(runID: runID, eventType: eventType.whitespaceTrimmed, payload: payload, key: idempotencyKey.whitespaceTrimmed,
                                          expectedPreviousSeq: expectedPreviousSeq, requireOpen: requireOpen, keyConflict: keyConflict))
    }
}

extension RuntimeLedger.Outcome {
    func appended() throws(APIError) -> RuntimeLedger.Appended {
        guard case .run(let a) = self else { throw .internal }
        return a
    }
    func registeredWorker() throws(APIError) -> RuntimeV1.RuntimeWorker {
        guard case .worker(let w) = self else { throw .internal }
        return w
    }
    /// Whether the comms event was already recorded.
    func recordedBefore() throws(APIError) -> Bool {
        guard case .recorded(let replay) = self else { throw .internal }
        return replay
    }
    func recordedTool() throws(APIError) -> (RuntimeV1.ToolExecutionRecord, replay: Bool) {
        guard case .tool(let recorded, let replay) = self else { throw .internal }
        return (recorded, replay)
    }
}
