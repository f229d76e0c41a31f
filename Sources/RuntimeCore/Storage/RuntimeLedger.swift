import APIRuntime
import CSystem
import Foundation
import Generated
import Glibc
import ProtoWire
import Synchronization

/// The runtime's authority: runs, their events and workers, made durable
/// through one event log with pipelined group commit. Requests enqueue
/// intents; the writer thread takes everything queued, validates each intent
/// in order against committed state plus the batches still syncing (for run
/// events: idempotency first, then `expected_previous_seq`, then the state
/// machine) and writes the batch with one write; the sync thread runs one
/// fdatasync over everything written so far, then publishes the new state,
/// hands the records to subscribers and answers, batch by batch in log order.
/// So batch N+1 is written while batch N syncs. Nothing is visible, published
/// or acknowledged before it is durable.
///
/// Memory holds heads and indexes only: each run's record, the byte offset of
/// each of its events and its idempotency keys as hashes; events themselves are
/// read back from the log (`LogReader`, with a bounded cache of recent ones).
public final class RuntimeLedger: @unchecked Sendable {
    /// A run with its whole event history, read from the log on request.
    public struct RunState: Sendable {
        public var run: RuntimeV1.RuntimeRun
        public var events: [RuntimeV1.RuntimeRunEvent] = []
    }

    /// What memory keeps of a run.
    struct RunHead: Sendable {
        var run: RuntimeV1.RuntimeRun
        /// Where its events are, by seq, and which carry idempotency keys.
        var index = EventIndex()
    }

    struct Store {
        /// Where the blocks of every `EventIndex` below are.
        let indexFile: EventIndexFile
        var runs: [String: RunHead] = [:]
        var workers: [String: RuntimeV1.RuntimeWorker] = [:]
        /// Where each worker's lifecycle events are, by seq.
        var workerEvents: [String: EventIndex] = [:]
        /// The last committed record, where its line starts, and the log's
        /// committed length in bytes (where that line ends).
        var lsn: UInt64 = 0
        var lastOffset: UInt64 = 0
        var end: UInt64 = 0
        /// Comms delivery events by `provider::event_id`.
        var comms: [String: RuntimeV1.CommsDeliveryEventRequest] = [:]
        /// Tool calls by receipt id, and what each authorization has spent.
        var toolCalls: [String: RuntimeV1.ToolExecutionRecord] = [:]
        var budgetSpent: [String: UInt64] = [:]
        /// Batches written to the log whose fdatasync has not completed, oldest
        /// first. Only the writer reads them (the next batch is evaluated against
        /// them); readers see a batch once it is durable and applied above.
        var inflight: [Batch] = []

        mutating func record(_ call: RuntimeV1.ToolExecutionRecord) {
            toolCalls[call.receiptId] = call
            if !call.authorizationId.isEmpty { budgetSpent[call.authorizationId, default: 0] += call.costSats }
        }
    }

    public struct Appended: Sendable {
        public var run: RuntimeV1.RuntimeRun
        public var event: RuntimeV1.RuntimeRunEvent
        public var idempotentReplay: Bool
    }

    enum Intent: Sendable {
        case create(runID: String, threadID: String, workerID: String, metadata: GoogleProtobuf.Struct?, owner: RunOwner)
        case append(EventAppend)
        case cancel(runID: String, reason: String)
        case worker(WorkerIntent)
        case comms(RuntimeV1.CommsDeliveryEventRequest)
        case tool(RuntimeV1.ToolExecutionRecord)
    }

    /// One event to append and the rules it is appended under.
    struct EventAppend: Sendable {
        var runID: String
        var eventType: String
        var payload: GoogleProtobuf.Value?
        var key = ""
        var expectedPreviousSeq: UInt64?
        /// A new event for a run in a terminal status is refused (409); a replay is still answered.
        var requireOpen = false
        /// The 409 message when the key was already used for a different event.
        var keyConflict: String?
    }

    /// Who a run belongs to: from the principal headers at creation, never from a body.
    public struct RunOwner: Sendable, Equatable {
        public var userID = ""
        public var guestScope = ""
        public init(userID: String = "", guestScope: String = "") {
            self.userID = userID
            self.guestScope = guestScope
        }
    }

    enum Outcome: Sendable {
        case run(Appended)
        case worker(RuntimeV1.RuntimeWorker)
        /// Whether the comms event or tool call was already recorded.
        case recorded(replay: Bool)
        case tool(RuntimeV1.ToolExecutionRecord, replay: Bool)
    }

    /// What one batch changes, staged until the batch is durable. Committed run
    /// events are never copied, so an append costs the same at any run length.
    struct Batch {
        struct StagedRun {
            var run: RuntimeV1.RuntimeRun
            var isNew: Bool
            var newEvents: [RuntimeV1.RuntimeRunEvent] = []
            var newOffsets: [UInt64] = []  // parallel to newEvents
            var newKeys: [String: Int] = [:]  // key -> index into newEvents
        }
        var runs: [String: StagedRun] = [:]
        var workers: [String: RuntimeV1.RuntimeWorker] = [:]
        var workerOffsets: [String: [UInt64]] = [:]
        var comms: [String: RuntimeV1.CommsDeliveryEventRequest] = [:]
        var toolCalls: [RuntimeV1.ToolExecutionRecord] = []
        var records: [RuntimeV1.RuntimeLogRecord] = []
        var recordOffsets: [UInt64] = []  // parallel to records
        var lines: [UInt8] = []
        var lsn: UInt64
        /// Where the batch's first line lands in the log.
        let offset: UInt64
        let now: GoogleProtobuf.Timestamp

        var end: UInt64 { offset + UInt64(lines.count) }

        /// Logs a record; returns the byte offset its line will have.
        @discardableResult
        mutating func log(_ entry: RuntimeV1.RuntimeLogRecord.Entry) -> UInt64 {
            lsn += 1
            var record = RuntimeV1.RuntimeLogRecord()
            record.lsn = lsn
            record.recordedAt = now
            record.entry = entry
            let at = end
            lines += LogFile.line(for: record)
            records.append(record)
            recordOffsets.append(at)
            return at
        }
    }

    private struct Pending: Sendable {
        let intent: Intent
        let done: @Sendable (Result<Outcome, APIError>) -> Void
    }

    private let committed: Mutex<Store>
    /// Committed records by offset, through a bounded cache.
    let reader: LogReader
    /// Where each run's and worker's events are (`<log>.index`).
    let indexFile: EventIndexFile
    private let queue = Mutex<[Pending]>([])
    private let subscribers = Mutex<[@Sendable ([RuntimeV1.RuntimeLogRecord]) -> Void]>([])
    private let wake = DispatchSemaphore(value: 0)
    /// Written batches waiting for their sync, in log order, with their answers.
    private struct Written: @unchecked Sendable {
        /// The segment the batch went to (held until its sync).
        let segment: SegmentFile
        let batch: Batch
        let pending: [Pending]
        let outcomes: [Result<Outcome, APIError>]
    }
    private let written = Mutex<[Written]>([])
    private let syncWake = DispatchSemaphore(value: 0)
    /// Set after a failed write or sync: what reached the file is unknown, so
    /// the log takes no more writes until a restart recovers it.
    private let broken = Mutex<APIError?>(nil)
    private var lsn: UInt64 = 0  // writer thread only
    private var end: UInt64 = 0  // writer thread only: bytes written to the log
    private var current: SegmentFile  // writer thread only, open for appending
    /// A new segment is started once the current one holds this many bytes.
    public let segmentBytes: UInt64
    public let path: String
    /// The log position recovered at start-up.
    public let recoveredLSN: UInt64
    /// One fdatasync per intent instead of per batch (to measure what group commit buys).
    public let syncEachAppend: Bool
    /// Where start-up found its state, and why a snapshot was not used (nil: it was, or there was none).
    public let recoveredFrom: RecoverySource
    public let snapshotProblem: String?
    public let snapshotPath: String
    let snapshotEvery: UInt64
    /// The lsn the newest snapshot covers.
    let snapshotLSN = Mutex<UInt64>(0)
    let snapshotWake = DispatchSemaphore(value: 0)
    /// One compaction at a time.
    let compacting = Mutex<Void>(())

    /// How the log is made durable: `fdatasync`, or a stand-in that holds or
    /// fails the sync (tests of the pipeline's rules).
    let syncFile: @Sendable (Int32) -> Int32

    /// Opens the log at `path`: from its snapshot (`path + ".snapshot"`) and
    /// the log after it when the snapshot is whole and agrees with the log,
    /// else by rebuilding from the whole log. `cacheRecords`: how many recent
    /// records stay decoded in memory. `snapshotEvery`: a new snapshot is
    /// written in the background after this many records (0: never).
    public init(path: String, syncEachAppend: Bool = false, cacheRecords: Int = 8192, snapshotEvery: Int = 100_000,
                segmentBytes: UInt64 = 256 << 20, sync: @escaping @Sendable (Int32) -> Int32 = { fdatasync($0) }) throws {
        self.path = path
        self.syncEachAppend = syncEachAppend
        self.syncFile = sync
        snapshotPath = path + ".snapshot"
        self.snapshotEvery = UInt64(max(0, snapshotEvery))
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        self.segmentBytes = max(1, segmentBytes)
        RuntimeLedger.finishCompaction(path, try RuntimeLedger.readCompaction(path))
        if LogSegments.list(path).isEmpty { _ = try SegmentFile(base: 0, path: path, .append) }
        reader = try LogReader(path: path, cacheCapacity: cacheRecords)
        indexFile = try EventIndexFile(path: path + ".index")
        var recovery = try RuntimeLedger.recover(path: path, snapshotPath: snapshotPath, reader: reader, index: indexFile)
        // Appends continue in the last segment, after whatever recovery kept of it.
        let last = LogSegments.list(path).last ?? LogSegments.Listed(base: 0, path: path)
        current = try SegmentFile(base: last.base, path: last.path, .append)
        var st = stat()
        guard fstat(current.fd, &st) == 0 else { throw APIError.internalError("cannot stat event log \(last.path): \(FileIO.lastError())") }
        lsn = recovery.history.lsn
        end = last.base + UInt64(st.st_size)
        recoveredLSN = lsn
        recoveredFrom = recovery.from
        recovery.history.store.lsn = lsn
        recovery.history.store.end = end
        committed = Mutex(recovery.history.store)
        let fromSnapshot = recovery.snapshotLSN
        snapshotLSN.withLock { $0 = fromSnapshot }
        snapshotProblem = recovery.problem
        recovery = Recovery(history: History(index: recovery.history.store.indexFile), from: .log, snapshotLSN: 0)
        // Decoding the log churned through far more heap than the heads keep: give it back.
        malloc_trim(0)
        let t = Thread { [self] in self.writerLoop() }
        t.name = "event-log-writer"
        t.start()
        let s = Thread { [self] in self.syncLoop() }
        s.name = "event-log-sync"
        s.start()
        if self.snapshotEvery > 0 {
            let w = Thread { [self] in self.snapshotLoop() }
            w.name = "event-log-snapshot"
            w.start()
            // A long tail read at start-up is what the next start-up would read again.
            if lsn - fromSnapshot >= min(self.snapshotEvery, 10_000) { snapshotWake.signal() }
        }
    }

    /// Rebuilds state from the whole log, checking it as a history.
    static func rebuild(path: String, into history: inout History) throws {
        history.gaps = try RuntimeLedger.gaps(path)
        try streamSegments(path: path, from: 0, into: &history)
    }

    /// The removed segments by their first lsn (what a history steps over).
    static func gaps(_ path: String) throws -> [UInt64: RuntimeV1.DroppedSegment] {
        Dictionary(try readCompaction(path).dropped.map { ($0.firstLsn, $0) }) { a, _ in a }
    }

    /// Applies every record from global byte `from` on, segment by segment.
    /// The log must also make sense as a history, not only as lines: a record
    /// that does not follow from the ones before it is damage, reported with its
    /// segment and line. Only the last segment can have a torn tail to cut.
    static func streamSegments(path: String, from: UInt64, into history: inout History) throws {
        let segments = LogSegments.list(path)
        let removed = Dictionary(history.gaps.values.map { ($0.base, $0.end) }) { a, _ in a }
        for (k, segment) in segments.enumerated() {
            let next = k + 1 < segments.count ? segments[k + 1].base : UInt64.max
            if next <= from { continue }
            // Each segment starts where the one before it (or a removed run of them) ends.
            var expected = k > 0 ? segments[k - 1].base + LogSegments.size(segments[k - 1].path) : 0
            while expected != segment.base, let skip = removed[expected] { expected = skip }
            if expected != segment.base {
                throw LogFile.Damage(path: segment.path, line: 1, problem: "the segment starts at byte \(segment.base) but the log before it ends at \(expected)")
            }
            let local = from > segment.base ? Int(from - segment.base) : 0
            try LogFile.stream(path: segment.path, from: local, truncateTornTail: k == segments.count - 1) { chunk, offsets in
                for (r, offset) in zip(chunk, offsets) {
                    do { try history.apply(r, at: segment.base + UInt64(offset)) } catch {
                        throw LogFile.Damage(path: segment.path, line: LogFile.lineNumber(in: segment.path, at: offset), problem: "\(error)")
                    }
                }
            }
        }
    }

    // MARK: Reading (committed state only)

    /// The run record alone (what most readers need; no event history read).
    public func runRecord(_ id: String) -> RuntimeV1.RuntimeRun? { committed.withLock { $0.runs[id]?.run } }
    public var runCount: Int { committed.withLock { $0.runs.count } }
    /// Up to `limit` committed events of a run after `seq`, with the run record
    /// as it stood when they were taken (events are contiguous from 1, so the
    /// page starts at index `seq`).
    public func events(of id: String, after seq: UInt64, limit: Int = 512) throws(APIError) -> (run: RuntimeV1.RuntimeRun, events: [RuntimeV1.RuntimeRunEvent])? {
        let found = committed.withLock { store -> (RuntimeV1.RuntimeRun, EventIndex.Page)? in
            guard let head = store.runs[id] else { return nil }
            let start = Int(min(seq, UInt64(head.index.count)))
            return (head.run, head.index.page(start..<(start + min(head.index.count - start, limit))))
        }
        guard let (run, page) = found else { return nil }
        let offsets = try page.read(indexFile).map(\.offset)
        if offsets.contains(RuntimeLedger.compacted) { throw RuntimeLedger.compactedError(RuntimeLedger.compacted) }
        var events: [RuntimeV1.RuntimeRunEvent] = []
        events.reserveCapacity(offsets.count)
        for (i, record) in try reader.records(at: offsets).enumerated() {
            guard case .runEvent(let e)? = record.entry, e.runId == id, e.seq == UInt64(page.range.lowerBound + i + 1) else {
                throw APIError.internalError("event log \(path): record \(record.lsn) is not event \(page.range.lowerBound + i + 1) of run \(id) (the index \(indexFile.path) is damaged)")
            }
            events.append(e)
        }
        return (run, events)
    }
    public var runIDs: [String] { committed.withLock { Array($0.runs.keys) }.sorted() }
    public func worker(_ id: String) -> RuntimeV1.RuntimeWorker? { committed.withLock { $0.workers[id] } }
    public var workerCount: Int { committed.withLock { $0.workers.count } }
    public var workerIDs: [String] { committed.withLock { Array($0.workers.keys) }.sorted() }
    /// Workers whose owner matches, sorted by id.
    public func workers(ownedBy owner: WorkerOwner) -> [RuntimeV1.RuntimeWorker] {
        committed.withLock { $0.workers.values.filter { owner.owns($0) } }.sorted { $0.workerId < $1.workerId }
    }
    /// Up to `limit` committed lifecycle events of a worker after `seq`.
    public func workerEvents(of id: String, after seq: UInt64, limit: Int = 512) throws(APIError) -> [RuntimeV1.RuntimeWorkerLogEvent] {
        let page = committed.withLock { store -> EventIndex.Page in
            let all = store.workerEvents[id] ?? EventIndex()
            let start = Int(min(seq, UInt64(all.count)))
            return all.page(start..<(start + min(all.count - start, limit)))
        }
        return try reader.records(at: try page.read(indexFile).map(\.offset)).map { record throws(APIError) in
            guard case .workerEvent(let e)? = record.entry, e.workerId == id else {
                throw APIError.internalError("event log \(path): record \(record.lsn) is not an event of worker \(id)")
            }
            return e
        }
    }
    /// The committed log position: the last lsn and the byte length it ends at.
    public var committedPosition: (lsn: UInt64, end: UInt64) { committed.withLock { ($0.lsn, $0.end) } }

    /// `handler` receives every committed batch's records, in log order, on the
    /// writer thread after the batch is durable: it must only hand them off.
    public func subscribe(_ handler: @escaping @Sendable ([RuntimeV1.RuntimeLogRecord]) -> Void) {
        subscribers.withLock { $0.append(handler) }
    }

    // MARK: Writing

    public func createRun(runID: String = "", threadID: String = "", workerID: String = "", metadata: GoogleProtobuf.Struct? = nil, owner: RunOwner = RunOwner()) async throws(APIError) -> Appended {
        try await submit(.creating(runID: runID, threadID: threadID, workerID: workerID, metadata: metadata, owner: owner)).appended()
    }

    /// Appends an event. `requireOpen`: a new event for a run that has reached a
    /// terminal status is refused (409); a replay of an existing one is still answered.
    /// `keyConflict`: the 409 message when the key was used for a different event.
    public func append(runID: String, eventType: String, payload: GoogleProtobuf.Value?, idempotencyKey: String = "", expectedPreviousSeq: UInt64? = nil,
                       requireOpen: Bool = false, keyConflict: String? = nil) async throws(APIError) -> Appended {
        try await submit(.appending(runID: runID, eventType: eventType, payload: payload, idempotencyKey: idempotencyKey, expectedPreviousSeq: expectedPreviousSeq,
                                    requireOpen: requireOpen, keyConflict: keyConflict)).appended()
    }

    func submitWorker(_ intent: WorkerIntent) async throws(APIError) -> RuntimeV1.RuntimeWorker {
        try await submit(.worker(intent)).registeredWorker()
    }

    func submit(_ intent: Intent) async throws(APIError) -> Outcome {
        let result: Result<Outcome, APIError> = await withCheckedContinuation { cont in
            // Only the first intent of a batch wakes the writer (it takes the whole
            // queue at once): the rest join without a futex wake each.
            let first = queue.withLock { q in
                q.append(Pending(intent: intent, done: { cont.resume(returning: $0) }))
                return q.count == 1
            }
            if first { wake.signal() }
        }
        return try result.get()
    }

    /// Pipelined group commit, first half: takes every waiting intent as one
    /// batch, evaluates it against committed state plus the batches still
    /// syncing, writes it, and hands it to the sync thread without waiting, so
    /// batch N+1 is written while batch N's fdatasync is in flight.
    private func writerLoop() {
        while true {
            wake.wait()
            let taken = queue.withLock { q -> [Pending] in let b = q; q.removeAll(keepingCapacity: true); return b }
            if taken.isEmpty { continue }
            if syncEachAppend {
                for p in taken { write([p]) }
            } else {
                write(taken)
            }
        }
    }

    private func write(_ pending: [Pending]) {
        if let failure = broken.withLock({ $0 }) {
            for p in pending { p.done(.failure(failure)) }
            return
        }
        if end - current.base >= segmentBytes {
            do { try roll() } catch {
                fail(APIError.unavailable("event log: cannot start a new segment: \(error.message); restart the service to recover the log"))
                for p in pending { p.done(.failure(broken.withLock { $0 } ?? .internal)) }
                return
            }
        }
        var batch = Batch(lsn: lsn, offset: end, now: RuntimeLedger.timestamp())
        let source = Source(ledger: self)
        let outcomes = pending.map { batch.evaluate($0.intent, against: source) }
        if !batch.lines.isEmpty {
            guard FileIO.writeAll(current.fd, batch.lines) else {
                fail(APIError.unavailable("event log write failed: \(FileIO.lastError()); restart the service to recover the log"))
                for p in pending { p.done(.failure(broken.withLock { $0 } ?? .internal)) }
                return
            }
            lsn = batch.lsn
            end = batch.end
        }
        // Every batch goes through the sync thread, even one that wrote nothing:
        // an idempotent replay of an event still syncing is answered after it.
        committed.withLock { $0.inflight.append(batch) }
        written.withLock { $0.append(Written(segment: current, batch: batch, pending: pending, outcomes: outcomes)) }
        syncWake.signal()
    }

    /// Starts the next segment at the current end. Its directory entry is made
    /// durable before anything is written to it, so a synced record is never in
    /// a file a crash could lose; the old segment stays open until its last
    /// batch is synced.
    private func roll() throws(APIError) {
        let next = try SegmentFile(base: end, path: LogSegments.path(path, base: end), .append)
        guard FileIO.syncDirectory(of: path) else { throw APIError.internalError("cannot sync the log directory: \(FileIO.lastError())") }
        reader.add(try SegmentFile(base: next.base, path: next.path))
        current = next
    }

    /// Pipelined group commit, second half: one fdatasync covers every batch
    /// written so far; then they become visible, are published and answered,
    /// in log order. A request waits for at most one sync it did not join.
    private func syncLoop() {
        while true {
            syncWake.wait()
            let group = written.withLock { w -> [Written] in let g = w; w.removeAll(keepingCapacity: true); return g }
            if group.isEmpty { continue }
            var failure = broken.withLock { $0 }
            if failure == nil {
                // One sync per segment the group wrote to (almost always one), or one
                // per batch when measuring what grouping buys.
                var targets: [SegmentFile] = []
                for w in group where !w.batch.lines.isEmpty {
                    if syncEachAppend || !targets.contains(where: { $0 === w.segment }) { targets.append(w.segment) }
                }
                for target in targets where failure == nil {
                    if syncFile(target.fd) != 0 {
                        failure = fail(APIError.unavailable("event log sync failed: \(FileIO.lastError()); restart the service to recover the log"))
                    }
                }
            }
            for w in group {
                if let failure {
                    committed.withLock { store in if !store.inflight.isEmpty { store.inflight.removeFirst() } }
                    for p in w.pending { p.done(.failure(failure)) }
                    continue
                }
                apply(w.batch)
                if snapshotEvery > 0, !w.batch.records.isEmpty, w.batch.lsn - snapshotLSN.withLock({ $0 }) >= snapshotEvery { snapshotWake.signal() }
                if !w.batch.records.isEmpty {
                    for s in subscribers.withLock({ $0 }) { s(w.batch.records) }
                }
                for (p, o) in zip(w.pending, w.outcomes) { p.done(o) }
            }
        }
    }

    /// Marks the log broken (the first failure wins) and returns the error every write now gets.
    @discardableResult
    private func fail(_ error: APIError) -> APIError {
        broken.withLock { b in
            if b == nil { b = error }
            return b ?? error
        }
    }

    /// A durable batch becomes committed state, and leaves the in-flight list, in one step.
    private func apply(_ batch: Batch) {
        for (r, o) in zip(batch.records, batch.recordOffsets) { reader.remember(r, at: o) }
        committed.withLock { store in
            for (id, staged) in batch.runs {
                if staged.isNew { store.runs[id] = RunHead(run: staged.run) }
                store.runs[id]?.run = staged.run
                let file = store.indexFile
                for (e, offset) in zip(staged.newEvents, staged.newOffsets) { store.runs[id]?.index.append(EventIndex.Entry(e, at: offset), file: file) }
            }
            for (id, w) in batch.workers { store.workers[id] = w }
            for (id, offsets) in batch.workerOffsets {
                let file = store.indexFile
                for o in offsets { store.workerEvents[id, default: EventIndex()].append(EventIndex.Entry(offset: o), file: file) }
            }
            for (key, c) in batch.comms { store.comms[key] = c }
            for call in batch.toolCalls { store.record(call) }
            if let last = batch.recordOffsets.last {
                store.lsn = batch.lsn
                store.lastOffset = last
                store.end = batch.end
            }
            if !store.inflight.isEmpty { store.inflight.removeFirst() }
        }
    }

    // MARK: The writer's view

    /// The embedded writer's `StagingSource`: the batches still syncing (newest first), then committed state.
    struct Source: StagingSource {
        let ledger: RuntimeLedger
        func run(_ id: String) -> RuntimeV1.RuntimeRun? { ledger.writerView(inflight: { $0.runs[id]?.run }, committed: { $0.runs[id]?.run }) }
        func event(forKey key: String, run id: String) -> Result<RuntimeV1.RuntimeRunEvent?, APIError> { ledger.event(forKey: key, run: id) }
        func lastEvent(run id: String) -> Result<RuntimeV1.RuntimeRunEvent?, APIError> { ledger.lastEvent(run: id) }
        func worker(_ id: String) -> RuntimeV1.RuntimeWorker? { ledger.writerView(inflight: { $0.workers[id] }, committed: { $0.workers[id] }) }
        func comms(_ key: String) -> RuntimeV1.CommsDeliveryEventRequest? { ledger.writerView(inflight: { $0.comms[key] }, committed: { $0.comms[key] }) }
        func toolCall(_ receiptID: String) -> RuntimeV1.ToolExecutionRecord? {
            ledger.writerView(inflight: { $0.toolCalls.last { $0.receiptId == receiptID } }, committed: { $0.toolCalls[receiptID] })
        }
    }

    /// The writer's view of anything a batch stages: the newest in-flight
    /// batch that has it, else committed state (one lock, so a batch moving
    /// from in flight to committed is seen in exactly one place).
    func writerView<T>(inflight: (Batch) -> T?, committed read: (borrowing Store) -> T?) -> T? {
        committed.withLock { store in
            for b in store.inflight.reversed() { if let v = inflight(b) { return v } }
            return read(store)
        }
    }

    /// A read of committed state (extensions of the ledger use this).
    func readCommitted<T>(_ read: (borrowing Store) -> T) -> T { committed.withLock { read($0) } }
    /// A change to committed state outside the commit path (compaction forgetting removed events).
    func updateCommitted(_ change: (inout Store) -> Void) { committed.withLock { change(&$0) } }

    /// Where the writer finds an event: in memory (still syncing), or
    /// committed, found through the run's index.
    private enum Located {
        case staged(RuntimeV1.RuntimeRunEvent)
        case committed(EventIndex)
    }

    /// The event an idempotency key names: in a batch still syncing, or
    /// committed (the index gives candidates; the event read back must carry the key).
    private func event(forKey key: String, run id: String) -> Result<RuntimeV1.RuntimeRunEvent?, APIError> {
        let tag = IdempotencyKey.tag(key)
        // The index is copied under the lock (its arrays are shared, not copied)
        // and searched without it: whatever committed after the copy was in flight
        // when it was taken, and the in-flight batches were searched first.
        let found: Located? = writerView(inflight: { b in b.runs[id].flatMap { s in s.newKeys[key].map { .staged(s.newEvents[$0]) } } },
                                         committed: { store in store.runs[id].flatMap { $0.index.hasKeys ? .committed($0.index) : nil } })
        switch found {
        case nil: return .success(nil)
        case .staged(let e): return .success(e)
        case .committed(let index):
            do {
                var original: RuntimeV1.RuntimeRunEvent?
                _ = try index.find(tag: tag, file: indexFile) { seq, entry throws(APIError) in
                    // A compacted event's key is forgotten with it.
                    guard entry.offset != RuntimeLedger.compacted else { return false }
                    guard case .runEvent(let e)? = try reader.record(at: entry.offset).entry, e.runId == id, e.seq == seq else {
                        throw APIError.internalError("event log \(path): event \(seq) of run \(id) is not where \(indexFile.path) says")
                    }
                    if e.idempotencyKey == key { original = e }
                    return original != nil
                }
                return .success(original)
            } catch { return .failure(error) }
        }
    }

    /// The last event of a run as the writer sees it.
    private func lastEvent(run id: String) -> Result<RuntimeV1.RuntimeRunEvent?, APIError> {
        let found: Located? = writerView(inflight: { $0.runs[id]?.newEvents.last.map { .staged($0) } },
                                         committed: { store in store.runs[id].map { .committed($0.index) } })
        switch found {
        case nil: return .success(nil)
        case .staged(let e): return .success(e)
        case .committed(let index):
            do {
                guard let entry = try index.last(file: indexFile), entry.offset != RuntimeLedger.compacted else { return .success(nil) }
                guard case .runEvent(let e)? = try reader.record(at: entry.offset).entry, e.runId == id else {
                    return .failure(.internalError("event log \(path): the last event of run \(id) is not where the index says"))
                }
                return .success(e)
            } catch { return .failure(error) }
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

    /// State rebuilt from durable records, checked again for the history rules a
    /// damaged or hand-edited log could break (each record was validated when written).
    struct History {
        var store: Store
        var lsn: UInt64 = 0
        /// Removed segments by first lsn: the only lsn jumps a history accepts.
        var gaps: [UInt64: RuntimeV1.DroppedSegment] = [:]

        init(index: EventIndexFile) { store = Store(indexFile: index) }

        /// Applies the record whose line starts at byte `offset`.
        mutating func apply(_ record: RuntimeV1.RuntimeLogRecord, at offset: UInt64) throws(LogFile.HistoryProblem) {
            while record.lsn != lsn + 1, let gap = gaps[lsn + 1], gap.lastLsn < record.lsn { try step(over: gap) }
            guard record.lsn == lsn + 1 else { throw .init("lsn \(record.lsn) does not follow \(lsn)") }
            switch record.entry {
            case .runCreated(let run)?:
                guard store.runs[run.runId] == nil else { throw .init("run \(run.runId) created twice") }
                store.runs[run.runId] = RunHead(run: run)
            case .runEvent(let event)?:
                // One in-place access: the run's offsets are never copied.
                try History.apply(event, at: offset, to: &store.runs[event.runId], file: store.indexFile)
            case .workerEvent(let e)?:
                let latest = store.workers[e.workerId]?.latestSeq ?? 0
                guard e.seq == latest + 1 else { throw .init("worker \(e.workerId) seq \(e.seq) does not follow \(latest)") }
                guard let w = e.worker, w.workerId == e.workerId else { throw .init("worker event \(e.seq) for \(e.workerId) carries no worker record") }
                store.workers[e.workerId] = w
                store.workerEvents[e.workerId, default: EventIndex()].append(EventIndex.Entry(offset: offset), file: store.indexFile)
            case .commsDelivery(let c)?:
                store.comms[RuntimeLedger.commsKey(c)] = c
            case .toolExecution(let call)?:
                store.record(call)
            case nil:
                throw .init("record \(record.lsn) has no entry")
            }
            lsn = record.lsn
            store.lsn = record.lsn
            store.lastOffset = offset
        }

        /// A removed segment: each run's seqs jump over exactly the range it held
        /// (no status changed in it); their offsets read as compacted.
        mutating func step(over gap: RuntimeV1.DroppedSegment) throws(LogFile.HistoryProblem) {
            for r in gap.runs {
                guard var head = store.runs.removeValue(forKey: r.runId), head.run.latestSeq + 1 == r.firstSeq, r.lastSeq >= r.firstSeq else {
                    throw .init("removed segment at byte \(gap.base) does not follow run \(r.runId)")
                }
                for _ in r.firstSeq...r.lastSeq { head.index.append(EventIndex.Entry(offset: RuntimeLedger.compacted), file: store.indexFile) }
                head.run.latestSeq = r.lastSeq
                store.runs[r.runId] = head
            }
            lsn = gap.lastLsn
            store.lsn = lsn
        }

        static func apply(_ event: RuntimeV1.RuntimeRunEvent, at offset: UInt64, to slot: inout RunHead?, file: EventIndexFile) throws(LogFile.HistoryProblem) {
            guard slot != nil else { throw .init("event for unknown run \(event.runId)") }
            let latest = slot?.run.latestSeq ?? 0
            guard event.seq == latest + 1 else { throw .init("run \(event.runId) seq \(event.seq) does not follow \(latest)") }
            var status = slot?.run.status ?? .created
            if let t = try? RunStateMachine.transition(eventType: event.eventType, finishStatus: event.eventType == "run.finished" ? JSONValue.stringField(event.payloadJson, "status") : nil),
               let to = try? RunStateMachine.apply(t, to: status) { status = to }
            slot?.index.append(EventIndex.Entry(event, at: offset), file: file)
            if var run = slot?.run {
                RuntimeLedger.update(&run, with: event, status: status)
                slot?.run = run
            }
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

extension EventIndex.Entry {
    /// A run event's entry: where its line is, and its key's tag.
    init(_ event: RuntimeV1.RuntimeRunEvent, at offset: UInt64) {
        self.init(offset: offset, tag: event.idempotencyKey.isEmpty ? 0 : IdempotencyKey.tag(event.idempotencyKey), keyed: !event.idempotencyKey.isEmpty)
    }
}

extension APIError {
    static let `internal` = APIError.internalError("unexpected ledger outcome")
}
