import APIRuntime
import CSystem
import Foundation
import Generated
import Glibc
import ProtoWire
import Synchronization

/// The run and worker read models as the API reads them (reference-system.md
/// 2.5), whichever process keeps them: the embedded `Projector` in this
/// process, or `PostgresProjections`, one projector for every instance on a
/// shared database. Both fold records with the same rules (`Projector.apply`).
public protocol Projections: Sendable {
    /// Whether the read models cover everything committed before this process started (`/readyz`).
    var isReady: Bool { get }
    /// Set when persisted read models could not be read and were rebuilt.
    var loadProblem: String? { get }
    func checkpoint(topic: String) throws(APIError) -> RuntimeV1.ProjectorCheckpoint?
    /// With its projection hash filled in.
    func runSummary(_ runID: String) throws(APIError) -> RuntimeV1.ProjectionSummary?
    func workerSummary(_ workerID: String) throws(APIError) -> RuntimeV1.ProjectionSummary?
    func drift(topic: String) throws(APIError) -> RuntimeV1.DriftReport?
}

/// Run and worker read models (reference-system.md 2.5), fed by committed log
/// records on their own thread so they never slow the writer. Apply is
/// idempotent per topic (`seq <= last_seq` is a no-op); a sequence gap is
/// recorded as a drift report and the event still applied. The state is
/// persisted atomically to the checkpoint file; on start-up it is loaded and
/// the whole log re-applied, so a checkpoint file that lags the log (a crash
/// between the two) or is missing catches up to the same state.
public final class Projector: Projections, @unchecked Sendable {
    public typealias State = RuntimeV1.ProjectionState
    private let state = Mutex<State>(State())
    private let inbox = Mutex<[RuntimeV1.RuntimeLogRecord]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let ready = Atomic<Bool>(false)
    public let path: String?
    /// Set when the checkpoint file could not be read and was rebuilt from the log.
    public private(set) var loadProblem: String?

    public init(path: String?) {
        self.path = path
        guard let path, FileManager.default.fileExists(atPath: path) else { return }
        do {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let loaded = try State(jsonBytes: bytes)
            state.withLock { $0 = loaded }
        } catch {
            // The checkpoint file is derived data: rebuild it from the log rather than refuse to start.
            loadProblem = "checkpoint file \(path) unreadable (\(error)); rebuilding from the event log"
        }
    }

    /// Whether the start-up catch-up over the recovered log has finished.
    public var isReady: Bool { ready.load(ordering: .acquiring) }

    /// Starts the projector thread: it first catches up with what the ledger
    /// recovered at start-up, persists, reports ready, then follows `enqueue`d
    /// batches (subscribe before starting, so no batch is missed; a batch the
    /// catch-up already covered is a no-op).
    public func start(catchingUpWith ledger: any RuntimeStore) {
        let t = Thread { [self] in
            self.catchUp(from: ledger)
            self.persist()
            // Loading and catching up churned through far more heap than the read
            // models keep; returned once, before ready (a trim under load stalls requests).
            malloc_trim(0)
            self.ready.store(true, ordering: .releasing)
            // Under load the file is rewritten at most once a second (each rewrite is an
            // fsync competing with the log's fdatasync); the log is the
            // durable truth and start-up re-applies whatever the file missed.
            var dirty = false
            var lastPersist = DispatchTime.now()
            while true {
                _ = self.wake.wait(timeout: .now() + .milliseconds(100))
                let batch = self.inbox.withLock { q -> [RuntimeV1.RuntimeLogRecord] in let b = q; q.removeAll(keepingCapacity: true); return b }
                if !batch.isEmpty {
                    self.apply(batch)
                    dirty = true
                }
                if dirty, DispatchTime.now().uptimeNanoseconds - lastPersist.uptimeNanoseconds >= 1_000_000_000 {
                    self.persist()
                    dirty = false
                    lastPersist = DispatchTime.now()
                }
            }
        }
        t.name = "projector"
        t.start()
    }

    /// Hands committed records to the projector thread (never blocks on projection work).
    public func enqueue(_ records: [RuntimeV1.RuntimeLogRecord]) {
        inbox.withLock { $0.append(contentsOf: records) }
        wake.signal()
    }

    func apply(_ records: [RuntimeV1.RuntimeLogRecord]) {
        guard !records.isEmpty else { return }
        let now = Date()
        state.withLock { s in
            for r in records { Projector.apply(r, to: &s, now: now) }
        }
    }

    // MARK: Reading

    public func checkpoint(topic: String) -> RuntimeV1.ProjectorCheckpoint? { state.withLock { $0.checkpoints[topic] } }
    public func runSummary(_ runID: String) -> RuntimeV1.ProjectionSummary? { state.withLock { $0.runSummaries[runID] }.map(Projector.hashed) }
    public func workerSummary(_ workerID: String) -> RuntimeV1.ProjectionSummary? { state.withLock { $0.workerSummaries[workerID] }.map(Projector.hashed) }
    public func drift(topic: String) -> RuntimeV1.DriftReport? { state.withLock { $0.driftReports[topic] } }
    /// The whole state with every summary's projection hash filled in.
    public var snapshot: State {
        var s = state.withLock { $0 }
        s.runSummaries = s.runSummaries.mapValues(Projector.hashed)
        s.workerSummaries = s.workerSummaries.mapValues(Projector.hashed)
        return s
    }

    public static func runTopic(_ id: String) -> String { "run:\(id):events" }
    public static func workerTopic(_ id: String) -> String { "worker:\(id):lifecycle" }

    // MARK: Rules

    /// One topic's projection: what the apply rule reads and writes.
    struct Fold {
        let topic: String
        let id: String
        var checkpoint: RuntimeV1.ProjectorCheckpoint?
        var summary: RuntimeV1.ProjectionSummary?
        var drift: RuntimeV1.DriftReport?

        init(topic: String, id: String, in s: State, summaries: KeyPath<State, [String: RuntimeV1.ProjectionSummary]>) {
            self.topic = topic
            self.id = id
            checkpoint = s.checkpoints[topic]
            summary = s[keyPath: summaries][id]
            drift = s.driftReports[topic]
        }

        var lastSeq: UInt64 { checkpoint?.lastSeq ?? 0 }

        /// The apply rule: `seq <= last_seq` is a no-op; a gap is recorded as
        /// drift and the event still applied. Times come from the event, so read
        /// models rebuilt from the log equal the persisted ones (drift `detected_at` excepted).
        mutating func apply(seq: UInt64, eventType: String, status: String?, at: GoogleProtobuf.Timestamp?, now: Date) {
            let last = lastSeq
            if seq <= last { return }
            if seq > last + 1 {
                var d = RuntimeV1.DriftReport()
                d.topic = topic
                d.expectedNextSeq = last + 1
                d.lastSeenSeq = last
                d.incomingSeq = seq
                d.reason = "sequence_gap"
                d.detectedAt = Projector.timestamp(now)
                drift = d
            }
            var c = checkpoint ?? RuntimeV1.ProjectorCheckpoint()
            c.topic = topic
            c.lastSeq = seq
            c.lastEventType = eventType
            c.updatedAt = at
            checkpoint = c
            var n = summary ?? {
                var n = RuntimeV1.ProjectionSummary()
                n.runId = id
                n.status = "created"
                return n
            }()
            if let status { n.status = status }
            n.lastSeq = seq
            n.eventCount += 1
            n.updatedAt = at
            n.projectionHash = ""  // filled in when read or persisted (a hash per event would slow catch-up)
            summary = n
        }

        func store(into s: inout State, summaries: WritableKeyPath<State, [String: RuntimeV1.ProjectionSummary]>) {
            s.checkpoints[topic] = checkpoint
            s[keyPath: summaries][id] = summary
            s.driftReports[topic] = drift
        }
    }

    static func runStatus(_ e: RuntimeV1.RuntimeRunEvent) -> String? {
        switch e.eventType {
        case "run.started": "running"
        case "run.cancel_requested": "canceling"
        case "run.finished": JSONValue.stringField(e.payloadJson, "status")
        default: nil
        }
    }

    static func workerStatus(_ e: RuntimeV1.RuntimeWorkerLogEvent) -> String? {
        if let s = JSONValue.stringField(e.payload, "status") { return s }
        return e.eventType.hasPrefix("worker.") ? String(e.eventType.dropFirst("worker.".count)) : nil
    }

    /// One record into the state.
    static func apply(_ record: RuntimeV1.RuntimeLogRecord, to s: inout State, now: Date) {
        switch record.entry {
        case .runEvent(let e)?:
            var f = Fold(topic: runTopic(e.runId), id: e.runId, in: s, summaries: \.runSummaries)
            f.apply(seq: e.seq, eventType: e.eventType, status: runStatus(e), at: e.emittedAt, now: now)
            f.store(into: &s, summaries: \.runSummaries)
        case .workerEvent(let e)?:
            var f = Fold(topic: workerTopic(e.workerId), id: e.workerId, in: s, summaries: \.workerSummaries)
            f.apply(seq: e.seq, eventType: e.eventType, status: workerStatus(e), at: e.emittedAt, now: now)
            f.store(into: &s, summaries: \.workerSummaries)
        case .runCreated?, .commsDelivery?, .toolExecution?, nil:
            break
        }
    }

    /// Catch-up after start-up: each run's events past its checkpoint, read
    /// back from the log a page at a time and folded per run (one state lookup
    /// per page, not per event), then each worker's events past its checkpoint.
    /// The same rule as `apply`, so the same result.
    func catchUp(from ledger: any RuntimeStore) {
        let now = Date()
        for id in (try? ledger.runIDs) ?? [] {
            var f = state.withLock { Fold(topic: Projector.runTopic(id), id: id, in: $0, summaries: \.runSummaries) }
            while true {
                // Events are contiguous from 1, so those already applied are a prefix.
                guard let page = try? ledger.events(of: id, after: f.lastSeq, limit: 4096), let first = page.events.first, let last = page.events.last else { break }
                // Only the first new event can open a gap; after it the fold is a count
                // and the last status-bearing event, applied once at the end with the last event.
                f.apply(seq: first.seq, eventType: first.eventType, status: Projector.runStatus(first), at: first.emittedAt, now: now)
                if page.events.count > 1 {
                    let rest = page.events.dropFirst()
                    var status: String?
                    for e in rest.reversed() {
                        if let s = Projector.runStatus(e) { status = s; break }
                    }
                    let count = f.summary?.eventCount ?? 0
                    f.checkpoint?.lastSeq = last.seq - 1  // the contiguous events in between
                    f.apply(seq: last.seq, eventType: last.eventType, status: status, at: last.emittedAt, now: now)
                    f.summary?.eventCount = count + UInt64(rest.count)
                }
            }
            state.withLock { f.store(into: &$0, summaries: \.runSummaries) }
        }
        for id in (try? ledger.workerIDs) ?? [] {
            var f = state.withLock { Fold(topic: Projector.workerTopic(id), id: id, in: $0, summaries: \.workerSummaries) }
            while let events = try? ledger.workerEvents(of: id, after: f.lastSeq, limit: 4096), !events.isEmpty {
                for e in events { f.apply(seq: e.seq, eventType: e.eventType, status: Projector.workerStatus(e), at: e.emittedAt, now: now) }
            }
            state.withLock { f.store(into: &$0, summaries: \.workerSummaries) }
        }
    }

    static func hashed(_ s: RuntimeV1.ProjectionSummary) -> RuntimeV1.ProjectionSummary {
        var s = s
        s.projectionHash = projectionHash(s)
        return s
    }

    /// `sha256:` over the canonical {event_count, last_seq, run_id, status}.
    static func projectionHash(_ s: RuntimeV1.ProjectionSummary) -> String {
        CanonicalJSON.prefixedHash(JSONValue.object(["run_id": JSONValue.string(s.runId), "status": JSONValue.string(s.status),
                                                     "last_seq": JSONValue.number(s.lastSeq), "event_count": JSONValue.number(s.eventCount)]))
    }

    static func timestamp(_ d: Date) -> GoogleProtobuf.Timestamp {
        var t = GoogleProtobuf.Timestamp()
        let us = Int64((d.timeIntervalSince1970 * 1_000_000).rounded(.down))
        t.seconds = us / 1_000_000
        t.nanos = Int32(us % 1_000_000) * 1000
        return t
    }

    // MARK: Persistence

    /// Write temp, fsync, rename, fsync the directory: the file is always one whole state.
    func persist() {
        guard let path else { return }
        let bytes = (try? snapshot.jsonBytes(options: JSONEncodingOptions(int64AsNumbers: true, deterministic: true))) ?? []
        do { try FileIO.writeAtomically(bytes, to: path) } catch {
            FileHandle.standardError.write(Data("projector: cannot persist \(path): \(error)\n".utf8))
        }
    }
}
