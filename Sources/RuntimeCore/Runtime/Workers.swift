import ProtoWire
import APIRuntime
import Foundation
import Generated

/// Who owns a worker: a user id (string, per DECISIONS.md) or a guest scope.
public struct WorkerOwner: Sendable, Equatable {
    public var userID: String
    public var guestScope: String

    /// Exactly one of the two, or a user id with an empty guest scope (reference-system.md 2.7).
    public init(userID: String, guestScope: String) throws(APIError) {
        self.userID = userID.whitespaceTrimmed
        self.guestScope = guestScope.whitespaceTrimmed
        guard self.userID.isEmpty != self.guestScope.isEmpty else {
            throw .invalidRequest("owner_user_id or owner_guest_scope must be provided (but not both)")
        }
    }

    /// User ids compare when both sides have one; otherwise guest scopes do.
    public func owns(_ worker: RuntimeV1.RuntimeWorker) -> Bool {
        if !userID.isEmpty, !worker.ownerUserRef.isEmpty { return userID == worker.ownerUserRef }
        return !guestScope.isEmpty && guestScope == worker.ownerGuestScope.whitespaceTrimmed
    }
}

/// A worker lifecycle change, validated and applied by the ledger's writer.
enum WorkerIntent: Sendable {
    struct Registration: Sendable {
        var workerID: String
        var owner: WorkerOwner
        var workspaceRef: String
        var codexHomeRef: String
        var adapter: String
        var metadata: GoogleProtobuf.Struct?
    }
    case register(Registration)
    case heartbeat(workerID: String, owner: WorkerOwner, metadataPatch: GoogleProtobuf.Struct?)
    case status(workerID: String, owner: WorkerOwner, status: RuntimeV1.RuntimeWorkerStatus, reason: String)
}

/// The worker lifecycle rules of reference-system.md 2.7.
public enum WorkerRules {
    public typealias Status = RuntimeV1.RuntimeWorkerStatus
    public static let heartbeatStaleAfterMs: UInt64 = 120_000

    public static let names: [(String, Status)] = [("starting", .starting), ("running", .running), ("stopping", .stopping), ("stopped", .stopped), ("failed", .failed)]
    public static func status(named s: String) -> Status? { names.first { $0.0 == s.whitespaceTrimmed.lowercased() }?.1 }
    public static func name(_ s: Status) -> String { names.first { $0.1 == s }?.0 ?? "unspecified" }

    /// Allowed status moves; the same status again is always allowed.
    static let allowed: [Status: Set<Status>] = [
        .starting: [.running, .stopping, .failed],
        .running: [.stopping, .stopped, .failed],
        .stopping: [.stopped, .failed],
        .stopped: [.starting, .running],
        .failed: [.starting, .running],
    ]
    public static func isAllowed(from: Status, to: Status) -> Bool { from == to || allowed[from]?.contains(to) == true }

    /// Liveness at `now`: terminal statuses name themselves; otherwise fresh, stale or missing.
    public static func liveness(_ w: RuntimeV1.RuntimeWorker, now: Date = Date()) -> RuntimeV1.WorkerLiveness {
        var l = RuntimeV1.WorkerLiveness()
        l.heartbeatStaleAfterMs = heartbeatStaleAfterMs
        if let hb = w.lastHeartbeatAt {
            let at = Double(hb.seconds) + Double(hb.nanos) / 1e9
            l.heartbeatAgeMs = UInt64(max(0, (now.timeIntervalSince1970 - at) * 1000))
        }
        switch w.status {
        case .stopped: l.heartbeatState = "stopped"
        case .failed: l.heartbeatState = "failed"
        default:
            if let age = l.heartbeatAgeMs { l.heartbeatState = age > heartbeatStaleAfterMs ? "stale" : "fresh" } else { l.heartbeatState = "missing" }
        }
        return l
    }

    public static func view(_ w: RuntimeV1.RuntimeWorker, now: Date = Date()) -> RuntimeV1.WorkerView {
        var v = RuntimeV1.WorkerView()
        v.worker = w
        v.liveness = liveness(w, now: now)
        return v
    }

    static func merge(_ patch: GoogleProtobuf.Struct?, into metadata: inout GoogleProtobuf.Struct?) {
        guard let patch, !patch.fields.isEmpty else { return }
        var m = metadata ?? GoogleProtobuf.Struct()
        for (k, v) in patch.fields { m.fields[k] = v }
        metadata = m
    }
}

extension RuntimeLedger {
    /// Validates one worker intent against committed and staged state and logs its event.
    func evaluateWorker(_ intent: WorkerIntent, in batch: inout Batch) -> Result<RuntimeV1.RuntimeWorker, APIError> {
        func current(_ id: String) -> RuntimeV1.RuntimeWorker? { batch.workers[id] ?? writerWorker(id) }
        func owned(_ id: String, _ owner: WorkerOwner) -> Result<RuntimeV1.RuntimeWorker, APIError> {
            guard let w = current(id) else { return .failure(.notFound("worker \(id) not found")) }
            guard owner.owns(w) else { return .failure(APIError.forbidden("worker \(id) belongs to another owner")) }
            return .success(w)
        }
        func record(_ w: inout RuntimeV1.RuntimeWorker, _ eventType: String, _ payload: [String: GoogleProtobuf.Value]) {
            w.latestSeq += 1
            w.updatedAt = batch.now
            var e = RuntimeV1.RuntimeWorkerLogEvent()
            e.workerId = w.workerId
            e.seq = w.latestSeq
            e.eventType = eventType
            e.payload = JSONValue.object(payload)
            e.emittedAt = batch.now
            e.worker = w
            batch.workerOffsets[w.workerId, default: []].append(batch.log(.workerEvent(e)))
            batch.workers[w.workerId] = w
        }
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
                    w.startedAt = batch.now
                    w.stoppedAt = nil
                }
                record(&w, "worker.started", ["status": JSONValue.string(WorkerRules.name(w.status)), "reason": JSONValue.string("reattach")])
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
            w.startedAt = batch.now
            record(&w, "worker.started", ["status": JSONValue.string("running"), "reason": JSONValue.string("register")])
            return .success(w)
        case .heartbeat(let id, let owner, let patch):
            return owned(id, owner).map { found in
                var w = found
                w.lastHeartbeatAt = batch.now
                WorkerRules.merge(patch, into: &w.metadata)
                record(&w, "worker.heartbeat", ["status": JSONValue.string(WorkerRules.name(w.status))])
                return w
            }
        case .status(let id, let owner, let status, let reason):
            return owned(id, owner).flatMap { found in
                var w = found
                guard WorkerRules.isAllowed(from: w.status, to: status) else {
                    return .failure(.invalidRequest("invalid worker transition \(WorkerRules.name(w.status)) -> \(WorkerRules.name(status))"))
                }
                if (status == .running || status == .starting) && (w.status == .stopped || w.status == .failed) { w.stoppedAt = nil }
                w.status = status
                if status == .stopped || status == .failed { w.stoppedAt = batch.now }
                let why = reason.whitespaceTrimmed.isEmpty ? "status_transition" : reason
                record(&w, "worker.\(WorkerRules.name(status))", ["status": JSONValue.string(WorkerRules.name(status)), "reason": JSONValue.string(why)])
                return .success(w)
            }
        }
    }

    public func registerWorker(id: String, owner: WorkerOwner, workspaceRef: String = "", codexHomeRef: String = "", adapter: String = "", metadata: GoogleProtobuf.Struct? = nil) async throws(APIError) -> RuntimeV1.RuntimeWorker {
        try await submitWorker(.register(.init(workerID: id, owner: owner, workspaceRef: workspaceRef, codexHomeRef: codexHomeRef, adapter: adapter, metadata: metadata)))
    }

    public func heartbeat(workerID: String, owner: WorkerOwner, metadataPatch: GoogleProtobuf.Struct? = nil) async throws(APIError) -> RuntimeV1.RuntimeWorker {
        try await submitWorker(.heartbeat(workerID: workerID, owner: owner, metadataPatch: metadataPatch))
    }

    public func setWorkerStatus(workerID: String, owner: WorkerOwner, status: RuntimeV1.RuntimeWorkerStatus, reason: String = "") async throws(APIError) -> RuntimeV1.RuntimeWorker {
        try await submitWorker(.status(workerID: workerID, owner: owner, status: status, reason: reason))
    }
}
