import Foundation
import Generated
import Glibc
import HTTPServer
import ProtoWire
import Synchronization

/// Runs and their events, made durable through the event log with group
/// commit. Requests enqueue intents; one writer thread takes everything
/// queued, validates each intent in order against the committed state
/// (idempotency first, then `expected_previous_seq`, then the state machine),
/// writes the batch with one write and one fdatasync, then publishes the new
/// state and answers. Nothing is visible or acknowledged before it is durable.
public final class RunLedger: @unchecked Sendable {
    public struct RunState: Sendable {
        public var run: RuntimeV1.RuntimeRun
        public var events: [RuntimeV1.RuntimeRunEvent] = []
        /// idempotency key -> index into `events`.
        var idempotency: [String: Int] = [:]
    }

    public struct Appended: Sendable {
        public var run: RuntimeV1.RuntimeRun
        public var event: RuntimeV1.RuntimeRunEvent
        public var idempotentReplay: Bool
    }

    enum Intent: Sendable {
        case create(runID: String, threadID: String, workerID: String, metadata: GoogleProtobuf.Struct?)
        case append(runID: String, eventType: String, payload: GoogleProtobuf.Value?, idempotencyKey: String, expectedPreviousSeq: UInt64?)
    }

    /// What a batch changes on one run: its new record and the events appended
    /// (committed events are never copied, so an append costs the same at any run length).
    struct Staged {
        var run: RuntimeV1.RuntimeRun
        var isNew: Bool
        var newEvents: [RuntimeV1.RuntimeRunEvent] = []
        var newKeys: [String: Int] = [:]  // key -> index into newEvents
    }

    private struct Pending: Sendable {
        let intent: Intent
        let done: @Sendable (Result<Appended, ServiceError>) -> Void
    }

    private let committed = Mutex<[String: RunState]>([:])
    private let queue = Mutex<[Pending]>([])
    private let wake = DispatchSemaphore(value: 0)
    private var lsn: UInt64 = 0  // writer thread only
    private let fd: Int32
    public let path: String
    /// One fdatasync per append instead of per batch (to measure what group commit buys).
    public let syncEachAppend: Bool

    public init(path: String, syncEachAppend: Bool = false) throws {
        self.path = path
        self.syncEachAppend = syncEachAppend
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let records = try LogFile.load(path: path)
        var state: [String: RunState] = [:]
        for r in records { RunLedger.replay(r, into: &state) }
        lsn = records.last?.lsn ?? 0
        committed.withLock { $0 = state }
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ServiceError(500, "internal_error", "cannot open event log \(path): \(systemError())") }
        let t = Thread { [self] in self.writerLoop() }
        t.name = "event-log-writer"
        t.start()
    }

    // MARK: Reading (committed state only)

    public func run(_ id: String) -> RunState? { committed.withLock { $0[id] } }
    /// The run record alone (what most readers need; no event history copied).
    public func runRecord(_ id: String) -> RuntimeV1.RuntimeRun? { committed.withLock { $0[id]?.run } }
    public var runCount: Int { committed.withLock { $0.count } }

    // MARK: Writing

    public func createRun(runID: String = "", threadID: String = "", workerID: String = "", metadata: GoogleProtobuf.Struct? = nil) async throws(ServiceError) -> Appended {
        try await submit(.create(runID: runID.isEmpty ? UUID().uuidString.lowercased() : runID, threadID: threadID, workerID: workerID, metadata: metadata))
    }

    public func append(runID: String, eventType: String, payload: GoogleProtobuf.Value?, idempotencyKey: String = "", expectedPreviousSeq: UInt64? = nil) async throws(ServiceError) -> Appended {
        try await submit(.append(runID: runID, eventType: eventType.trimmingCharacters(in: .whitespaces), payload: payload,
                                 idempotencyKey: idempotencyKey.trimmingCharacters(in: .whitespaces), expectedPreviousSeq: expectedPreviousSeq))
    }

    private func submit(_ intent: Intent) async throws(ServiceError) -> Appended {
        let result: Result<Appended, ServiceError> = await withCheckedContinuation { cont in
            queue.withLock { $0.append(Pending(intent: intent, done: { cont.resume(returning: $0) })) }
            wake.signal()
        }
        return try result.get()
    }

    private func writerLoop() {
        while true {
            wake.wait()
            let batch = queue.withLock { q -> [Pending] in let b = q; q.removeAll(keepingCapacity: true); return b }
            if batch.isEmpty { continue }
            if syncEachAppend {
                for p in batch { commit([p]) }
            } else {
                commit(batch)
            }
        }
    }

    private func commit(_ batch: [Pending]) {
        var working: [String: Staged] = [:]
        var lines: [UInt8] = []
        var outcomes: [Result<Appended, ServiceError>] = []
        let now = RunLedger.timestamp()
        for p in batch {
            outcomes.append(evaluate(p.intent, working: &working, lines: &lines, now: now))
        }
        if !lines.isEmpty {
            var off = 0
            while off < lines.count {
                let n = lines.withUnsafeBytes { write(fd, $0.baseAddress! + off, lines.count - off) }
                if n <= 0 {
                    if errno == EINTR { continue }
                    // The log cannot be written: fail the batch rather than acknowledge anything.
                    let e = ServiceError(503, "service_unavailable", "event log write failed: \(systemError())")
                    for p in batch { p.done(.failure(e)) }
                    return
                }
                off += n
            }
            guard fdatasync(fd) == 0 else {
                let e = ServiceError(503, "service_unavailable", "event log sync failed: \(systemError())")
                for p in batch { p.done(.failure(e)) }
                return
            }
        }
        committed.withLock { state in
            for (id, st) in working {
                if st.isNew { state[id] = RunState(run: st.run) }
                let base = state[id]?.events.count ?? 0
                state[id]?.run = st.run
                state[id]?.events.append(contentsOf: st.newEvents)
                for (k, i) in st.newKeys { state[id]?.idempotency[k] = base + i }
            }
        }
        for (p, o) in zip(batch, outcomes) { p.done(o) }
    }

    private func current(_ id: String, _ working: inout [String: Staged]) -> Staged? {
        if let w = working[id] { return w }
        return committed.withLock { $0[id].map { Staged(run: $0.run, isNew: false) } }
    }

    /// The event an idempotency key names: staged in this batch, or committed.
    private func event(forKey key: String, run id: String, staged: Staged) -> RuntimeV1.RuntimeRunEvent? {
        if let i = staged.newKeys[key] { return staged.newEvents[i] }
        return committed.withLock { state in state[id].flatMap { s in s.idempotency[key].map { s.events[$0] } } }
    }

    private func evaluate(_ intent: Intent, working: inout [String: Staged], lines: inout [UInt8], now: GoogleProtobuf.Timestamp) -> Result<Appended, ServiceError> {
        switch intent {
        case .create(let runID, let threadID, let workerID, let metadata):
            if current(runID, &working) != nil { return .failure(.conflict("run \(runID) already exists")) }
            var run = RuntimeV1.RuntimeRun()
            run.runId = runID
            run.threadId = threadID
            run.workerId = workerID
            run.metadata = metadata
            run.status = .created
            run.createdAt = now
            run.updatedAt = now
            var record = RuntimeV1.RuntimeLogRecord()
            lsn += 1
            record.lsn = lsn
            record.recordedAt = now
            record.entry = .runCreated(run)
            lines += LogFile.line(for: record)
            working[runID] = Staged(run: run, isNew: true)
            var started = GoogleProtobuf.Value()
            var source = GoogleProtobuf.Struct()
            var v = GoogleProtobuf.Value()
            v.kind = .stringValue("runtime")
            source.fields["source"] = v
            started.kind = .structValue(source)
            return evaluate(.append(runID: runID, eventType: "run.started", payload: started, idempotencyKey: "", expectedPreviousSeq: nil), working: &working, lines: &lines, now: now)
        case .append(let runID, let eventType, let payload, let key, let expected):
            guard !eventType.isEmpty else { return .failure(.invalidRequest("event_type is required")) }
            guard var state = current(runID, &working) else { return .failure(.notFound("run \(runID) not found")) }
            // Idempotency first: the same key with the same content replays; different content conflicts.
            if !key.isEmpty, let original = event(forKey: key, run: runID, staged: state) {
                guard original.eventType == eventType, original.payloadJson == payload else {
                    return .failure(.conflict("idempotency_key \(key) was used for a different event"))
                }
                return .success(Appended(run: state.run, event: original, idempotentReplay: true))
            }
            let latest = state.run.latestSeq
            if let expected, expected != latest {
                return .failure(ServiceError(409, "conflict", "expected_previous_seq \(expected) does not match actual previous seq \(latest)", headers: [("cache-control", "no-store")]) { body in
                    body.actualPreviousSeq = latest
                })
            }
            var finishStatus: String?
            if case .structValue(let s)? = payload?.kind, case .stringValue(let st)? = s.fields["status"]?.kind { finishStatus = st }
            var newStatus = state.run.status
            do {
                if let t = try RunStateMachine.transition(eventType: eventType, finishStatus: finishStatus) {
                    newStatus = try RunStateMachine.apply(t, to: state.run.status)
                }
            } catch {
                switch error {
                case .missingFinishStatus: return .failure(.invalidRequest("run.finished requires payload.status"))
                case .unknownFinishStatus(let s): return .failure(.invalidRequest("unknown run.finished status \(s)"))
                case .invalidTransition(let from, let tr):
                    return .failure(ServiceError(409, "conflict", "invalid run transition \(tr) from \(from)") { body in body.reasonCode = "invalid_transition.\(from).\(tr)" })
                }
            }
            var event = RuntimeV1.RuntimeRunEvent()
            event.runId = runID
            event.seq = latest + 1
            event.eventType = eventType
            event.emittedAt = now
            event.payloadJson = payload
            event.idempotencyKey = key
            var record = RuntimeV1.RuntimeLogRecord()
            lsn += 1
            record.lsn = lsn
            record.recordedAt = now
            record.entry = .runEvent(event)
            lines += LogFile.line(for: record)
            if !key.isEmpty { state.newKeys[key] = state.newEvents.count }
            state.newEvents.append(event)
            RunLedger.update(&state.run, with: event, status: newStatus)
            working[runID] = state
            return .success(Appended(run: state.run, event: event, idempotentReplay: false))
        }
    }

    /// The run record after `event` moved it to `status`.
    static func update(_ run: inout RuntimeV1.RuntimeRun, with event: RuntimeV1.RuntimeRunEvent, status: RuntimeV1.RuntimeRunStatus) {
        run.latestSeq = event.seq
        run.updatedAt = event.emittedAt
        if status != run.status, [.succeeded, .failed, .canceled].contains(status) {
            run.terminalAt = event.emittedAt
            run.terminalReasonClass = event.eventType
        }
        run.status = status
    }

    /// Rebuilds state from a durable record (already validated when written).
    static func replay(_ record: RuntimeV1.RuntimeLogRecord, into state: inout [String: RunState]) {
        switch record.entry {
        case .runCreated(let run)?:
            state[run.runId] = RunState(run: run)
        case .runEvent(let event)?:
            guard let current = state[event.runId]?.run.status else { return }
            var status = current
            var finish: String?
            if case .structValue(let st)? = event.payloadJson?.kind, case .stringValue(let v)? = st.fields["status"]?.kind { finish = v }
            if let t = try? RunStateMachine.transition(eventType: event.eventType, finishStatus: finish), let to = try? RunStateMachine.apply(t, to: status) { status = to }
            // In place: no copy of the run's event history per event.
            if !event.idempotencyKey.isEmpty, let count = state[event.runId]?.events.count { state[event.runId]?.idempotency[event.idempotencyKey] = count }
            state[event.runId]?.events.append(event)
            if var run = state[event.runId]?.run {
                update(&run, with: event, status: status)
                state[event.runId]?.run = run
            }
        case nil:
            break
        }
    }

    static func timestamp() -> GoogleProtobuf.Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = GoogleProtobuf.Timestamp()
        t.seconds = Int64(ts.tv_sec)
        t.nanos = Int32(ts.tv_nsec / 1000) * 1000  // microseconds: stable through JSON
        return t
    }
}
