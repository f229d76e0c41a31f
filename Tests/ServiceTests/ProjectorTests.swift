import Foundation
import Generated
@testable import RuntimeCore
@testable import RuntimeService
import XCTest

/// Projectors (reference-system.md 2.5): idempotent apply, drift on a gap,
/// projection hashes, and checkpoints persisted atomically and recovered.
final class ProjectorTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = FileManager.default.temporaryDirectory.appendingPathComponent("projector-\(UUID().uuidString)").path }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func event(_ run: String, _ seq: UInt64, _ type: String, status: String? = nil) -> RuntimeV1.RuntimeLogRecord {
        var e = RuntimeV1.RuntimeRunEvent()
        e.runId = run
        e.seq = seq
        e.eventType = type
        if let status { e.payloadJson = JSONValue.object(["status": JSONValue.string(status)]) }
        var r = RuntimeV1.RuntimeLogRecord()
        r.entry = .runEvent(e)
        return r
    }

    func testApplyIsANoOpAtOrBelowTheCheckpoint() {
        var s = Projector.State()
        for r in [event("r", 1, "run.started"), event("r", 2, "x"), event("r", 2, "x"), event("r", 1, "run.started")] {
            Projector.apply(r, to: &s, now: Date())
        }
        XCTAssertEqual(s.checkpoints["run:r:events"]?.lastSeq, 2)
        XCTAssertEqual(s.runSummaries["r"]?.eventCount, 2, "duplicates and late arrivals are not counted")
        XCTAssertTrue(s.driftReports.isEmpty)
    }

    func testASequenceGapRecordsDriftAndStillApplies() {
        var s = Projector.State()
        Projector.apply(event("r", 1, "run.started"), to: &s, now: Date())
        Projector.apply(event("r", 4, "run.finished", status: "failed"), to: &s, now: Date())
        let d = try! XCTUnwrap(s.driftReports["run:r:events"])
        XCTAssertEqual([d.expectedNextSeq, d.lastSeenSeq, d.incomingSeq], [2, 1, 4])
        XCTAssertEqual(d.reason, "sequence_gap")
        XCTAssertEqual(s.checkpoints["run:r:events"]?.lastSeq, 4)
        XCTAssertEqual(s.runSummaries["r"]?.status, "failed")
        var fresh = Projector.State()
        Projector.apply(event("q", 3, "x"), to: &fresh, now: Date())
        XCTAssertEqual(fresh.driftReports["run:q:events"]?.expectedNextSeq, 1, "no checkpoint and seq > 1 is a gap too")
    }

    func testRunStatusFollowsTheEventTypes() {
        var s = Projector.State()
        Projector.apply(event("r", 1, "run.started"), to: &s, now: Date())
        XCTAssertEqual(s.runSummaries["r"]?.status, "running")
        Projector.apply(event("r", 2, "run.cancel_requested"), to: &s, now: Date())
        XCTAssertEqual(s.runSummaries["r"]?.status, "canceling")
        Projector.apply(event("r", 3, "note"), to: &s, now: Date())
        XCTAssertEqual(s.runSummaries["r"]?.status, "canceling")
        Projector.apply(event("r", 4, "run.finished", status: "canceled"), to: &s, now: Date())
        XCTAssertEqual(s.runSummaries["r"]?.status, "canceled")
    }

    func testProjectionHashIsSha256OfTheCanonicalSummary() {
        var summary = RuntimeV1.ProjectionSummary()
        summary.runId = "r"
        summary.status = "running"
        summary.lastSeq = 2
        summary.eventCount = 2
        let canonical = #"{"event_count":2,"last_seq":2,"run_id":"r","status":"running"}"#
        XCTAssertEqual(Projector.projectionHash(summary), "sha256:" + SHA256.hex(Array(canonical.utf8)))
    }

    func testCheckpointsArePersistedAtomicallyAndReloaded() throws {
        let path = dir + "/projection-state.json"
        let p = Projector(path: path)
        p.apply([event("r", 1, "run.started"), event("r", 3, "x")])
        p.persist()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"), "the temp file is renamed into place")
        let reloaded = Projector(path: path)
        XCTAssertNil(reloaded.loadProblem)
        XCTAssertEqual(reloaded.snapshot, p.snapshot)
        XCTAssertEqual(reloaded.drift(topic: "run:r:events")?.incomingSeq, 3, "drift reports survive too")
    }

    func testAnUnreadableCheckpointFileIsRebuiltFromTheLog() async throws {
        let path = dir + "/projection-state.json"
        let ledger = try RuntimeLedger(path: dir + "/log.jsonl")
        _ = try await ledger.createRun(runID: "r")
        _ = try await ledger.append(runID: "r", eventType: "x", payload: nil)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: path))
        let p = Projector(path: path)
        XCTAssertNotNil(p.loadProblem)
        p.start(catchingUpWith: ledger)
        for _ in 0..<200 where !p.isReady { usleep(5_000) }
        XCTAssertTrue(p.isReady)
        XCTAssertEqual(p.checkpoint(topic: "run:r:events")?.lastSeq, 2)
        XCTAssertEqual(Projector(path: path).checkpoint(topic: "run:r:events")?.lastSeq, 2, "the rebuilt state was written back")
    }

    func testStartUpCatchUpEqualsApplyingEveryRecord() async throws {
        let log = dir + "/log.jsonl"
        do {
            let ledger = try RuntimeLedger(path: log)
            for run in ["a", "b"] {
                _ = try await ledger.createRun(runID: run)
                _ = try await ledger.append(runID: run, eventType: "note", payload: nil)
            }
            _ = try await ledger.append(runID: "a", eventType: "run.finished", payload: JSONValue.object(["status": JSONValue.string("succeeded")]))
            let owner = try WorkerOwner(userID: "u", guestScope: "")
            _ = try await ledger.registerWorker(id: "w", owner: owner)
            _ = try await ledger.heartbeat(workerID: "w", owner: owner)
            _ = try await ledger.setWorkerStatus(workerID: "w", owner: owner, status: .failed)
        }
        var byRecord = Projector.State()
        for r in try LogFile.load(path: log) { Projector.apply(r, to: &byRecord, now: Date()) }
        let caughtUp = Projector(path: nil)
        caughtUp.catchUp(from: try RuntimeLedger(path: log))
        let expected = Projector(path: nil)
        expected.apply(Array(try LogFile.load(path: log)))
        XCTAssertEqual(caughtUp.snapshot, expected.snapshot)
        XCTAssertEqual(caughtUp.snapshot.workerSummaries["w"]?.status, "failed")
        XCTAssertEqual(caughtUp.snapshot.runSummaries["a"]?.status, "succeeded")
        XCTAssertEqual(byRecord.checkpoints, caughtUp.snapshot.checkpoints)
    }

    func testACheckpointFileBehindTheLogCatchesUp() async throws {
        let log = dir + "/runtime-events.jsonl"
        let checkpoints = dir + "/projection-state.json"
        do {
            let core = try RuntimeCore(eventLog: log, checkpointPath: checkpoints)
            _ = try await core.store.createRun(runID: "r", threadID: "", workerID: "", metadata: nil, owner: .init())
            for _ in 0..<200 where (try? core.projector.checkpoint(topic: "run:r:events")) ?? nil == nil { usleep(5_000) }
        }
        // Events the checkpoint file never saw (as after a crash between the two writes).
        do {
            let ledger = try RuntimeLedger(path: log)
            _ = try await ledger.append(runID: "r", eventType: "note", payload: nil)
        }
        let core = try RuntimeCore(eventLog: log, checkpointPath: checkpoints)
        for _ in 0..<200 where !core.projector.isReady { usleep(5_000) }
        XCTAssertEqual(try core.projector.checkpoint(topic: "run:r:events")?.lastSeq, 2)
        XCTAssertEqual(try core.projector.runSummary("r")?.eventCount, 2)
    }
}
