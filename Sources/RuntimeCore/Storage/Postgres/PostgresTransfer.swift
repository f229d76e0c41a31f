import APIRuntime
import Foundation
import Generated
import PostgresClient

/// Moving a deployment between the embedded log and PostgreSQL without
/// losing anything: every record is copied in feed order with its content
/// unchanged (only the lsn is the destination's own numbering), so runs,
/// events, receipts and replays read back byte-identical.
public enum PostgresTransfer {
    public struct Report: Sendable, Equatable {
        public var records = 0
        public var runs = 0
        public var workers = 0
    }

    /// Records copied per transaction (lsn indexes have 20 bits).
    static let chunk = 4096

    /// Copies the embedded log at `eventLog` into an empty PostgreSQL database
    /// (migrated first). Refuses a database that already holds records.
    public static func importLog(_ eventLog: String, into config: PostgresConfig) throws -> Report {
        let ledger = try RuntimeLedger(path: eventLog, snapshotEvery: 0)
        let c = try PostgresConnection.connect(config)
        defer { c.close() }
        try PostgresSchema.migrate(c)
        guard try c.query("SELECT count(*)::text FROM (SELECT 1 FROM runtime_records LIMIT 1) x").rows.first?[0] == "0" else {
            throw APIError.conflict("the database already holds runtime records: import only into an empty one")
        }
        var report = Report()
        var cursor = ChangeCursor.start
        var receipts = Set<String>()
        var commsKeys = Set<String>()
        while true {
            let page = try ledger.changes(after: cursor, limit: chunk)
            if page.records.isEmpty { break }
            cursor = page.next
            try c.simpleQuery("BEGIN")
            guard let tx = try c.query("SELECT pg_current_xact_id()::text").rows.first?[0].flatMap({ UInt64($0) }) else { throw APIError.internalError("no transaction id") }
            var lsns: [UInt64] = [], lines: [String] = []
            var ev = (runs: [String](), seqs: [UInt64](), keys: [String](), lsns: [UInt64]())
            var wev = (ids: [String](), seqs: [UInt64](), lsns: [UInt64]())
            var comms = (keys: [String](), bodies: [String]())
            var tools = (ids: [String](), auths: [String](), costs: [UInt64](), bodies: [String]())
            for (i, original) in page.records.enumerated() {
                var r = original
                r.lsn = tx << 20 | UInt64(i + 1)
                lsns.append(r.lsn)
                lines.append(String(decoding: LogFile.line(for: r).dropLast(), as: UTF8.self))
                switch r.entry {
                case .runEvent(let e)?:
                    ev.runs.append(e.runId); ev.seqs.append(e.seq); ev.keys.append(e.idempotencyKey); ev.lsns.append(r.lsn)
                case .workerEvent(let e)?:
                    wev.ids.append(e.workerId); wev.seqs.append(e.seq); wev.lsns.append(r.lsn)
                case .commsDelivery(let e)?:
                    let key = RuntimeLedger.commsKey(e)
                    if commsKeys.insert(key).inserted { comms.keys.append(key); comms.bodies.append(try e.jsonString()) }
                case .toolExecution(let t)?:
                    if receipts.insert(t.receiptId).inserted {
                        tools.ids.append(t.receiptId); tools.auths.append(t.authorizationId); tools.costs.append(t.costSats); tools.bodies.append(try t.jsonString())
                    }
                case .runCreated?, nil: break
                }
            }
            var q = [PostgresQuery("INSERT INTO runtime_records (lsn, line) SELECT * FROM unnest($1::bigint[], $2::text[])", [PostgresArray.int(lsns), PostgresArray.text(lines)])]
            if !ev.runs.isEmpty {
                q.append(PostgresQuery("INSERT INTO runtime_run_events (run_id, seq, idem_key, lsn) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[])",
                                       [PostgresArray.text(ev.runs), PostgresArray.int(ev.seqs), PostgresArray.text(ev.keys), PostgresArray.int(ev.lsns)]))
            }
            if !wev.ids.isEmpty {
                q.append(PostgresQuery("INSERT INTO runtime_worker_events (worker_id, seq, lsn) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])",
                                       [PostgresArray.text(wev.ids), PostgresArray.int(wev.seqs), PostgresArray.int(wev.lsns)]))
            }
            if !comms.keys.isEmpty {
                q.append(PostgresQuery("INSERT INTO runtime_comms (key, body) SELECT * FROM unnest($1::text[], $2::text[])", [PostgresArray.text(comms.keys), PostgresArray.text(comms.bodies)]))
            }
            if !tools.ids.isEmpty {
                q.append(PostgresQuery("INSERT INTO runtime_tool_calls (receipt_id, authorization_id, cost_sats, body) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])",
                                       [PostgresArray.text(tools.ids), PostgresArray.text(tools.auths), PostgresArray.int(tools.costs), PostgresArray.text(tools.bodies)]))
            }
            try commitOrRollback(c, q)
            report.records += page.records.count
        }
        // The heads as the log's own rebuild gives them.
        let runIDs = ledger.runIDs
        for start in stride(from: 0, to: runIDs.count, by: chunk) {
            let ids = Array(runIDs[start..<min(runIDs.count, start + chunk)])
            let runs = ids.compactMap { ledger.runRecord($0) }
            try c.simpleQuery("BEGIN")
            try commitOrRollback(c, [PostgresQuery("INSERT INTO runtime_runs (run_id, last_seq, body) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])",
                                                   [PostgresArray.text(runs.map(\.runId)), PostgresArray.int(runs.map(\.latestSeq)), PostgresArray.text(try runs.map { try $0.jsonString() })])])
            report.runs += runs.count
        }
        let workerIDs = ledger.workerIDs
        for start in stride(from: 0, to: workerIDs.count, by: chunk) {
            let ws = workerIDs[start..<min(workerIDs.count, start + chunk)].compactMap { ledger.worker($0) }
            try c.simpleQuery("BEGIN")
            try commitOrRollback(c, [PostgresQuery("""
                INSERT INTO runtime_workers (worker_id, owner_user, owner_guest, last_seq, body) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
                """, [PostgresArray.text(ws.map(\.workerId)), PostgresArray.text(ws.map(\.ownerUserRef)), PostgresArray.text(ws.map { $0.ownerGuestScope.whitespaceTrimmed }),
                      PostgresArray.int(ws.map(\.latestSeq)), PostgresArray.text(try ws.map { try $0.jsonString() })])])
            report.workers += ws.count
        }
        return report
    }

    /// Writes every PostgreSQL record, in feed order, as a new embedded log at
    /// `eventLog` (numbered 1, 2, 3, …); `serve` then rebuilds its heads from it.
    /// Refuses a log that already has records.
    public static func exportLog(from config: PostgresConfig, to eventLog: String) throws -> Report {
        if LogSegments.list(eventLog).contains(where: { LogSegments.size($0.path) > 0 }) {
            throw APIError.conflict("\(eventLog) already holds records: export into an empty data directory")
        }
        try FileManager.default.createDirectory(atPath: (eventLog as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let store = try PostgresStore(config: config, writers: 1, poolSize: 1, migrate: false)
        defer { store.close() }
        let fd = open(eventLog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw APIError.internalError("cannot create \(eventLog): \(FileIO.lastError())") }
        defer { close(fd) }
        var report = Report()
        var cursor = ChangeCursor.start
        var lsn: UInt64 = 0
        var runs = Set<String>(), workers = Set<String>()
        while true {
            let page = try store.changes(after: cursor, limit: chunk)
            if page.records.isEmpty { break }
            cursor = page.next
            var bytes: [UInt8] = []
            for original in page.records {
                var r = original
                lsn += 1
                r.lsn = lsn
                bytes += LogFile.line(for: r)
                if case .runCreated(let run)? = r.entry { runs.insert(run.runId) }
                if case .workerEvent(let e)? = r.entry { workers.insert(e.workerId) }
            }
            guard FileIO.writeAll(fd, bytes) else { throw APIError.internalError("cannot write \(eventLog): \(FileIO.lastError())") }
            report.records += page.records.count
        }
        guard fsync(fd) == 0 else { throw APIError.internalError("cannot sync \(eventLog): \(FileIO.lastError())") }
        _ = FileIO.syncDirectory(of: eventLog)
        report.runs = runs.count
        report.workers = workers.count
        return report
    }

    static func commitOrRollback(_ c: PostgresConnection, _ queries: [PostgresQuery]) throws {
        let results = try c.pipeline(queries + [PostgresQuery("COMMIT")])
        for r in results {
            if case .failure(let e) = r {
                if c.transactionStatus != UInt8(ascii: "I") { _ = try? c.simpleQuery("ROLLBACK") }
                throw e
            }
        }
        guard case .success(let end)? = results.last, end.commandTag == "COMMIT" else { throw APIError.internalError("the copy did not commit") }
    }
}
