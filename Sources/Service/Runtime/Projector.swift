import Foundation
import Generated
import Glibc
import HTTPServer
import ProtoWire
import Synchronization

/// Run and worker read models (reference-system.md 2.5), fed by committed log
/// records on their own thread so they never slow the writer. Apply is
/// idempotent per topic (`seq <= last_seq` is a no-op); a sequence gap is
/// recorded as a drift report and the event still applied. The state is
/// persisted atomically to the checkpoint file; on start-up it is loaded and
/// the whole log re-applied, so a checkpoint file that lags the log (a crash
/// between the two) or is missing catches up to the same state.
public final class Projector: @unchecked Sendable {
    public typealias State = RuntimeV1.ProjectionState
    private let state = Mutex<State>(State())
    private let inbox = Mutex<[RuntimeV1.RuntimeLogRecord]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let ready = Atomic<Bool>(false)
    private let appliedLSN = Atomic<UInt64>(0)
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
    public var lastAppliedLSN: UInt64 { appliedLSN.load(ordering: .acquiring) }

    /// Starts the projector thread: it first re-applies `recovered` (the log read
    /// at start-up), persists, reports ready, then follows `enqueue`d batches.
    public func start(recovered: [RuntimeV1.RuntimeLogRecord]) {
        let t = Thread { [self] in
            self.apply(recovered)
            self.persist()
            self.ready.store(true, ordering: .releasing)
            // Under load the file is rewritten at most every 100 ms; the log is the
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
                if dirty, DispatchTime.now().uptimeNanoseconds - lastPersist.uptimeNanoseconds >= 100_000_000 {
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
        guard let last = records.last else { return }
        let now = Date()
        state.withLock { s in
            for r in records { Projector.apply(r, to: &s, now: now) }
        }
        appliedLSN.store(last.lsn, ordering: .releasing)
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

    /// One record into the state. Times come from the record, so the read models
    /// rebuilt from the log equal the ones persisted (drift `detected_at` excepted).
    static func apply(_ record: RuntimeV1.RuntimeLogRecord, to s: inout State, now: Date) {
        switch record.entry {
        case .runEvent(let e)?:
            let status: String? = switch e.eventType {
            case "run.started": "running"
            case "run.cancel_requested": "canceling"
            case "run.finished": JSONValue.stringField(e.payloadJson, "status")
            default: nil
            }
            apply(topic: runTopic(e.runId), id: e.runId, seq: e.seq, eventType: e.eventType, status: status, at: e.emittedAt, summaries: \.runSummaries, to: &s, now: now)
        case .workerEvent(let e)?:
            var status = JSONValue.stringField(e.payload, "status")
            if status == nil, e.eventType.hasPrefix("worker.") { status = String(e.eventType.dropFirst("worker.".count)) }
            apply(topic: workerTopic(e.workerId), id: e.workerId, seq: e.seq, eventType: e.eventType, status: status, at: e.emittedAt, summaries: \.workerSummaries, to: &s, now: now)
        case .runCreated?, nil:
            break
        }
    }

    static func apply(topic: String, id: String, seq: UInt64, eventType: String, status: String?, at: GoogleProtobuf.Timestamp?,
                      summaries: WritableKeyPath<State, [String: RuntimeV1.ProjectionSummary]>, to s: inout State, now: Date) {
        let last = s.checkpoints[topic]?.lastSeq ?? 0
        if seq <= last { return }  // already applied: duplicates and late arrivals are no-ops
        if seq > last + 1 {
            var d = RuntimeV1.DriftReport()
            d.topic = topic
            d.expectedNextSeq = last + 1
            d.lastSeenSeq = last
            d.incomingSeq = seq
            d.reason = "sequence_gap"
            d.detectedAt = timestamp(now)
            s.driftReports[topic] = d
        }
        var c = RuntimeV1.ProjectorCheckpoint()
        c.topic = topic
        c.lastSeq = seq
        c.lastEventType = eventType
        c.updatedAt = at
        s.checkpoints[topic] = c
        var summary = s[keyPath: summaries][id] ?? {
            var n = RuntimeV1.ProjectionSummary()
            n.runId = id
            n.status = "created"
            return n
        }()
        if let status { summary.status = status }
        summary.lastSeq = seq
        summary.eventCount += 1
        summary.updatedAt = at
        summary.projectionHash = ""  // filled in when read or persisted (a hash per event would slow catch-up)
        s[keyPath: summaries][id] = summary
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
        do { try Projector.writeAtomically(bytes, to: path) } catch {
            FileHandle.standardError.write(Data("projector: cannot persist \(path): \(error)\n".utf8))
        }
    }

    public struct PersistError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PersistError(description: "open \(tmp): \(systemError())") }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { b -> Int in
                guard let base = b.baseAddress else { return 0 }
                return write(fd, base + off, bytes.count - off)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { close(fd); throw PersistError(description: "write \(tmp): \(systemError())") }
            off += n
        }
        guard fsync(fd) == 0 else { close(fd); throw PersistError(description: "fsync \(tmp): \(systemError())") }
        close(fd)
        guard rename(tmp, path) == 0 else { throw PersistError(description: "rename \(tmp): \(systemError())") }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}
