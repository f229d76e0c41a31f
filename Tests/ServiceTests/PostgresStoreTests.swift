import APIRuntime
import Foundation
import Generated
import PostgresClient
import Synchronization
@testable import RuntimeCore
import TestSupport
import XCTest

/// What only a shared store has to get right: a feed that never skips a
/// transaction that commits late, and two instances on one database behaving
/// as one store.
final class PostgresStoreTests: XCTestCase {
    var url = ""
    var stores: [PostgresStore] = []

    override func setUpWithError() throws {
        do { url = try PostgresCluster.freshDatabase(prefix: "pgs").url } catch { throw XCTSkip("\(error)") }
    }
    override func tearDown() {
        for s in stores { s.close() }
        stores = []
    }

    func open() throws -> PostgresStore {
        let s = try PostgresStore(config: try PostgresConfig(url: url), poolSize: 4)
        stores.append(s)
        return s
    }

    func feed(_ s: PostgresStore) throws -> [RuntimeV1.RuntimeLogRecord] {
        var cursor = ChangeCursor.start
        var out: [RuntimeV1.RuntimeLogRecord] = []
        while true {
            let page = try s.changes(after: cursor, limit: 100)
            if page.records.isEmpty { return out }
            out += page.records
            cursor = page.next
        }
    }

    /// Transaction T1 takes its id first, T2 (the store's append) commits
    /// first: the feed holds T2's record back until T1 ends, then gives both,
    /// T1's first (transaction order), and a cursor taken in between skips neither.
    func testALateCommittingTransactionIsNeverSkipped() async throws {
        let s = try open()
        _ = try await s.createRun(runID: "r")
        let before = try feed(s)
        let (_, cursor) = try s.changes(after: .start, limit: 100)
        let t1 = try PostgresConnection.connect(try PostgresConfig(url: url))
        defer { t1.close() }
        try t1.simpleQuery("BEGIN")
        let tx1 = try XCTUnwrap(UInt64(try t1.query("SELECT pg_current_xact_id()::text").rows[0][0] ?? ""))
        let appended = try await s.append(runID: "r", eventType: "tool", payload: nil)
        XCTAssertEqual(try feed(s), before, "T2 committed, but T1 (older) is still open: the feed waits")
        // T1 writes a record the way a writer does, then commits after T2.
        var late = RuntimeV1.RuntimeLogRecord()
        late.lsn = tx1 << 20 | 1
        var comms = RuntimeV1.CommsDeliveryEventRequest()
        comms.provider = "late"
        comms.eventId = "e"
        late.entry = .commsDelivery(comms)
        let line = String(decoding: LogFile.line(for: late).dropLast(), as: UTF8.self)
        _ = try t1.query("INSERT INTO runtime_records (lsn, line) VALUES ($1, $2)", [String(late.lsn), line])
        try t1.simpleQuery("COMMIT")
        let after = try s.changes(after: cursor, limit: 100).records
        XCTAssertEqual(after.map(\.lsn), [late.lsn] + [after.last?.lsn ?? 0].filter { $0 != late.lsn })
        XCTAssertEqual(after.count, 2, "both transactions' records, none skipped")
        XCTAssertLessThan(after[0].lsn, after[1].lsn)
        guard case .runEvent(let e)? = after[1].entry else { return XCTFail("T2's event follows T1's record") }
        XCTAssertEqual(e.seq, appended.event.seq)
    }

    /// lsns of different lengths (transaction ids grow past a power of ten) still come in numeric order.
    func testTheFeedIsInNumericLsnOrder() throws {
        let s = try open()
        let c = try PostgresConnection.connect(try PostgresConfig(url: url))
        defer { c.close() }
        for lsn: UInt64 in [10 << 20 | 1, 1 << 20 | 1] {
            var r = RuntimeV1.RuntimeLogRecord()
            r.lsn = lsn
            var comms = RuntimeV1.CommsDeliveryEventRequest()
            comms.provider = "p"
            comms.eventId = "\(lsn)"
            r.entry = .commsDelivery(comms)
            _ = try c.query("INSERT INTO runtime_records (lsn, line) VALUES ($1, $2)", [String(lsn), String(decoding: LogFile.line(for: r).dropLast(), as: UTF8.self)])
        }
        XCTAssertEqual(try feed(s).map(\.lsn), [1 << 20 | 1, 10 << 20 | 1])
    }

    /// Concurrent appends to the same runs through two instances, with keys
    /// and expected seqs: seqs contiguous, nothing duplicated, conflicts 409.
    func testTwoInstancesAppendToTheSameRunsAsOneStore() async throws {
        let a = try open()
        let b = try open()
        for r in 0..<3 { _ = try await a.createRun(runID: "r\(r)") }
        let outcomes = try await withThrowingTaskGroup(of: (Bool, String).self) { group in
            for i in 0..<60 {
                let store = i % 2 == 0 ? a : b
                group.addTask {
                    // Every key sent twice, once through each instance.
                    let key = "k\(i / 2)"
                    let run = "r\((i / 2) % 3)"
                    let out = try await store.append(runID: run, eventType: "tool", payload: JSONValue.object(["n": JSONValue.string(key)]), idempotencyKey: key)
                    return (out.idempotentReplay, key)
                }
            }
            return try await group.reduce(into: [(Bool, String)]()) { $0.append($1) }
        }
        XCTAssertEqual(outcomes.filter { !$0.0 }.count, 30, "each key appended once, replayed once")
        for r in 0..<3 {
            let events = try XCTUnwrap(try b.run("r\(r)")).events
            XCTAssertEqual(events.map(\.seq), Array(1...UInt64(events.count)))
            XCTAssertEqual(events.count, 11)
            XCTAssertEqual(try a.runRecord("r\(r)"), try b.runRecord("r\(r)"))
        }
        // Optimistic appends through both: exactly one wins each seq, the loser gets 409 with the actual seq.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                let store = i % 2 == 0 ? a : b
                group.addTask {
                    while true {
                        let head = try XCTUnwrap(try store.runRecord("r0")).latestSeq
                        do {
                            _ = try await store.append(runID: "r0", eventType: "tool", payload: nil, expectedPreviousSeq: head)
                            return
                        } catch {
                            let e = error as? APIError
                            XCTAssertEqual(e?.kind, .conflict)
                            XCTAssertNotNil(e?.hints.actualPreviousSeq)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let r0 = try XCTUnwrap(try a.run("r0")).events
        XCTAssertEqual(r0.map(\.seq), Array(1...31))
        XCTAssertEqual(try feed(a), try feed(b), "one feed, read through either")
    }

    func testAnInstanceSeesAnotherInstancesRecordsThroughItsSubscription() async throws {
        let a = try open()
        let b = try open()
        let seen = Mutex<[String]>([])
        b.subscribe { records in
            seen.withLock { for r in records { if case .runEvent(let e)? = r.entry { $0.append("\(e.runId):\(e.seq)") } } }
        }
        _ = try await a.createRun(runID: "x")
        _ = try await a.append(runID: "x", eventType: "tool", payload: nil)
        let deadline = Date().addingTimeInterval(5)
        while seen.withLock({ $0.count }) < 2, Date() < deadline { try await Task.sleep(nanoseconds: 2_000_000) }
        XCTAssertEqual(seen.withLock { $0 }, ["x:1", "x:2"])
        XCTAssertGreaterThan(b.notificationsReceived.load(ordering: .relaxed), 0, "woken by A's NOTIFY, not only by the safety poll")
    }

    /// Tool calls on one authorization through two instances at once cannot
    /// overspend its budget: the per-authorization lock is PostgreSQL's.
    func testConcurrentToolCallsThroughTwoInstancesCannotOverspendABudget() async throws {
        let a = ToolExecutor(ledger: try open(), provider: SlowProvider())
        let b = ToolExecutor(ledger: try open(), provider: SlowProvider())
        func request(_ i: Int) throws -> RuntimeV1.ToolExecuteRequest {
            try RuntimeV1.ToolExecuteRequest(jsonString: #"""
                {"tool_pack":"coding.v1","mode":"execute","run_id":"run_1","thread_id":"t",
                 "manifest":{"manifest_version":"coding.integration.v1","integration_id":"github.primary","provider":"github","status":"active","tool_pack":"coding.v1",
                             "capabilities":["get_issue"],"policy":{"write_operations_mode":"enforce","default_repository":"OpenAgentsInc/openagents"}},
                 "request":{"integration_id":"github.primary","operation":"get_issue","repository":"OpenAgentsInc/openagents","issue_number":7,"run_id":"run_1","tool_call_id":"c\#(i)"},
                 "policy":{"authorization_id":"shared","authorization_mode":"delegated_budget","budget":{"max_total_sats":5}}}
                """#)
        }
        let states = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<12 {
                let r = try request(i)
                let executor = i % 2 == 0 ? a : b
                group.addTask { try await executor.execute(r, user: "u1").state }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        XCTAssertEqual(states.filter { $0 == "succeeded" }.count, 5, "\(states)")
        XCTAssertEqual(try stores[0].budgetSpent(authorizationID: "shared"), 5)
    }

    func testTheSameRunCreatedThroughTwoInstancesAtOnceIsOneRunAndOneConflict() async throws {
        let a = try open()
        let b = try open()
        async let x: Result<RuntimeLedger.Appended, APIError> = { do { return .success(try await a.createRun(runID: "same")) } catch { return .failure(error as! APIError) } }()
        async let y: Result<RuntimeLedger.Appended, APIError> = { do { return .success(try await b.createRun(runID: "same")) } catch { return .failure(error as! APIError) } }()
        let results = await [x, y]
        XCTAssertEqual(results.filter { if case .success = $0 { return true } else { return false } }.count, 1)
        let kinds: [APIError.Kind] = results.compactMap { if case .failure(let e) = $0 { return e.kind } else { return nil } }
        XCTAssertEqual(kinds, [.conflict])
        XCTAssertEqual(try a.run("same")?.events.count, 1)
    }
}

/// The fake provider, slow enough that calls on two instances overlap.
struct SlowProvider: CodingProvider {
    let inner = FakeCodingProvider()
    func perform(_ call: CodingCall) async throws(CodingProviderError) -> GoogleProtobuf.Value {
        try? await Task.sleep(nanoseconds: 20_000_000)
        return try await inner.perform(call)
    }
}
