import APIRuntime
import Foundation
import Generated
@testable import RuntimeCore
import Synchronization
import XCTest

/// Pipelined group commit: the next batch is written while the previous one
/// syncs; nothing is visible or acknowledged before its own sync; answers come
/// in log order; a failed sync loses nothing acknowledged and stops writes.
final class PipelinedCommitTests: XCTestCase {
    var path = ""
    override func setUp() { path = FileManager.default.temporaryDirectory.appendingPathComponent("pipe-\(UUID().uuidString)/runtime-events.jsonl").path }
    override func tearDown() { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }

    /// A sync the test releases by hand, one call at a time.
    final class HeldSync: @unchecked Sendable {
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holding = Atomic<Bool>(false)
        let calls = Atomic<Int>(0)
        func sync(_ fd: Int32) -> Int32 {
            calls.add(1, ordering: .relaxed)
            guard holding.load(ordering: .relaxed) else { return fdatasync(fd) }
            entered.signal()
            release.wait()
            return fdatasync(fd)
        }
    }

    func fileSize() -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }

    func wait(until condition: () -> Bool, _ message: String) {
        for _ in 0..<500 where !condition() { usleep(2_000) }
        XCTAssertTrue(condition(), message)
    }

    func testTheNextBatchIsWrittenWhileThePreviousOneSyncs() async throws {
        let held = HeldSync()
        let ledger = try RuntimeLedger(path: path, sync: held.sync)
        _ = try await ledger.createRun(runID: "r")
        held.holding.store(true, ordering: .relaxed)
        let first = Task { try await ledger.append(runID: "r", eventType: "a", payload: nil) }
        XCTAssertEqual(held.entered.wait(timeout: .now() + 5), .success, "the first batch reached its sync")
        let sizeDuringFirstSync = fileSize()
        let second = Task { try await ledger.append(runID: "r", eventType: "b", payload: nil) }
        // Written, though the first batch's sync has not returned.
        wait(until: { fileSize() > sizeDuringFirstSync }, "the second batch is written while the first syncs")
        XCTAssertEqual(try ledger.run("r")?.events.count, 1, "nothing of a batch is visible before its sync")
        held.holding.store(false, ordering: .relaxed)
        held.release.signal()
        let a = try await first.value, b = try await second.value
        XCTAssertEqual([a.event.seq, b.event.seq], [2, 3], "the second batch was evaluated against the first, still syncing")
        XCTAssertEqual(try ledger.run("r")?.events.map(\.eventType), ["run.started", "a", "b"])
    }

    func testAReplayOfAnEventStillSyncingWaitsForItsSync() async throws {
        let held = HeldSync()
        let ledger = try RuntimeLedger(path: path, sync: held.sync)
        _ = try await ledger.createRun(runID: "r")
        held.holding.store(true, ordering: .relaxed)
        let original = Task { try await ledger.append(runID: "r", eventType: "a", payload: nil, idempotencyKey: "k") }
        XCTAssertEqual(held.entered.wait(timeout: .now() + 5), .success)
        let answered = Atomic<Bool>(false)
        let replay = Task {
            let r = try await ledger.append(runID: "r", eventType: "a", payload: nil, idempotencyKey: "k")
            answered.store(true, ordering: .relaxed)
            return r
        }
        usleep(100_000)
        XCTAssertFalse(answered.load(ordering: .relaxed), "a replay is not answered before the original is durable")
        held.holding.store(false, ordering: .relaxed)
        held.release.signal()
        let o = try await original.value, r = try await replay.value
        XCTAssertTrue(r.idempotentReplay)
        XCTAssertEqual(r.event.seq, o.event.seq)
        XCTAssertEqual(try ledger.run("r")?.events.count, 2, "one event for one key")
    }

    func testAFailedSyncAcknowledgesNothingAndStopsWrites() async throws {
        let failing = Atomic<Bool>(false)
        let ledger = try RuntimeLedger(path: path, sync: { fd in failing.load(ordering: .relaxed) ? -1 : fdatasync(fd) })
        _ = try await ledger.createRun(runID: "r")
        failing.store(true, ordering: .relaxed)
        do {
            _ = try await ledger.append(runID: "r", eventType: "a", payload: nil)
            XCTFail("acknowledged without a sync")
        } catch {
            XCTAssertEqual(error.kind, .unavailable)
        }
        XCTAssertEqual(try ledger.run("r")?.events.count, 1, "the failed batch is not visible")
        failing.store(false, ordering: .relaxed)
        do {
            _ = try await ledger.append(runID: "r", eventType: "b", payload: nil)
            XCTFail("a log whose sync failed took another write")
        } catch {
            XCTAssertEqual(error.kind, .unavailable)
            XCTAssertTrue(error.message.contains("restart"), error.message)
        }
        // A restart recovers what is in the file: the acknowledged run is there, and the log is whole.
        let reopened = try RuntimeLedger(path: path)
        XCTAssertEqual(try reopened.run("r")?.events.first?.eventType, "run.started")
        let next = try await reopened.append(runID: "r", eventType: "c", payload: nil)
        XCTAssertEqual(next.event.seq, UInt64(try reopened.run("r")?.events.count ?? 0))
    }

    func testOneSyncCoversEveryBatchWrittenMeanwhile() async throws {
        let held = HeldSync()
        let ledger = try RuntimeLedger(path: path, sync: held.sync)
        _ = try await ledger.createRun(runID: "r")
        held.holding.store(true, ordering: .relaxed)
        let first = Task { try await ledger.append(runID: "r", eventType: "a", payload: nil) }
        XCTAssertEqual(held.entered.wait(timeout: .now() + 5), .success)
        let before = held.calls.load(ordering: .relaxed)
        let rest = (0..<20).map { i in Task { try await ledger.append(runID: "r", eventType: "e\(i)", payload: nil) } }
        usleep(100_000)
        held.holding.store(false, ordering: .relaxed)
        held.release.signal()
        _ = try await first.value
        for t in rest { _ = try await t.value }
        XCTAssertLessThanOrEqual(held.calls.load(ordering: .relaxed) - before, 2, "the batches written during one sync share the next one")
        XCTAssertEqual(try ledger.run("r")?.events.map(\.seq), Array(1...22).map(UInt64.init))
    }
}
