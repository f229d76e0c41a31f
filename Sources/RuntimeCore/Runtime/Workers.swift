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
