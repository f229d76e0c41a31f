import APIRuntime
import Foundation
import Generated
import ProtoWire
import Synchronization
@testable import RuntimeCore
import XCTest

/// The rules of `RuntimeStore`, one method per rule, against any backend:
/// `open(dir)` opens the store whose durable state lives in `dir` (a second
/// call is a restart). A backend's test class calls each rule from one test.
struct RuntimeStoreConformance {
    let dir: String
    let open: (String) throws -> any RuntimeStore

    private func payload(_ json: String) -> GoogleProtobuf.Value? { try? GoogleProtobuf.Value(jsonString: json) }
    private let owner = RuntimeLedger.RunOwner(userID: "u")
    private var workerOwner: WorkerOwner { get throws { try WorkerOwner(userID: "u", guestScope: "") } }

    @discardableResult
    private func create(_ s: any RuntimeStore, _ id: String) async throws -> RuntimeLedger.Appended {
        try await s.createRun(runID: id, threadID: "", workerID: "", metadata: nil, owner: owner)
    }

    @discardableResult
    private func add(_ s: any RuntimeStore, _ run: String, _ type: String = "tool", _ json: String? = nil, key: String = "", expected: UInt64? = nil,
                     requireOpen: Bool = false) async throws -> RuntimeLedger.Appended {
        try await s.append(runID: run, eventType: type, payload: json.flatMap(payload), idempotencyKey: key, expectedPreviousSeq: expected, requireOpen: requireOpen, keyConflict: nil)
    }

    private func refusal(_ body: () async throws -> Void) async -> APIError? {
        do { try await body(); return nil } catch { return error as? APIError }
    }

    /// Every record of the feed, in pages of `page`.
    private func feed(_ s: any RuntimeStore, page: Int = 3) throws -> [RuntimeV1.RuntimeLogRecord] {
        var cursor = ChangeCursor.start
        var out: [RuntimeV1.RuntimeLogRecord] = []
        while true {
            let (records, next) = try s.changes(after: cursor, limit: page)
            if records.isEmpty { XCTAssertEqual(next, cursor, "an empty page keeps the cursor"); return out }
            out += records
            cursor = next
        }
    }

    // MARK: Conditional appends

    func appendsGetContiguousSeqsPerRunFromOne() async throws {
        let s = try open(dir)
        try await create(s, "a")
        try await create(s, "b")
        for _ in 0..<3 { try await add(s, "a") }
        let v1 = try await add(s, "b").event.seq
        XCTAssertEqual(v1, 2)
        XCTAssertEqual(try s.run("a")?.events.map(\.seq), [1, 2, 3, 4])
        XCTAssertEqual(try s.run("a")?.events.first?.eventType, "run.started")
    }

    func creatingAnExistingRunIsAConflict() async throws {
        let s = try open(dir)
        try await create(s, "r")
        let refused = await refusal { try await create(s, "r") }
        XCTAssertEqual(refused?.kind, .conflict)
        XCTAssertEqual(try s.runRecord("r")?.latestSeq, 1)
    }

    func theSameKeyAndContentReplaysTheOriginal() async throws {
        let s = try open(dir)
        try await create(s, "r")
        let first = try await add(s, "r", "tool", #"{"a":1}"#, key: "k")
        let again = try await add(s, "r", "tool", #"{"a":1}"#, key: "k")
        XCTAssertFalse(first.idempotentReplay)
        XCTAssertTrue(again.idempotentReplay)
        XCTAssertEqual(again.event, first.event)
        XCTAssertEqual(try s.runRecord("r")?.latestSeq, 2)
        let all = try feed(s)
        XCTAssertEqual(all.count, 3, "a replay writes no record: \(all.map { "\($0.lsn) \(String(describing: $0.entry).prefix(160))" })")
    }

    func theSameKeyWithDifferentContentIsAConflict() async throws {
        let s = try open(dir)
        try await create(s, "r")
        try await add(s, "r", "tool", #"{"a":1}"#, key: "k")
        let refused = await refusal { try await add(s, "r", "tool", #"{"a":2}"#, key: "k") }
        XCTAssertEqual(refused?.kind, .conflict)
        let otherType = await refusal { try await add(s, "r", "other", #"{"a":1}"#, key: "k") }
        XCTAssertEqual(otherType?.kind, .conflict)
    }

    func aWrongExpectedPreviousSeqIsAConflictNamingTheActualOne() async throws {
        let s = try open(dir)
        try await create(s, "r")
        let v2 = try await add(s, "r", expected: 1).event.seq
        XCTAssertEqual(v2, 2)
        let refused = await refusal { try await add(s, "r", expected: 1) }
        XCTAssertEqual(refused?.kind, .conflict)
        XCTAssertEqual(refused?.hints.actualPreviousSeq, 2)
    }

    func idempotencyIsCheckedBeforeTheExpectedSeq() async throws {
        let s = try open(dir)
        try await create(s, "r")
        let first = try await add(s, "r", key: "k", expected: 1)
        try await add(s, "r")
        // A retry of the first append: its expected seq is stale now, its key still replays.
        let retry = try await add(s, "r", key: "k", expected: 1)
        XCTAssertTrue(retry.idempotentReplay)
        XCTAssertEqual(retry.event.seq, first.event.seq)
    }

    func theStateMachineRunsAgainstTheStoredRun() async throws {
        let s = try open(dir)
        try await create(s, "r")
        try await add(s, "r", "run.finished", #"{"status":"succeeded"}"#)
        XCTAssertEqual(try s.runRecord("r")?.status, .succeeded)
        let closed = await refusal { try await add(s, "r", requireOpen: true) }
        XCTAssertEqual(closed?.kind, .conflict)
        let cancel = await refusal { _ = try await s.cancel(runID: "r", reason: "late") }
        XCTAssertEqual(cancel?.kind, .conflict)
        XCTAssertEqual(cancel?.hints.reasonCode?.hasPrefix("invalid_transition."), true)
    }

    func aRefusedWriteLeavesNothingBehind() async throws {
        let s = try open(dir)
        try await create(s, "r")
        let before = try feed(s)
        _ = await refusal { try await add(s, "r", expected: 9) }
        _ = await refusal { try await add(s, "missing") }
        _ = await refusal { try await add(s, "r", "") }
        XCTAssertEqual(try feed(s), before)
        let v3 = try await add(s, "r").event.seq
        XCTAssertEqual(v3, 2, "no seq consumed")
    }

    func concurrentAppendsGetDistinctContiguousSeqs() async throws {
        let s = try open(dir)
        try await create(s, "r")
        let seqs = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for i in 0..<40 {
                group.addTask { try await s.append(runID: "r", eventType: "tool", payload: nil, idempotencyKey: "k\(i)", expectedPreviousSeq: nil, requireOpen: false, keyConflict: nil).event.seq }
            }
            return try await group.reduce(into: [UInt64]()) { $0.append($1) }
        }
        XCTAssertEqual(seqs.sorted(), Array(2...41).map(UInt64.init))
    }

    func cancelIsRecordedOnce() async throws {
        let s = try open(dir)
        try await create(s, "r")
        let first = try await s.cancel(runID: "r", reason: "stop")
        let again = try await s.cancel(runID: "r", reason: "stop")
        XCTAssertFalse(first.idempotentReplay)
        XCTAssertTrue(again.idempotentReplay)
        XCTAssertEqual(again.event.seq, first.event.seq)
        XCTAssertEqual(try s.runRecord("r")?.status, .canceling)
    }

    func deliveryEventsAndToolCallsAreRecordedOnce() async throws {
        let s = try open(dir)
        var c = RuntimeV1.CommsDeliveryEventRequest()
        c.provider = "resend"
        c.eventId = "e1"
        c.deliveryState = "delivered"
        let v4 = try await s.ingestComms(c)
        XCTAssertFalse(v4)
        let v5 = try await s.ingestComms(c)
        XCTAssertTrue(v5)
        c.deliveryState = "bounced"
        let refused = await refusal { _ = try await s.ingestComms(c) }
        XCTAssertEqual(refused?.kind, .conflict)
        var call = RuntimeV1.ToolExecutionRecord()
        call.receiptId = "rcpt"
        call.authorizationId = "auth"
        call.costSats = 5
        let v6 = try await s.recordToolCall(call).replay
        XCTAssertFalse(v6)
        let v7 = try await s.recordToolCall(call).replay
        XCTAssertTrue(v7)
        XCTAssertEqual(try s.budgetSpent(authorizationID: "auth"), 5, "charged once")
        XCTAssertEqual(try s.toolCall(receiptID: "rcpt"), call)
    }

    // MARK: Heads and history

    func headsFollowEachCommittedWrite() async throws {
        let s = try open(dir)
        try await create(s, "r")
        let appended = try await add(s, "r")
        XCTAssertEqual(try s.runRecord("r"), appended.run)
        XCTAssertEqual(try s.runIDs, ["r"])
        let w = try await s.registerWorker(id: "w", owner: try workerOwner, workspaceRef: "", codexHomeRef: "", adapter: "", metadata: nil)
        let beat = try await s.heartbeat(workerID: "w", owner: try workerOwner, metadataPatch: nil)
        XCTAssertEqual(w.latestSeq, 1)
        XCTAssertEqual(try s.worker("w"), beat)
        XCTAssertEqual(try s.workerIDs, ["w"])
        XCTAssertEqual(try s.workers(ownedBy: try workerOwner).map(\.workerId), ["w"])
        XCTAssertEqual(try s.workerEvents(of: "w", after: 0, limit: 10).map(\.seq), [1, 2])
    }

    func historyIsReadInPagesAfterASeq() async throws {
        let s = try open(dir)
        try await create(s, "r")
        for i in 0..<20 { try await add(s, "r", "tool", "{\"i\":\(i)}") }
        XCTAssertEqual(try s.events(of: "r", after: 5, limit: 4)?.events.map(\.seq), [6, 7, 8, 9])
        XCTAssertEqual(try s.events(of: "r", after: 19, limit: 4)?.events.map(\.seq), [20, 21])
        XCTAssertEqual(try s.events(of: "r", after: 21, limit: 4)?.events, [])
        XCTAssertEqual(try s.events(of: "r", after: 99, limit: 4)?.events, [])
        XCTAssertNil(try s.events(of: "missing", after: 0, limit: 4))
        XCTAssertEqual(try s.events(of: "r", after: 1, limit: 1)?.events.first?.payloadJson, payload(#"{"i":0}"#))
    }

    // MARK: Change feed

    func theFeedGivesEveryRecordOnceInCommitOrder() async throws {
        let s = try open(dir)
        try await create(s, "a")
        try await add(s, "a")
        _ = try await s.registerWorker(id: "w", owner: try workerOwner, workspaceRef: "", codexHomeRef: "", adapter: "", metadata: nil)
        try await create(s, "b")
        try await add(s, "a")
        let records = try feed(s, page: 2)
        // lsns only rise: contiguous in the embedded log, transaction-ordered in PostgreSQL.
        XCTAssertEqual(records.map(\.lsn), records.map(\.lsn).sorted())
        XCTAssertEqual(Set(records.map(\.lsn)).count, records.count)
        XCTAssertEqual(records.count, 7)
        XCTAssertEqual(try feed(s, page: 100), records, "the same feed in any page size")
    }

    func workerChangesAreTheFeedsWorkerRecordsWithTheSameCursors() async throws {
        let s = try open(dir)
        try await create(s, "a")
        _ = try await s.registerWorker(id: "w", owner: try workerOwner, workspaceRef: "", codexHomeRef: "", adapter: "", metadata: nil)
        // A run event whose payload names the worker key is read, and still set aside.
        try await add(s, "a", "tool", #"{"\"workerEvent\":":{"workerEvent":{}}}"#)
        _ = try await s.heartbeat(workerID: "w", owner: try workerOwner, metadataPatch: nil)
        try await add(s, "a")
        let all = try feed(s)
        for page in [1, 2, 100] {
            var cursor = ChangeCursor.start
            var kept: [RuntimeV1.RuntimeLogRecord] = []
            var read = 0
            while true {
                let (records, next) = try s.changes(after: cursor, limit: page)
                let workers = try s.workerChanges(after: cursor, limit: page)
                XCTAssertEqual(workers.next, next, "the same cursor as the feed's page")
                XCTAssertEqual(workers.read, records.count)
                if records.isEmpty { break }
                kept += workers.records
                read += workers.read
                cursor = next
            }
            XCTAssertEqual(kept, all.filter { if case .workerEvent? = $0.entry { return true } else { return false } }, "page \(page)")
            XCTAssertEqual(kept.count, 2)
            XCTAssertEqual(read, all.count)
        }
    }

    func aCursorResumesRightAfterItsRecordAcrossARestart() async throws {
        var s = try open(dir)
        try await create(s, "r")
        for _ in 0..<4 { try await add(s, "r") }
        let (firstPage, cursor) = try s.changes(after: .start, limit: 3)
        let token = cursor.token
        s = try open(dir)
        for _ in 0..<2 { try await add(s, "r") }
        let (rest, end) = try s.changes(after: try ChangeCursor(token: token), limit: 100)
        XCTAssertEqual(firstPage.count, 3)
        XCTAssertEqual(rest.count, 5)
        XCTAssertEqual(firstPage + rest, try feed(s))
        XCTAssertEqual(try s.changes(after: end, limit: 100).records, [])
    }

    func aCursorThisStoreNeverIssuedIsRefused() async throws {
        let s = try open(dir)
        try await create(s, "r")
        XCTAssertThrowsError(try ChangeCursor(token: "not-a-cursor"))
        let (_, cursor) = try s.changes(after: .start, limit: 1)
        let shifted = try ChangeCursor(token: "c1.\(cursor.lsn).\(cursor.position + 1)")
        XCTAssertThrowsError(try s.changes(after: shifted, limit: 10)) { XCTAssertEqual(($0 as? APIError)?.kind, .invalidRequest) }
        let ahead = try ChangeCursor(token: "c1.\(cursor.lsn + 99).\(cursor.position)")
        XCTAssertThrowsError(try s.changes(after: ahead, limit: 10)) { XCTAssertEqual(($0 as? APIError)?.kind, .invalidRequest) }
    }

    func subscribersGetEachCommittedBatchInOrder() async throws {
        let s = try open(dir)
        let seen = Mutex<[UInt64]>([])
        s.subscribe { records in seen.withLock { $0 += records.map(\.lsn) } }
        try await create(s, "r")
        for _ in 0..<5 { try await add(s, "r") }
        // Once durable, not necessarily before the write returns (a shared store's
        // subscribers follow its feed): wait a bounded while.
        let expected = try feed(s).map(\.lsn)
        let deadline = Date().addingTimeInterval(5)
        while seen.withLock({ $0 }).count < expected.count, Date() < deadline { try await Task.sleep(nanoseconds: 5_000_000) }
        XCTAssertEqual(seen.withLock { $0 }, expected)
    }

    // MARK: Durability

    func everythingAcknowledgedSurvivesARestart() async throws {
        var s = try open(dir)
        try await create(s, "r")
        for i in 0..<10 { try await add(s, "r", "tool", "{\"i\":\(i)}", key: "k\(i)") }
        _ = try await s.registerWorker(id: "w", owner: try workerOwner, workspaceRef: "", codexHomeRef: "", adapter: "", metadata: nil)
        let before = (try s.run("r"), try s.worker("w"), try feed(s))
        s = try open(dir)
        XCTAssertEqual(try s.run("r")?.events, before.0?.events)
        XCTAssertEqual(try s.runRecord("r"), before.0?.run)
        XCTAssertEqual(try s.worker("w"), before.1)
        XCTAssertEqual(try feed(s), before.2)
        let v8 = try await add(s, "r", "tool", #"{"i":3}"#, key: "k3").idempotentReplay
        XCTAssertTrue(v8, "keys survive too")
    }
}
