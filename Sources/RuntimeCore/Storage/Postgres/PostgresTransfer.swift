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
            var q = [PostgresRows.records(lsns: lsns, lines: lines)]
            if !ev.runs.isEmpty { q.append(PostgresRows.runEvents(runs: ev.runs, seqs: ev.seqs, keys: ev.keys, lsns: ev.lsns)) }
            if !wev.ids.isEmpty { q.append(PostgresRows.workerEvents(ids: wev.ids, seqs: wev.seqs, lsns: wev.lsns)) }
            if !comms.keys.isEmpty { q.append(PostgresRows.comms(keys: comms.keys, bodies: comms.bodies)) }
            if !tools.ids.isEmpty { q.append(PostgresRows.toolCalls(ids: tools.ids, authorizations: tools.auths, costs: tools.costs, bodies: tools.bodies)) }
            try commitOrRollback(c, q)
            report.records += page.records.count
        }
        // The heads as the log's own rebuild gives them.
        let runIDs = ledger.runIDs
        for start in stride(from: 0, to: runIDs.count, by: chunk) {
            let ids = Array(runIDs[start..<min(runIDs.count, start + chunk)])
            let runs = ids.compactMap { ledger.runRecord($0) }
            try c.simpleQuery("BEGIN")
            try commitOrRollback(c, [PostgresRows.newRuns(ids: runs.map(\.runId), seqs: runs.map(\.latestSeq), bodies: try runs.map { try $0.jsonString() })])
            report.runs += runs.count
        }
        let workerIDs = ledger.workerIDs
        for start in stride(from: 0, to: workerIDs.count, by: chunk) {
            let ws = workerIDs[start..<min(workerIDs.count, start + chunk)].compactMap { ledger.worker($0) }
            try c.simpleQuery("BEGIN")
            try commitOrRollback(c, [PostgresRows.newWorkers(ids: ws.map(\.workerId), users: ws.map(\.ownerUserRef), guests: ws.map { $0.ownerGuestScope.whitespaceTrimmed },
                                                             seqs: ws.map(\.latestSeq), bodies: try ws.map { try $0.jsonString() })])
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
