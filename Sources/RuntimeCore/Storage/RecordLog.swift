import APIRuntime
import Foundation
import Glibc
import PostgresClient
import ProtoWire
import Synchronization

/// A durable, group-committed state machine over one append-only file of
/// records in the event log's line format (`{"crc":"<CRC-32>","record":<JSON>}`):
/// the control service's records, and any other service's that needs its
/// writes to survive `kill -9` without a runtime ledger of its own.
///
/// `State.apply` is the one transition function: start-up replays every line
/// through it, the writer applies each new record to its own copy while it
/// evaluates a batch, and the committed copy readers see gets the same
/// records only after their `fdatasync`. So nothing is visible or
/// acknowledged before it is durable, and a restart rebuilds exactly what was
/// acknowledged. After a failed write or sync the log takes no more writes.
public protocol RecordState: Sendable {
    associatedtype Record: ProtoMessage & Sendable
    init()
    /// Applies one committed record; a record that cannot follow the state is damage (start-up names its line).
    mutating func apply(_ record: Record) throws(APIError)
}

public final class RecordLog<State: RecordState>: @unchecked Sendable {
    public typealias Record = State.Record
    /// What an intent evaluated to: the records to commit (applied to the
    /// writer's state in order) and the answer once they are durable.
    public typealias Evaluation = (records: [Record], answer: any Sendable)

    private struct Pending: @unchecked Sendable {
        let evaluate: (State) throws(APIError) -> Evaluation
        let done: @Sendable (Result<any Sendable, APIError>) -> Void
    }

    public let path: String
    private let committed: Mutex<State>
    private var staged: State  // writer thread only
    private let queue = Mutex<[Pending]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let broken = Mutex<APIError?>(nil)
    private let subscribers = Mutex<[@Sendable ([Record]) -> Void]>([])
    private let fd: Int32
    /// How many records start-up read.
    public let recoveredRecords: Int
    /// Set when the records live in PostgreSQL (`init(database:log:)`).
    private let table: RecordTable?

    /// Opens (creating) the log at `path` and replays it. A torn final line is
    /// cut off; any other bad line stops start-up naming it.
    public init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var state = State()
        var count = 0
        if let data = FileManager.default.contents(atPath: path) {
            let bytes = [UInt8](data)
            var start = 0, line = 1
            while start < bytes.count {
                guard let newline = bytes[start...].firstIndex(of: 0x0A) else {
                    // The last write never completed: it was never acknowledged.
                    LogFile.truncate(path, Int64(start))
                    break
                }
                do {
                    let record = try RecordLog.decode(bytes[start..<newline])
                    try state.apply(record)
                } catch {
                    throw APIError.internalError("\(path) line \(line): \(error); the file is damaged (a record that cannot follow the ones before it)")
                }
                count += 1
                line += 1
                start = newline + 1
            }
        }
        recoveredRecords = count
        committed = Mutex(state)
        staged = state
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw APIError.internalError("cannot open \(path): \(FileIO.lastError())") }
        _ = FileIO.syncDirectory(of: path)
        table = nil
        let t = Thread { [self] in self.writerLoop() }
        t.name = "record-log-writer"
        t.start()
    }

    /// The same state machine over the rows of `log` in PostgreSQL, shared by
    /// every instance (see `Table`). Migrations must be applied.
    public init(database: PostgresConfig, log: String) throws {
        path = "postgres:" + log
        let table = RecordTable(config: database, log: log)
        var state = State()
        let rows = try table.rows(after: 0)
        for (seq, line) in rows {
            do { try state.apply(try RecordLog.decode(Array(line.utf8)[...])) } catch {
                throw APIError.internalError("\(path) record \(seq): \(error); the stored log is damaged")
            }
        }
        table.seq = rows.last?.0 ?? 0
        recoveredRecords = rows.count
        committed = Mutex(state)
        staged = state
        fd = -1
        self.table = table
        let t = Thread { [self] in self.writerLoop() }
        t.name = "record-log-writer"
        t.start()
        let listener = PostgresListener(config: database, channels: [RecordTable.channel], resumed: { [wake] in wake.signal() }) { [wake] n in
            if n.payload == log { wake.signal() }
        }
        listener.start()
        // A slow safety poll: a lost notification costs a second, never a record.
        let poll = Thread { [wake] in while true { Thread.sleep(forTimeInterval: 1); wake.signal() } }
        poll.name = "record-log-poll"
        poll.start()
        table.listener = listener
    }

    /// `handler` receives each committed batch's records once they are durable
    /// and visible to `read`, on the writer's thread: it must only hand them off.
    public func subscribe(_ handler: @escaping @Sendable ([Record]) -> Void) {
        subscribers.withLock { $0.append(handler) }
    }

    /// A read of committed state, under its lock (keep it short: the writer's commit waits for it).
    public func read<T: Sendable, E: Error>(_ body: (borrowing State) throws(E) -> T) throws(E) -> T {
        try committed.withLock { (state: inout State) throws(E) -> T in try body(state) }
    }

    /// Evaluates `intent` on the writer thread, in order, against every record
    /// committed or earlier in the same batch; commits its records with the
    /// batch (one fdatasync) and returns its answer once they are durable. An
    /// intent that throws commits nothing.
    public func commit<T: Sendable>(_ intent: @escaping (State) throws(APIError) -> (records: [Record], answer: T)) async throws(APIError) -> T {
        let result: Result<any Sendable, APIError> = await withCheckedContinuation { cont in
            let pending = Pending(evaluate: { state throws(APIError) in let (r, a) = try intent(state); return (r, a) }, done: { cont.resume(returning: $0) })
            queue.withLock { $0.append(pending) }
            wake.signal()
        }
        let answer = try result.get()
        guard let typed = answer as? T else { throw APIError.internalError("record log: unexpected answer type") }
        return typed
    }

    private func writerLoop() {
        while true {
            wake.wait()
            let batch = queue.withLock { q -> [Pending] in let b = q; q.removeAll(keepingCapacity: true); return b }
            if let table {
                commit(batch, through: table)
                continue
            }
            if batch.isEmpty { continue }
            if let failure = broken.withLock({ $0 }) {
                for p in batch { p.done(.failure(failure)) }
                continue
            }
            let records: [Record]
            let answers: [Result<any Sendable, APIError>]
            let lines: [UInt8]
            do {
                (records, answers) = try stage(batch)
                lines = try records.flatMap { r throws(APIError) in try RecordLog.line(r) }
            } catch {
                // The writer's copy can no longer be trusted.
                let e = broken.withLock { b -> APIError in
                    if b == nil { b = APIError.internalError("\(path): an intent produced a record that does not apply (\(error)); restart the service") }
                    return b ?? .internal
                }
                for p in batch { p.done(.failure(e)) }
                continue
            }
            if !lines.isEmpty {
                guard FileIO.writeAll(fd, lines), fdatasync(fd) == 0 else {
                    let e = broken.withLock { b -> APIError in
                        if b == nil { b = APIError.unavailable("\(path): write failed: \(FileIO.lastError()); restart the service to recover it") }
                        return b ?? .internal
                    }
                    for p in batch { p.done(.failure(e)) }
                    continue
                }
                committed.withLock { state in for r in records { try? state.apply(r) } }
                for h in subscribers.withLock({ $0 }) { h(records) }
            }
            for (p, a) in zip(batch, answers) { p.done(a) }
        }
    }

    /// Evaluates each intent in order against the writer's copy and applies its
    /// records to it; an intent that throws commits nothing and is answered with
    /// its error. A record that does not apply is a bug in an intent (it must only
    /// return records that follow from the state it read): thrown.
    private func stage(_ batch: [Pending]) throws(APIError) -> (records: [Record], answers: [Result<any Sendable, APIError>]) {
        var records: [Record] = []
        var answers: [Result<any Sendable, APIError>] = []
        for p in batch {
            let evaluation: Evaluation
            do { evaluation = try p.evaluate(staged) } catch {
                answers.append(.failure(error))
                continue
            }
            for r in evaluation.records { try staged.apply(r) }
            records += evaluation.records
            answers.append(.success(evaluation.answer))
        }
        return (records, answers)
    }

    // MARK: PostgreSQL

    /// One batch through PostgreSQL: under the log's advisory lock (held to
    /// COMMIT, so seqs are dense and in commit order), first the records other
    /// instances committed since this one last looked, then the batch's
    /// intents against that state, then one INSERT and COMMIT. An empty batch
    /// only catches up. A failure answers 503 and resets the writer's copy to
    /// the committed state.
    private func commit(_ batch: [Pending], through table: RecordTable) {
        do {
            if batch.isEmpty {
                let rows = try table.rows(after: table.seq)
                try absorb(rows, table)
                return
            }
            let c = try table.writer()
            let opened = try c.pipeline([PostgresQuery("BEGIN"), PostgresQuery("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [table.log]),
                                         table.rowsQuery(after: table.seq)])
            let rows = try opened[2].get().rows.map { (UInt64($0[0] ?? "") ?? 0, $0[1] ?? "") }
            for r in opened { _ = try r.get() }
            try absorb(rows, table)
            let (records, answers) = try stage(batch)
            let lines = try records.map { r throws(APIError) in String(decoding: try RecordLog.line(r).dropLast(), as: UTF8.self) }
            var queries: [PostgresQuery] = []
            if !lines.isEmpty {
                let seqs = (0..<lines.count).map { table.seq + UInt64($0) + 1 }
                queries.append(PostgresQuery("INSERT INTO openagents_records (log, seq, line) SELECT $1, * FROM unnest($2::bigint[], $3::text[])",
                                             [table.log, PostgresArray.int(seqs), PostgresArray.text(lines)]))
            }
            let done = try c.pipeline(queries + [PostgresQuery("COMMIT")])
            for r in done { _ = try r.get() }
            guard case .success(let end)? = done.last, end.commandTag == "COMMIT" else { throw APIError.internalError("\(path): the batch did not commit") }
            table.seq += UInt64(lines.count)
            if !records.isEmpty {
                committed.withLock { state in for r in records { try? state.apply(r) } }
                for h in subscribers.withLock({ $0 }) { h(records) }
                table.notify()
            }
            for (p, a) in zip(batch, answers) { p.done(a) }
        } catch {
            table.reset()
            staged = committed.withLock { $0 }
            let e = (error as? PostgresError).map { PostgresSchema.apiError($0, "committing to \(path)") } ?? (error as? APIError) ?? APIError.internalError("\(error)")
            for p in batch { p.done(.failure(e)) }
        }
    }

    /// Records other instances committed: applied to both copies and handed to subscribers, in order.
    private func absorb(_ rows: [(UInt64, String)], _ table: RecordTable) throws {
        guard !rows.isEmpty else { return }
        var records: [Record] = []
        for (seq, line) in rows {
            guard seq == table.seq + UInt64(records.count) + 1 else { throw APIError.internalError("\(path): record \(seq) does not follow \(table.seq + UInt64(records.count)) (rows \(rows.map(\.0)))") }
            let r = try RecordLog.decode(Array(line.utf8)[...])
            try staged.apply(r)
            records.append(r)
        }
        table.seq += UInt64(records.count)
        committed.withLock { state in for r in records { try? state.apply(r) } }
        for h in subscribers.withLock({ $0 }) { h(records) }
    }

    static func line(_ record: Record) throws(APIError) -> [UInt8] {
        let body: [UInt8]
        do { body = try record.jsonBytes() } catch { throw APIError.internalError("cannot encode a record: \(error)") }
        return Array(#"{"crc":""#.utf8) + LogFile.crcHex(body.withUnsafeBytes { CRC32.checksum($0) }) + Array(#"","record":"#.utf8) + body + Array("}\n".utf8)
    }

    static func decode(_ line: ArraySlice<UInt8>) throws -> Record {
        let prefix = Array(#"{"crc":""#.utf8), mid = Array(#"","record":"#.utf8)
        let bytes = Array(line)
        guard bytes.count > prefix.count + 8 + mid.count + 1, bytes.starts(with: prefix), bytes.last == UInt8(ascii: "}"),
              Array(bytes[(prefix.count + 8)..<(prefix.count + 8 + mid.count)]) == mid else {
            throw APIError.internalError("not a record line")
        }
        let body = Array(bytes[(prefix.count + 8 + mid.count)..<(bytes.count - 1)])
        guard Array(bytes[prefix.count..<(prefix.count + 8)]) == LogFile.crcHex(body.withUnsafeBytes { CRC32.checksum($0) }) else {
            throw APIError.internalError("checksum mismatch")
        }
        return try Record(jsonBytes: body, options: JSONDecodingOptions(ignoreUnknownFields: true))
    }
}

/// Where a PostgreSQL-backed log's rows are, and the writer's connection
/// (used by the writer thread only).
final class RecordTable: @unchecked Sendable {
    static let channel = "openagents_records"
    let config: PostgresConfig
    let log: String
    /// The last seq applied to the writer's copy.
    var seq: UInt64 = 0
    var listener: PostgresListener?
    private var connection: PostgresConnection?

    init(config: PostgresConfig, log: String) {
        self.config = config
        self.log = log
    }

    func writer() throws -> PostgresConnection {
        if let c = connection, !c.isBroken { return c }
        connection?.close()
        let c = try PostgresConnection.connect(config)
        connection = c
        return c
    }

    func reset() {
        if let c = connection, c.transactionStatus != UInt8(ascii: "I") { _ = try? c.simpleQuery("ROLLBACK") }
        if connection?.isBroken == true { connection?.close(); connection = nil }
    }

    func rows(after seq: UInt64) throws -> [(UInt64, String)] {
        let c = try writer()
        return try c.pipeline([rowsQuery(after: seq)])[0].get().rows.map { (UInt64($0[0] ?? "") ?? 0, $0[1] ?? "") }
    }

    /// The log's records after `seq`, in order.
    func rowsQuery(after seq: UInt64) -> PostgresQuery {
        PostgresQuery("SELECT r.seq::text, r.line FROM openagents_records r WHERE r.log = $1 AND r.seq > $2 ORDER BY r.seq", [log, String(seq)])
    }

    /// A wake-up for the other instances (their poll covers a lost one).
    func notify() { _ = try? connection?.query("SELECT pg_notify($1, $2)", [Self.channel, log]) }
}
