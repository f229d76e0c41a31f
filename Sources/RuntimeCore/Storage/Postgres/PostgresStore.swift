import APIRuntime
import Dispatch
import Foundation
import Generated
import PostgresClient
import ProtoWire
import Synchronization

/// The runtime's records in PostgreSQL: the second backend of `RuntimeStore`,
/// shared by any number of instances, none of which keeps state another needs.
///
/// - **Group commit.** Requests enqueue intents; the writer thread (one by
///   default: a second splits the queue into smaller batches that then wait on
///   each other's row locks, measured slower) takes what is queued as one
///   transaction: it locks the touched runs and workers
///   (`FOR UPDATE`, in id order, so batches never deadlock on them), reads
///   what the write rules need, evaluates every intent with the same rules as
///   the embedded log (`Batch.evaluate`), and writes everything with one
///   statement per table (`unnest` arrays) and one COMMIT: two round trips per
///   batch, PostgreSQL's own fsync. A guard (`openagents_guard`) aborts the
///   transaction if a run's seq moved anyway; a unique violation or deadlock
///   (another instance created the same run or key first) re-evaluates the
///   whole batch, which then sees the winner's rows.
/// - **The change feed.** A record's lsn is its transaction's id shifted left
///   20 bits plus its index in the batch, so lsns rise in transaction order;
///   readers only take records below the oldest running transaction
///   (`pg_snapshot_xmin`), so a transaction that commits late is never skipped:
///   the feed waits for it.
/// - **Fan-out.** After each commit a notifier thread sends a NOTIFY with
///   wake-up hints (`run:<id>:<seq>`, several commits' in one); every instance's follower thread re-reads the
///   feed by cursor when woken (or once a second, in case a hint is lost) and
///   hands new records to subscribers, in feed order.
public final class PostgresStore: RuntimeStore, @unchecked Sendable {
    public let config: PostgresConfig
    let pool: PostgresPool
    public let writers: Int
    static let channel = "openagents_runtime"
    /// At most this many intents per transaction (each writes at most two records; lsn indexes have 20 bits).
    static let maxBatch = 2048

    private struct Pending: Sendable {
        let intent: RuntimeLedger.Intent
        let done: @Sendable (Result<RuntimeLedger.Outcome, APIError>) -> Void
    }
    private let queue = Mutex<[Pending]>([])
    private let wake = DispatchSemaphore(value: 0)
    /// Handlers, and the feed position up to which they have been handed
    /// records (nil: `feedStart`), changed together so a late subscriber
    /// learns exactly where its records begin.
    private let subscribers = Mutex<(handlers: [@Sendable ([RuntimeV1.RuntimeLogRecord]) -> Void], delivered: ChangeCursor?)>(([], nil))
    private let followWake = DispatchSemaphore(value: 0)
    private let running = Atomic<Bool>(true)
    private let stopped = DispatchGroup()
    private var listener: PostgresListener?
    /// Records this instance committed that its follower has not delivered
    /// yet: the follower hands these on without decoding their lines again.
    private let recent = Mutex<[UInt64: RuntimeV1.RuntimeLogRecord]>([:])
    /// The last run records this instance committed or read, by id: a locked
    /// row whose seq matches is not decoded again (a run's body changes only with its seq).
    let heads = Mutex<[String: RuntimeV1.RuntimeRun]>([:])
    static let cacheLimit = 65_536
    /// Wake-up hints waiting for the notifier, which sends them after the
    /// commits on a connection of its own, several commits' hints in one NOTIFY
    /// (never inside a write transaction, where NOTIFY would serialize commits,
    /// and never holding up the writer's next batch).
    private let hintQueue = Mutex<[String]>([])
    private let hintWake = DispatchSemaphore(value: 0)
    /// Where the feed stood when this store opened: its subscribers get every record after it.
    public let feedStart: ChangeCursor
    /// Hints received from other instances, for tests and metrics.
    public let notificationsReceived = Atomic<Int>(0)
    /// The notifier's backend: its own hints come back through LISTEN, and are
    /// dropped there (the commit already woke the follower).
    private let notifierPID = Atomic<Int32>(0)
    /// The follower reads, and the notifier sends, at most this often: under load
    /// one read answers (one NOTIFY carries) the commits of several milliseconds,
    /// at the cost of that much stream latency.
    static let paceNs: UInt64 = 2_000_000

    /// After a wake-up on `wake`: waits out the rest of the pace since `last`,
    /// takes the wake-ups that came meanwhile (one pass answers them all), and
    /// starts the next pace.
    private static func pace(_ last: inout UInt64, _ wake: DispatchSemaphore) {
        let now = DispatchTime.now().uptimeNanoseconds
        if now < last + paceNs { usleep(UInt32((last + paceNs - now) / 1000)) }
        while wake.wait(timeout: .now()) == .success {}
        last = DispatchTime.now().uptimeNanoseconds
    }

    /// Connects, applies missing migrations (or, with `migrate: false`,
    /// refuses a database whose schema is behind), and starts the writers and
    /// the feed follower.
    public init(config: PostgresConfig, writers: Int = 1, poolSize: Int = 8, migrate: Bool = true) throws(APIError) {
        self.config = config
        self.writers = max(1, writers)
        pool = PostgresPool(config: config, size: poolSize)
        let start: ChangeCursor
        do {
            let c = try PostgresConnection.connect(config)
            defer { c.close() }
            if migrate {
                try PostgresSchema.migrate(c)
            } else if let missing = try PostgresSchema.status(c).first(where: { $0.appliedAt == nil }) {
                throw APIError.unavailable("the database lacks migration \(missing.version) (\(missing.name)): run `openagents migrate`")
            }
            let end = try c.query("SELECT coalesce(max(lsn), 0)::text FROM runtime_records WHERE lsn < \(Self.horizon)").rows.first?[0].flatMap { UInt64($0) } ?? 0
            start = Self.cursor(end)
            feedStart = start
        } catch let e as PostgresError {
            throw PostgresSchema.apiError(e, "opening the store")
        } catch let e as APIError {
            throw e
        } catch {
            throw .internalError("\(error)")
        }
        for i in 0..<self.writers {
            stopped.enter()
            let t = Thread { [self] in writerLoop(); stopped.leave() }
            t.name = "pg-writer-\(i)"
            t.start()
        }
        stopped.enter()
        let n = Thread { [self] in notifyLoop(); stopped.leave() }
        n.name = "pg-notify"
        n.start()
        stopped.enter()
        let f = Thread { [self] in follow(from: start); stopped.leave() }
        f.name = "pg-feed"
        f.start()
        let l = PostgresListener(config: config, channels: [Self.channel], resumed: { [followWake] in followWake.signal() }) { [weak self] n in
            guard let self, n.pid != self.notifierPID.load(ordering: .relaxed) else { return }
            self.notificationsReceived.add(1, ordering: .relaxed)
            self.followWake.signal()
        }
        l.start()
        listener = l
    }

    /// Stops the threads and closes the connections (requests still queued get 503).
    public func close() {
        guard running.exchange(false, ordering: .relaxed) else { return }
        listener?.stop()
        for _ in 0..<writers { wake.signal() }
        followWake.signal()
        hintWake.signal()
        stopped.wait()
        for p in queue.withLock({ q -> [Pending] in let all = q; q.removeAll(); return all }) { p.done(.failure(.unavailable("the store is closed"))) }
        pool.close()
    }

    /// False once `close` began: threads that follow the store end with it.
    public var isOpen: Bool { running.load(ordering: .relaxed) }

    /// Whether the database answers now (`/readyz`).
    public func ping() -> String? {
        do { _ = try pool.withConnection { c in try c.query("SELECT 1") }; return nil } catch { return "\(error)" }
    }

    // MARK: Writes

    public func createRun(runID: String = "", threadID: String = "", workerID: String = "", metadata: GoogleProtobuf.Struct? = nil,
                          owner: RuntimeLedger.RunOwner = .init()) async throws(APIError) -> RuntimeLedger.Appended {
        try await submit(.creating(runID: runID, threadID: threadID, workerID: workerID, metadata: metadata, owner: owner)).appended()
    }

    public func append(runID: String, eventType: String, payload: GoogleProtobuf.Value?, idempotencyKey: String = "", expectedPreviousSeq: UInt64? = nil,
                       requireOpen: Bool = false, keyConflict: String? = nil) async throws(APIError) -> RuntimeLedger.Appended {
        try await submit(.appending(runID: runID, eventType: eventType, payload: payload, idempotencyKey: idempotencyKey, expectedPreviousSeq: expectedPreviousSeq,
                                    requireOpen: requireOpen, keyConflict: keyConflict)).appended()
    }

    public func cancel(runID: String, reason: String) async throws(APIError) -> RuntimeLedger.Appended {
        try await submit(.cancel(runID: runID, reason: reason)).appended()
    }

    public func registerWorker(id: String, owner: WorkerOwner, workspaceRef: String = "", codexHomeRef: String = "", adapter: String = "",
                               metadata: GoogleProtobuf.Struct? = nil) async throws(APIError) -> RuntimeV1.RuntimeWorker {
        try await worker(.register(.init(workerID: id, owner: owner, workspaceRef: workspaceRef, codexHomeRef: codexHomeRef, adapter: adapter, metadata: metadata)))
    }

    public func heartbeat(workerID: String, owner: WorkerOwner, metadataPatch: GoogleProtobuf.Struct? = nil) async throws(APIError) -> RuntimeV1.RuntimeWorker {
        try await worker(.heartbeat(workerID: workerID, owner: owner, metadataPatch: metadataPatch))
    }

    public func setWorkerStatus(workerID: String, owner: WorkerOwner, status: RuntimeV1.RuntimeWorkerStatus, reason: String = "") async throws(APIError) -> RuntimeV1.RuntimeWorker {
        try await worker(.status(workerID: workerID, owner: owner, status: status, reason: reason))
    }

    public func ingestComms(_ event: RuntimeV1.CommsDeliveryEventRequest) async throws(APIError) -> Bool {
        try await submit(.comms(event)).recordedBefore()
    }

    public func recordToolCall(_ call: RuntimeV1.ToolExecutionRecord) async throws(APIError) -> (RuntimeV1.ToolExecutionRecord, replay: Bool) {
        try await submit(.tool(call)).recordedTool()
    }

    private func worker(_ intent: WorkerIntent) async throws(APIError) -> RuntimeV1.RuntimeWorker {
        try await submit(.worker(intent)).registeredWorker()
    }

    private func submit(_ intent: RuntimeLedger.Intent) async throws(APIError) -> RuntimeLedger.Outcome {
        guard running.load(ordering: .relaxed) else { throw .unavailable("the store is closed") }
        let result: Result<RuntimeLedger.Outcome, APIError> = await withCheckedContinuation { cont in
            // With one writer only the first intent of a batch wakes it (it takes
            // the queue, and wakes itself while more is left); several writers share it.
            let first = queue.withLock { q in
                q.append(Pending(intent: intent, done: { cont.resume(returning: $0) }))
                return q.count == 1
            }
            if first || writers > 1 { wake.signal() }
        }
        return try result.get()
    }

    private func writerLoop() {
        var connection: PostgresConnection?
        while true {
            wake.wait()
            guard running.load(ordering: .relaxed) else { break }
            let (taken, more) = queue.withLock { q -> ([Pending], Bool) in
                let n = min(q.count, Self.maxBatch)
                let b = Array(q.prefix(n))
                q.removeFirst(n)
                return (b, !q.isEmpty)
            }
            if taken.isEmpty { continue }
            if more { wake.signal() }
            let (outcomes, hints, committed) = commit(taken.map(\.intent), &connection)
            if let committed {
                recent.withLock { r in
                    if r.count > Self.cacheLimit { r.removeAll() }
                    for record in committed.records { r[record.lsn] = record }
                }
                heads.withLock { h in
                    if h.count > Self.cacheLimit { h.removeAll() }
                    for (id, staged) in committed.runs { h[id] = staged.run }
                }
            }
            for (p, o) in zip(taken, outcomes) { p.done(o) }
            if !hints.isEmpty {
                followWake.signal()
                hintQueue.withLock { $0.append(hints) }
                hintWake.signal()
            }
        }
        connection?.close()
    }

    private func notifyLoop() {
        var connection: PostgresConnection?
        var lastSent: UInt64 = 0
        while running.load(ordering: .relaxed) {
            hintWake.wait()
            // Each NOTIFY is a transaction every listener wakes for.
            Self.pace(&lastSent, hintWake)
            let hints = hintQueue.withLock { q -> [String] in let all = q; q.removeAll(keepingCapacity: true); return all }
            if hints.isEmpty { continue }
            // NOTIFY payloads stop at 8000 bytes: past that, one hint says "look".
            var text = hints.joined(separator: " ")
            if text.utf8.count > 7900 { text = "many" }
            if connection == nil || connection?.isBroken == true {
                connection?.close()
                connection = try? PostgresConnection.connect(config)
                // A NOTIFY commits a transaction of its own, with an xid: a hint
                // need not wait for a WAL flush (lost in a crash, it is covered by
                // the readers' safety poll), and so costs no flush of its own.
                _ = try? connection?.simpleQuery("SET synchronous_commit = off")
                notifierPID.store(connection?.backendPID ?? 0, ordering: .relaxed)
            }
            // A lost hint costs latency, not data: readers also poll.
            _ = try? connection?.query("SELECT pg_notify($1, $2)", [Self.channel, text])
        }
        connection?.close()
    }

    private enum Attempt {
        case done([Result<RuntimeLedger.Outcome, APIError>], hints: String, committed: RuntimeLedger.Batch?)
        case retry(PostgresError)
        case failed(APIError)
    }

    /// One batch to its end: committed, refused as a whole (503 when the
    /// database is away), or re-evaluated after a conflict with another writer.
    private func commit(_ intents: [RuntimeLedger.Intent], _ connection: inout PostgresConnection?)
        -> ([Result<RuntimeLedger.Outcome, APIError>], String, RuntimeLedger.Batch?) {
        var lastConflict: PostgresError?
        for _ in 0..<8 {
            let c: PostgresConnection
            if let existing = connection, !existing.isBroken {
                c = existing
            } else {
                connection?.close()
                connection = nil
                do { c = try PostgresConnection.connect(config) } catch {
                    return (intents.map { _ in .failure(PostgresSchema.apiError(error, "connecting to write")) }, "", nil)
                }
                connection = c
            }
            switch attempt(intents, on: c) {
            case .done(let outcomes, let hints, let batch): return (outcomes, hints, batch)
            case .retry(let e): lastConflict = e
            case .failed(let e):
                if c.isBroken { c.close(); connection = nil }
                return (intents.map { _ in .failure(e) }, "", nil)
            }
        }
        let e = APIError.unavailable("the write kept conflicting with other writers: \(lastConflict?.message ?? ""); retry")
        return (intents.map { _ in .failure(e) }, "", nil)
    }

    private func attempt(_ intents: [RuntimeLedger.Intent], on c: PostgresConnection) -> Attempt {
        var read = Reads()
        for i in intents { read.note(i) }
        let (phase1, kinds) = read.queries()
        let results: [Result<PostgresResult, PostgresError>]
        do { results = try c.pipeline(phase1) } catch { return .failed(PostgresSchema.apiError(error, "reading for a write")) }
        if let failure = results.lazy.compactMap({ r -> PostgresError? in if case .failure(let e) = r { return e } else { return nil } }).first {
            return abandon(c, failure)
        }
        let rows = results.compactMap { try? $0.get() }
        let source: Source
        do throws(APIError) { source = try Source(rows, kinds: kinds, connection: c, cached: { id in self.heads.withLock { $0[id] } }) } catch {
            _ = try? c.simpleQuery("ROLLBACK")
            return .failed(error)
        }
        var batch = RuntimeLedger.Batch(lsn: source.tx << 20, offset: 0, now: RuntimeLedger.timestamp())
        let outcomes = intents.map { batch.evaluate($0, against: source) }
        if let failure = source.failure {
            _ = try? c.simpleQuery("ROLLBACK")
            return .failed(failure)
        }
        if batch.records.isEmpty {
            // Replays and refusals only: nothing to write, the locks go.
            do { try c.simpleQuery("COMMIT") } catch { return .failed(PostgresSchema.apiError(error, "ending a read")) }
            return .done(outcomes, hints: "", committed: nil)
        }
        let writes = Writes(batch, source)
        let committed: [Result<PostgresResult, PostgresError>]
        do { committed = try c.pipeline(writes.queries + [PostgresQuery("COMMIT")]) } catch {
            return .failed(APIError.unavailable("the database connection was lost while committing (\(error.message)): the write may or may not be durable; retry with the same idempotency key"))
        }
        if let failure = committed.lazy.compactMap({ r -> PostgresError? in if case .failure(let e) = r { return e } else { return nil } }).first {
            return abandon(c, failure)
        }
        guard case .success(let end)? = committed.last, end.commandTag == "COMMIT" else {
            _ = try? c.simpleQuery("ROLLBACK")
            return .failed(.internalError("database: the batch's transaction did not commit"))
        }
        return .done(outcomes, hints: writes.hints, committed: batch)
    }

    /// After a failed statement inside the transaction: rolls back, and says whether the batch is worth evaluating again.
    private func abandon(_ c: PostgresConnection, _ e: PostgresError) -> Attempt {
        if c.transactionStatus != UInt8(ascii: "I") { _ = try? c.simpleQuery("ROLLBACK") }
        if e.isUniqueViolation || e.isRetryable || e.sqlState == "OA409" { return .retry(e) }
        return .failed(PostgresSchema.apiError(e, "writing"))
    }

    // MARK: Heads and history

    func read<T>(_ action: String, _ body: (PostgresConnection) throws -> T) throws(APIError) -> T {
        do { return try pool.withConnection { c in try body(c) } } catch let e as PostgresError {
            throw PostgresSchema.apiError(e, action)
        } catch let e as APIError {
            throw e
        } catch {
            throw .internalError("database (\(action)): \(error)")
        }
    }

    static func decode<M: ProtoMessage>(_ type: M.Type, _ text: String?) throws(APIError) -> M {
        do { return try M(jsonString: text ?? "") } catch { throw .internalError("database: a stored \(M.self) does not decode: \(error)") }
    }

    static func record(_ line: String?) throws(APIError) -> RuntimeV1.RuntimeLogRecord {
        do throws(LogFile.LineProblem) { return try LogFile.decode(Array((line ?? "").utf8)[...]) } catch {
            throw .internalError("database: a stored record does not decode (\(error))")
        }
    }

    public func runRecord(_ id: String) throws(APIError) -> RuntimeV1.RuntimeRun? {
        let row = try read("reading a run") { c in try c.query("SELECT body FROM runtime_runs WHERE run_id = $1", [id]).rows.first }
        guard let row else { return nil }
        return try Self.decode(RuntimeV1.RuntimeRun.self, row[0])
    }

    public var runIDs: [String] {
        get throws(APIError) { try read("listing runs") { c in try c.query("SELECT run_id FROM runtime_runs ORDER BY run_id").rows.compactMap { $0[0] } } }
    }

    public func worker(_ id: String) throws(APIError) -> RuntimeV1.RuntimeWorker? {
        let row = try read("reading a worker") { c in try c.query("SELECT body FROM runtime_workers WHERE worker_id = $1", [id]).rows.first }
        guard let row else { return nil }
        return try Self.decode(RuntimeV1.RuntimeWorker.self, row[0])
    }

    public var workerIDs: [String] {
        get throws(APIError) { try read("listing workers") { c in try c.query("SELECT worker_id FROM runtime_workers ORDER BY worker_id").rows.compactMap { $0[0] } } }
    }

    public func workers(ownedBy owner: WorkerOwner) throws(APIError) -> [RuntimeV1.RuntimeWorker] {
        let rows = try read("listing workers") { c in
            try c.query("SELECT body FROM runtime_workers WHERE ($1 <> '' AND owner_user = $1) OR ($2 <> '' AND owner_guest = $2) ORDER BY worker_id",
                        [owner.userID, owner.guestScope]).rows
        }
        var out: [RuntimeV1.RuntimeWorker] = []
        for row in rows {
            let w = try Self.decode(RuntimeV1.RuntimeWorker.self, row[0])
            if owner.owns(w) { out.append(w) }
        }
        return out
    }

    public func toolCall(receiptID: String) throws(APIError) -> RuntimeV1.ToolExecutionRecord? {
        let row = try read("reading a tool call") { c in try c.query("SELECT body FROM runtime_tool_calls WHERE receipt_id = $1", [receiptID]).rows.first }
        guard let row else { return nil }
        return try Self.decode(RuntimeV1.ToolExecutionRecord.self, row[0])
    }

    public func budgetSpent(authorizationID: String) throws(APIError) -> UInt64 {
        try read("reading a budget") { c in
            try c.query("SELECT coalesce(sum(cost_sats), 0)::text FROM runtime_tool_calls WHERE authorization_id = $1", [authorizationID]).rows.first?[0].flatMap { UInt64($0) } ?? 0
        }
    }

    /// One statement, so the run record and its events come from one snapshot.
    public func events(of id: String, after seq: UInt64, limit: Int) throws(APIError) -> (run: RuntimeV1.RuntimeRun, events: [RuntimeV1.RuntimeRunEvent])? {
        let rows = try read("reading a run's events") { c in
            try c.query("""
                SELECT r.body, l.line FROM runtime_runs r LEFT JOIN LATERAL (
                    SELECT x.line FROM runtime_run_events e JOIN runtime_records x ON x.lsn = e.lsn
                    WHERE e.run_id = r.run_id AND e.seq > $2 ORDER BY e.seq LIMIT $3) l ON true
                WHERE r.run_id = $1
                """, [id, String(seq), String(max(0, limit))]).rows
        }
        guard let first = rows.first else { return nil }
        let run = try Self.decode(RuntimeV1.RuntimeRun.self, first[0])
        var events: [RuntimeV1.RuntimeRunEvent] = []
        events.reserveCapacity(rows.count)
        for row in rows where row[1] != nil {
            guard case .runEvent(let e)? = try Self.record(row[1]).entry, e.runId == id else { throw .internalError("database: an event row of run \(id) holds another record") }
            events.append(e)
        }
        return (run, events)
    }

    public func workerEvents(of id: String, after seq: UInt64, limit: Int) throws(APIError) -> [RuntimeV1.RuntimeWorkerLogEvent] {
        let rows = try read("reading a worker's events") { c in
            try c.query("""
                SELECT x.line FROM runtime_worker_events e JOIN runtime_records x ON x.lsn = e.lsn
                WHERE e.worker_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3
                """, [id, String(seq), String(max(0, limit))]).rows
        }
        return try rows.map { row throws(APIError) in
            guard case .workerEvent(let e)? = try Self.record(row[0]).entry, e.workerId == id else { throw .internalError("database: an event row of worker \(id) holds another record") }
            return e
        }
    }

    // MARK: Change feed

    /// Records below this lsn belong to transactions that have all ended: nothing can still appear among them.
    static let horizon = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)"

    static func cursor(_ lsn: UInt64) -> ChangeCursor { ChangeCursor(lsn: lsn, position: lsn >> 20) }

    public func changes(after cursor: ChangeCursor, limit: Int) throws(APIError) -> (records: [RuntimeV1.RuntimeLogRecord], next: ChangeCursor) {
        let rows = try feedRows(after: cursor, limit: limit, line: "r.line", checked: true)
        let records = try rows.map { row throws(APIError) in try Self.record(row[1]) }
        return (records, Self.next(rows, cursor))
    }

    /// Only lines that may hold a worker record come back (the same test as the
    /// embedded log's, on the same keys); every lsn does, so the cursor moves past them all.
    static let workerLine = "CASE WHEN " + LogFile.workerEventKeys.map { "strpos(r.line, '\(String(decoding: $0, as: UTF8.self))') > 0" }.joined(separator: " OR ") + " THEN r.line END"

    public func workerChanges(after cursor: ChangeCursor, limit: Int) throws(APIError) -> (records: [RuntimeV1.RuntimeLogRecord], next: ChangeCursor, read: Int) {
        let rows = try feedRows(after: cursor, limit: limit, line: Self.workerLine, checked: true)
        var records: [RuntimeV1.RuntimeLogRecord] = []
        for row in rows where row[1] != nil {
            let record = try Self.record(row[1])
            if record.isWorkerEvent { records.append(record) }
        }
        return (records, Self.next(rows, cursor), rows.count)
    }

    /// The follower's read: `known` hands back a record this instance committed
    /// (already decoded), and the lines of `own` transactions are not sent at all;
    /// the cursor is the follower's own, so it is not checked.
    func changes(after cursor: ChangeCursor, limit: Int, own: [UInt64], known: (UInt64) -> RuntimeV1.RuntimeLogRecord?) throws(APIError) -> (records: [RuntimeV1.RuntimeLogRecord], next: ChangeCursor) {
        let rows = try feedRows(after: cursor, limit: limit, line: "CASE WHEN r.lsn >> 20 = ANY($3::bigint[]) THEN NULL ELSE r.line END",
                                extra: [PostgresArray.text(own.map { String($0) })], checked: false)
        var records: [RuntimeV1.RuntimeLogRecord] = []
        records.reserveCapacity(rows.count)
        for row in rows {
            if let lsn = row[0].flatMap({ UInt64($0) }), let record = known(lsn) {
                records.append(record)
            } else if row[1] != nil {
                records.append(try Self.record(row[1]))
            } else {
                // One of ours whose record left the cache meanwhile: read the page whole.
                return try changes(after: cursor, limit: limit, own: [], known: known)
            }
        }
        return (records, Self.next(rows, cursor))
    }

    /// Up to `limit` (lsn, `line`) rows of the feed after `cursor`, below the
    /// horizon; `extra` are `line`'s parameters from `$3`; `checked`: a cursor
    /// this store never issued (no record at its lsn) is refused.
    private func feedRows(after cursor: ChangeCursor, limit: Int, line: String, extra: [String] = [], checked: Bool) throws(APIError) -> [[String?]] {
        let refused = APIError.invalidRequest("cursor \(cursor.token) was not issued by this store")
        if checked { guard cursor == .start || (cursor.position == cursor.lsn >> 20 && cursor.lsn & 0xFFFFF != 0) else { throw refused } }
        var queries = [PostgresQuery("SELECT r.lsn::text, \(line) FROM runtime_records r WHERE r.lsn > $1 AND r.lsn < \(Self.horizon) ORDER BY r.lsn LIMIT $2",
                                     [String(cursor.lsn), String(max(0, limit))] + extra)]
        let check = checked && cursor.lsn > 0
        if check { queries.append(PostgresQuery("SELECT 1 FROM runtime_records WHERE lsn = $1", [String(cursor.lsn)])) }
        let results = try read("reading the change feed") { c in try c.pipeline(queries).map { try $0.get() } }
        if check, results[1].rows.isEmpty { throw refused }
        return results[0].rows
    }

    /// The cursor after a page's last row (every row, decoded or not).
    private static func next(_ rows: [[String?]], _ cursor: ChangeCursor) -> ChangeCursor {
        rows.last.flatMap { $0[0] }.flatMap { UInt64($0) }.map { Self.cursor($0) } ?? cursor
    }

    public func subscribe(_ handler: @escaping @Sendable ([RuntimeV1.RuntimeLogRecord]) -> Void) {
        _ = subscription(handler)
    }

    /// Subscribes; the handler gets every record after the returned cursor, in feed order.
    func subscription(_ handler: @escaping @Sendable ([RuntimeV1.RuntimeLogRecord]) -> Void) -> ChangeCursor {
        subscribers.withLock { s in
            s.handlers.append(handler)
            return s.delivered ?? feedStart
        }
    }

    /// Follows the feed from where it stood at start-up, woken by commits
    /// (ours and, through NOTIFY, other instances') and once a second.
    private func follow(from start: ChangeCursor) {
        var cursor = start
        var lastRead: UInt64 = 0
        while running.load(ordering: .relaxed) {
            _ = followWake.wait(timeout: .now() + .seconds(1))
            Self.pace(&lastRead, followWake)
            while running.load(ordering: .relaxed) {
                let own = recent.withLock { r in Array(Set(r.keys.lazy.map { $0 >> 20 })) }
                guard let page = try? changes(after: cursor, limit: 1024, own: own, known: { lsn in self.recent.withLock { $0.removeValue(forKey: lsn) } }) else { break }
                if !page.records.isEmpty {
                    // Handlers only hand records on (they never subscribe), so they run under the lock.
                    subscribers.withLock { s in
                        for h in s.handlers { h(page.records) }
                        s.delivered = page.next
                    }
                    cursor = page.next
                }
                // A short page is the end of the feed as that read saw it.
                if page.records.count < 1024 { break }
            }
        }
    }
}

extension PostgresStore {
    /// What a batch reads before its rules run, collected from its intents.
    struct Reads {
        var runs = Set<String>()
        var keys = Set<Pair>()
        var workers = Set<String>()
        var comms = Set<String>()
        var receipts = Set<String>()
        struct Pair: Hashable { var run: String; var key: String }

        mutating func note(_ intent: RuntimeLedger.Intent) {
            switch intent {
            case .create(let id, _, _, _, _): runs.insert(id)
            case .cancel(let id, _): runs.insert(id)
            case .append(let a):
                runs.insert(a.runID)
                if !a.key.isEmpty { keys.insert(Pair(run: a.runID, key: a.key)) }
            case .worker(.register(let r)): if !r.workerID.whitespaceTrimmed.isEmpty { workers.insert(r.workerID.whitespaceTrimmed) }
            case .worker(.heartbeat(let id, _, _)), .worker(.status(let id, _, _, _)): workers.insert(id)
            case .comms(let e): comms.insert(RuntimeLedger.commsKey(e))
            case .tool(let t): receipts.insert(t.receiptId)
            }
        }

        /// BEGIN, the transaction's id, then one statement per kind: the rows to
        /// change locked in id order (what another writer holds is waited for and
        /// then read as it committed), then what the rules compare against.
        enum Kind: CaseIterable { case runs, workers, keys, comms, receipts }

        /// BEGIN, the transaction's id, then one statement per kind the batch
        /// touches (none for a kind it does not): the rows to change locked in id
        /// order (what another writer holds is waited for and then read as it
        /// committed), then what the rules compare against.
        func queries() -> (queries: [PostgresQuery], kinds: [Kind]) {
            var q = [PostgresQuery("BEGIN"), PostgresQuery("SELECT pg_current_xact_id()::text")]
            var kinds: [Kind] = []
            if !runs.isEmpty {
                kinds.append(.runs)
                q.append(PostgresQuery("SELECT run_id, body, last_seq::text FROM runtime_runs WHERE run_id = ANY($1::text[]) ORDER BY run_id FOR UPDATE",
                                       [PostgresArray.text(runs.sorted())]))
            }
            if !workers.isEmpty {
                kinds.append(.workers)
                q.append(PostgresQuery("SELECT worker_id, body FROM runtime_workers WHERE worker_id = ANY($1::text[]) ORDER BY worker_id FOR UPDATE",
                                       [PostgresArray.text(workers.sorted())]))
            }
            if !keys.isEmpty {
                kinds.append(.keys)
                let pairs = keys.sorted { ($0.run, $0.key) < ($1.run, $1.key) }
                q.append(PostgresQuery("""
                    SELECT e.run_id, e.idem_key, x.line FROM unnest($1::text[], $2::text[]) AS k(run_id, idem_key)
                    JOIN runtime_run_events e ON e.run_id = k.run_id AND e.idem_key = k.idem_key JOIN runtime_records x ON x.lsn = e.lsn
                    """, [PostgresArray.text(pairs.map(\.run)), PostgresArray.text(pairs.map(\.key))]))
            }
            if !comms.isEmpty {
                kinds.append(.comms)
                q.append(PostgresQuery("SELECT key, body FROM runtime_comms WHERE key = ANY($1::text[])", [PostgresArray.text(comms.sorted())]))
            }
            if !receipts.isEmpty {
                kinds.append(.receipts)
                q.append(PostgresQuery("SELECT receipt_id, body FROM runtime_tool_calls WHERE receipt_id = ANY($1::text[])", [PostgresArray.text(receipts.sorted())]))
            }
            return (q, kinds)
        }
    }

    /// The PostgreSQL writer's `StagingSource`: the rows its transaction read.
    struct Source: StagingSource {
        let tx: UInt64
        var runs: [String: RuntimeV1.RuntimeRun] = [:]
        var workers: [String: RuntimeV1.RuntimeWorker] = [:]
        var keyed: [Reads.Pair: RuntimeV1.RuntimeRunEvent] = [:]
        var comms: [String: RuntimeV1.CommsDeliveryEventRequest] = [:]
        var tools: [String: RuntimeV1.ToolExecutionRecord] = [:]
        let connection: PostgresConnection
        /// A failure of a read made during evaluation (the batch is then not committed).
        var failure: APIError? { failed.error }
        private final class Failure { var error: APIError? }
        private let failed = Failure()

        init(_ r: [PostgresResult], kinds: [Reads.Kind], connection: PostgresConnection, cached: (String) -> RuntimeV1.RuntimeRun?) throws(APIError) {
            self.connection = connection
            guard let tx = r[1].rows.first?[0].flatMap({ UInt64($0) }), tx < 1 << 43 else { throw .internalError("database: no usable transaction id") }
            self.tx = tx
            for (kind, result) in zip(kinds, r.dropFirst(2)) {
                for row in result.rows {
                    guard let id = row[0] else { continue }
                    switch kind {
                    case .runs:
                        if let known = cached(id), String(known.latestSeq) == row[2] { runs[id] = known } else { runs[id] = try PostgresStore.decode(RuntimeV1.RuntimeRun.self, row[1]) }
                    case .workers: workers[id] = try PostgresStore.decode(RuntimeV1.RuntimeWorker.self, row[1])
                    case .keys:
                        guard let key = row[1], case .runEvent(let e)? = try PostgresStore.record(row[2]).entry else { continue }
                        keyed[Reads.Pair(run: id, key: key)] = e
                    case .comms: comms[id] = try PostgresStore.decode(RuntimeV1.CommsDeliveryEventRequest.self, row[1])
                    case .receipts: tools[id] = try PostgresStore.decode(RuntimeV1.ToolExecutionRecord.self, row[1])
                    }
                }
            }
        }

        func run(_ id: String) -> RuntimeV1.RuntimeRun? { runs[id] }
        func event(forKey key: String, run id: String) -> Result<RuntimeV1.RuntimeRunEvent?, APIError> { .success(keyed[Reads.Pair(run: id, key: key)]) }
        func worker(_ id: String) -> RuntimeV1.RuntimeWorker? { workers[id] }
        func comms(_ key: String) -> RuntimeV1.CommsDeliveryEventRequest? { comms[key] }
        func toolCall(_ receiptID: String) -> RuntimeV1.ToolExecutionRecord? { tools[receiptID] }

        /// Only a repeated cancel asks: read then, inside the same transaction.
        func lastEvent(run id: String) -> Result<RuntimeV1.RuntimeRunEvent?, APIError> {
            do {
                let rows = try connection.query("""
                    SELECT x.line FROM runtime_run_events e JOIN runtime_records x ON x.lsn = e.lsn WHERE e.run_id = $1 ORDER BY e.seq DESC LIMIT 1
                    """, [id]).rows
                guard let row = rows.first else { return .success(nil) }
                guard case .runEvent(let e)? = try PostgresStore.record(row[0]).entry else { return .success(nil) }
                return .success(e)
            } catch let e as PostgresError {
                let error = PostgresSchema.apiError(e, "reading a run's last event")
                failed.error = error
                return .failure(error)
            } catch let e as APIError {
                return .failure(e)
            } catch {
                return .failure(.internalError("\(error)"))
            }
        }
    }

    /// A staged batch as one statement per table, and the wake-up hints for after its commit.
    struct Writes {
        var queries: [PostgresQuery] = []
        var hints = ""

        init(_ batch: RuntimeLedger.Batch, _ source: Source) {
            // Each record's line as the embedded log writes it (without the newline).
            var lsnAt: [UInt64: UInt64] = [:]
            var lines: [String] = []
            lines.reserveCapacity(batch.records.count)
            for (i, (record, offset)) in zip(batch.records, batch.recordOffsets).enumerated() {
                let end = i + 1 < batch.recordOffsets.count ? Int(batch.recordOffsets[i + 1]) : batch.lines.count
                lines.append(String(decoding: batch.lines[Int(offset)..<(end - 1)], as: UTF8.self))
                lsnAt[offset] = record.lsn
            }
            queries.append(PostgresRows.records(lsns: batch.records.map(\.lsn), lines: lines))
            var ev = (runs: [String](), seqs: [UInt64](), keys: [String](), lsns: [UInt64]())
            var created = (ids: [String](), seqs: [UInt64](), bodies: [String]())
            var moved = (ids: [String](), seqs: [UInt64](), previous: [UInt64](), bodies: [String]())
            var hinted: [String] = []
            for (id, staged) in batch.runs.sorted(by: { $0.key < $1.key }) where !staged.newEvents.isEmpty {
                for (e, offset) in zip(staged.newEvents, staged.newOffsets) {
                    ev.runs.append(id)
                    ev.seqs.append(e.seq)
                    ev.keys.append(e.idempotencyKey)
                    ev.lsns.append(lsnAt[offset] ?? 0)
                }
                let body = (try? staged.run.jsonString()) ?? "{}"
                if staged.isNew {
                    created.ids.append(id); created.seqs.append(staged.run.latestSeq); created.bodies.append(body)
                } else {
                    moved.ids.append(id); moved.seqs.append(staged.run.latestSeq); moved.bodies.append(body)
                    moved.previous.append(source.runs[id]?.latestSeq ?? 0)
                }
                hinted.append("run:\(id):\(staged.run.latestSeq)")
            }
            if !created.ids.isEmpty {
                queries.append(PostgresRows.newRuns(ids: created.ids, seqs: created.seqs, bodies: created.bodies))
            }
            if !moved.ids.isEmpty {
                queries.append(PostgresRows.movedHeads(table: "runtime_runs", id: "run_id", ids: moved.ids, seqs: moved.seqs, previous: moved.previous, bodies: moved.bodies))
            }
            if !ev.runs.isEmpty {
                queries.append(PostgresRows.runEvents(runs: ev.runs, seqs: ev.seqs, keys: ev.keys, lsns: ev.lsns))
            }
            var wNew = (ids: [String](), users: [String](), guests: [String](), seqs: [UInt64](), bodies: [String]())
            var wMoved = (ids: [String](), seqs: [UInt64](), previous: [UInt64](), bodies: [String]())
            var wEvents = (ids: [String](), seqs: [UInt64](), lsns: [UInt64]())
            for (id, w) in batch.workers.sorted(by: { $0.key < $1.key }) {
                let body = (try? w.jsonString()) ?? "{}"
                if let before = source.workers[id] {
                    wMoved.ids.append(id); wMoved.seqs.append(w.latestSeq); wMoved.previous.append(before.latestSeq); wMoved.bodies.append(body)
                } else {
                    wNew.ids.append(id); wNew.users.append(w.ownerUserRef); wNew.guests.append(w.ownerGuestScope.whitespaceTrimmed)
                    wNew.seqs.append(w.latestSeq); wNew.bodies.append(body)
                }
                let offsets = batch.workerOffsets[id] ?? []
                for (k, offset) in offsets.enumerated() {
                    wEvents.ids.append(id)
                    wEvents.seqs.append(w.latestSeq - UInt64(offsets.count - 1 - k))
                    wEvents.lsns.append(lsnAt[offset] ?? 0)
                }
                hinted.append("worker:\(id):\(w.latestSeq)")
            }
            if !wNew.ids.isEmpty {
                queries.append(PostgresRows.newWorkers(ids: wNew.ids, users: wNew.users, guests: wNew.guests, seqs: wNew.seqs, bodies: wNew.bodies))
            }
            if !wMoved.ids.isEmpty {
                queries.append(PostgresRows.movedHeads(table: "runtime_workers", id: "worker_id", ids: wMoved.ids, seqs: wMoved.seqs, previous: wMoved.previous, bodies: wMoved.bodies))
            }
            if !wEvents.ids.isEmpty {
                queries.append(PostgresRows.workerEvents(ids: wEvents.ids, seqs: wEvents.seqs, lsns: wEvents.lsns))
            }
            if !batch.comms.isEmpty {
                let sorted = batch.comms.sorted { $0.key < $1.key }
                queries.append(PostgresRows.comms(keys: sorted.map(\.key), bodies: sorted.map { (try? $0.value.jsonString()) ?? "{}" }))
            }
            if !batch.toolCalls.isEmpty {
                let calls = batch.toolCalls.sorted { $0.receiptId < $1.receiptId }
                queries.append(PostgresRows.toolCalls(ids: calls.map(\.receiptId), authorizations: calls.map(\.authorizationId), costs: calls.map(\.costSats),
                                                      bodies: calls.map { (try? $0.jsonString()) ?? "{}" }))
            }
            hints = hinted.isEmpty ? "feed" : hinted.joined(separator: " ")
        }
    }
}

extension PostgresStore: NonceLedger {
    /// One statement: a new nonce, or one whose earlier use has expired, is
    /// spent (a row comes back); a live one is not. Expired rows are swept now and then.
    public func spend(nonce: String, expires: Int64, now: Int64) throws(APIError) -> Bool {
        let sweep = now % 16 == 0
        return try read("spending a request nonce") { c in
            var q = [PostgresQuery("""
                INSERT INTO runtime_nonces (nonce, expires_at) VALUES ($1, $2)
                ON CONFLICT (nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE runtime_nonces.expires_at <= $3 RETURNING 1
                """, [nonce, String(expires), String(now)])]
            if sweep { q.append(PostgresQuery("DELETE FROM runtime_nonces WHERE expires_at <= $1", [String(now)])) }
            return try c.pipeline(q)[0].get().rows.count == 1
        }
    }
}

extension PostgresStore: PollGuardLedger {
    /// One statement: the previous poll's time as it stood, and whether this
    /// one was recorded (only when the interval has passed). Stale rows are swept now and then.
    public func admitPoll(key: String, nowMs: UInt64, minIntervalMs: UInt64) throws(APIError) -> UInt64? {
        let row = try read("checking the poll interval") { c in
            var q = [PostgresQuery("""
                WITH prev AS (SELECT last_ms FROM khala_poll_guard WHERE key = $1),
                     up AS (INSERT INTO khala_poll_guard (key, last_ms) VALUES ($1, $2)
                            ON CONFLICT (key) DO UPDATE SET last_ms = excluded.last_ms WHERE khala_poll_guard.last_ms <= $2 - $3 RETURNING 1)
                SELECT (SELECT last_ms::text FROM prev), (SELECT count(*)::text FROM up)
                """, [key, String(nowMs), String(minIntervalMs)])]
            if nowMs % 64 == 0 { q.append(PostgresQuery("DELETE FROM khala_poll_guard WHERE last_ms < $1", [String(nowMs - min(nowMs, 600_000))])) }
            return try c.pipeline(q)[0].get().rows.first
        }
        guard let row, row[1] == "0", let last = row[0].flatMap({ UInt64($0) }) else { return nil }
        // Refused: the interval since the last admitted poll has not passed (a clock a little behind counts as no time).
        return minIntervalMs - min(minIntervalMs, nowMs > last ? nowMs - last : 0)
    }
}

extension PostgresStore: SharedLocks {
    /// A session advisory lock on a connection checked out of the pool for
    /// the body's duration (tried every 5 ms rather than waited for, so no
    /// thread blocks on another instance's call). If the connection dies
    /// meanwhile the server releases the lock: the body still finishes.
    public func withSharedLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T {
        let c: PostgresConnection
        do { c = try pool.checkOut() } catch { throw PostgresSchema.apiError(error, "taking a shared lock") }
        defer { pool.checkIn(c) }
        let deadline = Date().addingTimeInterval(config.queryTimeout)
        while true {
            do {
                if try c.query("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", [key]).rows.first?[0] == "t" { break }
            } catch { throw PostgresSchema.apiError(error, "taking a shared lock") }
            guard Date() < deadline else { throw APIError.unavailable("the shared lock \(key) stayed taken for \(Int(config.queryTimeout)) s") }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        defer { _ = try? c.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [key]) }
        return try await body()
    }
}
