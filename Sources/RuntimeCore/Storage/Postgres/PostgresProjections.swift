import APIRuntime
import Foundation
import Generated
import PostgresClient
import ProtoWire
import Synchronization

/// The run and worker read models of every instance on one database, kept by
/// exactly one of them: the holder of an advisory lease folds the change feed
/// into `runtime_projections` with the embedded projector's rules
/// (`Projector.apply`), moving the shared cursor (`runtime_projector.lsn`) in
/// the same transaction as the rows. The others only read the tables, so
/// every instance answers the same read models. When the holder stops or
/// dies its lease ends with its session and another instance takes over
/// within about a second, resuming from the shared cursor.
///
/// The cursor update is guarded (`lsn` must still be what the fold read): a
/// former holder that lost its lease mid-fold cannot commit over its
/// successor's work, and a replayed record is a no-op by the apply rule anyway.
public final class PostgresProjections: Projections, @unchecked Sendable {
    /// `'oa.proj'` as a number.
    static let leaseKey: Int64 = 0x6f61_2e70_726f_6a
    /// Records folded per transaction at most.
    static let page = 4096
    /// Records a non-holder keeps for a takeover before it drops them (it then reads the feed instead).
    static let inboxLimit = 65_536

    let store: PostgresStore
    let lease: PostgresLease
    /// At least this long between two folds: under load one transaction carries many commits' records.
    let interval: Double
    /// Every feed record after `after`, in order: what this instance's follower
    /// already decoded, so a holder folds them without reading the feed again.
    private let inbox: Mutex<(after: UInt64, records: [RuntimeV1.RuntimeLogRecord])>
    private let wake = DispatchSemaphore(value: 0)
    private let ready = Atomic<Bool>(false)
    private let stopped = DispatchGroup()
    /// Feed records this instance folded into the shared tables (exactly one instance's grows).
    public let folded = Atomic<Int>(0)
    public var loadProblem: String? { nil }
    public var isReady: Bool { ready.load(ordering: .acquiring) }
    /// Whether this instance is the one folding now.
    public var isHolder: Bool { lease.isHeld }

    public init(store: PostgresStore, interval: Double = 0.1, leaseInterval: Double = 1) {
        self.store = store
        self.interval = interval
        lease = PostgresLease(config: store.config, key: Self.leaseKey, interval: leaseInterval)
        inbox = Mutex((store.feedStart.lsn, []))
        let start = store.subscription { [weak self] in self?.receive($0) }
        inbox.withLock { $0.after = start.lsn }
        stopped.enter()
        let t = Thread { [self] in loop(); stopped.leave() }
        t.name = "pg-projector"
        t.start()
    }

    private func receive(_ records: [RuntimeV1.RuntimeLogRecord]) {
        inbox.withLock { box in
            if box.records.count + records.count > Self.inboxLimit {
                box.after = records.last?.lsn ?? box.after
                box.records.removeAll()
            } else {
                box.records += records
            }
        }
        wake.signal()
    }

    /// Gives the lease up and waits for the loop to end (closing the store ends it too).
    public func stop() {
        lease.stop()
        wake.signal()
        stopped.wait()
    }

    private func loop() {
        var cursor: UInt64?
        var last: UInt64 = 0
        while store.isOpen && !lease.isStopped {
            _ = wake.wait(timeout: .now() + .milliseconds(200))
            let now = DispatchTime.now().uptimeNanoseconds
            let wait = UInt64(interval * 1e9)
            if now - last < wait { usleep(UInt32((wait - (now - last)) / 1000)) }
            last = DispatchTime.now().uptimeNanoseconds
            guard store.isOpen && !lease.isStopped else { break }
            do throws(APIError) {
                if lease.isHeld {
                    let from: UInt64
                    if let cursor { from = cursor } else { from = try readCursor() }
                    cursor = try foldAll(after: from)
                } else {
                    cursor = try readCursor()
                }
                if let c = cursor {
                    trim(upTo: c)
                    if c >= store.feedStart.lsn { ready.store(true, ordering: .releasing) }
                }
            } catch {
                // Another holder moved the cursor, or the database is away: read it afresh next time.
                cursor = nil
            }
        }
        lease.stop()
    }

    private func readCursor() throws(APIError) -> UInt64 {
        try store.read("reading the projector cursor") { c in
            try c.query("SELECT lsn::text FROM runtime_projector WHERE id = 1").rows.first?[0].flatMap { UInt64($0) } ?? 0
        }
    }

    private func trim(upTo lsn: UInt64) {
        inbox.withLock { box in
            guard lsn > box.after else { return }
            let n = box.records.firstIndex { $0.lsn > lsn } ?? box.records.count
            box.records.removeFirst(n)
            box.after = lsn
        }
    }

    /// Folds pages until the feed is caught up; returns the shared cursor.
    private func foldAll(after start: UInt64) throws(APIError) -> UInt64 {
        var cursor = start
        while store.isOpen && lease.isHeld {
            let records = try records(after: cursor)
            guard let end = records.last?.lsn else { break }
            try fold(records, from: cursor, to: end)
            folded.add(records.count, ordering: .relaxed)
            cursor = end
            trim(upTo: end)
            if records.count < Self.page { break }
        }
        return cursor
    }

    /// The next page after `lsn`: from the inbox when it reaches back that far, else from the feed.
    private func records(after lsn: UInt64) throws(APIError) -> [RuntimeV1.RuntimeLogRecord] {
        let local: [RuntimeV1.RuntimeLogRecord]? = inbox.withLock { box in
            guard box.after <= lsn else { return nil }
            let from = box.records.firstIndex { $0.lsn > lsn } ?? box.records.count
            return Array(box.records[from..<min(box.records.count, from + Self.page)])
        }
        if let local { return local }
        return try store.changes(after: PostgresStore.cursor(lsn), limit: Self.page).records
    }

    /// Folds one page into the tables in one transaction, if the shared cursor still stands at `from`.
    private func fold(_ records: [RuntimeV1.RuntimeLogRecord], from: UInt64, to end: UInt64) throws(APIError) {
        var topics: [String: (run: Bool, id: String)] = [:]
        for r in records {
            switch r.entry {
            case .runEvent(let e)?: topics[Projector.runTopic(e.runId)] = (true, e.runId)
            case .workerEvent(let e)?: topics[Projector.workerTopic(e.workerId)] = (false, e.workerId)
            default: break
            }
        }
        let names = topics.keys.sorted()
        try store.read("folding the read models") { c throws -> Void in
            let rows = try c.query("""
                SELECT p.lsn::text, r.topic, r.checkpoint, r.summary, r.drift FROM runtime_projector p
                LEFT JOIN runtime_projections r ON r.topic = ANY($1::text[]) WHERE p.id = 1
                """, [PostgresArray.text(names)]).rows
            guard rows.first?[0].flatMap({ UInt64($0) }) == from else { throw APIError.conflict("the projector cursor moved") }
            var state = Projector.State()
            for row in rows {
                guard let topic = row[1], let (run, id) = topics[topic] else { continue }
                state.checkpoints[topic] = try PostgresStore.decode(RuntimeV1.ProjectorCheckpoint.self, row[2])
                let summary = try PostgresStore.decode(RuntimeV1.ProjectionSummary.self, row[3])
                if run { state.runSummaries[id] = summary } else { state.workerSummaries[id] = summary }
                if let d = row[4], !d.isEmpty { state.driftReports[topic] = try PostgresStore.decode(RuntimeV1.DriftReport.self, d) }
            }
            let now = Date()
            for r in records { Projector.apply(r, to: &state, now: now) }
            var checkpoints: [String] = [], summaries: [String] = [], drifts: [String] = []
            for topic in names {
                guard let (run, id) = topics[topic] else { continue }
                checkpoints.append(try state.checkpoints[topic].map { try $0.jsonString() } ?? "{}")
                summaries.append(try (run ? state.runSummaries[id] : state.workerSummaries[id]).map { try $0.jsonString() } ?? "{}")
                drifts.append(try state.driftReports[topic].map { try $0.jsonString() } ?? "")
            }
            // Derived data: the fold's commit need not wait for the WAL flush (appends'
            // commits do). Lost in a crash, it is lost with its cursor, and re-folded.
            var queries = [PostgresQuery("SELECT set_config('synchronous_commit', 'off', true)"),
                           PostgresQuery("UPDATE runtime_projector SET lsn = $2 WHERE id = 1 AND openagents_guard(lsn = $1, 'the projector cursor moved')",
                                         [String(from), String(end)])]
            if !names.isEmpty {
                queries.append(PostgresQuery("""
                    INSERT INTO runtime_projections (topic, checkpoint, summary, drift)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                    ON CONFLICT (topic) DO UPDATE SET checkpoint = excluded.checkpoint, summary = excluded.summary, drift = excluded.drift
                    """, [PostgresArray.text(names), PostgresArray.text(checkpoints), PostgresArray.text(summaries), PostgresArray.text(drifts)]))
            }
            for result in try c.transaction(queries) { _ = try result.get() }
        }
    }

    // MARK: Reading

    private func row(_ topic: String) throws(APIError) -> [String?]? {
        try store.read("reading a read model") { c in
            try c.query("SELECT checkpoint, summary, drift FROM runtime_projections WHERE topic = $1", [topic]).rows.first
        }
    }

    public func checkpoint(topic: String) throws(APIError) -> RuntimeV1.ProjectorCheckpoint? {
        guard let row = try row(topic) else { return nil }
        return try PostgresStore.decode(RuntimeV1.ProjectorCheckpoint.self, row[0])
    }

    public func runSummary(_ runID: String) throws(APIError) -> RuntimeV1.ProjectionSummary? {
        guard let row = try row(Projector.runTopic(runID)) else { return nil }
        return Projector.hashed(try PostgresStore.decode(RuntimeV1.ProjectionSummary.self, row[1]))
    }

    public func workerSummary(_ workerID: String) throws(APIError) -> RuntimeV1.ProjectionSummary? {
        guard let row = try row(Projector.workerTopic(workerID)) else { return nil }
        return Projector.hashed(try PostgresStore.decode(RuntimeV1.ProjectionSummary.self, row[1]))
    }

    public func drift(topic: String) throws(APIError) -> RuntimeV1.DriftReport? {
        guard let row = try row(topic), let d = row[2], !d.isEmpty else { return nil }
        return try PostgresStore.decode(RuntimeV1.DriftReport.self, d)
    }
}
